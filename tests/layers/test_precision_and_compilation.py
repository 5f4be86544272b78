"""Mixed precision policies and compiled (XLA / jit) training."""

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN
from tests.layers import helpers

LAYERS = {
    "mirnn": lambda **kw: MIRNN(6, **kw),
    "milstm": lambda **kw: MILSTM(6, **kw),
    "migru": lambda **kw: MIGRU(6, **kw),
    "migru_reset_after": lambda **kw: MIGRU(6, reset_after=True, **kw),
}
# Relative precision of the compute dtypes (8 and 11 significant bits), times
# ~10 for the roundings accumulated over a 5-step recurrence.
TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 8e-2}


def _data(rng):
    x = rng.normal(size=(8, 5, 3)).astype("float32")
    y = rng.normal(size=(8, 1)).astype("float32")
    return x, y


@pytest.mark.parametrize("policy", sorted(TOLERANCE))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_mixed_precision_matches_float32_and_trains(name, policy, rng):
    x, y = _data(rng)
    reference_layer = LAYERS[name]()
    reference_layer.build(x.shape)
    helpers.randomize(reference_layer, rng)
    expected = helpers.to_numpy(reference_layer(x))

    keras.config.set_dtype_policy(policy)
    layer = LAYERS[name]()
    layer.build(x.shape)
    layer.set_weights(reference_layer.get_weights())
    assert {w.dtype for w in layer.weights} == {"float32"}
    output = layer(x)
    assert keras.backend.standardize_dtype(output.dtype) == policy.split("_")[1]
    np.testing.assert_allclose(
        helpers.to_numpy(keras.ops.cast(output, "float32")),
        expected,
        atol=TOLERANCE[policy],
        rtol=TOLERANCE[policy],
    )
    model = keras.Sequential([keras.Input((5, 3)), LAYERS[name](), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# On PyTorch, jit_compile=True means torch.compile, which takes ~45 s per
# model on 2 CPU cores: one layer family is compiled there, all on XLA / JAX.
JIT_LAYERS = ["milstm"] if keras.backend.backend() == "torch" else sorted(LAYERS)


@pytest.mark.parametrize("name", JIT_LAYERS)
def test_jit_compiled_training_matches_eager(name, rng):
    x, y = _data(rng)
    models = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((5, 3)), LAYERS[name](return_sequences=False), keras.layers.Dense(1)]
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit
        )
        models.append(model)
    models[1].set_weights(models[0].get_weights())
    losses = [
        model.fit(x, y, epochs=3, batch_size=8, verbose=0, shuffle=False).history["loss"]
        for model in models
    ]
    # Same arithmetic, possibly fused differently by XLA: float32 round-off.
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    assert losses[1][-1] < losses[1][0]
