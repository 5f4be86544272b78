"""MI-LSTM: the LSTM with Multiplicative Integration (Wu et al. 2016, App. A.1).

Each of the four gates (Keras order i, f, c, o) is computed by the MI block
`MI_g = alpha_g * W_g x_t * U_g h_(t-1) + beta1_g * U_g h_(t-1)
+ beta2_g * W_g x_t + b_g` (Eq. 4):

    i_t = sigmoid(MI_i),  f_t = sigmoid(MI_f),  o_t = sigmoid(MI_o)
    c_t = f_t * c_(t-1) + i_t * tanh(MI_c)
    h_t = o_t * tanh(c_t)

With `normalization="batch"` or `"layer"`, `W x_t`, `U h_(t-1)` and `c_t` are
normalized before they are used (see `keras_mi.layers.normalization`): the
MI-LSTM+BN of Wu et al. (2016, section 3.5).
"""

import keras
from keras import initializers, ops
from keras.src import backend as keras_backend

from keras_mi import validation
from keras_mi.layers import base, normalization, sequence
from keras_mi.layers.normalization import NORMALIZATIONS, STATISTICS

NORMALIZATION_ARGS_DOC = """\
        normalization: `None` (default), `"batch"` or `"layer"`. `"batch"`
            is recurrent batch normalization (Cooijmans et al. 2017): `W x`,
            `U h` and the cell state are normalized separately, with learned
            gains shared across time and statistics kept per timestep; in
            training each step uses the statistics of its batch, at
            inference the population statistics of its timestep (a
            training batch whose statistics are not finite, for example
            one with a NaN input, leaves them unchanged). The cell
            then carries a third state, the step counter, of shape
            `(batch, 1)`. `"layer"` is layer normalization (Ba et al. 2016)
            of the same three quantities.
        normalization_steps: Positive integer (default 100), with
            `normalization="batch"`: the number of timesteps that keep their
            own population statistics; later steps reuse the last ones.
        normalization_statistics: `"per_step"` (default) or `"shared"`,
            with `normalization="batch"`: the population statistics used at
            inference. `"per_step"` keeps one estimate per timestep (as
            Cooijmans et al. recommend); `"shared"` keeps one estimate for
            all timesteps, pooled over the batch and every step of each
            training sequence (`normalization_steps` is then not used). In
            training both normalize each step by its own batch statistics.
        normalization_momentum: Float in [0, 1) (default 0.99), momentum of
            the moving averages of the population statistics.
        normalization_epsilon: Small positive float (default 1e-3) added to
            the variance.
        normalization_synchronized: Boolean (default False), with
            `normalization="batch"` under a `tf.distribute` strategy: compute
            each step's batch statistics over the global batch (an all-reduce
            across replicas per step) instead of each replica's share, as
            `keras.layers.BatchNormalization(synchronized=True)` does. Under
            `keras.distribution` (JAX) the statistics are those of the
            global batch anyway, and with one device there is nothing to
            synchronize: there it changes nothing.
        gamma_initializer: Initializer of the gains `input_gamma`,
            `recurrent_gamma` and `cell_gamma`. Default: `Constant(0.1)` for
            batch normalization (Cooijmans et al.), `"ones"` for layer
            normalization. The cell state also has a shift, `cell_beta`
            (initialized to zeros)."""


