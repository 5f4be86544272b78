"""Autodiff gradients of the MI layers against central finite differences, and
the Jacobian of the linear MI-RNN against Eq. 6 of Wu et al. 2016.

On TensorFlow everything runs in float64: the central
difference with step EPS = 1e-6 has truncation error O(EPS^2) ~ 1e-12 and
round-off ~ 1e-16 / EPS = 1e-10 on O(1) losses, so RTOL = 1e-6, ATOL = 1e-8
is loose for float64 yet far tighter than any real gradient error.

Keras on JAX and PyTorch computes ops such as `matmul` and `tanh` in float32
even on float64 inputs (its type promotion maps float64 to float32 on every
backend but TensorFlow), so there the check runs in float32: EPS = 1e-3 keeps truncation ~1e-7, and the
round-off of a loss summing 24 O(1) float32 terms (~2e-6) divided by 2 EPS
gives ~1e-3, hence ATOL = 3e-3, RTOL = 1e-2. A wrong term in a gradient
changes it by O(0.1) or more, which both settings catch.
"""

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM
from keras_mi.backend import value_and_gradients
from tests import reference
from tests.layers import helpers

FLOAT64 = keras.backend.backend() == "tensorflow"
DTYPE = "float64" if FLOAT64 else "float32"
EPS, RTOL, ATOL = (1e-6, 1e-6, 1e-8) if FLOAT64 else (1e-3, 1e-2, 3e-3)
PROBES = 4  # coordinates checked per tensor

# Each layer as (class, options); every one returns sequences, in DTYPE.
# The last two are masked (a hole and a padded tail), read backwards, with
# recurrent dropout: every branch of the hand-written backward pass.
_BACKWARDS_DROPOUT = dict(go_backwards=True, recurrent_dropout=0.5, seed=3)
_LAYERS = {
    "mirnn": (MIRNN, {}),
    "milstm": (MILSTM, {}),
    "migru": (MIGRU, {}),
    "migru_reset_after": (MIGRU, dict(reset_after=True)),
    "milstm_simple": (MILSTM, dict(integration="simple")),
    "mlstm_general": (MLSTM, dict(integration="general")),
    "milstm_masked_backwards_dropout": (MILSTM, _BACKWARDS_DROPOUT),
    "migru_masked_backwards_dropout": (MIGRU, _BACKWARDS_DROPOUT),
}
LAYERS = {
    name: (lambda cls=cls, options=options: cls(3, return_sequences=True, dtype=DTYPE, **options))
    for name, (cls, options) in _LAYERS.items()
}
MASK = np.array([[True, True, False, True], [True, True, True, False]])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradients_match_central_differences(name, rng):
    """The layers run their fused recurrence (hand-written backward pass)."""
    layer = LAYERS[name]()
    assert layer.recurrence_path.startswith("fused")
    masked = "masked" in name
    mask = keras.ops.convert_to_tensor(MASK) if masked else None
    x = rng.normal(size=(2, 4, 3)).astype(DTYPE)
    layer.build(x.shape)
    helpers.randomize(layer, rng)
    weights = [helpers.to_numpy(v) for v in layer.trainable_variables]
    readout = rng.normal(size=(2, 4, 3)).astype(DTYPE)
    # The dropout seed state: constant here.
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss(x, *trainable):
        outputs, _ = layer.stateless_call(
            list(trainable), non_trainable, x, mask=mask, training=masked
        )
        return keras.ops.sum(outputs * keras.ops.convert_to_tensor(readout, dtype=DTYPE))

    compiled_loss = helpers.compiled(loss)

    def numeric_loss(arrays):
        tensors = [keras.ops.convert_to_tensor(a, dtype=DTYPE) for a in arrays]
        return float(helpers.to_numpy(compiled_loss(*tensors)))

    arrays = [x, *weights]
    _, grads = value_and_gradients(loss, arrays)
    for index, (array, grad) in enumerate(zip(arrays, grads)):
        flat_positions = rng.choice(array.size, min(PROBES, array.size), replace=False)
        for flat in flat_positions:
            position = np.unravel_index(flat, array.shape)
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[index][position] += EPS
            minus[index][position] -= EPS
            numeric = (numeric_loss(plus) - numeric_loss(minus)) / (2 * EPS)
            np.testing.assert_allclose(
                grad[position], numeric, rtol=RTOL, atol=ATOL,
                err_msg=f"tensor {index} at {position}",
            )


def test_linear_mi_rnn_jacobian_is_eq6_product(rng):
    """For h_t = (W x_t) * (U h_(t-1)), dh_T/dh_0 = prod_k U diag(W x_k)."""
    units, timesteps = 4, 5
    layer = MIRNN(
        units,
        activation=None,
        integration="simple",
        use_bias=False,
        dtype=DTYPE,
    )
    x = rng.normal(size=(1, timesteps, 3)).astype(DTYPE)
    layer.build(x.shape)
    values = helpers.randomize(layer, rng, scale=0.8)
    p = {"W": values["kernel"], "U": values["recurrent_kernel"]}
    # Row-vector layout: h_T = h_0 J_1 J_2 ... J_T.
    expected = np.eye(units)
    for t in range(timesteps):
        expected = expected @ reference.linear_mi_rnn_jacobian(x[:, t], p)[0]
    h0 = rng.normal(size=(1, units)).astype(DTYPE)
    for j in range(units):

        def h_T_j(x_in, h_in, j=j):
            return layer(x_in, initial_state=[h_in])[0, j]

        _, (_, dh0) = value_and_gradients(h_T_j, [x, h0])
        # float64: exact up to round-off; float32: a product of 5
        # matrices of O(1) entries keeps ~1e-6 relative accuracy.
        tolerance = dict(rtol=1e-10, atol=1e-12) if FLOAT64 else dict(rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dh0[0], expected[:, j], **tolerance)
