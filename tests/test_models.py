"""Language-model builders: the plain one and multiplicative embeddings."""

import keras
import numpy as np
import pytest

from keras_mi import MultiplicativeInteraction, TiedEmbedding
from keras_mi.models import (
    RECURRENT_LAYERS,
    char_language_model,
    compile_language_model,
    multiplicative_embedding_model,
)
from tests.layers import helpers


def test_every_cell_builds_a_language_model():
    ids = np.arange(12).reshape(2, 6) % 256
    for cell in RECURRENT_LAYERS:
        model = char_language_model(cell, units=8, embedding_dim=4)
        assert tuple(model(ids).shape) == (2, 6, 256)


def test_multiplicative_embeddings_are_tied_and_computed_from_h(rng):
    model = multiplicative_embedding_model(units=8, embedding_dim=6, context_units=3)
    ids = rng.integers(0, 256, size=(2, 5))
    embedding = model.get_layer("embedding")
    interaction = model.get_layer("output_embedding")
    assert isinstance(embedding, TiedEmbedding)
    assert isinstance(interaction, MultiplicativeInteraction)
    assert interaction.context_units == 3 and interaction.mode == "hypernetwork"
    # One embedding matrix: no Dense output layer, logits = M(c, h) E^T + b2.
    assert [w.name for w in model.weights].count("embeddings") == 1
    h = keras.Model(model.inputs, model.get_layer("milstm_0").output)(ids)
    output_embedding = helpers.to_numpy(interaction([h, h]))
    want = output_embedding @ helpers.to_numpy(embedding.embeddings).T + helpers.to_numpy(
        embedding.output_bias
    )
    np.testing.assert_allclose(helpers.to_numpy(model(ids)), want, atol=1e-5)


def test_output_embeddings_without_the_bilinear_term(rng):
    """The baselines of section 8, checked against NumPy from their weights:
    "linear" is `h W + b`, "concatenated" is `[relu(h W3 + b3); h] W + b`;
    both scored against the tied embedding. Float32 models against a float64
    reference over sums of at most 8 + 3 terms: 1e-5 absolute."""
    ids = rng.integers(0, 256, size=(2, 5))
    for kind in ("linear", "concatenated"):
        model = multiplicative_embedding_model(
            cell="lstm", units=8, embedding_dim=6, context_units=3, output_embedding=kind
        )
        assert not any(isinstance(layer, MultiplicativeInteraction) for layer in model.layers)
        h = helpers.to_numpy(keras.Model(model.inputs, model.get_layer("lstm_0").output)(ids))
        h = h.astype("float64")
        if kind == "concatenated":
            kernel, bias = (helpers.to_numpy(w) for w in model.get_layer("output_context").weights)
            h = np.concatenate([np.maximum(h @ kernel + bias, 0.0), h], axis=-1)
        kernel, bias = (helpers.to_numpy(w) for w in model.get_layer("output_embedding").weights)
        embedding = model.get_layer("embedding")
        want = (h @ kernel + bias) @ helpers.to_numpy(embedding.embeddings).T + helpers.to_numpy(
            embedding.output_bias
        )
        np.testing.assert_allclose(helpers.to_numpy(model(ids)), want, atol=1e-5)
    with pytest.raises(ValueError, match="output_embedding='additive'"):
        multiplicative_embedding_model(output_embedding="additive")


def test_multiplicative_embedding_model_learns(rng):
    model = compile_language_model(
        multiplicative_embedding_model(units=16, embedding_dim=8), learning_rate=1e-2
    )
    text = np.frombuffer(b"abcabcabcabc" * 8, dtype=np.uint8).astype("int32")
    x = text[: 5 * 19].reshape(5, 19)
    y = text[1 : 5 * 19 + 1].reshape(5, 19)
    history = model.fit(x, y, epochs=30, verbose=0).history
    assert history["bpc"][-1] < 0.5 * history["bpc"][0]


def test_units_for_parameter_count_is_the_closest_size():
    from keras_mi.models import units_for_parameter_count

    def count(units):  # a quadratic count, like a recurrent layer's
        return 4 * units * units + 10 * units

    for target in (14, 100, 1_000, 123_456):
        best = min(range(1, 400), key=lambda u: abs(count(u) - target))
        assert units_for_parameter_count(count, target) == best
    with pytest.raises(ValueError, match="parameter_count"):
        units_for_parameter_count(count, 0)
