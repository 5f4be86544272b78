"""What every MI cell and every MI sequence layer shares.

`MICellBase` holds the arguments, weights and configuration common to
`MIRNNCell`, `MILSTMCell` and `MIGRUCell`; a subclass sets the number of gates
and writes `call`. `MISequenceBase` is the `keras.layers.RNN` subclass that
builds its cell from the layer's arguments, as `keras.layers.LSTM` does.
"""

import inspect

import keras
from keras import constraints, initializers, ops, regularizers, tree
from keras.layers import InputSpec
from keras.src import backend as keras_backend

# Keras' RNN layer pre-computes the dropout masks of cells that mix in this
# class before its loop (necessary on JAX, whose loop must be stateless).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from keras_mi import backend as mi_backend
from keras_mi import validation
from keras_mi.backend import loops
from keras_mi.ops import FIXED_COEFFICIENTS, INTEGRATION_MODES

COEFFICIENTS = ("alpha", "beta1", "beta2")


class MICellBase(keras.layers.Layer, DropoutRNNCell):
    """Base class of the Multiplicative Integration cells.

    A subclass sets `gate_count` (G) and implements `recurrent_step`. A step
    is split in two (the hoisted form of Eq. 4):

    - `project_inputs(inputs)`: what depends on the inputs only (the input
      projection `W x` of all gates). It accepts one step
      `(batch, features)` or a whole sequence `(batch, timesteps, features)`,
      so a sequence layer computes it for all timesteps in one matmul;
    - `recurrent_step(terms, states)`: the rest of the step.

    `call(inputs, states)` is `recurrent_step(project_inputs(inputs), states)`.
    The weights are those of the Keras cell of the same family:

    - `kernel`, shape `(input_dim, G * units)`: the `W` of every gate,
    - `recurrent_kernel`, shape `(units, G * units)`: the `U` of every gate,
    - `bias`, shape `(G * units,)` (see `bias_shape`),

    plus, in `"general"` mode only, the MI coefficients `alpha`, `beta1` and
    `beta2`, each of shape `(G * units,)`. Arguments are documented on the
    concrete cells.
    """

    gate_count = 1

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        integration="general",
        alpha_initializer="ones",
        beta1_initializer="ones",
        beta2_initializer="ones",
        alpha_regularizer=None,
        beta1_regularizer=None,
        beta2_regularizer=None,
        alpha_constraint=None,
        beta1_constraint=None,
        beta2_constraint=None,
        **kwargs,
    ):
        units = validation.check_positive_int("units", units)
        super().__init__(**kwargs)
        self.units = units
        self.activation = validation.get_activation("activation", activation)
        self.use_bias = validation.check_bool("use_bias", use_bias)
        validation.set_weight_options(self, locals(), ("kernel", "recurrent", "bias"))
        self.dropout = validation.check_rate("dropout", dropout)
        self.recurrent_dropout = validation.check_rate(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed = validation.check_seed("seed", seed)
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.integration = validation.check_choice(
            "integration", integration, INTEGRATION_MODES
        )
        validation.set_weight_options(self, locals(), ("alpha", "beta1", "beta2"))
        self.alpha = self.beta1 = self.beta2 = None

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def bias_shape(self):
        return (self.gate_count * self.units,)

    def bias_initializer_for_build(self):
        """The initializer used for `bias` (a hook for `unit_forget_bias`)."""
        return self.bias_initializer

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"The last dimension of the inputs to `{self.name}` must be "
                f"defined, got input_shape={tuple(input_shape)}."
            )
        width = self.gate_count * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self.bias_initializer_for_build(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        if self.integration == "general":
            for name in COEFFICIENTS:
                variable = self.add_weight(
                    shape=(width,),
                    name=name,
                    initializer=getattr(self, f"{name}_initializer"),
                    regularizer=getattr(self, f"{name}_regularizer"),
                    constraint=getattr(self, f"{name}_constraint"),
                )
                setattr(self, name, variable)
        # One step's inputs: (batch, features) of the width built on, which
        # Keras' input check holds every later call to.
        self.input_spec = InputSpec(ndim=2, axes={-1: input_dim})
        self.built = True

    def mi_coefficients(self):
        """`(alpha, beta1, beta2)`: variables, or numbers for a fixed mode."""
        if self.integration == "general":
            return self.alpha, self.beta1, self.beta2
        return FIXED_COEFFICIENTS[self.integration]

    def dropped_inputs(self, inputs, training, time_major=False):
        """The inputs with this sequence's input dropout mask applied.

        `inputs` is one step `(batch, features)` or a sequence `(batch,
        timesteps, features)` (`(timesteps, batch, features)` if
        `time_major`); the same mask applies to every timestep.
        """
        if training and self.dropout > 0.0:
            return _apply_step_mask(inputs, self.get_dropout_mask, time_major)
        return inputs

    def dropped_state(self, state, training):
        """The state with this sequence's recurrent dropout mask applied."""
        if training and self.recurrent_dropout > 0.0:
            return _apply_step_mask(state, self.get_recurrent_dropout_mask)
        return state

    def input_bias(self):
        """The bias `b` of Eq. 4 (the part added to the input projection)."""
        return self.bias

    def project_inputs(self, inputs, training=False, time_major=False):
        """The state-independent part of a step, as a list of tensors.

        Args:
            inputs: `(batch, features)` or `(batch, timesteps, features)`
                (`(timesteps, batch, features)` if `time_major`).
            training: Python boolean, whether dropout is applied.
            time_major: whether a sequence has its time axis first.

        Returns:
            `[W x]`, of shape `inputs.shape[:-1] + (G * units,)`.
        """
        dropped = self.dropped_inputs(inputs, training, time_major)
        return [ops.matmul(dropped, self.kernel)]

    def recurrent_step(self, terms, states, training=False):
        """One step from the terms of `project_inputs` and the states."""
        raise NotImplementedError

    def fused_recurrence(self):
        """The `keras_mi.backend.Recurrence` this cell's steps compute.

        Raises:
            NotImplementedError: with the reason, where the fused loop does
                not cover this cell's configuration.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no fused recurrence"
        )

    def fused_weights(self):
        """The weights of the fused loop (see
        `keras_mi.backend.fused_recurrence`), in the compute dtype: `W`,
        `U`, the MI coefficients (general mode) and `bias` (Eq. 4's `b`)."""
        weights = {"W": self.kernel, "U": self.recurrent_kernel}
        if self.integration == "general":
            weights.update(alpha=self.alpha, beta1=self.beta1, beta2=self.beta2)
        if self.input_bias() is not None:
            weights["bias"] = self.input_bias()
        return {
            name: ops.cast(value, self.compute_dtype)
            for name, value in weights.items()
        }

    def activation_name(self, argument):
        """The name of the activation in `argument`, if the fused loop
        supports it, else raises `NotImplementedError`."""
        function = getattr(self, argument)
        for name in mi_backend.ACTIVATIONS:
            if function is getattr(keras.activations, name):
                return name
        raise NotImplementedError(
            f"`{argument}` is {function!r}; the fused loop supports "
            f"{', '.join(mi_backend.ACTIVATIONS)}"
        )

    def call(self, inputs, states, training=False):
        self._check_states(states)
        terms = self.project_inputs(inputs, training=training)
        return self.recurrent_step(terms, states, training=training)

    def _check_states(self, states):
        """The states a step is given: as many as `state_size`, each of its
        width (else a `list index out of range` deep in the step)."""
        given = list(states) if isinstance(states, (list, tuple)) else [states]
        sizes = list(tree.flatten(self.state_size))
        widths = [tuple(getattr(state, "shape", ()))[-1:] for state in given]
        if len(given) != len(sizes) or any(
                width and width[0] is not None and width[0] != size
                for width, size in zip(widths, sizes)):
            raise ValueError(
                f"Cell `{self.name}` expects {len(sizes)} state(s) of width(s) "
                f"{sizes}, received {len(given)} of width(s) "
                f"{[w[0] if w else None for w in widths]}.")

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size
        sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
        return [
            ops.zeros((batch_size, size), dtype=self.compute_dtype)
            for size in sizes
        ]

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
            "integration": self.integration,
        }
        for weight in ("kernel", "recurrent", "bias") + COEFFICIENTS:
            config[f"{weight}_initializer"] = initializers.serialize(
                getattr(self, f"{weight}_initializer")
            )
            config[f"{weight}_regularizer"] = regularizers.serialize(
                getattr(self, f"{weight}_regularizer")
            )
            config[f"{weight}_constraint"] = constraints.serialize(
                getattr(self, f"{weight}_constraint")
            )
        return {**super().get_config(), **config}

    @classmethod
    def argument_names(cls):
        """The names of the arguments of this cell's constructor."""
        names = []
        for klass in cls.__mro__:
            if not (isinstance(klass, type) and issubclass(klass, MICellBase)):
                continue
            for name, parameter in inspect.signature(
                klass.__init__
            ).parameters.items():
                if name == "self" or parameter.kind in (
                    parameter.VAR_KEYWORD,
                    parameter.VAR_POSITIONAL,
                ):
                    continue
                if name not in names:
                    names.append(name)
        return names


def _apply_step_mask(tensor, get_mask, time_major=False):
    """`tensor * mask`, the `(batch, n)` mask broadcast over timesteps."""
    if len(tensor.shape) == 3:
        time_axis = 0 if time_major else 1
        first_step = tensor[0] if time_major else tensor[:, 0]
        return tensor * ops.expand_dims(get_mask(first_step), time_axis)
    return tensor * get_mask(tensor)


class MISequenceBase(keras.layers.RNN):
    """A `keras.layers.RNN` that owns a cell of class `cell_class`.

    The constructor takes the cell's arguments and the RNN layer's arguments
    side by side, as `keras.layers.LSTM` does; the cell's arguments are also
    readable as attributes of the layer (`layer.units`, `layer.dropout`...).

    By default the layer runs the whole sequence as one fused recurrence
    (`keras_mi.backend.fused_recurrence`): the input terms of Eq. 4 for all
    timesteps in one matmul, then one op whose forward pass does one
    recurrent matmul per step and whose backward pass is written by hand,
    with the weight gradients computed once after the loop. Masking (any
    padding), `go_backwards`, `return_sequences`, `return_state`,
    `initial_state`, `stateful`, both dropouts and mixed precision all run
    through it. Where it does not apply, the layer falls back by itself to
    a step loop with the same numbers (`fused_fallback_reason` says why,
    `recurrence_path` which loop runs): `use_fused=False`, `unroll=True`,
    activations other than tanh, sigmoid, relu and linear, recurrent batch
    or layer normalization, and on PyTorch tracing by `torch.compile`,
    `torch.export` or TorchScript, as Keras' exports do (there the tracer
    records the step loop, which exporters understand).

    The step loop has two forms. With `hoist_inputs=True` the cell's
    `project_inputs` runs once on the whole sequence (one matmul for all
    timesteps) before the loop, and each step runs only the cell's
    `recurrent_step` (one recurrent matmul for all gates). The loop itself is
    Keras' backend loop (`lax.scan` on JAX, `tf.while_loop` on TensorFlow), so
    masking, `go_backwards`, `stateful`, `unroll` and both dropouts behave as
    in `keras.layers.RNN(cell)`, with the same numbers. With
    `hoist_inputs=False` it is the cell loop of `keras.layers.RNN`. The
    attribute `hoist_inputs` defaults to what measured fastest on the
    current backend (see `keras_mi.backend.loops`) and may be set on a
    layer before it is called.
    """

    cell_class = None
    cell_name = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.cell_class is None:
            return
        for name in cls.cell_class.argument_names():
            if not hasattr(cls, name):
                setattr(
                    cls,
                    name,
                    property(lambda self, name=name: getattr(self.cell, name)),
                )

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        use_fused="auto",
        **kwargs,
    ):
        if use_fused not in ("auto", True, False):
            raise ValueError(
                "Received an invalid value for argument `use_fused`, expected "
                f"one of ('auto', True, False), got use_fused={use_fused!r}."
            )
        # Keras' RNN takes any truthy value ('no' included) for these.
        return_sequences = validation.check_bool("return_sequences", return_sequences)
        return_state = validation.check_bool("return_state", return_state)
        go_backwards = validation.check_bool("go_backwards", go_backwards)
        stateful = validation.check_bool("stateful", stateful)
        unroll = validation.check_bool("unroll", unroll)
        if "zero_output_for_mask" in kwargs:
            kwargs["zero_output_for_mask"] = validation.check_bool(
                "zero_output_for_mask", kwargs["zero_output_for_mask"])
        cell_arguments = self.cell_class.argument_names()
        cell_kwargs = {
            name: kwargs.pop(name) for name in list(kwargs) if name in cell_arguments
        }
        cell = self.cell_class(
            units,
            dtype=kwargs.get("dtype", None),
            trainable=kwargs.get("trainable", True),
            name=self.cell_name,
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            **kwargs,
        )
        self.input_spec = InputSpec(ndim=3)
        self.use_fused = use_fused
        self.hoist_inputs = loops.hoists_input_projection()

    def build(self, sequences_shape, initial_state_shape=None):
        super().build(sequences_shape, initial_state_shape)
        # As Keras' Dense, the layer keeps the feature width it was built on:
        # Keras' input check refuses another width by name, where the
        # recurrence would fail in a matrix product.
        self.input_spec = InputSpec(ndim=3, axes={-1: sequences_shape[-1]})

    @property
    def fused_fallback_reason(self):
        """Why this layer runs a step loop instead of the fused recurrence
        (`None` if it runs the fused recurrence)."""
        if self.use_fused is False:
            return "use_fused=False"
        if self.unroll:
            return "unroll=True asks for the unrolled step loop"
        reason = mi_backend.fused_unavailable_reason()
        if reason is not None:
            return reason
        try:
            self.cell.fused_recurrence()
        except NotImplementedError as error:
            return str(error)
        return None

    @property
    def recurrence_path(self):
        """Which loop this layer runs: `"fused"` (one op with a hand-written
        backward pass), `"hoisted loop"` or `"cell loop"` (Keras' step loop,
        with or without the input projection computed before it). On
        PyTorch, `"fused"` is the C++ loops; where they cannot run (no
        compiler, another dtype or activation), `"fused (eager PyTorch
        loops)"`: the same op and numbers, slower. Asked while an export or
        `torch.compile` traces the layer on PyTorch, it names the step loop
        that the tracer records."""
        if self.fused_fallback_reason is None:
            if keras.backend.backend() == "torch":
                from keras_mi.backend import torch_recurrence

                if not torch_recurrence.native_loops_cover(
                        self.cell.fused_recurrence(), self.compute_dtype):
                    return "fused (eager PyTorch loops)"
            return "fused"
        return "hoisted loop" if self.hoist_inputs else "cell loop"

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_sequences(sequences, mask)
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        return super().call(
            sequences, initial_state=initial_state, mask=mask, training=training
        )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if tree.is_nested(mask):
            mask = mask[0]
        reason = self.fused_fallback_reason
        if reason is None:
            try:
                return self.fused_loop(sequences, initial_state, mask, training)
            except NotImplementedError as error:
                reason = str(error)
        if self.use_fused is True:
            raise ValueError(
                f"Layer `{self.name}` was created with use_fused=True, but the "
                f"fused recurrence cannot run here: {reason}. Pass "
                "use_fused='auto' to fall back to the step loop."
            )
        if not self.hoist_inputs:
            return super().inner_loop(
                sequences, initial_state, mask, training=training
            )
        cell = self.cell
        if self.go_backwards:
            # Reversed here rather than by Keras' loop, which on PyTorch under
            # TorchScript tracing takes the traced length (a tensor) for
            # per-sequence lengths and reduces over it: a `max` of a scalar
            # that ONNX Runtime and OpenVINO refuse. Same order of outputs.
            sequences = ops.flip(sequences, axis=1)
            mask = None if mask is None else ops.flip(mask, axis=1)
        # The loop runs time-major: transposing the inputs (few features)
        # before the projection is cheaper than transposing its result.
        terms = cell.project_inputs(
            ops.transpose(sequences, (1, 0, 2)),
            training=training,
            time_major=True,
        )

        def step(step_terms, states):
            return cell.recurrent_step(
                list(step_terms), list(states), training=training
            )

        last_output, outputs, states = keras_backend.rnn(
            step,
            terms,
            list(initial_state),
            go_backwards=False,
            mask=None if mask is None else ops.transpose(mask, (1, 0)),
            unroll=self.unroll,
            input_length=sequences.shape[1],
            time_major=True,
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )
        if self.return_sequences:
            outputs = ops.transpose(outputs, (1, 0, 2))
        return last_output, outputs, states

    def fused_loop(self, sequences, initial_state, mask, training=False):
        """The whole sequence as one fused recurrence (see
        `keras_mi.backend.fused_recurrence`); same numbers as the loops."""
        cell = self.cell
        spec = cell.fused_recurrence()
        keep = None
        if mask is not None:
            keep = ops.expand_dims(ops.transpose(ops.cast(mask, "bool")), -1)
        if self.go_backwards:
            # Reversing the (narrow) inputs is cheaper than their projection.
            sequences = ops.flip(sequences, axis=1)
            keep = None if keep is None else ops.flip(keep, axis=0)
        inputs = cell.dropped_inputs(
            ops.transpose(sequences, (1, 0, 2)), training, time_major=True
        )
        xs = {"x": inputs}
        w = cell.fused_weights()
        if training and cell.recurrent_dropout > 0.0:
            w["rmask"] = cell.get_recurrent_dropout_mask(initial_state[0])
        h_sequence, *states = mi_backend.fused_recurrence(
            spec, xs, tuple(initial_state), w, keep
        )
        outputs = h_sequence
        if keep is not None:
            # Masked steps repeat the previous output, or give zeros.
            if self.zero_output_for_mask:
                shown = keep
            elif mi_backend.masked_outputs_start_at_zero():
                shown = ops.cumsum(ops.cast(keep, "int32"), axis=0) > 0
            else:
                shown = None
            if shown is not None:
                outputs = ops.where(shown, h_sequence, ops.zeros_like(h_sequence))
        last_output = outputs[-1]
        if self.return_sequences:
            outputs = ops.transpose(outputs, (1, 0, 2))
        return last_output, outputs, states

    def _check_sequences(self, sequences, mask):
        """What the frameworks would otherwise refuse deep inside a matmul or
        a loop (`cannot compute MatMul`, `Tried to read from index 5`)."""
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        if not keras.backend.is_float_dtype(dtype):
            raise TypeError(
                f"Layer `{self.name}` expects floating-point sequences of shape (batch, "
                f"timesteps, features), received dtype {dtype}. Token ids go through an "
                "embedding first (keras.layers.Embedding, keras_mi.TiedEmbedding), or "
                "cast the inputs to float.")
        shape = tuple(sequences.shape)
        if len(shape) != 3:
            raise ValueError(
                f"Layer `{self.name}` expects sequences of shape (batch, timesteps, "
                f"features), received shape {shape}.")
        if shape[1] == 0:
            raise ValueError(
                f"Layer `{self.name}` received sequences of 0 timesteps (shape {shape}): "
                "a recurrence needs at least one step.")
        if tree.is_nested(mask):
            mask = mask[0]
        if mask is not None:
            mask_shape = tuple(mask.shape)
            if len(mask_shape) != 2 or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(mask_shape, shape[:2])):
                raise ValueError(
                    f"Received an invalid value for argument `mask` of layer `{self.name}`: "
                    f"expected shape (batch, timesteps) = {shape[:2]}, received shape "
                    f"{mask_shape}.")

    def _check_initial_state(self, sequences, initial_state):
        states = (
            list(initial_state)
            if isinstance(initial_state, (list, tuple))
            else [initial_state]
        )
        expected = [(sequences.shape[0], size) for size in self.state_size]
        received = [tuple(getattr(s, "shape", ())) for s in states]
        ok = len(received) == len(expected) and all(
            len(got) == 2
            and got[1] == want[1]
            and (got[0] is None or want[0] is None or got[0] == want[0])
            for got, want in zip(received, expected)
        )
        if not ok:
            raise ValueError(
                f"Received an invalid value for argument `initial_state` of "
                f"layer `{self.name}`: expected {len(expected)} tensor(s) of "
                f"shape(s) {expected} (batch, units), got shape(s) {received}."
            )

    def get_config(self):
        cell_config = self.cell.get_config()
        config = {
            name: cell_config[name]
            for name in self.cell_class.argument_names()
            if name in cell_config
        }
        base_config = super().get_config()
        del base_config["cell"]
        return {**base_config, **config, "use_fused": self.use_fused}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


