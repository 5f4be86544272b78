"""MultiplicativeInteraction (Jayakumar et al. 2020) against NumPy.

Outputs are compared with `reference.interaction` (einsum of Eq. 1) and, for
the hypernetwork form, with `reference.appendix_b_hypernetwork` (one
generated matrix per example). Float32 layers vs float64 references at
1e-5: a handful of products of O(1) values per output.
"""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_mi import MultiplicativeInteraction
from tests import reference
from tests.layers import helpers

ATOL = RTOL = 1e-5
N, M, K = 5, 3, 4
MODES = ("hypernetwork", "diagonal", "scalar")


def _params(layer):
    values = {
        w.path.split("/", 1)[1]: helpers.to_numpy(w).astype(np.float64)
        for w in layer.weights
    }
    p = {"V": values["kernel"], "U": values["context_kernel"], "b": values["bias"]}
    if layer.mode == "hypernetwork":
        p["W"] = values["interaction_kernel"]
    elif layer.mode == "diagonal":
        p.update(alpha=values["alpha"], beta1=values["beta1"], beta2=values["beta2"])
    else:
        p.update(w_s=values["scale_kernel"], s0=values["scale_bias"])
    return p


def _layer(mode, rng, leading=(6,), **kwargs):
    layer = MultiplicativeInteraction(K, mode=mode, **kwargs)
    x = rng.normal(size=leading + (N,)).astype("float32")
    z = rng.normal(size=leading + (M,)).astype("float32")
    layer.build([x.shape, z.shape])
    helpers.randomize(layer, rng)
    return layer, x, z


def _out(layer, x, z):
    return helpers.to_numpy(layer([x, z])).astype(np.float64)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("leading", [(6,), (2, 3)], ids=["2d", "3d"])
def test_matches_numpy_reference(mode, leading, rng):
    layer, x, z = _layer(mode, rng, leading)
    np.testing.assert_allclose(
        _out(layer, x, z),
        reference.interaction(x, z, _params(layer), mode),
        atol=ATOL,
        rtol=RTOL,
    )


def test_full_is_hypernetwork_and_appendix_b_equals_einsum(rng):
    layer, x, z = _layer("full", rng)
    assert layer.mode == "hypernetwork"
    p = _params(layer)
    appendix_b = reference.appendix_b_hypernetwork(x, z, p)
    einsum = reference.interaction(x, z, p, "hypernetwork")
    np.testing.assert_allclose(appendix_b, einsum, atol=1e-12)
    np.testing.assert_allclose(_out(layer, x, z), appendix_b, atol=ATOL, rtol=RTOL)


