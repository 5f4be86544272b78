"""Recurrent cells and layers with Multiplicative Integration, the
multiplicative LSTM, and the Multiplicative Interaction layer."""

from keras_mi.layers.embedding import TiedEmbedding
from keras_mi.layers.interaction import MultiplicativeInteraction
from keras_mi.layers.mi_gru import MIGRU, MIGRUCell
from keras_mi.layers.mi_lstm import MILSTM, MILSTMCell
from keras_mi.layers.mi_rnn import MIRNN, MIRNNCell
from keras_mi.layers.mlstm import MLSTM, MLSTMCell

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
]
