"""Keras' ONNX export of models with keras_mi's sequence layers, loaded by
ONNX Runtime in a fresh process and compared with `predict`.

Each backend has its own exporter: tf2onnx on TensorFlow, TorchScript
tracing on PyTorch, jax2onnx on JAX (optional: `pip install jax2onnx`; it is
not in the `export` extra, whose install it would double).
- On PyTorch, tracing cannot record the fused recurrence's C++ loops: under
  tracing the layers run their step loop, which traces into plain
  operations.
- On TensorFlow, the fused recurrence's loops write their outputs only
  inside the `while_loop`, which tf2onnx turns into an ONNX `Loop`.
`go_backwards=True` (and so `Bidirectional`) is not covered: ONNX Runtime
refuses the file that Keras' step loop gives for it on PyTorch, for Keras'
own `GRU` as for `MIGRU` (a `ReduceMax` over a scalar).
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM

EXPORTER = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "onnxscript"}[
    keras.backend.backend()
]
needs_onnx_exporter = pytest.mark.skipif(
    importlib.util.find_spec(EXPORTER) is None,
    reason=f"{keras.backend.backend()}'s ONNX exporter ({EXPORTER}) is not installed",
)

LAYERS = {
    "MILSTM": lambda: MILSTM(4),
    "MILSTM-simple-sequences": lambda: MILSTM(4, integration="simple", return_sequences=True),
    "MIGRU": lambda: MIGRU(4),
    "MIRNN": lambda: MIRNN(4),
    "MLSTM": lambda: MLSTM(4),
}

RUNTIME = """
import json, sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1])
x = np.load(sys.argv[2])
print(json.dumps(session.run(None, {session.get_inputs()[0].name: x})[0].tolist()))
"""


def _exported_outputs(model, example, runner, array, tmp_path, format="onnx"):
    """Calls `model` on `example`, exports it in `format` and runs `runner`
    (a script given the file and `array` saved as .npy) in a fresh process;
    returns what it prints."""
    path = str(tmp_path / ("model.onnx" if format == "onnx" else format))
    model(example)  # Keras exports a model that has been called
    model.export(path, format=format, verbose=False)
    np.save(tmp_path / "input.npy", array)
    result = subprocess.run([sys.executable, "-c", runner, path, str(tmp_path / "input.npy")],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    return np.asarray(json.loads(result.stdout.strip().splitlines()[-1]), dtype="float32")


@needs_onnx_exporter
@pytest.mark.parametrize("name", list(LAYERS))
def test_onnx_export_computes_what_predict_computes(name, tmp_path, rng):
    """Float32 on both sides, the same operations in another order:
    agreement to 1e-5 (observed differences are about 1e-7)."""
    model = keras.Sequential([keras.Input((12, 5)), LAYERS[name](), keras.layers.Dense(3)])
    for weight in model.weights:
        weight.assign(rng.uniform(-0.5, 0.5, size=weight.shape).astype("float32"))
    x = rng.normal(size=(3, 12, 5)).astype("float32")
    want = model.predict(x, verbose=0)
    got = _exported_outputs(model, x, RUNTIME, x, tmp_path)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # The layer itself still runs its fused recurrence outside tracing.
    assert model.layers[0].recurrence_path.startswith("fused")


STEPPER = """
import json, sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1])
ids = np.load(sys.argv[2])
names = [i.name for i in session.get_inputs()]
states = [np.zeros((ids.shape[0], i.shape[1]), "float32") for i in session.get_inputs()[1:]]
logits = []
for t in range(ids.shape[1]):
    out = session.run(None, dict(zip(names, [ids[:, t:t + 1], *states])))
    logits.append(out[0][:, 0])
    states = out[1:]