def test_context_bottleneck(rng):
    layer, x, z = _layer("hypernetwork", rng, context_units=2)
    values = {w.path.split("/", 1)[1]: helpers.to_numpy(w) for w in layer.weights}
    context = np.maximum(
        z @ values["context_projection/kernel"] + values["context_projection/bias"], 0
    )
    p = _params(layer)
    assert p["W"].shape == (2, N, K)
    np.testing.assert_allclose(
        _out(layer, x, z),
        reference.interaction(x, context, p, "hypernetwork"),
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize("mode", MODES)
def test_affine_in_each_argument_and_truly_multiplicative(mode, rng):
    """Black-box: f(., z) and f(x, .) are affine; the mixed difference is not 0."""
    layer, x, z = _layer(mode, rng)
    x2 = rng.normal(size=x.shape).astype("float32")
    z2 = rng.normal(size=z.shape).astype("float32")
    for t in (0.3, 2.0):
        # f(x + t (x2 - x), z) = f(x, z) + t (f(x2, z) - f(x, z)), same for z.
        xt = (x + t * (x2 - x)).astype("float32")
        zt = (z + t * (z2 - z)).astype("float32")
        base = _out(layer, x, z)
        np.testing.assert_allclose(
            _out(layer, xt, z), base + t * (_out(layer, x2, z) - base), atol=1e-4
        )
        np.testing.assert_allclose(
            _out(layer, x, zt), base + t * (_out(layer, x, z2) - base), atol=1e-4
        )
    mixed = (
        _out(layer, x2, z2) - _out(layer, x2, z) - _out(layer, x, z2) + _out(layer, x, z)
    )
    assert np.abs(mixed).max() > 1e-2


def test_parameter_counts():
    m_in, c = 7, 2
    counts = {
        "hypernetwork": M * N * K + M * K + N * K + K,
        "diagonal": N * K + M * K + 4 * K,
        "scalar": N * K + M * K + M + 1 + K,
    }
    for mode, count in counts.items():
        layer = MultiplicativeInteraction(K, mode=mode)
        layer.build([(None, N), (None, M)])
        assert layer.count_params() == count
    bottleneck = MultiplicativeInteraction(K, context_units=c)
    bottleneck.build([(None, N), (None, m_in)])
    assert bottleneck.count_params() == (
        m_in * c + c + c * N * K + c * K + N * K + K
    )


def test_errors():
    with pytest.raises(ValueError, match="mode.*bilinear"):
        MultiplicativeInteraction(4, mode="bilinear")
    with pytest.raises(ValueError, match="units"):
        MultiplicativeInteraction(0)
    with pytest.raises(TypeError, match="context_units"):
        MultiplicativeInteraction(4, context_units=2.5)
    layer = MultiplicativeInteraction(4)
    with pytest.raises(ValueError, match="same leading dimensions"):
        layer([np.zeros((2, 5)), np.zeros((3, 3))])
    with pytest.raises(ValueError, match="same leading dimensions"):
        layer([np.zeros((2, 4, 5)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"list `\[x, z\]`"):
        layer(np.zeros((2, 5)))


@pytest.mark.parametrize("mode", MODES)
def test_a_context_of_another_batch_is_refused_after_build(mode):
    """Built on an unknown batch size, the diagonal and scalar forms used to
    broadcast a context of batch 1 over a batch of 6."""
    layer = MultiplicativeInteraction(3, mode=mode)
    layer.build([(None, 4), (None, 2)])
    assert layer([np.ones((6, 4), "float32"), np.ones((6, 2), "float32")]).shape == (6, 3)
    with pytest.raises(ValueError, match="same leading dimensions"):
        layer([np.ones((6, 4), "float32"), np.ones((1, 2), "float32")])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("context_units", [None, 2])
def test_inputs_of_another_width_are_refused_after_build(mode, context_units):
    """x or z with another feature width than the weights were built for:
    the layer names the input and both widths (the framework's own message,
    from the contraction, named neither)."""
    layer = MultiplicativeInteraction(3, mode=mode, context_units=context_units)
    layer([np.ones((2, 4), "float32"), np.ones((2, 2), "float32")])
    with pytest.raises(ValueError, match="built for x with 4 features .* received x with 5"):
        layer([np.ones((2, 5), "float32"), np.ones((2, 2), "float32")])
    with pytest.raises(ValueError, match="built for z with 2 features .* received z with 3"):
        layer([np.ones((2, 4), "float32"), np.ones((2, 3), "float32")])


def test_save_load_and_mixed_precision(rng, tmp_path):
    x = rng.normal(size=(4, N)).astype("float32")
    z = rng.normal(size=(4, M)).astype("float32")
    for mode in MODES:
        x_in, z_in = keras.Input((N,)), keras.Input((M,))
        layer = MultiplicativeInteraction(K, mode=mode, context_units=2)
        model = keras.Model([x_in, z_in], layer([x_in, z_in]))
        helpers.randomize(model, rng)
        path = str(tmp_path / f"{mode}.keras")
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(
            helpers.to_numpy(restored([x, z])), helpers.to_numpy(model([x, z])), atol=1e-6
        )
        half = MultiplicativeInteraction.from_config(
            {**layer.get_config(), "dtype": "mixed_float16"}
        )
        half.build([x.shape, z.shape])
        half.set_weights(layer.get_weights())
        out = half([x, z])
        assert keras.backend.standardize_dtype(out.dtype) == "float16"
        assert half.kernel.dtype == "float32"
        # float16 keeps ~3 significant digits; outputs are O(1).
        np.testing.assert_allclose(
            helpers.to_numpy(out).astype("float32"),
            helpers.to_numpy(layer([x, z])),
            atol=5e-2,
            rtol=5e-2,
        )


def _fit_error(model, x, z, y, steps=1500, epochs=10):
    """`steps` Adam steps on batches of 100 from (x, z, y), in `epochs`
    passes over the data repeated (fewer, longer epochs and several steps
    per call: Keras' per-epoch and per-step overhead was most of the time)."""
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse",
                  steps_per_execution=1 if keras.backend.backend() == "torch" else 25)
    repeat = steps * 100 // (epochs * len(x))
    model.fit([np.tile(x, (repeat, 1)), np.tile(z, (repeat, 1))], np.tile(y, (repeat, 1)),
              batch_size=100, epochs=epochs, verbose=0)
    return float(model.evaluate([x, z], y, verbose=0))


@pytest.mark.parametrize("task", ["gating", "dot_product"])
def test_learns_gating_and_dot_product_better_than_concatenation(task, rng):
    """Seed 003 Fig. 2: one MI layer represents x * s(z) and <x, z> with fewer
    parameters than a concatenation MLP; here the MLP gets at least as many."""
    keras.utils.set_random_seed(0)
    n = 4
    x = rng.normal(size=(1000, n)).astype("float32")
    z = rng.normal(size=(1000, n)).astype("float32")
    if task == "gating":
        y = x * (1 / (1 + np.exp(-z)))
    else:
        y = np.sum(x * z, axis=-1, keepdims=True)
    out = y.shape[-1]
    x_in, z_in = keras.Input((n,)), keras.Input((n,))
    mi = keras.Model([x_in, z_in], MultiplicativeInteraction(out)([x_in, z_in]))
    hidden = mi.count_params() // (2 * n + 1 + out) + 1
    concat = keras.layers.Concatenate()([x_in, z_in])
    mlp_out = keras.layers.Dense(out)(keras.layers.Dense(hidden, "relu")(concat))
    mlp = keras.Model([x_in, z_in], mlp_out)
    assert mlp.count_params() >= mi.count_params()
    mi_error = _fit_error(mi, x, z, y)
    mlp_error = _fit_error(mlp, x, z, y)
    assert mi_error < mlp_error, (mi_error, mlp_error)


class InteractionLayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        for mode, weights in (("hypernetwork", 4), ("diagonal", 6), ("scalar", 5)):
            self.run_layer_test(
                MultiplicativeInteraction,
                init_kwargs={"units": 3, "mode": mode},
                input_shape=[(2, 5), (2, 4)],
                expected_output_shape=(2, 3),
                expected_num_trainable_weights=weights,
                expected_num_non_trainable_weights=0,
                # The harness' training check cannot feed a list of inputs
                # on TensorFlow; training is tested by the learnability test.
                run_training_check=False,
            )
