"""keras-mi: Multiplicative Integration for Keras 3 recurrent networks.

Cells and layers run on every Keras backend (TensorFlow, JAX, PyTorch)::

    import keras
    from keras_mi import MILSTMCell

    layer = keras.layers.RNN(MILSTMCell(256))
"""

from keras_mi import startup

if startup.is_command():  # `keras-mi` or `python -m keras_mi`
    startup.quiet_tensorflow()

# Importing the package registers every class a saved model may hold (the
# layers, `BitsPerCharacter`), so `keras.saving.load_model` finds them.
from keras_mi import distribution, metrics, models, ops
from keras_mi.convert import convert_model, to_multiplicative
from keras_mi.layers import (
    MIGRU,
    MILSTM,
    MIRNN,
    MLSTM,
    MIGRUCell,
    MILSTMCell,
    MIRNNCell,
    MLSTMCell,
    MultiplicativeInteraction,
    TiedEmbedding,
)
from keras_mi.version import __version__

__all__ = [
    "MIGRU",
    "MIGRUCell",
    "MILSTM",
    "MILSTMCell",
    "MIRNN",
    "MIRNNCell",
    "MLSTM",
    "MLSTMCell",
    "MultiplicativeInteraction",
    "TiedEmbedding",
    "__version__",
    "convert_model",
    "metrics",
    "models",
    "ops",
    "to_multiplicative",
]
