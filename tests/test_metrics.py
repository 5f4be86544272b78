"""Bits per character against a hand computation."""

import math

import keras
import numpy as np

from keras_mi.metrics import BitsPerCharacter


def test_bpc_equals_hand_computation():
    probabilities = np.array([[0.5, 0.25, 0.25], [0.125, 0.125, 0.75]], dtype="float32")
    labels = np.array([0, 1])
    # -log2(0.5) = 1 and -log2(0.125) = 3: the mean is 2 bits.
    metric = BitsPerCharacter(from_logits=False)
    metric.update_state(labels, probabilities)
    np.testing.assert_allclose(float(metric.result()), 2.0, rtol=1e-6)


def test_bpc_from_logits_and_masked_positions_excluded():
    logits = np.log(np.array([[[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]]], dtype="float32"))
    labels = np.array([[0, 1, 1]])
    weights = np.array([[1.0, 0.0, 1.0]])
    metric = BitsPerCharacter()
    metric.update_state(labels, logits, sample_weight=weights)
    expected = (1.0 + -math.log2(0.8)) / 2  # the middle position is masked
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5)


def test_bpc_in_compile_equals_loss_over_ln2(rng):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5)])
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[BitsPerCharacter()],
    )
    x = rng.normal(size=(16, 4)).astype("float32")
    y = rng.integers(0, 5, size=(16,))
    results = model.evaluate(x, y, return_dict=True, verbose=0)
    np.testing.assert_allclose(results["bpc"], results["loss"] / math.log(2), rtol=1e-5)
    config = BitsPerCharacter(from_logits=False).get_config()
    assert BitsPerCharacter.from_config(config).from_logits is False


def test_bpc_with_every_weight_zero_is_nan_not_a_perfect_score():
    metric = BitsPerCharacter(from_logits=False)
    metric.update_state(np.array([0, 1]), np.array([[0.5, 0.5], [0.5, 0.5]], "float32"),
                        sample_weight=np.array([0.0, 0.0]))
    assert math.isnan(float(metric.result()))
    # One counted character: -log2(0.25) = 2 bits.
    metric.update_state(np.array([0]), np.array([[0.25, 0.75]], "float32"))
    np.testing.assert_allclose(float(metric.result()), 2.0, rtol=1e-6)
    assert math.isnan(float(BitsPerCharacter().result()))  # nothing seen at all


def test_bpc_from_logits_must_be_a_boolean():
    import pytest

    with pytest.raises(TypeError, match="argument `from_logits`.*'no'"):
        BitsPerCharacter(from_logits="no")


def test_a_label_that_is_not_a_class_gives_nan_on_every_backend():
    """Before: BPC 0.0 on JAX (a perfect score), an error on TensorFlow."""
    for labels in ([0, 3], [0, -1]):
        metric = BitsPerCharacter(from_logits=False)
        metric.update_state(np.array(labels), np.full((2, 3), 1 / 3, "float32"))
        assert math.isnan(float(metric.result())), labels
    metric = BitsPerCharacter(from_logits=False)  # the valid labels are unaffected
    metric.update_state(np.array([[0], [2]]), np.full((2, 4), 0.25, "float32"))
    assert float(metric.result()) == 2.0  # log2(4), exact in float32
