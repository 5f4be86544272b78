"""Latency of an MI language model exported by Keras' `model.export` and
run by each format's own runtime, against Keras' `predict_on_batch` of the
same model on this CPU.

Two calls a deployed character model makes, batch 1:

- `sequence`: the whole model on a 100-step sequence (logits at every step);
- `step`: one step of the streaming model (`keras_mi.models.step_model`:
  one character and the states in, the logits and the new states out), as
  in generation one character at a time.

The formats timed on each backend (those of docs/deploy.md whose runtime is
installed): ONNX (ONNX Runtime) everywhere; OpenVINO (its CPU runtime, in
float32) on TensorFlow and PyTorch; LiteRT with builtin operations only
(ai-edge-litert's interpreter) on TensorFlow; `torch.export` on PyTorch.

The model is `keras_mi.models.char_language_model("milstm")` (128 units, an
embedding of 32, 64 symbols). Keras and the runtimes run in interleaved
rounds (shuffled order in each round); each time is the median over rounds
of the mean over `--calls` calls. Each result also holds the largest
difference between the file's logits and `predict`'s.

    KERAS_BACKEND=tensorflow .venv/bin/python benchmarks/export_latency.py \\
        --output docs/benchmarks/export_cpu_tensorflow.json
    .venv/bin/python benchmarks/export_latency.py --page docs/deploy.md \\
        docs/benchmarks/export_cpu_*.json
"""

import argparse
import glob
import json
import os
import platform
import random
import re
import statistics
import tempfile
import time

import numpy as np

MARKERS = ("<!-- generated: export_latency -->", "<!-- end: export_latency -->")


def _time(fn, calls):
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return 1000 * (time.perf_counter() - start) / calls


# Formats timed per backend, and the module each needs.
FORMATS = {
    "tensorflow": ("onnx", "openvino", "litert"),
    "jax": ("onnx",),
    "torch": ("onnx", "openvino", "torch"),
}
NEEDS = {"onnx": "onnxruntime", "openvino": "openvino", "litert": "ai_edge_litert",
         "torch": "torch"}
RUNTIME = {"onnx": "ONNX Runtime", "openvino": "OpenVINO", "litert": "LiteRT",
           "torch": "torch.export"}
SUFFIX = {"onnx": ".onnx", "openvino": ".xml", "litert": ".tflite", "torch": ".pt2"}


def _options(model, format, backend):
    """What the format needs beyond `model.export(path, format=...)` (see
    docs/deploy.md): a fixed batch of 1 for LiteRT and torch.export, and
    LiteRT's builtin operations only."""
    import keras

    specs = [keras.InputSpec(shape=(1, *i.shape[1:]), dtype=i.dtype) for i in model.inputs]
    signature = [specs] if len(specs) > 1 else specs
    if format == "litert":
        import tensorflow as tf

        return {"input_signature": signature,
                "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if format == "torch":
        return {"input_signature": signature}
    return {}


def load(path, format):
    """A function of the list of inputs (NumPy arrays, in the model's order)
    that runs the exported file at `path` in `format`'s own runtime and
    returns its outputs as NumPy arrays, in the model's order. The tests
    run exported files through it too (tests/test_export.py)."""
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(path)
        names = [i.name for i in session.get_inputs()]
        return lambda inputs: session.run(None, dict(zip(names, inputs)))
    if format == "openvino":
        import openvino

        compiled = openvino.Core().compile_model(
            path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})

        def rank(port):  # TensorFlow's files name the outputs Identity, Identity_1, ...
            for name in port.get_names():
                match = re.fullmatch(r"Identity(?:_(\d+))?:0", name)
                if match:
                    return int(match.group(1) or 0)
            return None

        ranked = sorted((rank(p), i) for i, p in enumerate(compiled.outputs)
                        if rank(p) is not None)
        order = [i for _, i in ranked] if ranked else range(len(compiled.outputs))
        ports = [compiled.outputs[i] for i in order]

        def run(inputs):
            results = compiled(inputs)
            return [results[port] for port in ports]

        return run
    if format == "litert":
        from ai_edge_litert.interpreter import Interpreter

        runner = Interpreter(path).get_signature_runner()
        # Inputs are named args_0, args_0_1, ... and outputs output_0,
        # output_1, ... in the model's order.
        names = sorted(runner.get_input_details(), key=lambda n: (len(n), n))

        def run(inputs):
            results = runner(**dict(zip(names, inputs)))
            return [results[n] for n in sorted(results, key=lambda n: int(n.rsplit("_", 1)[-1]))]

        return run
    if format == "tf_saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(path)

        def run(inputs):
            outputs = loaded.serve(inputs if len(inputs) > 1 else inputs[0])
            outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
            return [np.asarray(o) for o in outputs]

        return run
    import torch

    module = torch.export.load(path).module()

    def run(inputs):
        tensors = [torch.from_numpy(a) for a in inputs]
        outputs = module(tensors if len(tensors) > 1 else tensors[0])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        return [o.detach().numpy() for o in outputs]

    return run


def _runner(model, example, path, format, backend):
    """Exports `model` (called once on `example`) in `format` and returns
    `load`'s function for the file."""
    model(example)  # Keras exports a model that has been called
    model.export(path + SUFFIX[format], format=format, verbose=False,
                 **_options(model, format, backend))
    return load(path + SUFFIX[format], format)


def _at_length(model, length):
    """A copy of `model` with the same weights, for inputs of `length`."""
    import keras

    copy = keras.models.clone_model(
        model, input_tensors=keras.Input((length,), dtype="int32", batch_size=None))
    copy.set_weights(model.get_weights())
    return copy


