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
from keras_mi import distribution, layers, metrics, models, ops, runs
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
    *layers.__all__,
    "__version__",
    "convert_model",
    "distribution",
    "metrics",
    "models",
    "ops",
    "runs",
    "to_multiplicative",
]
