"""MIRNNCell and MIRNN: Eq. 4 of Wu et al. 2016 inside a vanilla RNN."""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_mi import MIRNN, MIRNNCell
from tests import reference
from tests.layers import helpers
from tests.layers.cell_contract import *  # noqa: F401,F403
from tests.layers.cell_contract import ATOL, RTOL, Family, run_reference


def rnn_reference(x, values, mode, units, variant, mask, backwards=False, states=None):
    activation = reference.linear if variant.get("activation", "tanh") is None else np.tanh
    return run_reference(reference.mi_rnn, x, helpers.rnn_params(values, mode, units), states,
                         mask, backwards, activation=activation)


@pytest.fixture
def family():
    return Family(
        cell=MIRNNCell,
        layer=MIRNN,
        keras_cell=keras.layers.SimpleRNNCell,
        keras_layer=keras.layers.SimpleRNN,
        reference=rnn_reference,
        variants=({}, {"activation": None}),
        # Wu et al. initialise their MI-RNN with {alpha, beta1, beta2} = {2, 0.5, 0.5}.
        paper_coefficients=(2.0, 0.5, 0.5),
        gate_count=1,
    )


def test_linear_mi_rnn_step_is_a_gated_linear_map(rng):
    """activation=None, simple mode, no bias: h_t = (x_t W) * (h_(t-1) U)."""
    cell = MIRNNCell(4, activation=None, integration="simple", use_bias=False)
    cell.build((None, 3))
    values = helpers.randomize(cell, rng)
    x = rng.normal(size=(2, 3)).astype("float32")
    h = rng.normal(size=(2, 4)).astype("float32")
    out, _ = cell(x, [h])
    expected = (x @ values["kernel"]) * (h @ values["recurrent_kernel"])
    np.testing.assert_allclose(helpers.to_numpy(out), expected, atol=ATOL, rtol=RTOL)


class MIRNNLayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        for activation in ("tanh", None):
            self.run_layer_test(
                MIRNN,
                init_kwargs={"units": 3, "activation": activation},
                input_shape=(2, 4, 5),
                expected_output_shape=(2, 3),
                expected_num_trainable_weights=6,
                expected_num_non_trainable_weights=0,
                supports_masking=True,
            )

    def test_keras_layer_harness_state(self):
        self.run_layer_test(
            MIRNN,
            init_kwargs={"units": 3, "return_state": True, "integration": "additive"},
            input_shape=(2, 4, 5),
            expected_output_shape=((2, 3), (2, 3)),
            expected_num_trainable_weights=3,
            supports_masking=True,
        )
