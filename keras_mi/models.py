"""Character-level language models built from MI or Keras recurrent layers."""

import keras

from keras_mi.data import VOCABULARY_SIZE
from keras_mi.layers import (
    MIGRU,
    MILSTM,
    MIRNN,
    MLSTM,
    MultiplicativeInteraction,
    TiedEmbedding,
)
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
    "mlstm": MLSTM,
}


def char_language_model(cell="milstm", units=128, layers=1, embedding_dim=32, vocabulary_size=VOCABULARY_SIZE):
    """Embedding -> `layers` recurrent layers -> Dense logits over characters.

    Args:
        cell: one of `RECURRENT_LAYERS` (`"milstm"`, `"lstm"`, `"migru"`,
            `"gru"`, `"mirnn"`, `"rnn"`, `"mlstm"`).
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


def multiplicative_embedding_model(
    cell="milstm",
    units=128,
    embedding_dim=32,
    context_units=16,
    vocabulary_size=VOCABULARY_SIZE,
):
    """A language model with multiplicative embeddings (Jayakumar et al. 2020).

    Section 8 of the paper: the output embedding is computed as `M(c, h)`, a
    Multiplicative Interaction of the recurrent output `h` with a small
    context `c = relu(W h + b)`, and scored against the *tied* input
    embeddings: `logits = M(c, h) E^T + b2`. The input side uses the
    diagonal form inside the recurrence: with `cell="milstm"` (or
    `"mlstm"`), every gate is a diagonal multiplicative interaction of the
    input embedding and `h_(t-1)`.

    Args:
        cell: a name of `RECURRENT_LAYERS`.
        units: hidden units of the recurrent layer.
        embedding_dim: size of the tied embedding.
        context_units: size of `c` (the low-rank bottleneck).
        vocabulary_size: number of symbols.

    Returns:
        An uncompiled `keras.Model` mapping int sequences `(batch, time)` to
        logits `(batch, time, vocabulary_size)`.
    """
    check_choice("cell", cell, tuple(RECURRENT_LAYERS))
    for name, value in (
        ("units", units),
        ("embedding_dim", embedding_dim),
        ("context_units", context_units),
    ):
        check_positive_int(name, value)
    embedding = TiedEmbedding(vocabulary_size, embedding_dim, name="embedding")
    inputs = keras.Input((None,), dtype="int32", name="characters")
    h = RECURRENT_LAYERS[cell](units, return_sequences=True, name=f"{cell}_0")(
        embedding(inputs)
    )
    output_embedding = MultiplicativeInteraction(
        embedding_dim,
        mode="hypernetwork",
        context_units=context_units,
        name="output_embedding",
    )([h, h])
    logits = embedding(output_embedding, reverse=True)
    return keras.Model(inputs, logits, name=f"{cell}_multiplicative_embedding_lm")
