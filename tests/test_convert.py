"""Converting trained Keras recurrent layers into MI layers keeps their outputs."""

import keras
import numpy as np
import pytest

from keras_mi import (
    MIGRU,
    MILSTM,
    MIRNN,
    MIGRUCell,
    MILSTMCell,
    MIRNNCell,
    convert_model,
    to_multiplicative,
)
from tests.layers import helpers

# Same float32 graph up to the order of three additions: a few ulps.
ATOL = RTOL = 1e-5

SOURCES = {
    "lstm": (lambda: keras.layers.LSTM(5, return_sequences=True), MILSTM),
    "gru": (lambda: keras.layers.GRU(5, return_state=True), MIGRU),
    "gru_reset_before": (lambda: keras.layers.GRU(5, reset_after=False), MIGRU),
    "simple_rnn": (lambda: keras.layers.SimpleRNN(5, activation="relu"), MIRNN),
    "rnn_of_lstm_cell": (
        lambda: keras.layers.RNN(keras.layers.LSTMCell(5), go_backwards=True),
        keras.layers.RNN,
    ),
    "bidirectional_gru": (
        lambda: keras.layers.Bidirectional(keras.layers.GRU(5, return_sequences=True)),
        keras.layers.Bidirectional,
    ),
}


def _flat(result):
    return [helpers.to_numpy(t) for t in keras.tree.flatten(result)]


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_converted_layer_equals_source(name, rng):
    make, expected_class = SOURCES[name]
    source = make()
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    source.build(x.shape)
    helpers.randomize(source, rng)
    converted = to_multiplicative(source)
    assert type(converted) is expected_class
    for got, want in zip(_flat(converted(x)), _flat(source(x))):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
    # The result really is an MI layer at the additive point of Eq. 4.
    names = {w.name for w in converted.weights}
    assert {"alpha", "beta1", "beta2"} <= names
    for w in converted.weights:
        if w.name == "alpha":
            assert not helpers.to_numpy(w).any()
        if w.name in ("beta1", "beta2"):
            assert (helpers.to_numpy(w) == 1.0).all()


@pytest.mark.parametrize(
    "source, expected",
    [
        (keras.layers.LSTMCell, MILSTMCell),
        (keras.layers.GRUCell, MIGRUCell),
        (keras.layers.SimpleRNNCell, MIRNNCell),
    ],
)
def test_converted_cell_equals_source(source, expected, rng):
    cell = source(4)
    cell.build((None, 3))
    helpers.randomize(cell, rng)
    converted = to_multiplicative(cell)
    assert type(converted) is expected and converted.integration == "general"
    x = rng.normal(size=(2, 3)).astype("float32")
    states = [rng.normal(size=(2, 4)).astype("float32") for _ in range(len(keras.tree.flatten(cell.state_size)))]
    for got, want in zip(_flat(converted(x, states)), _flat(cell(x, states))):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


def test_unbuilt_layer_converts_to_unbuilt_layer_with_same_arguments():
    converted = to_multiplicative(keras.layers.GRU(7, reset_after=False, dropout=0.25))
    assert isinstance(converted, MIGRU) and not converted.built
    assert (converted.units, converted.reset_after, converted.dropout) == (7, False, 0.25)


def test_convert_model_keeps_outputs_and_fine_tunes(rng):
    inputs = keras.Input((6, 4))
    hidden = keras.layers.LSTM(8, return_sequences=True)(inputs)
    hidden = keras.layers.GRU(8)(hidden)
    outputs = keras.layers.Dense(2)(hidden)
    model = keras.Model(inputs, outputs)
    x = rng.normal(size=(16, 6, 4)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)

    converted = convert_model(model)
    kinds = [type(layer) for layer in converted.layers]
    assert MILSTM in kinds and MIGRU in kinds
    np.testing.assert_allclose(
        helpers.to_numpy(converted(x)), helpers.to_numpy(model(x)), atol=ATOL, rtol=RTOL
    )
    converted.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    converted.fit(x, y, epochs=3, verbose=0)
    alpha = next(w for w in converted.weights if w.name == "alpha")
    assert np.abs(helpers.to_numpy(alpha)).max() > 0.0


def test_unsupported_layer_is_a_type_error():
    with pytest.raises(TypeError, match="argument `layer`.*Dense"):
        to_multiplicative(keras.layers.Dense(3))
    with pytest.raises(TypeError, match="argument `model`"):
        convert_model(keras.layers.LSTM(3))


@pytest.mark.parametrize("order", ["source first", "converted first"])
def test_converted_model_shares_no_array_with_its_source(order, rng):
    """Both models work in any order (on JAX a model that runs donates its
    arrays), and training one leaves the other unchanged."""
    inputs = keras.Input((6, 4))
    hidden = keras.layers.LSTM(8, return_sequences=True)(inputs)
    hidden = keras.layers.Bidirectional(keras.layers.GRU(4))(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    x = rng.normal(size=(16, 6, 4)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    model.compile(optimizer="adam", loss="mse")
    converted = convert_model(model)
    converted.compile(optimizer="adam", loss="mse")
    models = [model, converted] if order == "source first" else [converted, model]
    predictions = [models[0].predict(x, verbose=0), models[1].predict(x, verbose=0)]
    predictions += [models[0].predict(x, verbose=0), models[1].predict(x, verbose=0)]
    np.testing.assert_allclose(predictions[0], predictions[1], atol=ATOL, rtol=RTOL)
    before = [w.copy() for w in model.get_weights()]
    converted.fit(x, y, epochs=2, verbose=0)
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(model.predict(x, verbose=0), predictions[0], atol=ATOL, rtol=RTOL)
    assert not np.allclose(converted.predict(x, verbose=0), predictions[0], atol=1e-4)


def test_a_recurrent_layer_inside_a_nested_model_is_converted(rng):
    """Before: the LSTM inside a nested Sequential stayed an LSTM, silently."""
    inner = keras.Sequential([keras.layers.LSTM(4, return_sequences=True),
                              keras.layers.Dense(3)], name="inner")
    inputs = keras.Input((5, 2))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    converted = convert_model(model)
    kinds = [type(layer) for layer in converted.get_layer("inner").layers]
    assert kinds == [MILSTM, keras.layers.Dense]
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    # Same function before fine-tuning, as for a top-level layer.
    np.testing.assert_allclose(helpers.to_numpy(converted(x)), helpers.to_numpy(model(x)),
                               atol=ATOL, rtol=RTOL)
