"""The hoisted step loop of the sequence layers equals Keras' cell loop.

Both are the step loops the layers fall back to where the fused recurrence
does not apply (`use_fused=False` here). Each layer runs once with
`hoist_inputs=True` (the input projection of all
timesteps in one matmul before the loop) and once with `hoist_inputs=False`
(the cell loop of `keras.layers.RNN`), with the same weights, on every
backend: outputs, final states and gradients must agree. Both compute the
same float32 operations in a different order (one batched matmul instead of
per-step ones), so they agree to rounding: ATOL = RTOL = 1e-5 as in the
reference tests.
"""

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM
from keras_mi.backend import value_and_gradients
from tests.layers import helpers

ATOL = RTOL = 1e-5
BATCH, TIMESTEPS, FEATURES, UNITS = 3, 6, 4, 5

LAYERS = {
    "MIRNN": lambda **kw: MIRNN(UNITS, **kw),
    "MILSTM": lambda **kw: MILSTM(UNITS, **kw),
    "MILSTM-simple": lambda **kw: MILSTM(UNITS, integration="simple", **kw),
    "MIGRU": lambda **kw: MIGRU(UNITS, **kw),
    "MIGRU-reset_after": lambda **kw: MIGRU(UNITS, reset_after=True, **kw),
    "MLSTM": lambda **kw: MLSTM(UNITS, **kw),
    "MILSTM-layernorm": lambda **kw: MILSTM(UNITS, normalization="layer", **kw),
}


def _pair(name, rng, **kwargs):
    layers = []
    for hoist in (True, False):
        layer = LAYERS[name](
            return_sequences=True, return_state=True, use_fused=False, **kwargs
        )
        layer.hoist_inputs = hoist
        layer.build((BATCH, TIMESTEPS, FEATURES))
        layers.append(layer)
    helpers.randomize(layers[0], rng)
    layers[1].set_weights(layers[0].get_weights())
    return layers


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("go_backwards", [False, True], ids=["forward", "backward"])
def test_outputs_and_states_equal_cell_loop(name, masked, go_backwards, rng):
    hoisted, cell_loop = _pair(name, rng, go_backwards=go_backwards)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    mask = helpers.random_mask(rng, BATCH, TIMESTEPS) if masked else None
    got = keras.tree.flatten(hoisted(x, mask=mask))
    want = keras.tree.flatten(cell_loop(x, mask=mask))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(
            helpers.to_numpy(g), helpers.to_numpy(w), atol=ATOL, rtol=RTOL
        )


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_gradients_equal_cell_loop(name, masked, rng):
    hoisted, cell_loop = _pair(name, rng)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    mask = helpers.random_mask(rng, BATCH, TIMESTEPS) if masked else None
    mask = None if mask is None else keras.ops.convert_to_tensor(mask)
    weights = rng.normal(size=(BATCH, TIMESTEPS, UNITS)).astype("float32")

    def gradients(layer):
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def loss(x_value, *variables):
            outputs = keras.tree.flatten(
                layer.stateless_call(
                    list(variables), non_trainable, x_value, mask=mask
                )[0]
            )
            readout = keras.ops.convert_to_tensor(weights)
            return keras.ops.sum(outputs[0] * readout) + keras.ops.sum(outputs[-1])

        arrays = [x] + [helpers.to_numpy(v) for v in layer.trainable_variables]
        _, grads = value_and_gradients(loss, arrays)
        return grads

    for g, w in zip(gradients(hoisted), gradients(cell_loop)):
        np.testing.assert_allclose(g, w, atol=1e-4, rtol=1e-4)


def test_dropout_masks_are_the_same_in_both_loops(rng):
    """With the same seed, both loops draw the same masks and agree."""
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    results = []
    for hoist in (True, False):
        layer = MILSTM(
            UNITS,
            dropout=0.3,
            recurrent_dropout=0.3,
            seed=7,
            return_sequences=True,
            use_fused=False,
        )
        layer.hoist_inputs = hoist
        layer.build(x.shape)
        for variable in layer.trainable_variables:
            variable.assign(np.full(variable.shape, 0.1, "float32"))
        results.append(helpers.to_numpy(layer(x, training=True)))
    np.testing.assert_allclose(results[0], results[1], atol=ATOL, rtol=RTOL)
    inference = helpers.to_numpy(layer(x, training=False))
    assert not np.allclose(results[1], inference)


@pytest.mark.parametrize("name", ["MILSTM", "MIGRU", "MLSTM"])
def test_stateful_and_unrolled_equal_cell_loop(name, rng):
    """State carried across batches, and the unrolled loop, in both loops."""
    batches = [
        rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
        for _ in range(2)
    ]
    for kwargs in ({"stateful": True}, {"unroll": True}):
        hoisted, cell_loop = _pair(name, rng, **kwargs)
        for x in batches:
            got = keras.tree.flatten(hoisted(x))
            want = keras.tree.flatten(cell_loop(x))
            for g, w in zip(got, want):
                np.testing.assert_allclose(
                    helpers.to_numpy(g), helpers.to_numpy(w), atol=ATOL, rtol=RTOL
                )
        if kwargs.get("stateful"):
            # The second batch started from the first batch's final state.
            fresh = LAYERS[name](
                return_sequences=True, return_state=True, use_fused=False
            )
            fresh.build(batches[1].shape)
            fresh.set_weights(hoisted.get_weights())
            assert not np.allclose(
                helpers.to_numpy(fresh(batches[1])[0]), helpers.to_numpy(got[0])
            )


def test_loop_settings_are_those_measured_on_the_cpu_only():
    """The settings tuned on a 2-core CPU apply there; a device where
    nothing was measured gets the frameworks' defaults."""
    from keras_mi.backend import loops

    assert loops.setting("hoist_inputs", "torch", "cpu") is True
    assert loops.setting("unroll", "jax", "cpu") == 4
    assert loops.setting("projects_in_loop", "jax", "cpu") is True
    for backend in ("torch", "jax", "tensorflow"):
        for name, default in loops.DEFAULTS.items():
            assert loops.setting(name, backend, "gpu") == default
    assert loops.setting("hoist_inputs", "tensorflow", "cpu") is False
    assert loops.device_kind() in ("cpu", "gpu", "tpu")
