"""MI-GRU: the GRU with Multiplicative Integration (Wu et al. 2016, App. A.2).

Gate order z, r, h and the Keras convention `h_t = z * h_(t-1) + (1 - z) * h~`:

    z_t = sigmoid(MI(W_z x_t, U_z h_(t-1)))
    r_t = sigmoid(MI(W_r x_t, U_r h_(t-1)))
    h~_t = tanh(MI(W_h x_t, U_h (r_t * h_(t-1))))          reset_after=False
    h~_t = tanh(MI(W_h x_t, r_t * (U_h h_(t-1) + b'_h)))   reset_after=True

where `MI(Wx, Uz) = alpha * Wx * Uz + beta1 * Uz + beta2 * Wx + b` (Eq. 4).
With `reset_after=True` the bias has Keras' shape `(2, 3 * units)`: row 0 is
the input bias `b`, row 1 the recurrent bias `b'`, which belongs to the
recurrent projection (`Uz = U h + b'`) as in `keras.layers.GRU`.
"""

import keras

from keras_mi import validation
from keras_mi.layers import base, sequence


@keras.saving.register_keras_serializable(package="keras_mi")
class MIGRUCell(base.MICellBase):
    """Cell class for the `MIGRU` layer: one step of an MI-GRU.

    Weights have the names and layouts of `keras.layers.GRUCell` (`kernel` of
    shape `(input_dim, 3 * units)`, `recurrent_kernel` of shape
    `(units, 3 * units)`, gate order z, r, h; `bias` of shape `(3 * units,)`,
    or `(2, 3 * units)` with `reset_after=True`), plus `alpha`, `beta1`,
    `beta2` of shape `(3 * units,)` in `"general"` mode. With
    `integration="additive"` and the same weights it computes exactly what
    `keras.layers.GRUCell` computes.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate state. Default: `"tanh"`.
        recurrent_activation: Activation of the update and reset gates.
            Default: `"sigmoid"`.
        reset_after: Boolean. `False` (default, as in the paper's Appendix
            A.2) applies the reset gate to the state before the recurrent
            matrix multiplication; `True` applies it after, as cuDNN and
            `keras.layers.GRU` (whose default it is) do.
{args}

    The MI coefficients default to `alpha=beta1=beta2=1`, the values Wu et
    al. report for their MI-GRU skip-thought encoder.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, features)`.
        states: A 2D tensor of shape `(batch, units)` (or a list holding it).
        training: Python boolean, whether dropout is applied.

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> rnn = keras.layers.RNN(MIGRUCell(4), return_sequences=True)
    >>> rnn(inputs).shape
    (32, 10, 4)
    """

    gate_count = 3

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        reset_after=False,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = validation.get_activation(
            "recurrent_activation", recurrent_activation
        )
        self.reset_after = validation.check_bool("reset_after", reset_after)

    def bias_shape(self):
        if self.reset_after:
            return (2, 3 * self.units)
        return (3 * self.units,)

    def split_bias(self):
        """`(input_bias, recurrent_bias)`; either may be `None`."""
        if self.bias is None:
            return None, None
        if self.reset_after:
            return self.bias[0], self.bias[1]
        return self.bias, None

    def input_bias(self):
        return self.split_bias()[0]

    fused_kind = "gru"

    def recurrent_weights(self):
        weights = super().recurrent_weights()
        recurrent_bias = self.split_bias()[1]
        if recurrent_bias is not None:
            weights["b_rec"] = recurrent_bias
        return weights

    def get_config(self):
        config = {
            "recurrent_activation": keras.activations.serialize(
                self.recurrent_activation
            ),
            "reset_after": self.reset_after,
        }
        return {**super().get_config(), **config}


@keras.saving.register_keras_serializable(package="keras_mi")
class MIGRU(sequence.MISequenceBase):
    """Gated Recurrent Unit layer with Multiplicative Integration.

    The sequence layer of `MIGRUCell` (Wu et al. 2016, Appendix A.2), as
    `keras.layers.GRU` is that of `keras.layers.GRUCell`. It takes every
    argument of the cell and of `keras.layers.RNN`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate state. Default: `"tanh"`.
        recurrent_activation: Activation of the gates. Default: `"sigmoid"`.
        reset_after: Boolean (default `False`): whether the reset gate is
            applied after the recurrent matrix multiplication (Keras' GRU
            default) or before it (the paper's Appendix A.2).
{args}

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> MIGRU(4)(inputs).shape
    (32, 4)
    """

    cell_class = MIGRUCell
    cell_name = "migru_cell"


base.document(MIGRUCell, base.COMMON_ARGS_DOC)
base.document(MIGRU, base.COMMON_ARGS_DOC, base.SEQUENCE_ARGS_DOC)
