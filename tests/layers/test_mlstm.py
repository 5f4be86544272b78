"""MLSTMCell and MLSTM (Krause et al. 2016) against tests/reference.py."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_mi import MLSTM, MLSTMCell
from tests import reference
from tests.layers import helpers
from tests.layers.cell_contract import ATOL, RTOL

BATCH, TIMESTEPS, FEATURES, UNITS = 3, 6, 4, 5


def mlstm_params(values, mode):
    p = helpers.lstm_params(values, mode, UNITS)
    p["Wmx"] = values["multiplicative_kernel"]
    p["Wmh"] = values["multiplicative_recurrent_kernel"]
    return p


def _random_layer(rng, mode, **kwargs):
    layer = MLSTM(
        UNITS, integration=mode, return_sequences=True, return_state=True, **kwargs
    )
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    layer.build(x.shape)
    return layer, x, helpers.randomize(layer, rng)


@pytest.mark.parametrize("mode", ["additive", "general", "simple"])
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backward"])
def test_matches_numpy_reference(mode, masked, go_backwards, rng):
    layer, x, values = _random_layer(rng, mode, go_backwards=go_backwards)
    mask = helpers.random_mask(rng, BATCH, TIMESTEPS) if masked else None
    outputs, h, c = (helpers.to_numpy(t) for t in layer(x, mask=mask))
    want_outputs, (want_h, want_c) = reference.mlstm(
        x, mlstm_params(values, mode), mask=mask, go_backwards=go_backwards
    )
    np.testing.assert_allclose(outputs, want_outputs, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(h, want_h, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(c, want_c, atol=ATOL, rtol=RTOL)


def test_cell_in_keras_rnn_equals_layer(rng):
    layer, x, _ = _random_layer(rng, "additive")
    rnn = keras.layers.RNN(MLSTMCell(UNITS), return_sequences=True)
    rnn.build(x.shape)
    rnn.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        helpers.to_numpy(rnn(x)), helpers.to_numpy(layer(x)[0]), atol=ATOL, rtol=RTOL
    )


def test_weights_and_defaults():
    cell = MLSTMCell(UNITS)
    cell.build((None, FEATURES))
    assert {w.name: tuple(w.shape) for w in cell.weights} == {
        "kernel": (FEATURES, 4 * UNITS),
        "recurrent_kernel": (UNITS, 4 * UNITS),
        "bias": (4 * UNITS,),
        "multiplicative_kernel": (FEATURES, UNITS),
        "multiplicative_recurrent_kernel": (UNITS, UNITS),
    }
    assert cell.integration == "additive"


def test_bidirectional_matches_two_references(rng):
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    layer = keras.layers.Bidirectional(MLSTM(UNITS, return_sequences=True))
    layer.build(x.shape)
    helpers.randomize(layer, rng)
    forward = {w.name: helpers.to_numpy(w) for w in layer.forward_layer.weights}
    backward = {w.name: helpers.to_numpy(w) for w in layer.backward_layer.weights}
    want_f, _ = reference.mlstm(x, mlstm_params(forward, "additive"))
    want_b, _ = reference.mlstm(
        x, mlstm_params(backward, "additive"), go_backwards=True
    )
    want = np.concatenate([want_f, want_b[:, ::-1]], axis=-1)
    np.testing.assert_allclose(helpers.to_numpy(layer(x)), want, atol=ATOL, rtol=RTOL)


def test_save_and_load_round_trip(rng, tmp_path):
    inputs = keras.Input((TIMESTEPS, FEATURES))
    outputs = MLSTM(UNITS, integration="general", normalization="layer")(inputs)
    model = keras.Model(inputs, outputs)
    helpers.randomize(model, rng)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    path = str(tmp_path / "mlstm.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert restored.layers[-1].normalization == "layer"
    np.testing.assert_allclose(
        helpers.to_numpy(restored(x)), helpers.to_numpy(model(x)), atol=1e-6
    )


class MLSTMLayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            MLSTM,
            init_kwargs={"units": 3, "dropout": 0.1, "recurrent_dropout": 0.1},
            input_shape=(2, 4, 5),
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=5,
            expected_num_non_trainable_weights=0,
            expected_num_seed_generators=1,
            supports_masking=True,
        )
