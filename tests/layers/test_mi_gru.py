"""MIGRUCell and MIGRU: Wu et al. 2016, Appendix A.2 (Keras' GRU convention)."""

import keras
import pytest
from keras.src import testing

from keras_mi import MIGRU, MIGRUCell
from tests import reference
from tests.layers import helpers
from tests.layers.cell_contract import *  # noqa: F401,F403
from tests.layers.cell_contract import Family, run_reference


def gru_reference(x, values, mode, units, variant, mask, backwards=False, states=None):
    reset_after = variant.get("reset_after", False)
    return run_reference(reference.mi_gru, x,
                         helpers.gru_params(values, mode, units, reset_after), states, mask,
                         backwards, reset_after=reset_after)


@pytest.fixture
def family():
    return Family(
        cell=MIGRUCell,
        layer=MIGRU,
        keras_cell=keras.layers.GRUCell,
        keras_layer=keras.layers.GRU,
        reference=gru_reference,
        variants=({"reset_after": False}, {"reset_after": True}),
        paper_coefficients=(1.0, 1.0, 1.0),
        gate_count=3,
    )


def test_default_is_the_papers_reset_placement():
    assert MIGRUCell(2).reset_after is False
    assert MIGRU(2, reset_after=True).cell.reset_after is True


class MIGRULayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        for reset_after in (False, True):
            self.run_layer_test(
                MIGRU,
                init_kwargs={
                    "units": 3,
                    "reset_after": reset_after,
                    "recurrent_dropout": 0.1,
                },
                input_shape=(2, 4, 5),
                expected_output_shape=(2, 3),
                expected_num_trainable_weights=6,
                expected_num_non_trainable_weights=0,
                expected_num_seed_generators=1,
                supports_masking=True,
            )

    def test_keras_layer_harness_sequences(self):
        self.run_layer_test(
            MIGRU,
            init_kwargs={"units": 3, "return_sequences": True, "integration": "simple"},
            input_shape=(2, 4, 5),
            expected_output_shape=(2, 4, 3),
            expected_num_trainable_weights=3,
            supports_masking=True,
        )
