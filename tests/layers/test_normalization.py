"""Recurrent batch and layer normalization of MILSTM and MLSTM.

Checked against `reference.normalized_lstm` (NumPy, float64): training-mode
outputs use each timestep's batch statistics, the population statistics move
by the momentum rule toward them, and inference uses the stored statistics of
each timestep. Tolerances are those of the other reference tests (1e-5);
normalization divides by a standard deviation of order 0.1-1, which keeps
float32 rounding near 1e-6.
"""

import keras
import numpy as np
import pytest
from keras.src import testing

from keras_mi import MILSTM, MLSTM, MILSTMCell
from tests import reference
from tests.layers import helpers

ATOL = RTOL = 1e-5
BATCH, TIMESTEPS, FEATURES, UNITS = 8, 5, 4, 3
NAMES = ("input", "recurrent", "cell")


def _params(values, multiplicative):
    p = helpers.lstm_params(values, "general", UNITS)
    p.update(
        gx=values["input_gamma"],
        gh=values["recurrent_gamma"],
        gc=values["cell_gamma"],
        bc=values["cell_beta"],
    )
    if multiplicative:
        p["Wmx"] = values["multiplicative_kernel"]
        p["Wmh"] = values["multiplicative_recurrent_kernel"]
    return p


def _layer(cls, rng, **kwargs):
    layer = cls(
        UNITS,
        integration="general",
        return_sequences=True,
        return_state=True,
        **kwargs,
    )
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    layer.build(x.shape)
    values = {}
    for variable in layer.trainable_variables:
        value = rng.uniform(-0.5, 0.5, size=variable.shape)
        if "gamma" in variable.name:
            value = rng.uniform(0.5, 1.5, size=variable.shape)
        variable.assign(value.astype("float32"))
        values[variable.name] = value
    return layer, x, values


