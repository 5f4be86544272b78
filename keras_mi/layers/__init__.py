"""Recurrent cells and layers with Multiplicative Integration."""

from keras_mi.layers.mi_gru import MIGRU, MIGRUCell
from keras_mi.layers.mi_lstm import MILSTM, MILSTMCell
from keras_mi.layers.mi_rnn import MIRNN, MIRNNCell

__all__ = ["MIGRU", "MIGRUCell", "MILSTM", "MILSTMCell", "MIRNN", "MIRNNCell"]
