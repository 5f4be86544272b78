"""Character-level language models built from MI or Keras recurrent layers."""

import keras

from keras_mi.data import VOCABULARY_SIZE
from keras_mi.layers import MIGRU, MILSTM, MIRNN
from keras_mi.layers.validation import check_choice, check_positive_int
from keras_mi.metrics import BitsPerCharacter

# The recurrent layer of each cell name; the additive baselines are Keras' own.
RECURRENT_LAYERS = {
    "milstm": MILSTM,
    "lstm": keras.layers.LSTM,
    "migru": MIGRU,
    "gru": lambda units, **kw: keras.layers.GRU(units, reset_after=False, **kw),
    "mirnn": MIRNN,
    "rnn": keras.layers.SimpleRNN,
}


def char_language_model(cell="milstm", units=128, layers=1, embedding_dim=32, vocabulary_size=VOCABULARY_SIZE):
    """Embedding -> `layers` recurrent layers -> Dense logits over characters.

    Args:
        cell: one of `RECURRENT_LAYERS` (`"milstm"`, `"lstm"`, `"migru"`,
            `"gru"`, `"mirnn"`, `"rnn"`).
        units: hidden units per recurrent layer.
        layers: number of stacked recurrent layers.
        embedding_dim: size of the character embedding.
        vocabulary_size: number of symbols (256 for bytes).

    Returns:
        An uncompiled `keras.Model` mapping int sequences `(batch, time)` to
        logits `(batch, time, vocabulary_size)`.
    """
    check_choice("cell", cell, tuple(RECURRENT_LAYERS))
    for name, value in (("units", units), ("layers", layers), ("embedding_dim", embedding_dim)):
        check_positive_int(name, value)
    inputs = keras.Input((None,), dtype="int32", name="characters")
    x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    for index in range(layers):
        x = RECURRENT_LAYERS[cell](units, return_sequences=True, name=f"{cell}_{index}")(x)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    return keras.Model(inputs, logits, name=f"{cell}_char_lm")


def compile_language_model(model, learning_rate=2e-3, clipnorm=1.0):
    """Adam, sparse cross-entropy on logits, and bits per character."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate, clipnorm=clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[BitsPerCharacter()],
    )
    return model
