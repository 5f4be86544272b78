"""MI-LSTM: the LSTM with Multiplicative Integration (Wu et al. 2016, App. A.1).

Each of the four gates (Keras order i, f, c, o) is computed by the MI block
`MI_g = alpha_g * W_g x_t * U_g h_(t-1) + beta1_g * U_g h_(t-1)
+ beta2_g * W_g x_t + b_g` (Eq. 4):

    i_t = sigmoid(MI_i),  f_t = sigmoid(MI_f),  o_t = sigmoid(MI_o)
    c_t = f_t * c_(t-1) + i_t * tanh(MI_c)
    h_t = o_t * tanh(c_t)
"""

import keras
from keras import ops

from keras_mi.layers import base, validation
from keras_mi.ops import multiplicative_integration


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
        alpha_initializer="ones",
        beta1_initializer="ones",
        beta2_initializer="ones",
        **kwargs,
    ):
        super().__init__(
            units,
            activation=activation,
            alpha_initializer=alpha_initializer,
            beta1_initializer=beta1_initializer,
            beta2_initializer=beta2_initializer,
            **kwargs,
        )
        self.recurrent_activation = validation.get_activation(
            "recurrent_activation", recurrent_activation
        )
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
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

    def gates(self, z, c_prev):
        """The LSTM update from the four pre-activations `z` (Keras order)."""
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        return o * self.activation(c), c

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        wx = ops.matmul(self.dropped_inputs(inputs, training), self.kernel)
        uh = ops.matmul(
            self.dropped_state(h_prev, training), self.recurrent_kernel
        )
        z = multiplicative_integration(wx, uh, *self.mi_coefficients(), self.bias)
        h, c = self.gates(z, c_prev)
        return h, [h, c]

    def get_config(self):
        config = {
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "unit_forget_bias": self.unit_forget_bias,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_mi")
class MILSTM(base.MISequenceBase):
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


base.document(MILSTMCell, base.COMMON_ARGS_DOC)
base.document(MILSTM, base.COMMON_ARGS_DOC, base.SEQUENCE_ARGS_DOC)