def measure(units=128, embedding_dim=32, vocabulary_size=64, length=100, rounds=7, calls=10,
            seed=0, formats=None):
    import importlib.util

    import keras

    from keras_mi.models import char_language_model, step_model

    backend = keras.backend.backend()
    formats = [f for f in (formats or FORMATS[backend])
               if importlib.util.find_spec(NEEDS[f]) is not None]
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    model = char_language_model("milstm", units=units, embedding_dim=embedding_dim,
                                vocabulary_size=vocabulary_size)
    stepper, sizes = step_model(model)
    # The sequence model at a fixed length: PyTorch's traced file holds the
    # loop unrolled over one length (docs/deploy.md); the same on every
    # backend keeps the rows comparable.
    model = _at_length(model, length)
    ids = rng.integers(0, vocabulary_size, size=(1, length)).astype("int32")
    step_inputs = [ids[:, :1], *[rng.normal(size=(1, s)).astype("float32") for s in sizes]]
    folder = tempfile.mkdtemp(prefix="export_latency_")
    keras_models = {"sequence": model, "step": stepper}
    inputs = {"sequence": [ids], "step": step_inputs}
    calls_of = {
        (what, "keras"): (lambda w=what: keras_models[w].predict_on_batch(
            inputs[w] if w == "step" else inputs[w][0]))
        for what in keras_models
    }
    for format in formats:
        for what, keras_model in keras_models.items():
            run = _runner(keras_model, inputs[what] if what == "step" else inputs[what][0],
                          os.path.join(folder, f"{what}_{format}"), format, backend)
            calls_of[(what, format)] = lambda run=run, w=what: run(inputs[w])
    differences = {}
    for (what, runtime), fn in calls_of.items():
        if runtime != "keras":
            want = calls_of[(what, "keras")]()
            want = want[0] if isinstance(want, (list, tuple)) else want
            differences[(what, runtime)] = float(
                np.max(np.abs(np.asarray(fn()[0]) - np.asarray(want))))
    for fn in calls_of.values():  # warm-up
        fn()
    samples = {key: [] for key in calls_of}
    order = list(calls_of)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            samples[key].append(_time(calls_of[key], calls))
    results = []
    for format in formats:
        for what in keras_models:
            keras_ms = statistics.median(samples[(what, "keras")])
            runtime_ms = statistics.median(samples[(what, format)])
            results.append({
                "call": what,
                "format": format,
                "keras_predict_ms": keras_ms,
                "runtime_ms": runtime_ms,
                "runtime_over_keras": runtime_ms / keras_ms,
                "largest_difference": differences[(what, format)],
                "samples_ms": {"keras": samples[(what, "keras")],
                               format: samples[(what, format)]},
            })
    versions = {}
    for format in formats:
        module = __import__(NEEDS[format].split(".")[0])
        versions[NEEDS[format]] = getattr(module, "__version__", "unknown")
    return {
        "backend": backend,
        "keras": keras.__version__,
        "runtimes": versions,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "settings": {"units": units, "embedding_dim": embedding_dim,
                     "vocabulary_size": vocabulary_size, "length": length,
                     "rounds": rounds, "calls": calls, "seed": seed},
        "results": results,
    }


def table(records):
    """The Markdown table of `records` (one per backend)."""
    lines = ["| backend | format (runtime) | call | Keras `predict_on_batch` | runtime "
             "| runtime / Keras | largest difference |",
             "|---|---|---|---|---|---|---|"]
    for record in sorted(records, key=lambda r: r["backend"]):
        length = record["settings"]["length"]
        for result in record["results"]:
            call = f"{length}-step sequence" if result["call"] == "sequence" else "one step"
            format = result["format"]
            lines.append(
                f"| {record['backend']} | `{format}` ({RUNTIME[format]}) | {call} "
                f"| {result['keras_predict_ms']:.2f} ms | {result['runtime_ms']:.2f} ms "
                f"| {result['runtime_over_keras']:.2f}x | {result['largest_difference']:.1e} |")
    return "\n".join(lines)


def write_page(page, paths):
    records = []
    for path in paths:
        with open(path) as handle:
            records.append(json.load(handle))
    with open(page) as handle:
        text = handle.read()
    pattern = re.compile(re.escape(MARKERS[0]) + r"\n.*?" + re.escape(MARKERS[1]), re.S)
    if not pattern.search(text):
        raise ValueError(f"{page} has no {MARKERS[0]} ... {MARKERS[1]} section")
    text = pattern.sub(lambda _: f"{MARKERS[0]}\n{table(records)}\n{MARKERS[1]}", text)
    with open(page, "w") as handle:
        handle.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", default=None, help="the JSON file to write")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--length", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--formats", default=None,
                        help="comma-separated formats (default: the backend's, where installed)")
    parser.add_argument("--page", default=None,
                        help="rewrite this page's generated table from the JSON files given")
    parser.add_argument("records", nargs="*", help="with --page: the JSON files (globs allowed)")
    args = parser.parse_args(argv)
    if args.page:
        paths = sorted(p for pattern in args.records for p in glob.glob(pattern))
        write_page(args.page, paths)
        print(f"{args.page}: table from {len(paths)} files")
        return 0
    record = measure(units=args.units, length=args.length, rounds=args.rounds, calls=args.calls,
                     formats=args.formats.split(",") if args.formats else None)
    for result in record["results"]:
        print(f"{record['backend']} {result['format']} {result['call']}: Keras "
              f"{result['keras_predict_ms']:.2f} ms, {RUNTIME[result['format']]} "
              f"{result['runtime_ms']:.2f} ms ({result['runtime_over_keras']:.2f}x), "
              f"difference {result['largest_difference']:.1e}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(record, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
