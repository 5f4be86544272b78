"""mLSTM: the multiplicative LSTM (Krause et al. 2016).

An intermediate state, the elementwise product of an input and a recurrent
projection,

    m_t = (W_mx x_t) * (W_mh h_(t-1))

replaces `h_(t-1)` in the gates, which are otherwise those of the LSTM:

    [i, f, c~, o]_t = MI(W x_t, U m_t)     (additive by default: W x + U m + b)
    c_t = f_t * c_(t-1) + i_t * tanh(c~_t)
    h_t = o_t * tanh(c_t)

`m_t` is Eq. 2 of Wu et al. (2016), the simple MI block, so it is computed by
the same function as every other MI term.
"""

import keras
from keras import ops

from keras_mi import validation
from keras_mi.layers import base
from keras_mi.layers.mi_lstm import (
    NORMALIZATION_ARGS_DOC,
    LSTMFamilySequence,
    MILSTMCell,
)


@keras.saving.register_keras_serializable(package="keras_mi")
class MLSTMCell(MILSTMCell):
    """Cell class for the `MLSTM` layer: one step of a multiplicative LSTM.

    Weights: those of `keras.layers.LSTMCell` (`kernel` `(input_dim,
    4 * units)` for `W`, `recurrent_kernel` `(units, 4 * units)` for `U`,
    applied to `m_t`, `bias` `(4 * units,)`, gate order i, f, c, o), plus
    `multiplicative_kernel` `(input_dim, units)` (`W_mx`) and
    `multiplicative_recurrent_kernel` `(units, units)` (`W_mh`).

    Args:
        units: Positive integer, dimensionality of the output space (and of
            the intermediate state `m`).
        activation: Activation of the block input and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        unit_forget_bias: Boolean (default `True`). If `True`, add 1 to the
            bias of the forget gate at initialization.
        multiplicative_initializer: Initializer of `multiplicative_kernel`.
            Default: `"glorot_uniform"`.
        multiplicative_recurrent_initializer: Initializer of
            `multiplicative_recurrent_kernel`. Default: `"orthogonal"`.
        multiplicative_regularizer, multiplicative_recurrent_regularizer,
        multiplicative_constraint, multiplicative_recurrent_constraint:
            Regularizers and constraints of those two kernels.
{args}

    The `integration` argument defaults to `"additive"` here: Krause et al.'s
    mLSTM combines `W x` and `U m` additively. `"general"` or `"simple"`
    applies Multiplicative Integration to that combination as well.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, features)`.
        states: `[h, c]` (plus the step counter with batch normalization).
        training: Python boolean, whether dropout is applied.

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> keras.layers.RNN(MLSTMCell(4))(inputs).shape
    (32, 4)
    """

    def __init__(
        self,
        units,
        integration="additive",
        multiplicative_initializer="glorot_uniform",
        multiplicative_recurrent_initializer="orthogonal",
        multiplicative_regularizer=None,
        multiplicative_recurrent_regularizer=None,
        multiplicative_constraint=None,
        multiplicative_recurrent_constraint=None,
        **kwargs,
    ):
        super().__init__(units, integration=integration, **kwargs)
        validation.set_weight_options(
            self, locals(), ("multiplicative", "multiplicative_recurrent")
        )

    def build(self, input_shape):
        super().build(input_shape)
        self.multiplicative_kernel = self.add_weight(
            shape=(input_shape[-1], self.units),
            name="multiplicative_kernel",
            initializer=self.multiplicative_initializer,
            regularizer=self.multiplicative_regularizer,
            constraint=self.multiplicative_constraint,
        )
        self.multiplicative_recurrent_kernel = self.add_weight(
            shape=(self.units, self.units),
            name="multiplicative_recurrent_kernel",
            initializer=self.multiplicative_recurrent_initializer,
            regularizer=self.multiplicative_recurrent_regularizer,
            constraint=self.multiplicative_recurrent_constraint,
        )

    fused_kind = "mlstm"

    def input_weights(self):
        return {**super().input_weights(), "Wmx": self.multiplicative_kernel}

    def recurrent_weights(self):
        return {**super().recurrent_weights(), "Wmh": self.multiplicative_recurrent_kernel}

    def step_inputs(self, terms):
        return {"wx": terms[0], "wmx": terms[1]}

    def project_inputs(self, inputs, training=False, time_major=False):
        """`[W x, W_mx x]`: both input projections, with one dropout mask."""
        dropped = self.dropped_inputs(inputs, training, time_major)
        return [
            ops.matmul(dropped, self.kernel),
            ops.matmul(dropped, self.multiplicative_kernel),
        ]

    def get_config(self):
        return {**super().get_config(), **validation.weight_options_config(
            self, ("multiplicative", "multiplicative_recurrent"))}


@keras.saving.register_keras_serializable(package="keras_mi")
class MLSTM(LSTMFamilySequence):
    """Multiplicative LSTM layer (Krause et al. 2016).

    The sequence layer of `MLSTMCell`, as `keras.layers.LSTM` is that of
    `keras.layers.LSTMCell`. It takes every argument of the cell and of
    `keras.layers.RNN`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the block input and of the cell output.
            Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        unit_forget_bias: Boolean (default `True`).
        multiplicative_initializer, multiplicative_recurrent_initializer,
        multiplicative_regularizer, multiplicative_recurrent_regularizer,
        multiplicative_constraint, multiplicative_recurrent_constraint:
            Of the kernels `W_mx` and `W_mh` that form `m_t`.
{args}

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> MLSTM(4, return_sequences=True)(inputs).shape
    (32, 10, 4)
    """

    cell_class = MLSTMCell
    cell_name = "mlstm_cell"


base.document(MLSTMCell, base.COMMON_ARGS_DOC, NORMALIZATION_ARGS_DOC)
base.document(
    MLSTM, base.COMMON_ARGS_DOC, NORMALIZATION_ARGS_DOC, base.SEQUENCE_ARGS_DOC
)
