"""MILSTMCell and MILSTM: Wu et al. 2016, Appendix A.1."""

import keras
import pytest
from keras.src import testing

from keras_mi import MILSTM, MILSTMCell
from tests import reference
from tests.layers import helpers
from tests.layers.cell_contract import *  # noqa: F401,F403
from tests.layers.cell_contract import Family, run_reference


def lstm_reference(x, values, mode, units, variant, mask, backwards=False, states=None):
    return run_reference(reference.mi_lstm, x, helpers.lstm_params(values, mode, units), states,
                         mask, backwards, state_names=("h0", "c0"))


@pytest.fixture
def family():
    return Family(
        cell=MILSTMCell,
        layer=MILSTM,
        keras_cell=keras.layers.LSTMCell,
        keras_layer=keras.layers.LSTM,
        reference=lstm_reference,
        state_count=2,
        paper_coefficients=(1.0, 1.0, 1.0),
        gate_count=4,
    )


def test_unit_forget_bias():
    cell = MILSTMCell(3)
    cell.build((None, 2))
    bias = helpers.to_numpy(cell.bias)
    assert bias[3:6].tolist() == [1.0, 1.0, 1.0]
    assert bias[:3].tolist() == bias[6:].tolist()[:3] == [0.0, 0.0, 0.0]


class MILSTMLayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        for mode in ("general", "simple", "additive"):
            self.run_layer_test(
                MILSTM,
                init_kwargs={"units": 3, "integration": mode, "dropout": 0.1},
                input_shape=(2, 4, 5),
                expected_output_shape=(2, 3),
                expected_num_trainable_weights=6 if mode == "general" else 3,
                expected_num_non_trainable_weights=0,
                expected_num_seed_generators=1,
                supports_masking=True,
            )

    def test_keras_layer_harness_sequences_and_state(self):
        self.run_layer_test(
            MILSTM,
            init_kwargs={"units": 3, "return_sequences": True, "return_state": True},
            input_shape=(2, 4, 5),
            expected_output_shape=((2, 4, 3), (2, 3), (2, 3)),
            expected_num_trainable_weights=6,
            supports_masking=True,
        )