print(json.dumps(np.stack(logits, axis=1).tolist()))
"""


@needs_onnx_exporter
@pytest.mark.parametrize("cell", ["milstm", "mlstm", "migru", "mirnn"])
def test_one_step_model_exported_to_onnx_streams_the_sequence(cell, tmp_path, rng):
    """The streaming model (`keras_mi.models.step_model`: one step and the
    states in, the output and the new states out) exported to ONNX and run
    one character at a time by ONNX Runtime gives the whole-sequence
    model's logits at every step. Float32, 7 steps of the same operations in
    another order: 1e-5."""
    from keras_mi.models import char_language_model, step_model

    model = char_language_model(cell, units=8, embedding_dim=4, vocabulary_size=20)
    ids = rng.integers(0, 20, size=(2, 7)).astype("int32")
    want = model.predict(ids, verbose=0)
    copy, sizes = step_model(model)
    first_step = [ids[:, :1], *[np.zeros((2, size), "float32") for size in sizes]]
    got = _exported_outputs(copy, first_step, STEPPER, ids, tmp_path)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


RUN_LENGTHS = """
import json, sys
import numpy as np
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1])
x = np.load(sys.argv[2])
name = session.get_inputs()[0].name
print(json.dumps([session.run(None, {name: x[:, :t]})[0].tolist() for t in (3, 12, 20)]))
"""


@needs_onnx_exporter
@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="PyTorch's traced file holds the step loop unrolled over the traced length")
def test_onnx_file_of_an_unknown_length_runs_every_length(tmp_path, rng):
    """tf2onnx and jax2onnx keep the recurrence a loop over the sequence: a
    file exported from `Input((None, 5))` after a call on 12 steps runs 3,
    12 and 20 steps as `predict` does (1e-5, as above)."""
    model = keras.Sequential([keras.Input((None, 5)), MILSTM(4), keras.layers.Dense(3)])
    x = rng.normal(size=(2, 20, 5)).astype("float32")
    got = _exported_outputs(model, x[:, :12], RUN_LENGTHS, x, tmp_path)
    for i, t in enumerate((3, 12, 20)):
        np.testing.assert_allclose(got[i], model.predict(x[:, :t], verbose=0), rtol=1e-5, atol=1e-5)


@needs_onnx_exporter
def test_interaction_layer_exported_to_onnx_computes_what_predict_computes(tmp_path, rng):
    """`MultiplicativeInteraction` (hypernetwork form) between two inputs:
    the file's output equals `predict` (float32, 1e-5 as above)."""
    from keras_mi import MultiplicativeInteraction

    x_in, z_in = keras.Input((6,)), keras.Input((4,))
    model = keras.Model([x_in, z_in], MultiplicativeInteraction(3)([x_in, z_in]))
    x = rng.normal(size=(2, 10)).astype("float32")
    pair = [x[:, :6], x[:, 6:]]
    runner = RUNTIME.replace(
        "session.run(None, {session.get_inputs()[0].name: x})",
        "session.run(None, dict(zip([i.name for i in session.get_inputs()], [x[:, :6], x[:, 6:]])))",
    )
    got = _exported_outputs(model, pair, runner, x, tmp_path)
    np.testing.assert_allclose(got, model.predict(pair, verbose=0), rtol=1e-5, atol=1e-5)


SAVED_MODEL = """
import json, sys
import numpy as np
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])  # held: its variables live with it
x = np.load(sys.argv[2])
print(json.dumps([np.asarray(loaded.serve(x[:, :t])).tolist() for t in (3, 12, 20)]))
"""


@pytest.mark.skipif(keras.backend.backend() == "torch",
                    reason="Keras' tf_saved_model export of a PyTorch model is not tried here")
def test_saved_model_of_an_unknown_length_runs_every_length(tmp_path, rng):
    """`format="tf_saved_model"` (jax2tf with a symbolic length on JAX),
    loaded by `tf.saved_model.load` in a fresh process: 3, 12 and 20 steps
    as `predict` (1e-5, as above). On JAX the fused loop runs one step per
    iteration under a symbolic length (its unrolled blocks need a known
    one)."""
    model = keras.Sequential([keras.Input((None, 5)), MILSTM(4), keras.layers.Dense(3)])
    x = rng.normal(size=(2, 20, 5)).astype("float32")
    got = _exported_outputs(model, x[:, :12], SAVED_MODEL, x, tmp_path, format="tf_saved_model")
    for i, t in enumerate((3, 12, 20)):
        np.testing.assert_allclose(got[i], model.predict(x[:, :t], verbose=0), rtol=1e-5, atol=1e-5)
