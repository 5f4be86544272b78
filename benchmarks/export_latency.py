"""Latency of an MI language model exported to ONNX and run by ONNX Runtime,
against Keras' `predict_on_batch` of the same model on this CPU.

Two calls a deployed character model makes, batch 1:

- `sequence`: the whole model on a 100-step sequence (logits at every step);
- `step`: one step of the streaming model (`keras_mi.models.step_model`:
  one character and the states in, the logits and the new states out), as
  in generation one character at a time.

The model is `keras_mi.models.char_language_model("milstm")` (128 units, an
embedding of 32, 64 symbols). Keras and ONNX Runtime run in interleaved
rounds (shuffled order in each round); each time is the median over rounds
of the mean over `--calls` calls. Each result also holds the largest
difference between the file's outputs and `predict`'s.

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


def _session(model, example, path):
    import onnxruntime

    model(example)  # Keras exports a model that has been called
    model.export(path, format="onnx", verbose=False)
    return onnxruntime.InferenceSession(path)


def _at_length(model, length):
    """A copy of `model` with the same weights, for inputs of `length`."""
    import keras

    copy = keras.models.clone_model(
        model, input_tensors=keras.Input((length,), dtype="int32", batch_size=None))
    copy.set_weights(model.get_weights())
    return copy


def measure(units=128, embedding_dim=32, vocabulary_size=64, length=100, rounds=7, calls=10,
            seed=0):
    import keras

    from keras_mi.models import char_language_model, step_model

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
    sessions = {
        "sequence": _session(model, ids, os.path.join(folder, "sequence.onnx")),
        "step": _session(stepper, step_inputs, os.path.join(folder, "step.onnx")),
    }
    feeds = {
        "sequence": {sessions["sequence"].get_inputs()[0].name: ids},
        "step": dict(zip([i.name for i in sessions["step"].get_inputs()], step_inputs)),
    }
    keras_inputs = {"sequence": ids, "step": step_inputs}
    keras_models = {"sequence": model, "step": stepper}
    calls_of = {
        (what, runtime): (
            (lambda w=what: keras_models[w].predict_on_batch(keras_inputs[w]))
            if runtime == "keras"
            else (lambda w=what: sessions[w].run(None, feeds[w]))
        )
        for what in sessions for runtime in ("keras", "onnxruntime")
    }
    differences = {}
    for what in sessions:
        want = calls_of[(what, "keras")]()
        want = want if isinstance(want, (list, tuple)) else [want]
        got = calls_of[(what, "onnxruntime")]()
        differences[what] = float(max(np.max(np.abs(np.asarray(g) - np.asarray(w)))
                                      for g, w in zip(got, want)))
    for fn in calls_of.values():  # warm-up
        fn()
    samples = {key: [] for key in calls_of}
    order = list(calls_of)
    for _ in range(rounds):
        random.shuffle(order)
        for key in order:
            samples[key].append(_time(calls_of[key], calls))
    results = []
    for what in sessions:
        keras_ms = statistics.median(samples[(what, "keras")])
        onnx_ms = statistics.median(samples[(what, "onnxruntime")])
        results.append({
            "call": what,
            "keras_predict_ms": keras_ms,
            "onnxruntime_ms": onnx_ms,
            "onnxruntime_over_keras": onnx_ms / keras_ms,
            "largest_difference": differences[what],
            "samples_ms": {runtime: samples[(what, runtime)] for runtime in ("keras", "onnxruntime")},
        })
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "onnxruntime": __import__("onnxruntime").__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "settings": {"units": units, "embedding_dim": embedding_dim,
                     "vocabulary_size": vocabulary_size, "length": length,
                     "rounds": rounds, "calls": calls, "seed": seed},
        "results": results,
    }


def table(records):
    """The Markdown table of `records` (one per backend)."""
    lines = ["| backend | call | Keras `predict_on_batch` | ONNX Runtime | ONNX Runtime / Keras "
             "| largest difference |",
             "|---|---|---|---|---|---|"]
    for record in sorted(records, key=lambda r: r["backend"]):
        length = record["settings"]["length"]
        for result in record["results"]:
            call = f"{length}-step sequence" if result["call"] == "sequence" else "one step"
            lines.append(
                f"| {record['backend']} | {call} | {result['keras_predict_ms']:.2f} ms "
                f"| {result['onnxruntime_ms']:.2f} ms | {result['onnxruntime_over_keras']:.2f}x "
                f"| {result['largest_difference']:.1e} |")
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
    parser.add_argument("--page", default=None,
                        help="rewrite this page's generated table from the JSON files given")
    parser.add_argument("records", nargs="*", help="with --page: the JSON files (globs allowed)")
    args = parser.parse_args(argv)
    if args.page:
        paths = sorted(p for pattern in args.records for p in glob.glob(pattern))
        write_page(args.page, paths)
        print(f"{args.page}: table from {len(paths)} files")
        return 0
    record = measure(units=args.units, length=args.length, rounds=args.rounds, calls=args.calls)
    for result in record["results"]:
        print(f"{record['backend']} {result['call']}: Keras {result['keras_predict_ms']:.2f} ms, "
              f"ONNX Runtime {result['onnxruntime_ms']:.2f} ms "
              f"({result['onnxruntime_over_keras']:.2f}x), difference "
              f"{result['largest_difference']:.1e}")
    if args.output:
        with open(args.output, "w") as handle:
            json.dump(record, handle, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
