"""What every MI cell shares, and the layers' shared docstrings.

`MICellBase` holds the arguments, weights and configuration common to
`MIRNNCell`, `MILSTMCell` and `MIGRUCell`; a subclass sets the number of gates
and writes `call`. The sequence layers' base is in
`keras_mi.layers.sequence`.
"""

import dataclasses
import inspect

import keras
from keras import ops, tree
from keras.layers import InputSpec

# Keras' RNN layer pre-computes the dropout masks of cells that mix in this
# class before its loop (necessary on JAX, whose loop must be stateless).
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from keras_mi import backend as mi_backend
from keras_mi import validation
from keras_mi.backend import Recurrence
from keras_mi.backend.cell_steps import KerasOps
from keras_mi.ops import FIXED_COEFFICIENTS, INTEGRATION_MODES

COEFFICIENTS = ("alpha", "beta1", "beta2")


class MICellBase(keras.layers.Layer, DropoutRNNCell):
    """Base class of the Multiplicative Integration cells.

    A subclass sets `gate_count` (G) and `fused_kind`, the cell whose step
    `keras_mi.backend.cell_steps` defines (the one definition of each step,
    which the fused recurrences run too). A step is split in two (the
    hoisted form of Eq. 4):

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

    # The cell kind of `keras_mi.backend.cell_steps` whose step this cell
    # runs: "rnn", "lstm", "gru" or "mlstm".
    fused_kind = None

    def step_recurrence(self):
        """The `keras_mi.backend.Recurrence` of the cell's own step: its
        activations as the functions it was given (any Keras activation)."""
        return Recurrence(
            self.fused_kind,
            integration=self.integration,
            activation=self.activation,
            recurrent_activation=getattr(self, "recurrent_activation", "sigmoid"),
            reset_after=getattr(self, "reset_after", False),
        )

    def input_weights(self):
        """The weights of the input projections, by the names of
        `keras_mi.backend.cell_steps`: `W`."""
        return {"W": self.kernel}

    def recurrent_weights(self):
        """The weights a step uses, by the names of
        `keras_mi.backend.cell_steps`: `U`, the MI coefficients (general
        mode) and `bias` (Eq. 4's `b`)."""
        weights = {"U": self.recurrent_kernel}
        if self.integration == "general":
            weights.update(alpha=self.alpha, beta1=self.beta1, beta2=self.beta2)
        if self.input_bias() is not None:
            weights["bias"] = self.input_bias()
        return weights

    def step_inputs(self, terms):
        """The terms of `project_inputs` by the names of
        `keras_mi.backend.cell_steps`: `wx`."""
        return {"wx": terms[0]}

    def step_weights(self, h_prev, training=False):
        """`recurrent_weights()` with this sequence's recurrent dropout
        multiplier as `rmask` (in training); `h_prev` is one step's state
        `(batch, units)` or a sequence of them `(batch, timesteps, units)`."""
        weights = self.recurrent_weights()
        if training and self.recurrent_dropout > 0.0:
            if len(h_prev.shape) == 3:
                mask = self.get_recurrent_dropout_mask(h_prev[:, 0])
                weights["rmask"] = ops.expand_dims(mask, 1)
            else:
                weights["rmask"] = self.get_recurrent_dropout_mask(h_prev)
        return weights

    def recurrent_step(self, terms, states, training=False, normalizer=None):
        """One step from the terms of `project_inputs` and the states: the
        step of `keras_mi.backend.cell_steps`, run with `keras.ops`
        (`normalizer`: the LSTM step's normalization hook)."""
        nested = isinstance(states, (list, tuple))
        states = list(states) if nested else [states]
        spec = self.step_recurrence()
        weights = self.step_weights(states[0], training)
        if normalizer is not None:
            weights["normalizer"] = normalizer
        new, _ = spec.math.step(
            KerasOps, spec, spec.math.prepare(spec, weights), self.step_inputs(terms),
            tuple(states), save=False)
        h = new[0]
        return h, (list(new) if nested else h)

    def recurrent_term(self, terms, h_prev, training=False):
        """The recurrent term of Eq. 4 (`U h_(t-1)`; for the mLSTM `U m_t`)
        of one step or of a sequence (`h_prev` `(batch, timesteps, units)`
        with the terms of that sequence), by the step's own definition."""
        spec = self.step_recurrence()
        return spec.math.recurrent_term(
            KerasOps, self.step_weights(h_prev, training), self.step_inputs(terms), h_prev, {})

    def fused_recurrence(self):
        """The `keras_mi.backend.Recurrence` this cell's steps compute, with
        its activations by name.

        Raises:
            NotImplementedError: with the reason, where the fused loop does
                not cover this cell's configuration.
        """
        step = self.step_recurrence()
        return dataclasses.replace(
            step,
            activation=self.activation_name("activation"),
            recurrent_activation=(self.activation_name("recurrent_activation")
                                  if callable(step.recurrent_activation)
                                  else step.recurrent_activation),
        )

    def fused_weights(self):
        """The weights of the fused loop (see
        `keras_mi.backend.fused_recurrence`), in the compute dtype: those
        of the input projections and of the step."""
        weights = {**self.input_weights(), **self.recurrent_weights()}
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
        config.update(validation.weight_options_config(
            self, ("kernel", "recurrent", "bias") + COEFFICIENTS))
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