COMMON_ARGS_DOC = """\
        use_bias: Boolean (default `True`), whether the cell uses a bias
            vector `b`.
        kernel_initializer: Initializer for the `kernel` weights matrix (the
            `W` of Eq. 4), used for the linear transformation of the inputs.
            Default: `"glorot_uniform"`.
        recurrent_initializer: Initializer for the `recurrent_kernel` weights
            matrix (the `U` of Eq. 4), used for the linear transformation of
            the recurrent state. Default: `"orthogonal"`.
        bias_initializer: Initializer for the bias vector. Default: `"zeros"`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizer functions applied to `kernel`, `recurrent_kernel` and
            `bias`. Default: `None`.
        kernel_constraint, recurrent_constraint, bias_constraint: Constraint
            functions applied to `kernel`, `recurrent_kernel` and `bias`.
            Default: `None`.
        dropout: Float in [0, 1). Fraction of the inputs to drop (one mask
            per sequence, shared by all gates). Default: 0.
        recurrent_dropout: Float in [0, 1). Fraction of the recurrent state to
            drop (one mask per sequence, shared by all gates). Default: 0.
        seed: Random seed for dropout.
        integration: How the input and recurrent projections are combined:
            `"general"` (Eq. 4 of Wu et al. 2016, with trainable `alpha`,
            `beta1` and `beta2`), `"simple"` (Eq. 2, `Wx * Uh + b`) or
            `"additive"` (Eq. 1, `Wx + Uh + b`: the classic Keras cell, with
            the same weights). Default: `"general"`.
        alpha_initializer, beta1_initializer, beta2_initializer: Initializers
            of the MI coefficients (used in `"general"` mode only).
        alpha_regularizer, beta1_regularizer, beta2_regularizer: Regularizers
            of the MI coefficients. Default: `None`.
        alpha_constraint, beta1_constraint, beta2_constraint: Constraints of
            the MI coefficients. Default: `None`."""

