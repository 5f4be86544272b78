"""Turn trained Keras recurrent layers into their Multiplicative Integration twins.

With `alpha = 0` and `beta1 = beta2 = 1`, Eq. 4 of Wu et al. (2016) is the
additive block `Wx + Uh + b`, so an MI layer in `"general"` mode that receives
the weights of a `keras.layers.LSTM` computes exactly what the LSTM computes.
Fine-tuning it then lets the multiplicative term grow from zero.
"""

import keras
import numpy as np

from keras_mi.layers import MIGRU, MILSTM, MIRNN, MIGRUCell, MILSTMCell, MIRNNCell

_CELLS = {
    keras.layers.LSTMCell: MILSTMCell,
    keras.layers.GRUCell: MIGRUCell,
    keras.layers.SimpleRNNCell: MIRNNCell,
}
_LAYERS = {
    keras.layers.LSTM: MILSTM,
    keras.layers.GRU: MIGRU,
    keras.layers.SimpleRNN: MIRNN,
}
# The MI coefficients that make Eq. 4 equal to the additive block.
_ADDITIVE_START = {
    "integration": "general",
    "alpha_initializer": "zeros",
    "beta1_initializer": "ones",
    "beta2_initializer": "ones",
}


def _convert_cell(cell):
    target = _CELLS[type(cell)].from_config(
        {**cell.get_config(), **_ADDITIVE_START}
    )
    if cell.built:
        target.build((None, cell.kernel.shape[0]))
        _copy_weights(cell, target)
    return target


def _copied(values):
    """Independent NumPy copies of weight values: a converted model never
    shares an array with its source (on JAX, a model that runs donates its
    arrays, which would delete the other model's)."""
    return [np.array(keras.ops.convert_to_numpy(value), copy=True) for value in values]


def _copy_weights(source_cell, target_cell):
    for name in ("kernel", "recurrent_kernel", "bias"):
        source = getattr(source_cell, name, None)
        if source is not None:
            (value,) = _copied([source.value])
            getattr(target_cell, name).assign(value)


def _convert_sequence_layer(layer, target_class):
    target = target_class.from_config({**layer.get_config(), **_ADDITIVE_START})
    if layer.built:
        target.build(_built_input_shape(layer))
        _copy_weights(layer.cell, target.cell)
    return target


def _built_input_shape(layer):
    """The input shape a built recurrent layer was built for."""
    batch = None
    if layer.stateful and layer.states is not None:
        batch = keras.tree.flatten(layer.states)[0].shape[0]
    return (batch, None, layer.cell.kernel.shape[0])


def _convert_bidirectional(layer):
    forward = to_multiplicative(layer.forward_layer)
    backward = to_multiplicative(layer.backward_layer)
    # Bidirectional re-creates its forward layer from its config, so the
    # converted weights are copied in once the wrapper is built.
    target = keras.layers.Bidirectional(
        forward,
        backward_layer=backward,
        merge_mode=layer.merge_mode,
        name=layer.name,
    )
    if layer.built:
        target.build(_built_input_shape(layer.forward_layer))
        target.forward_layer.set_weights(_copied(forward.get_weights()))
        target.backward_layer.set_weights(_copied(backward.get_weights()))
    return target


def to_multiplicative(layer):
    """Returns the MI equivalent of a Keras recurrent layer or cell.

    Converts `keras.layers.LSTM`, `GRU` and `SimpleRNN` into `MILSTM`,
    `MIGRU` and `MIRNN`; their cells `LSTMCell`, `GRUCell`, `SimpleRNNCell`
    into `MILSTMCell`, `MIGRUCell`, `MIRNNCell`; a `keras.layers.RNN` or
    `keras.layers.Bidirectional` around any of these into the same wrapper
    around the converted layer or cell. Every other argument (units,
    activations, `reset_after`, regularizers, dropout, `return_sequences`,
    name...) is kept.

    The result uses `integration="general"` with `alpha = 0` and
    `beta1 = beta2 = 1`. If the source is built, its `kernel`,
    `recurrent_kernel` and `bias` are copied, so the result gives the same
    outputs as the source until it is trained.

    Args:
        layer: a Keras recurrent layer or cell, built or not.

    Returns:
        A new layer (or cell); the source is not modified.

    Example:

    >>> lstm = keras.layers.LSTM(8)
    >>> x = np.random.random((2, 5, 3)).astype("float32")
    >>> y = lstm(x)
    >>> mi_lstm = to_multiplicative(lstm)
    >>> bool(np.allclose(mi_lstm(x), y, atol=1e-6))
    True
    """
    kind = type(layer)
    if kind in _CELLS:
        return _convert_cell(layer)
    if kind in _LAYERS:
        return _convert_sequence_layer(layer, _LAYERS[kind])
    if kind is keras.layers.RNN and type(layer.cell) in _CELLS:
        config = layer.get_config()
        config.pop("cell")
        return keras.layers.RNN(_convert_cell(layer.cell), **config)
    if kind is keras.layers.Bidirectional:
        return _convert_bidirectional(layer)
    supported = sorted(
        cls.__name__ for cls in (*_CELLS, *_LAYERS, keras.layers.RNN)
    )
    raise TypeError(
        "Received an invalid value for argument `layer`, expected a Keras "
        f"recurrent layer or cell of one of the classes {supported} (or a "
        f"`Bidirectional` around one), got layer={layer!r} of type "
        f"{kind.__name__}."
    )


def _is_convertible(layer):
    kind = type(layer)
    if kind in _CELLS or kind in _LAYERS:
        return True
    if kind is keras.layers.RNN:
        return type(layer.cell) in _CELLS
    if kind is keras.layers.Bidirectional:
        return _is_convertible(layer.forward_layer)
    return False


def convert_model(model):
    """Returns a copy of a functional or Sequential model with MI recurrences.

    Every recurrent layer that `to_multiplicative` accepts is replaced by its
    MI twin (initialised to compute the same function); every other layer is
    cloned and keeps its trained weights. The copy therefore gives the same
    outputs as `model` before fine-tuning.

    Args:
        model: a built functional or Sequential `keras.Model`.

    Returns:
        A new, uncompiled `keras.Model`.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Received an invalid value for argument `model`, expected a "
            f"`keras.Model`, got model={model!r} of type "
            f"{type(model).__name__}."
        )

    def clone(layer):
        if _is_convertible(layer):
            return to_multiplicative(layer)
        return layer.__class__.from_config(layer.get_config())

    # Recursive: a recurrent layer inside a nested functional or Sequential
    # model is converted too.
    converted = keras.models.clone_model(model, clone_function=clone, recursive=True)
    _copy_other_weights(model, converted)
    return converted


def _copy_other_weights(source_model, target_model):
    """The trained weights of every layer that was cloned, not converted,
    at every depth of nesting."""
    for source in source_model.layers:
        if _is_convertible(source) or not source.weights:
            continue
        target = target_model.get_layer(source.name)
        if isinstance(source, keras.Model):
            _copy_other_weights(source, target)
        else:
            target.set_weights(_copied(source.get_weights()))