@pytest.mark.parametrize("cls", [MILSTM, MLSTM])
def test_batch_normalization_training_inference_and_statistics(cls, rng):
    steps, momentum, epsilon = 3, 0.9, 1e-3  # fewer stored steps than T
    layer, x, values = _layer(
        cls,
        rng,
        normalization="batch",
        normalization_steps=steps,
        normalization_momentum=momentum,
    )
    p = _params(values, cls is MLSTM)
    outputs, h, c, counter = (helpers.to_numpy(t) for t in layer(x, training=True))
    want, (want_h, want_c), collected = reference.normalized_lstm(
        x, p, "batch", epsilon, multiplicative=cls is MLSTM
    )
    np.testing.assert_allclose(outputs, want, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(c, want_c, atol=ATOL, rtol=RTOL)
    np.testing.assert_array_equal(counter, np.full((BATCH, 1), TIMESTEPS))

    # Population statistics: zeros / ones moved once toward the batch
    # statistics of the first `steps` timesteps.
    statistics = {}
    for name in NAMES:
        means = np.stack([m for m, _ in collected[name][:steps]])
        variances = np.stack([v for _, v in collected[name][:steps]])
        want_mean = (1 - momentum) * means
        want_variance = momentum + (1 - momentum) * variances
        got_mean = helpers.to_numpy(getattr(layer.cell, f"moving_{name}_mean"))
        got_variance = helpers.to_numpy(
            getattr(layer.cell, f"moving_{name}_variance")
        )
        np.testing.assert_allclose(got_mean, want_mean, atol=ATOL, rtol=RTOL)
        np.testing.assert_allclose(got_variance, want_variance, atol=ATOL, rtol=RTOL)
        statistics[name] = (got_mean.astype(np.float64), got_variance.astype(np.float64))

    # Inference: the stored statistics of each step (the last row reused).
    x_new = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    outputs, h, c, _ = (helpers.to_numpy(t) for t in layer(x_new, training=False))
    want, _, _ = reference.normalized_lstm(
        x_new, p, "batch", epsilon, statistics, multiplicative=cls is MLSTM
    )
    np.testing.assert_allclose(outputs, want, atol=ATOL, rtol=RTOL)
    # ... which differs from what the batch statistics would give.
    batch_mode, _, _ = reference.normalized_lstm(
        x_new, p, "batch", epsilon, multiplicative=cls is MLSTM
    )
    assert not np.allclose(outputs, batch_mode, atol=1e-3)


@pytest.mark.parametrize("cls", [MILSTM, MLSTM])
def test_shared_statistics_pool_every_step(cls, rng):
    """normalization_statistics="shared": one row of population statistics,
    moved toward the moments over the batch and every timestep (from the
    reference's per-step moments: the mean of the step means, and the mean
    of each step's variance plus its mean's squared distance to the pooled
    mean, all steps having the same batch), and used at every step."""
    momentum, epsilon = 0.9, 1e-3
    layer, x, values = _layer(
        cls, rng, normalization="batch", normalization_statistics="shared",
        normalization_momentum=momentum,
    )
    p = _params(values, cls is MLSTM)
    outputs = helpers.to_numpy(layer(x, training=True)[0])
    want, _, collected = reference.normalized_lstm(
        x, p, "batch", epsilon, multiplicative=cls is MLSTM
    )
    np.testing.assert_allclose(outputs, want, atol=ATOL, rtol=RTOL)  # per-step batch moments
    statistics = {}
    for name in NAMES:
        means = np.stack([m for m, _ in collected[name]])
        variances = np.stack([v for _, v in collected[name]])
        pooled_mean = means.mean(axis=0)
        pooled_variance = (variances + (means - pooled_mean) ** 2).mean(axis=0)
        got_mean = helpers.to_numpy(getattr(layer.cell, f"moving_{name}_mean"))
        got_variance = helpers.to_numpy(getattr(layer.cell, f"moving_{name}_variance"))
        assert got_mean.shape == (1, pooled_mean.shape[0])
        np.testing.assert_allclose(got_mean[0], (1 - momentum) * pooled_mean, atol=ATOL,
                                   rtol=RTOL)
        np.testing.assert_allclose(got_variance[0], momentum + (1 - momentum) * pooled_variance,
                                   atol=ATOL, rtol=RTOL)
        statistics[name] = (got_mean.astype(np.float64), got_variance.astype(np.float64))
    x_new = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    outputs = helpers.to_numpy(layer(x_new, training=False)[0])
    want, _, _ = reference.normalized_lstm(
        x_new, p, "batch", epsilon, statistics, multiplicative=cls is MLSTM
    )
    np.testing.assert_allclose(outputs, want, atol=ATOL, rtol=RTOL)
    restored = cls.from_config(layer.get_config())
    assert restored.cell.normalization_statistics == "shared"
    with pytest.raises(ValueError, match="normalization_statistics='pooled'"):
        cls(UNITS, normalization="batch", normalization_statistics="pooled")


@pytest.mark.parametrize("cls", [MILSTM, MLSTM])
def test_layer_normalization_matches_reference(cls, rng):
    layer, x, values = _layer(cls, rng, normalization="layer")
    outputs, h, c = (helpers.to_numpy(t) for t in layer(x, training=True))
    want, (want_h, want_c), _ = reference.normalized_lstm(
        x, _params(values, cls is MLSTM), "layer", 1e-3, multiplicative=cls is MLSTM
    )
    np.testing.assert_allclose(outputs, want, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(c, want_c, atol=ATOL, rtol=RTOL)
    inference = helpers.to_numpy(layer(x, training=False)[0])
    np.testing.assert_allclose(inference, outputs, atol=ATOL, rtol=RTOL)


def test_normalization_weights_and_gamma_defaults():
    for kind, gamma in (("batch", 0.1), ("layer", 1.0)):
        cell = MILSTMCell(UNITS, normalization=kind, normalization_steps=7)
        cell.build((None, FEATURES))
        shapes = {w.name: tuple(w.shape) for w in cell.weights}
        for name in ("input_gamma", "recurrent_gamma"):
            assert shapes[name] == (4 * UNITS,)
            np.testing.assert_allclose(helpers.to_numpy(getattr(cell, name)), gamma)
        assert shapes["cell_gamma"] == shapes["cell_beta"] == (UNITS,)
        moving = sorted(w.name for w in cell.non_trainable_weights)
        if kind == "batch":
            assert moving == sorted(
                f"moving_{n}_{m}" for n in NAMES for m in ("mean", "variance")
            )
            assert shapes["moving_input_mean"] == (7, 4 * UNITS)
            assert shapes["moving_cell_variance"] == (7, UNITS)
        else:
            assert moving == []


def test_batch_normalized_cell_trains_only_inside_its_layer(rng):
    x = rng.normal(size=(2, 3, FEATURES)).astype("float32")
    rnn = keras.layers.RNN(MILSTMCell(UNITS, normalization="batch"))
    rnn(x, training=False)  # inference works in any RNN layer
    with pytest.raises(ValueError, match="normalization='batch'"):
        rnn(x, training=True)
    layer = MILSTM(UNITS, normalization="batch")
    with pytest.raises(ValueError, match="masked sequences"):
        layer(x, mask=np.ones((2, 3), bool), training=True)


def test_fit_and_save_with_batch_normalization(rng, tmp_path):
    x = rng.normal(size=(16, TIMESTEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(16, UNITS)).astype("float32")
    model = keras.Sequential(
        [keras.Input((TIMESTEPS, FEATURES)), MILSTM(UNITS, normalization="batch")]
    )
    model.compile(optimizer="adam", loss="mse")
    before = helpers.to_numpy(model.layers[0].cell.moving_input_mean)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    after = helpers.to_numpy(model.layers[0].cell.moving_input_mean)
    assert not np.allclose(before, after)
    path = str(tmp_path / "bn.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        helpers.to_numpy(restored.predict(x, verbose=0)),
        helpers.to_numpy(model.predict(x, verbose=0)),
        atol=1e-6,
    )


class NormalizedLayerTest(testing.TestCase):
    def test_keras_layer_harness(self):
        for cls, kind, trainable, non_trainable in (
            (MILSTM, "layer", 10, 0),
            (MILSTM, "batch", 10, 6),
            (MLSTM, "batch", 9, 6),
        ):
            self.run_layer_test(
                cls,
                init_kwargs={"units": 3, "normalization": kind},
                input_shape=(2, 4, 5),
                expected_output_shape=(2, 3),
                expected_num_trainable_weights=trainable,
                expected_num_non_trainable_weights=non_trainable,
                expected_num_seed_generators=1,
                supports_masking=True,
            )


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_training_batch_leaves_population_statistics_unchanged(bad, rng):
    """One example with a NaN (or an infinity) must not poison every later
    inference: its batch does not move the population statistics."""
    layer, x, _ = _layer(MILSTM, rng, normalization="batch")
    layer(x, training=True)  # a good batch moves the statistics
    before = [helpers.to_numpy(v) for v in layer.non_trainable_variables]
    poisoned = x.copy()
    poisoned[0, 1, 2] = bad
    layer(poisoned, training=True)
    after = [helpers.to_numpy(v) for v in layer.non_trainable_variables]
    for b, a in zip(before, after):
        np.testing.assert_array_equal(a, b)
    assert all(np.isfinite(a).all() for a in after)
    outputs = keras.tree.flatten(layer(x, training=False))
    assert all(np.isfinite(helpers.to_numpy(o)).all() for o in outputs)
    # A good batch afterwards still moves them.
    layer(x, training=True)
    moved = [helpers.to_numpy(v) for v in layer.non_trainable_variables]
    assert any(not np.allclose(m, a) for m, a in zip(moved, after))
