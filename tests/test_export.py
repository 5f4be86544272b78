"""Keras' `model.export` of models with keras_mi's layers, in every format
Keras offers on the backend, loaded by the format's own runtime in a fresh
process and compared with `predict`.

One functional model holds every layer form (`every_form_model`), so that
each format costs one export. Exporters and runtimes per format:
- `onnx`: tf2onnx on TensorFlow, TorchScript tracing on PyTorch, jax2onnx
  on JAX; run by ONNX Runtime.
- `tf_saved_model`: TensorFlow, jax2tf on JAX; run by `tf.saved_model.load`.
- `openvino`: OpenVINO's converter and its CPU runtime (TensorFlow,
  PyTorch; on JAX it refuses Keras' own LSTM too).
- `litert`: TensorFlow's converter restricted to LiteRT's builtin
  operations, or litert-torch on PyTorch (optional, not in the `export`
  extra: its install pulls transformers); run by ai-edge-litert's
  interpreter, which has no select TensorFlow operations, so a file that
  needed them would not run.
- `torch`: `torch.export`, run by `torch.export.load(...).module()`.

On PyTorch, tracing cannot record the fused recurrence's C++ loops: under
tracing the layers run their step loop, which traces into plain operations.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM, MultiplicativeInteraction

BACKEND = keras.backend.backend()
BATCH, LENGTH, FEATURES, VOCABULARY = 3, 6, 5, 11


def _installed(module):
    return importlib.util.find_spec(module) is not None


EXPORTER = {"tensorflow": "tf2onnx", "jax": "jax2onnx", "torch": "onnxscript"}[BACKEND]
needs_onnx_exporter = pytest.mark.skipif(
    not _installed(EXPORTER),
    reason=f"{BACKEND}'s ONNX exporter ({EXPORTER}) is not installed",
)


def every_form_model(rng, leave_out=()):
    """A model of two inputs, float sequences (batch, 6, 5) and int ids
    (batch, 6), with one output per layer form (but those in `leave_out`),
    and random weights (the batch-norm variances positive). Returns the
    model and the names of its outputs."""
    from keras_mi.models import multiplicative_embedding_model

    x = keras.Input((LENGTH, FEATURES), name="sequences")
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    forms = {
        "MILSTM with its states": lambda: keras.layers.Concatenate()(
            MILSTM(4, return_state=True)(x)),
        "MILSTM simple, sequences": lambda: MILSTM(
            4, integration="simple", return_sequences=True)(x),
        "MIGRU additive": lambda: MIGRU(4, integration="additive")(x),
        "MILSTM batch norm": lambda: MILSTM(4, normalization="batch")(x),
        "MILSTM layer norm": lambda: MILSTM(4, normalization="layer")(x),
        "MLSTM": lambda: MLSTM(4)(x),
        "MIGRU masked": lambda: MIGRU(4)(keras.layers.Masking()(x)),
        "Bidirectional MIGRU": lambda: keras.layers.Bidirectional(MIGRU(4))(x),
        "MultiplicativeInteraction of x and a backwards MIRNN": lambda: MultiplicativeInteraction(
            3)([keras.layers.Flatten()(x), MIRNN(4, go_backwards=True)(x)]),
        "multiplicative embeddings": lambda: multiplicative_embedding_model(
            units=6, embedding_dim=4, context_units=3, vocabulary_size=VOCABULARY)(ids),
    }
    names = [name for name in forms if name not in leave_out]
    model = keras.Model([x, ids], [forms[name]() for name in names])
    for weight in model.weights:
        value = rng.uniform(-0.5, 0.5, size=weight.shape)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        weight.assign(value.astype(weight.dtype))
    return model, names


def every_form_inputs(rng):
    x = rng.normal(size=(BATCH, LENGTH, FEATURES)).astype("float32")
    x[0, 4:] = 0.0  # masked by the Masking layer
    ids = rng.integers(0, VOCABULARY, size=(BATCH, LENGTH)).astype("int32")
    return [x, ids]


# Each runner gets the file, an .npz of the inputs (in the model's order),
# the format and the path of benchmarks/export_latency.py, and prints the
# outputs, in the model's order, as JSON.
_LOAD = """
import json, sys
import numpy as np
arrays = np.load(sys.argv[2])
inputs = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
"""
_PRINT = """
print(json.dumps([np.asarray(o).tolist() for o in outputs]))
"""
# The format's own runtime, through the loader the latency benchmark times.
RUNTIME = """
import importlib.util
spec = importlib.util.spec_from_file_location("export_latency", sys.argv[4])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
outputs = bench.load(sys.argv[1], sys.argv[3])(inputs)
"""
BENCHMARK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "benchmarks", "export_latency.py")
SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite", "torch": ".pt2",
          "tf_saved_model": ""}

# The modules a format needs here: its exporter on this backend, its runtime.
NEEDS = {
    ("tensorflow", "onnx"): ["tf2onnx", "onnxruntime"],
    ("tensorflow", "tf_saved_model"): [],
    ("tensorflow", "openvino"): ["openvino"],
    ("tensorflow", "litert"): ["ai_edge_litert"],
    ("jax", "onnx"): ["jax2onnx", "onnxruntime"],
    ("jax", "tf_saved_model"): ["tensorflow"],
    ("torch", "onnx"): ["onnxscript", "onnxruntime"],
    ("torch", "openvino"): ["openvino"],
    ("torch", "litert"): ["litert_torch", "ai_edge_litert"],
    ("torch", "torch"): [],
}
FORMATS = [f for b, f in NEEDS if b == BACKEND]

# Forms a format cannot hold on this backend, and why. Recurrent batch and
# layer normalization run Keras' step loop, whose TensorFlow graph OpenVINO
# does not convert ("No conversion rule found for operations: TensorList"),
# as for keras.layers.LSTM itself.
NOT_HELD = {
    ("tensorflow", "openvino"): ("MILSTM batch norm", "MILSTM layer norm"),
}


def _signature(model, batch_size):
    """The model's inputs with a fixed batch size (one argument: the list of
    the inputs, or the one input)."""
    specs = [keras.InputSpec(shape=(batch_size, *i.shape[1:]), dtype=i.dtype)
             for i in model.inputs]
    return [specs] if len(specs) > 1 else specs


def export_options(format, model):
    """What the format needs beyond `model.export(path, format=...)`."""
    if format == "litert" and BACKEND == "tensorflow":
        import tensorflow as tf

        # Builtin operations only (no select TensorFlow operations), which
        # needs a fixed batch size: the converter turns the recurrences'
        # TensorArrays into builtin loops only for static element shapes.
        return {"input_signature": _signature(model, BATCH),
                "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if format in ("litert", "torch") and BACKEND == "torch":
        # torch.export specializes the batch size it traces with.
        return {"input_signature": _signature(model, BATCH)}
    return {}


def exported_outputs(model, inputs, tmp_path, format="onnx", runner=None, array=None):
    """Exports `model` (called once on `inputs`: Keras exports a model that
    has been called) in `format`, runs the format's runner (or `runner`) in
    a fresh process on `inputs` (or `array`) and returns its outputs."""
    path = str(tmp_path / f"model{SUFFIX[format]}")
    model(inputs)
    model.export(path, format=format, verbose=False, **export_options(format, model))
    arrays = array if array is not None else inputs
    arrays = arrays if isinstance(arrays, (list, tuple)) else [arrays]
    np.savez(tmp_path / "inputs.npz", *arrays)
    code = _LOAD + (runner or RUNTIME) + _PRINT
    result = subprocess.run([sys.executable, "-c", code, path, str(tmp_path / "inputs.npz"),
                             format, BENCHMARK],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return [np.asarray(o, dtype="float32")
            for o in json.loads(result.stdout.strip().splitlines()[-1])]


@pytest.mark.parametrize("format", FORMATS)
def test_every_layer_form_exported_computes_what_predict_computes(format, tmp_path, rng):
    """Each layer form's output from the format's runtime equals `predict`'s.
    Float32 on both sides, the same operations in another order: agreement
    to 1e-5 (observed differences are at most about 1e-6, on the
    interaction layer's 60-term sums)."""
    missing = [m for m in NEEDS[BACKEND, format] if not _installed(m)]
    if missing:
        pytest.skip(f"{format} on {BACKEND} needs {', '.join(missing)}, not installed")
    not_held = NOT_HELD.get((BACKEND, format), ())
    model, names = every_form_model(rng, leave_out=not_held)
    assert len(names) == 10 - len(not_held)
    inputs = every_form_inputs(rng)
    want = model.predict(inputs, verbose=0)
    got = exported_outputs(model, inputs, tmp_path, format)
    assert len(got) == len(want) == len(names)
    for name, g, w in zip(names, got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5, err_msg=name)
    # Outside tracing, the layers still run their fused recurrence.
    fused = [layer for layer in model.layers if isinstance(layer, (MILSTM, MLSTM, MIGRU))
             and getattr(layer.cell, "normalization", None) is None]
    assert fused and all(layer.recurrence_path.startswith("fused") for layer in fused)


@pytest.mark.skipif(BACKEND != "tensorflow" or not _installed("openvino"),
                    reason="the forms OpenVINO does not hold are TensorFlow's")
def test_openvino_refuses_on_tensorflow_only_what_it_refuses_for_keras_lstm(tmp_path):
    """The forms left out above are left out because OpenVINO refuses Keras'
    step loop on TensorFlow: it refuses `keras.layers.LSTM` in the same way."""
    model = keras.Sequential([keras.Input((LENGTH, FEATURES)), keras.layers.LSTM(4)])
    model(np.zeros((1, LENGTH, FEATURES), "float32"))
    with pytest.raises(Exception, match="TensorList"):
        model.export(str(tmp_path / "lstm.xml"), format="openvino", verbose=False)


@pytest.mark.parametrize("format", [f for f in FORMATS if f != "onnx"])
def test_one_step_model_exported_computes_what_predict_computes(format, tmp_path, rng):
    """The streaming model of an MI-LSTM language model (ids of one step and
    the two states in; the logits and the new states out), exported in each
    format but ONNX (whose file the next test streams over a whole
    sequence): one step from random states equals `predict` (1e-5, as
    above)."""
    from keras_mi.models import char_language_model, step_model

    missing = [m for m in NEEDS[BACKEND, format] if not _installed(m)]
    if missing:
        pytest.skip(f"{format} on {BACKEND} needs {', '.join(missing)}, not installed")
    copy, sizes = step_model(char_language_model(
        "milstm", units=4, embedding_dim=3, vocabulary_size=VOCABULARY))
    inputs = [rng.integers(0, VOCABULARY, size=(BATCH, 1)).astype("int32"),
              *[rng.normal(size=(BATCH, size)).astype("float32") for size in sizes]]
    want = copy.predict(inputs, verbose=0)
    got = exported_outputs(copy, inputs, tmp_path, format)
    assert len(got) == len(want) == 3
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


STEPPER = """
names = [i.name for i in session.get_inputs()]
ids = inputs[0]
states = [np.zeros((ids.shape[0], i.shape[1]), "float32") for i in session.get_inputs()[1:]]
logits = []
for t in range(ids.shape[1]):
    out = session.run(None, dict(zip(names, [ids[:, t:t + 1], *states])))
    logits.append(out[0][:, 0])
    states = out[1:]
outputs = [np.stack(logits, axis=1)]
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
    runner = "import onnxruntime\nsession = onnxruntime.InferenceSession(sys.argv[1])\n" + STEPPER
    (got,) = exported_outputs(copy, first_step, tmp_path, runner=runner, array=ids)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


RUN_LENGTHS = {
    "onnx": """
import onnxruntime
session = onnxruntime.InferenceSession(sys.argv[1])
name = session.get_inputs()[0].name
outputs = [session.run(None, {name: inputs[0][:, :t]})[0] for t in (3, 12, 20)]
""",
    "tf_saved_model": """
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])  # held: its variables live with it
outputs = [loaded.serve(inputs[0][:, :t]) for t in (3, 12, 20)]
""",
}


@pytest.mark.parametrize("format", list(RUN_LENGTHS))
def test_file_of_an_unknown_length_runs_every_length(format, tmp_path, rng):
    """tf2onnx, jax2onnx and `tf_saved_model` keep the recurrence a loop
    over the sequence: the multiplicative-embedding language model (an
    MI-LSTM and the interaction layer over every step), built on
    `Input((None,))` and exported after a call on 12 steps, runs 3, 12 and
    20 steps as `predict` does (1e-5, as above). On JAX the fused loop then
    runs one step per iteration (its unrolled blocks need a known length).
    PyTorch's traced files hold the step loop unrolled over the traced
    length."""
    from keras_mi.models import multiplicative_embedding_model

    if BACKEND == "torch":
        pytest.skip("PyTorch's files are traced at one length")
    if format == "onnx" and not _installed(EXPORTER):
        pytest.skip(f"{BACKEND}'s ONNX exporter ({EXPORTER}) is not installed")
    model = multiplicative_embedding_model(
        units=6, embedding_dim=4, context_units=3, vocabulary_size=VOCABULARY)
    ids = rng.integers(0, VOCABULARY, size=(2, 20)).astype("int32")
    got = exported_outputs(model, ids[:, :12], tmp_path, format, runner=RUN_LENGTHS[format],
                           array=ids)
    for i, t in enumerate((3, 12, 20)):
        np.testing.assert_allclose(got[i], model.predict(ids[:, :t], verbose=0),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(BACKEND != "torch",
                    reason="only PyTorch's tracers cannot record the fused recurrence")
def test_recurrence_path_says_which_loop_an_export_traces():
    """Under TorchScript tracing (Keras' ONNX and OpenVINO exports on
    PyTorch) a layer runs its step loop, and says so; outside, the fused
    recurrence again."""
    import torch

    layer = MILSTM(4)
    layer(np.zeros((2, 3, 5), "float32"))
    for weight in layer.weights:  # tracing keeps weights as constants
        weight.value.requires_grad_(False)
    seen = []

    def traced(x):
        seen.append(layer.recurrence_path)
        return layer(x)

    torch.jit.trace(traced, torch.zeros(2, 3, 5), check_trace=False)
    assert seen == ["hoisted loop"]
    assert layer.recurrence_path.startswith("fused")
