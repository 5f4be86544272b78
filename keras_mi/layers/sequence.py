"""What every MI sequence layer shares: `MISequenceBase`, the
`keras.layers.RNN` subclass that builds its cell from the layer's arguments,
as `keras.layers.LSTM` does, and runs the whole sequence as one fused
recurrence where it can."""

import keras
from keras import ops, tree
from keras.layers import InputSpec
from keras.src import backend as keras_backend

from keras_mi import backend as mi_backend
from keras_mi import validation
from keras_mi.backend import loops


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
        with or without the input projection computed before it). On the
        CPU, `"fused"` is the C++ loops; where they cannot run (no
        compiler, another dtype, activation or device), `"fused (eager
        PyTorch loops)"`, `"fused (lax.scan loops)"` or `"fused
        (while_loops)"`: the same op and numbers, slower. Asked while an export or
        `torch.compile` traces the layer on PyTorch, it names the step loop
        that the tracer records."""
        if self.fused_fallback_reason is None:
            backend = keras.backend.backend()
            if backend == "torch":
                from keras_mi.backend import torch_kernels

                if not torch_kernels.native_loops_cover(
                        self.cell.fused_recurrence(), self.compute_dtype):
                    return "fused (eager PyTorch loops)"
            if backend == "jax":
                from keras_mi.backend import xla_kernels

                if not xla_kernels.native_loops_cover(
                        self.cell.fused_recurrence(), self.compute_dtype):
                    return "fused (lax.scan loops)"
            if backend == "tensorflow":
                from keras_mi.backend import tf_kernels

                if not tf_kernels.native_loops_cover(
                        self.cell.fused_recurrence(), self.compute_dtype):
                    return "fused (while_loops)"
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
