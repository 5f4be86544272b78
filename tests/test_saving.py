"""What the package saves loads again: with nothing but `import keras_mi`,
and on every backend, whichever backend saved it."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

BACKENDS = ("tensorflow", "jax", "torch")

LOAD = """
import sys
import keras
import numpy as np
import keras_mi  # the only import: it registers what a saved model holds
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
np.save(sys.argv[3], np.asarray(keras.ops.convert_to_numpy(model(x, training=False))))
print(model.evaluate(x[:, :-1], x[:, 1:], verbose=0, return_dict=True)["bpc"])
"""


def _saved_model(tmp_path, rng):
    from keras_mi.models import char_language_model, compile_language_model

    model = char_language_model("milstm", units=8, embedding_dim=4)
    compile_language_model(model)  # metrics=[BitsPerCharacter()]
    x = rng.integers(0, 256, size=(4, 12)).astype("int32")
    model.fit(x[:, :-1], x[:, 1:], epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.save(tmp_path / "x.npy", x)
    return model, path, x


@pytest.mark.parametrize("backend", BACKENDS)
def test_saved_language_model_loads_on_every_backend(backend, tmp_path, rng):
    """Saved on this backend, loaded on each one: the other backends in a
    fresh process that imports nothing but keras_mi (which registers what
    the file holds), this one here (a process of its own would only repeat
    the start-up of the backend the suite runs)."""
    model, path, x = _saved_model(tmp_path, rng)
    expected = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    if backend == keras.backend.backend():
        loaded = keras.saving.load_model(path)
        got = np.asarray(keras.ops.convert_to_numpy(loaded(x, training=False)))
        bpc = loaded.evaluate(x[:, :-1], x[:, 1:], verbose=0, return_dict=True)["bpc"]
    else:
        output = tmp_path / f"out_{backend}.npy"
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(
            [sys.executable, "-c", LOAD, path, str(tmp_path / "x.npy"), str(output)],
            capture_output=True,
            text=True,
            env=environment,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        got = np.load(output)
        bpc = float(result.stdout.strip().splitlines()[-1])
    # The same float32 arithmetic in another framework: rounding only.
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert np.isfinite(bpc)
