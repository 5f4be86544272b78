"""The MI building block against Eq. 4 written out in NumPy."""

import keras
import numpy as np
import pytest

from keras_mi import ops as mi_ops
from tests import reference
from tests.layers.helpers import to_numpy

# float32 inputs of scale 1 combined in four products and sums: a few ulps.
ATOL = RTOL = 1e-6


@pytest.fixture
def terms(rng):
    shape = (4, 6)
    wx, uz = rng.normal(size=shape), rng.normal(size=shape)
    alpha, beta1, beta2, b = (rng.normal(size=shape[-1]) for _ in range(4))
    return wx, uz, alpha, beta1, beta2, b


def f32(*arrays):
    return [keras.ops.convert_to_tensor(a.astype("float32")) for a in arrays]


def test_general_block_equals_eq4(terms):
    expected = reference.mi(*terms)
    got = mi_ops.multiplicative_integration(*f32(*terms))
    np.testing.assert_allclose(to_numpy(got), expected, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("mode", ["simple", "additive"])
def test_fixed_modes_equal_eq4_with_their_coefficients(terms, mode):
    wx, uz, _, _, _, b = terms
    expected = reference.mi(wx, uz, *reference.MODES[mode], b)
    coefficients = mi_ops.FIXED_COEFFICIENTS[mode]
    got = mi_ops.multiplicative_integration(*f32(wx, uz), *coefficients, *f32(b))
    np.testing.assert_allclose(to_numpy(got), expected, atol=ATOL, rtol=RTOL)


def test_additive_mode_is_the_plain_sum_bit_for_bit(terms):
    """No product by the constant 1 is computed: uz + (wx + b), exactly."""
    wx, uz, _, _, _, b = f32(*terms)
    got = mi_ops.multiplicative_integration(wx, uz, 0.0, 1.0, 1.0, b)
    np.testing.assert_array_equal(to_numpy(got), to_numpy(uz + (wx + b)))


def test_hoisted_terms_recombine_to_the_block(terms):
    wx, uz, alpha, beta1, beta2, b = f32(*terms)
    gate, offset = mi_ops.mi_input_terms(wx, alpha, beta1, beta2, b)
    np.testing.assert_allclose(
        to_numpy(gate), to_numpy(alpha * wx + beta1), atol=ATOL, rtol=RTOL
    )
    np.testing.assert_allclose(
        to_numpy(offset), to_numpy(beta2 * wx + b), atol=ATOL, rtol=RTOL
    )
    np.testing.assert_allclose(
        to_numpy(mi_ops.mi_combine(gate, offset, uz)),
        reference.mi(*terms),
        atol=ATOL,
        rtol=RTOL,
    )


def test_without_bias(terms):
    wx, uz, alpha, beta1, beta2, _ = terms
    expected = reference.mi(wx, uz, alpha, beta1, beta2, 0.0)
    got = mi_ops.multiplicative_integration(*f32(wx, uz, alpha, beta1, beta2))
    np.testing.assert_allclose(to_numpy(got), expected, atol=ATOL, rtol=RTOL)


def test_slice_coefficient_passes_numbers_through(rng):
    vector = keras.ops.convert_to_tensor(np.arange(6.0, dtype="float32"))
    assert to_numpy(mi_ops.slice_coefficient(vector, 2, 4)).tolist() == [2.0, 3.0]
    assert mi_ops.slice_coefficient(0.5, 2, 4) == 0.5
