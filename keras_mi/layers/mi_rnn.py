"""MI-RNN: the simple recurrent network with Multiplicative Integration.

    h_t = phi(alpha * W x_t * U h_(t-1) + beta1 * U h_(t-1) + beta2 * W x_t + b)

(Wu et al. 2016, Eq. 4 inside a vanilla RNN; `activation=None` gives the
linear MI-RNN of their section 3.1.1.)
"""

import keras

from keras_mi.layers import base, sequence


@keras.saving.register_keras_serializable(package="keras_mi")
class MIRNNCell(base.MICellBase):
    """Cell class for the `MIRNN` layer: one step of an MI-RNN.

    With `integration="additive"` and the same weights, it computes exactly
    what `keras.layers.SimpleRNNCell` computes.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function `phi`. Default: `"tanh"`. `None`
            gives the linear MI-RNN.
{args}

    The MI coefficients default to `alpha=2, beta1=beta2=0.5`, the values
    Wu et al. report for their MI-RNN on character-level text8.

    Call arguments:
        inputs: A 2D tensor of shape `(batch, features)`.
        states: A 2D tensor of shape `(batch, units)` (or a list holding it),
            the state from the previous time step.
        training: Python boolean, whether dropout is applied.

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> rnn = keras.layers.RNN(MIRNNCell(4))
    >>> rnn(inputs).shape
    (32, 4)
    """

    gate_count = 1

    def __init__(
        self,
        units,
        activation="tanh",
        alpha_initializer=keras.initializers.Constant(2.0),
        beta1_initializer=keras.initializers.Constant(0.5),
        beta2_initializer=keras.initializers.Constant(0.5),
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

    fused_kind = "rnn"


@keras.saving.register_keras_serializable(package="keras_mi")
class MIRNN(sequence.MISequenceBase):
    """Fully-connected RNN with Multiplicative Integration (Wu et al. 2016).

    The sequence layer of `MIRNNCell`, as `keras.layers.SimpleRNN` is that of
    `keras.layers.SimpleRNNCell`. It takes every argument of the cell and of
    `keras.layers.RNN`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function. Default: `"tanh"`; `None` gives the
            linear MI-RNN.
{args}

    Example:

    >>> inputs = np.random.random((32, 10, 8))
    >>> MIRNN(4)(inputs).shape
    (32, 4)
    >>> outputs, state = MIRNN(4, return_sequences=True, return_state=True)(
    ...     inputs)
    >>> outputs.shape, state.shape
    ((32, 10, 4), (32, 4))
    """

    cell_class = MIRNNCell
    cell_name = "mirnn_cell"


base.document(MIRNNCell, base.COMMON_ARGS_DOC)
base.document(MIRNN, base.COMMON_ARGS_DOC, base.SEQUENCE_ARGS_DOC)
