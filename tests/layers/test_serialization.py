"""Configs, `.keras` files (safe mode too) and training after loading."""

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MIGRUCell, MILSTMCell, MIRNNCell
from tests.layers import helpers

RECURRENT_LAYERS = {
    "mirnn": lambda: MIRNN(4, activation=None, return_sequences=True),
    "milstm": lambda: MILSTM(
        4,
        return_sequences=True,
        dropout=0.1,
        kernel_regularizer="l2",
        alpha_constraint="non_neg",
        beta1_initializer=keras.initializers.Constant(0.5),
    ),
    "migru": lambda: MIGRU(4, reset_after=True, integration="simple", return_sequences=True),
    "rnn_of_milstm_cell": lambda: keras.layers.RNN(MILSTMCell(4), return_sequences=True),
    "rnn_of_migru_cell": lambda: keras.layers.RNN(MIGRUCell(4), return_sequences=True),
    "rnn_of_mirnn_cell": lambda: keras.layers.RNN(MIRNNCell(4), return_sequences=True),
    "bidirectional_milstm": lambda: keras.layers.Bidirectional(
        MILSTM(4, return_sequences=True)
    ),
    "stacked_cells": lambda: keras.layers.RNN(
        keras.layers.StackedRNNCells([MIGRUCell(4), MILSTMCell(4)]),
        return_sequences=True,
    ),
}


def _model(make):
    inputs = keras.Input((5, 3))
    hidden = make()(inputs)
    outputs = keras.layers.Dense(2)(hidden)
    return keras.Model(inputs, outputs)


@pytest.mark.parametrize("name", sorted(RECURRENT_LAYERS))
def test_saved_model_reloads_identically_and_keeps_training(name, rng, tmp_path):
    model = _model(RECURRENT_LAYERS[name])
    model.build((None, 5, 3))
    helpers.randomize(model, rng, scale=0.3)
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    y = rng.normal(size=(8, 5, 2)).astype("float32")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(
        helpers.to_numpy(loaded(x)), helpers.to_numpy(model(x))
    )
    assert [(w.name, tuple(w.shape)) for w in loaded.weights] == [
        (w.name, tuple(w.shape)) for w in model.weights
    ]
    loaded.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    before = loaded.evaluate(x, y, verbose=0)
    loaded.fit(x, y, epochs=5, verbose=0)
    assert loaded.evaluate(x, y, verbose=0) < before


@pytest.mark.parametrize(
    "layer",
    [
        MIRNN(3, activation="relu", integration="additive", go_backwards=True),
        MILSTM(3, unit_forget_bias=False, recurrent_dropout=0.2, seed=7, stateful=False),
        MIGRU(3, reset_after=True, use_bias=False, return_state=True),
        MILSTMCell(3, alpha_regularizer="l1", beta2_constraint="unit_norm"),
        MIGRUCell(3, reset_after=True),
        MIRNNCell(3, activation=None),
    ],
    ids=lambda layer: type(layer).__name__,
)
def test_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    serialized = keras.saving.serialize_keras_object(layer)
    assert serialized["registered_name"].startswith("keras_mi>")
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is type(layer) and revived.get_config() == config