@keras.saving.register_keras_serializable(package="keras_mi")
class MILSTMCell(base.MICellBase):
    """Cell class for the `MILSTM` layer: one step of an MI-LSTM.

    Weights have the names and layouts of `keras.layers.LSTMCell` (`kernel`
    of shape `(input_dim, 4 * units)`, `recurrent_kernel` of shape
    `(units, 4 * units)`, `bias` of shape `(4 * units,)`, gate order i, f, c,
    o), plus `alpha`, `beta1`, `beta2` of shape `(4 * units,)` in `"general"`
    mode. With `integration="additive"` and the same weights it computes
    exactly what `keras.layers.LSTMCell` computes.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the block input and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates i, f, o. Default:
            `"sigmoid"`.
        unit_forget_bias: Boolean (default `True`). If `True`, add 1 to the
            bias of the forget gate at initialization.
{args}

    The MI coefficients default to `alpha=beta1=beta2=1`, the values Wu et
    al. report for their MI-LSTM on Hutter Wikipedia and reading
    comprehension (they used `beta1=beta2=0.5` on text8).

    Call arguments:
        inputs: A 2D tensor of shape `(batch, features)`.
        states: A list `[h, c]` of two 2D tensors of shape `(batch, units)`.
        training: Python boolean, whether dropout is applied.

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> rnn = keras.layers.RNN(MILSTMCell(4), return_state=True)
    >>> output, h, c = rnn(inputs)
    >>> output.shape, c.shape
    ((32, 4), (32, 4))
    """

    gate_count = 4

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        unit_forget_bias=True,
        normalization=None,
        normalization_steps=100,
        normalization_statistics="per_step",
        normalization_momentum=0.99,
        normalization_epsilon=1e-3,
        normalization_synchronized=False,
        gamma_initializer=None,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = validation.get_activation(
            "recurrent_activation", recurrent_activation
        )
        self.unit_forget_bias = validation.check_bool("unit_forget_bias", unit_forget_bias)
        self.normalization = validation.check_choice(
            "normalization", normalization, NORMALIZATIONS
        )
        self.normalization_steps = validation.check_positive_int(
            "normalization_steps", normalization_steps
        )
        self.normalization_statistics = validation.check_choice(
            "normalization_statistics", normalization_statistics, STATISTICS
        )
        self.normalization_momentum = validation.check_rate(
            "normalization_momentum", normalization_momentum
        )
        self.normalization_epsilon = validation.check_positive_float(
            "normalization_epsilon", normalization_epsilon
        )
        self.normalization_synchronized = validation.check_bool(
            "normalization_synchronized", normalization_synchronized
        )
        if gamma_initializer is None:
            gamma_initializer = (
                keras.initializers.Constant(0.1)
                if self.normalization == "batch"
                else "ones"
            )
        self.gamma_initializer = validation.get_initializer(
            "gamma_initializer", gamma_initializer
        )
        # Population statistics are updated after the loop by the sequence
        # layer that owns this cell (see `LSTMFamilySequence`).
        self.statistics_owner = None

    @property
    def statistics_rows(self):
        """Rows of the population statistics: one per stored timestep, or
        one for all of them."""
        return 1 if self.normalization_statistics == "shared" else self.normalization_steps

    @property
    def state_size(self):
        if self.normalization == "batch":
            return [self.units, self.units, 1]
        return [self.units, self.units]

    def bias_initializer_for_build(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, initializer = self.units, self.bias_initializer

        def forget_bias_initializer(_, *args, **kwargs):
            return ops.concatenate(
                [
                    initializer((units,), *args, **kwargs),
                    keras.initializers.Ones()((units,), *args, **kwargs),
                    initializer((2 * units,), *args, **kwargs),
                ]
            )

        return forget_bias_initializer

    def build(self, input_shape):
        super().build(input_shape)
        if self.normalization is not None:
            self.build_normalization()

    def build_normalization(self):
        width = self.gate_count * self.units
        self.normalizer = normalization.RecurrentNormalization(
            self,
            self.normalization,
            widths={"input": width, "recurrent": width, "cell": self.units},
            rows=self.statistics_rows,
            gamma_initializer=self.gamma_initializer,
            momentum=self.normalization_momentum,
            epsilon=self.normalization_epsilon,
            synchronized=self.normalization_synchronized,
        )
        # The weights are readable by their names, as attributes of the cell.
        for name, variable in self.normalizer.weights_by_name().items():
            setattr(self, name, variable)

    fused_kind = "lstm"

    def fused_recurrence(self):
        if self.normalization is not None:
            raise NotImplementedError(
                f"normalization={self.normalization!r} runs in the step loop"
            )
        return super().fused_recurrence()

    def recurrent_step(self, terms, states, training=False):
        if self.normalization is None:
            return super().recurrent_step(terms, states, training)
        if self.normalization == "batch" and training and self.statistics_owner is None:
            raise ValueError(
                f"Cell `{self.name}` uses normalization='batch', whose "
                "per-timestep population statistics are updated by its "
                "sequence layer; train it inside `MILSTM`/`MLSTM` "
                "(for example `MILSTM(units, normalization='batch')`), "
                "not inside `keras.layers.RNN`. Inference "
                "(training=False) works in any RNN layer."
            )
        step = states[2] if self.normalization == "batch" else None
        h, (h, c) = super().recurrent_step(
            terms, list(states[:2]), training, normalizer=self.normalizer.for_step(step, training))
        if step is None:
            return h, [h, c]
        return h, [h, c, step + 1.0]

    def get_config(self):
        config = {
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
            "normalization": self.normalization,
            "normalization_steps": self.normalization_steps,
            "normalization_statistics": self.normalization_statistics,
            "normalization_momentum": self.normalization_momentum,
            "normalization_epsilon": self.normalization_epsilon,
            "normalization_synchronized": self.normalization_synchronized,
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
        }
        return {**super().get_config(), **config}


class LSTMFamilySequence(sequence.MISequenceBase):
    """The sequence layer of an LSTM-family cell (`MILSTM`, `MLSTM`).

    Adds to the hoisted loop what recurrent batch normalization needs: in
    training, the batch statistics of each timestep update the cell's
    per-timestep population statistics after the loop.
    """

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.cell.statistics_owner = self.name

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if not (training and cell.normalization == "batch"):
            return super().inner_loop(
                sequences, initial_state, mask, training=training
            )
        if mask is not None:
            raise ValueError(
                f"Layer `{self.name}` uses normalization='batch', which does "
                "not support masked sequences in training: the batch "
                "statistics of a timestep would mix padding into real steps. "
                "Received a mask; use normalization='layer' for padded "
                "batches."
            )
        units = cell.units
        terms = cell.project_inputs(sequences, training=training)

        def step(step_terms, states):
            h, new_states = cell.recurrent_step(
                list(step_terms), list(states), training=True
            )
            return ops.concatenate([h, new_states[1]], axis=-1), new_states

        last, outputs, states = keras_backend.rnn(
            step,
            terms,
            list(initial_state),
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            input_length=sequences.shape[1],
            return_all_outputs=True,
        )
        h_sequence, c_sequence = outputs[..., :units], outputs[..., units:]
        self._update_population_statistics(
            sequences, initial_state[0], h_sequence, c_sequence
        )
        return last[:, :units], h_sequence, states

    def _update_population_statistics(self, sequences, h0, h_sequence, c_sequence):
        """Recomputes each step's batch statistics and moves the averages
        (with shared statistics: the moments over the batch and all steps)."""
        cell = self.cell
        shared = cell.normalization_statistics == "shared"
        steps = sequences.shape[1] if shared else min(sequences.shape[1], cell.normalization_steps)
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
        terms = cell.project_inputs(sequences[:, :steps], training=True)
        h_prev = ops.concatenate(
            [ops.expand_dims(h0, 1), h_sequence[:, : steps - 1]], axis=1
        )
        cell.normalizer.update({
            "input": terms[0],
            "recurrent": cell.recurrent_term(terms, h_prev, training=True),
            "cell": c_sequence[:, :steps],
        }, shared=shared)


@keras.saving.register_keras_serializable(package="keras_mi")
class MILSTM(LSTMFamilySequence):
    """Long Short-Term Memory layer with Multiplicative Integration.

    The sequence layer of `MILSTMCell` (Wu et al. 2016, Appendix A.1), as
    `keras.layers.LSTM` is that of `keras.layers.LSTMCell`. It takes every
    argument of the cell and of `keras.layers.RNN`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the block input and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        unit_forget_bias: Boolean (default `True`). If `True`, add 1 to the
            bias of the forget gate at initialization.
{args}

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> MILSTM(4)(inputs).shape
    (32, 4)
    >>> outputs, h, c = MILSTM(4, return_sequences=True, return_state=True)(
    ...     inputs)
    >>> outputs.shape, h.shape, c.shape
    ((32, 10, 4), (32, 4), (32, 4))
    """

    cell_class = MILSTMCell
    cell_name = "milstm_cell"


base.document(MILSTMCell, base.COMMON_ARGS_DOC, NORMALIZATION_ARGS_DOC)
base.document(
    MILSTM, base.COMMON_ARGS_DOC, NORMALIZATION_ARGS_DOC, base.SEQUENCE_ARGS_DOC
)