SEQUENCE_ARGS_DOC = """\
        return_sequences: Boolean. Whether to return the last output in the
            output sequence, or the full sequence. Default: `False`.
        return_state: Boolean. Whether to return the last state in addition
            to the output. Default: `False`.
        go_backwards: Boolean (default `False`). If `True`, process the input
            sequence backwards and return the reversed sequence.
        stateful: Boolean (default `False`). If `True`, the last state for
            each sample at index i in a batch is used as initial state for the
            sample of index i in the following batch.
        unroll: Boolean (default `False`). If `True`, the network is unrolled,
            else a symbolic loop is used. Unrolling can speed up short
            sequences at the cost of memory; it runs the step loop, not the
            fused recurrence.
        use_fused: `"auto"` (default), `True` or `False`. The layer runs the
            whole sequence as one fused recurrence with a hand-written
            backward pass (`keras_mi.backend.fused_recurrence`) when it can:
            the fast path, with the same numbers as the step loop.
            `"auto"` falls back to the step loop where the fused recurrence
            does not apply (see the layer's `fused_fallback_reason` and
            `recurrence_path`); `True` raises a `ValueError` there instead;
            `False` always runs the step loop.
        activity_regularizer: Regularizer function applied to the output of
            the layer. Default: `None`.

    Call arguments:
        inputs: A 3D tensor of shape `(batch, timesteps, features)`.
        mask: Boolean tensor of shape `(batch, timesteps)`; `False` entries
            are skipped (the previous output and state are carried over).
        training: Python boolean, whether dropout is applied.
        initial_state: List of initial state tensors, each of shape
            `(batch, units)`; `None` gives zeros."""


def document(cls, *sections):
    """Fills the `{args}` marker of `cls.__doc__` with argument sections."""
    cls.__doc__ = cls.__doc__.replace("{args}", "\n".join(sections))
    return cls
