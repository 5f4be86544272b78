"""Train-step time, inference time and peak memory of recurrent layers.

Measures, on the current Keras backend (set `KERAS_BACKEND`), for each shape
of the grid:

- Keras' `LSTM`, `GRU` and `SimpleRNN`; keras_mi's `MILSTM`, `MIGRU`,
  `MIRNN` and `MLSTM` as they run by default (the fused recurrence), and the
  same layers forced onto their step loop (`[step loop]`, `use_fused=False`);
- on every backend (wherever PyTorch is installed), PyTorch's native
  `torch.nn.LSTM`, `torch.nn.GRU` and `torch.nn.RNN`, trained with
  `torch.optim.Adam` in a plain loop, in the same process: each backend's
  rows carry the same floor.

A train step is forward + backward + optimizer update (`train_on_batch` with
Adam and a mean squared error on the last output); inference is
`predict_on_batch`. Variants are timed in interleaved rounds (a shuffled
order in every round) so that machine noise hits all of them alike; each
timing is the median over rounds, with the interquartile range as spread.
Peak memory is measured in a fresh subprocess per variant: the growth of the
process' peak resident memory (CPU) or the peak allocated device memory (GPU)
over a train step, relative to the state after building the model; on JAX,
XLA's own figure for the compiled train step (`memory_analysis()`: the
temporary buffers it allocates, activations kept for the backward pass
included).

Usage:

    KERAS_BACKEND=jax python benchmarks/rnn_speed.py --output docs/benchmarks/jax.json

Writes JSON (machine, settings, every timing) to `--output`.
"""

import argparse
import importlib.util
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time

SHAPES = ((32, 100, 64, 256), (64, 200, 128, 512))  # (B, T, D, H)

KERAS_VARIANTS = (
    "keras.LSTM",
    "MILSTM",
    "MILSTM[step loop]",
    "keras.GRU",
    "MIGRU",
    "MIGRU[step loop]",
    "keras.SimpleRNN",
    "MIRNN",
    "MIRNN[step loop]",
    "MLSTM",
    "MLSTM[step loop]",
)
TORCH_VARIANTS = ("torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNN")

# The pairs whose ratio the report gives: (MI layer, reference).
RATIOS = (
    ("MILSTM", "torch.nn.LSTM"),
    ("MIGRU", "torch.nn.GRU"),
    ("MIRNN", "torch.nn.RNN"),
    ("MILSTM", "keras.LSTM"),
    ("MIGRU", "keras.GRU"),
    ("MIRNN", "keras.SimpleRNN"),
    ("MILSTM", "MILSTM[framework loops]"),
    ("MIGRU", "MIGRU[framework loops]"),
    ("MIRNN", "MIRNN[framework loops]"),
    ("MLSTM", "MLSTM[framework loops]"),
    ("MILSTM", "MILSTM[step loop]"),
    ("MIGRU", "MIGRU[step loop]"),
    ("MIRNN", "MIRNN[step loop]"),
    ("MLSTM", "MLSTM[step loop]"),
)


def keras_layer(name, units):
    import keras

    import keras_mi

    # GRUs use reset_after=True on both sides: Keras' and PyTorch's form.
    layers = {
        "keras.LSTM": lambda **kw: keras.layers.LSTM(units),
        "keras.GRU": lambda **kw: keras.layers.GRU(units),
        "keras.SimpleRNN": lambda **kw: keras.layers.SimpleRNN(units),
        "MILSTM": lambda **kw: keras_mi.MILSTM(units, **kw),
        "MIGRU": lambda **kw: keras_mi.MIGRU(units, reset_after=True, **kw),
        "MIRNN": lambda **kw: keras_mi.MIRNN(units, **kw),
        "MLSTM": lambda **kw: keras_mi.MLSTM(units, **kw),
    }
    if name.endswith("[step loop]"):
        return layers[name[: -len("[step loop]")]](use_fused=False)
    if name.endswith(FRAMEWORK_LOOPS):
        return layers[name[: -len(FRAMEWORK_LOOPS)]]()
    return layers[name]()


# The fused recurrence on the framework's own loops (lax.scan, while_loop)
# instead of the C++ loops, on JAX and TensorFlow: the runner switches the
# device's `native_loops` setting off around each of its calls (tracing
# included), and on again after.
FRAMEWORK_LOOPS = "[framework loops]"


class _NativeLoopsOff:
    def __enter__(self):
        from keras_mi.backend import loops

        self.key = (os.environ.get("KERAS_BACKEND", "tensorflow"), loops.device_kind())
        self.saved = loops.TUNED.get(self.key)
        loops.TUNED[self.key] = {**(self.saved or {}), "native_loops": False}

    def __exit__(self, *exc):
        from keras_mi.backend import loops

        if self.saved is None:
            del loops.TUNED[self.key]
        else:
            loops.TUNED[self.key] = self.saved


class KerasRunner:
    """A one-layer model with a train step and an inference step."""

    def __init__(self, name, shape):
        import keras
        import numpy as np

        batch, steps, features, units = shape
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(batch, steps, features)).astype("float32")
        self.y = rng.normal(size=(batch, units)).astype("float32")
        self.model = keras.Sequential(
            [keras.Input((steps, features)), keras_layer(name, units)]
        )
        self.model.compile(optimizer="adam", loss="mse")
        self.native_off = name.endswith(FRAMEWORK_LOOPS)

    def train(self):
        if self.native_off:
            with _NativeLoopsOff():
                self.model.train_on_batch(self.x, self.y)
        else:
            self.model.train_on_batch(self.x, self.y)

    def infer(self):
        if self.native_off:
            with _NativeLoopsOff():
                self.model.predict_on_batch(self.x)
        else:
            self.model.predict_on_batch(self.x)


class TorchRunner:
    """A PyTorch-native recurrent layer, trained with Adam in a plain loop."""

    def __init__(self, name, shape):
        import torch

        batch, steps, features, units = shape
        torch.manual_seed(0)
        self.x = torch.randn(batch, steps, features)
        self.y = torch.randn(batch, units)
        module = {
            "torch.nn.LSTM": torch.nn.LSTM,
            "torch.nn.GRU": torch.nn.GRU,
            "torch.nn.RNN": torch.nn.RNN,
        }[name]
        self.module = module(features, units, batch_first=True)
        self.optimizer = torch.optim.Adam(self.module.parameters())

    def forward(self, x):
        return self.module(x)[0][:, -1]

    def train(self):
        import torch

        self.optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(self.forward(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def infer(self):
        import torch

        with torch.no_grad():
            self.forward(self.x)


def make_runner(name, shape):
    if name in TORCH_VARIANTS:
        return TorchRunner(name, shape)
    return KerasRunner(name, shape)


def time_call(function, calls):
    start = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - start) / calls


def summary(samples):
    quartiles = statistics.quantiles(samples, n=4) if len(samples) > 1 else [
        samples[0]
    ] * 3
    return {
        "median_ms": 1000 * statistics.median(samples),
        "iqr_ms": 1000 * (quartiles[2] - quartiles[0]),
        "samples_ms": [1000 * s for s in samples],
    }


def measure_times(variants, shape, warmup, rounds, calls, seed):
    runners = {name: make_runner(name, shape) for name in variants}
    for runner in runners.values():
        for _ in range(warmup):
            runner.train()
            runner.infer()
    samples = {name: {"train": [], "infer": []} for name in variants}
    order = list(variants)
    shuffle = random.Random(seed)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name in order:
            samples[name]["train"].append(time_call(runners[name].train, calls))
            samples[name]["infer"].append(time_call(runners[name].infer, calls))
    return {
        name: {kind: summary(values) for kind, values in result.items()}
        for name, result in samples.items()
    }


def _proc_status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def peak_memory_child(name, shape):
    """Run in a subprocess: the peak memory added by a (warm) train step.

    The parent fixes glibc's mmap threshold (see `measure_memory`). After one
    warm-up train step (tracing, compilation, optimizer slots), the
    process' peak resident set is reset (`/proc/self/clear_refs`, value 5);
    the growth of the peak over the resident set at that moment, across two
    more train steps, is the memory the step itself needs (activations kept
    for the backward pass, gradients). On a GPU the device's peak allocation
    over one step is used instead.
    """
    runner = make_runner(name, shape)
    runner.infer()
    runner.train()
    if os.environ.get("KERAS_BACKEND") == "jax" and name not in TORCH_VARIANTS:
        if runner.native_off:
            with _NativeLoopsOff():
                return {"kind": "xla_temp_bytes", "bytes": _xla_train_step_bytes(runner)}
        return {"kind": "xla_temp_bytes", "bytes": _xla_train_step_bytes(runner)}
    _release_cached_buffers()
    device = _device_memory_probe()
    if device is not None:
        reset, read = device
        reset()
        runner.train()
        return {"kind": "device_peak_bytes", "bytes": read()}
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    before = _proc_status_kib("VmRSS")
    runner.train()
    runner.train()
    after = _proc_status_kib("VmHWM")
    return {"kind": "host_peak_rss_growth_bytes", "bytes": 1024 * (after - before)}


def _release_cached_buffers():
    """Frees the buffers keras_mi's PyTorch loops keep between calls, so
    that the measured steps allocate (and count) them again."""
    from keras_mi.backend import clear_buffers

    clear_buffers()


def _xla_train_step_bytes(runner):
    """XLA's temporary buffers for one compiled train step (JAX)."""
    import jax

    model = runner.model
    state = tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            model.optimizer.variables,
            model.metrics_variables,
        )
    )
    compiled = jax.jit(model.train_step).lower(state, (runner.x, runner.y, None)).compile()
    return int(compiled.memory_analysis().temp_size_in_bytes)


def _device_memory_probe():
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.reset_peak_memory_stats, torch.cuda.max_memory_allocated
    if backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return (
                lambda: tf.config.experimental.reset_memory_stats("GPU:0"),
                lambda: tf.config.experimental.get_memory_info("GPU:0")["peak"],
            )
    return None


def measure_memory(name, shape):
    command = [
        sys.executable,
        __file__,
        "--memory-child",
        name,
        "--shape",
        ",".join(map(str, shape)),
    ]
    # With a fixed mmap threshold, glibc serves every large block by mmap and
    # returns it on free, so the peak resident set follows the peak of live
    # tensors instead of the allocator's cached arenas.
    # (An outer MALLOC_MMAP_THRESHOLD_ wins.)
    env = {"MALLOC_MMAP_THRESHOLD_": "65536", **os.environ}
    result = subprocess.run(
        command, capture_output=True, text=True, check=True, env=env
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def ratios(results):
    table = []
    for shape_result in results:
        for kind in ("train", "infer"):
            for mi, reference in RATIOS:
                times = shape_result["times"]
                memory = shape_result.get("memory", {})
                if not (
                    (mi in times and reference in times)
                    or (mi in memory and reference in memory)
                ):
                    continue
                row = {
                    "shape": shape_result["shape"],
                    "kind": kind,
                    "mi": mi,
                    "reference": reference,
                }
                if mi in times and reference in times:
                    row["ratio"] = (
                        times[mi][kind]["median_ms"]
                        / times[reference][kind]["median_ms"]
                    )
                if kind == "train" and mi in memory and reference in memory:
                    denominator = max(memory[reference]["bytes"], 1)
                    row["memory_ratio"] = memory[mi]["bytes"] / denominator
                table.append(row)
    return table


def _flush_denormals():
    """PyTorch set to flush subnormal floats to zero, before it starts a
    thread (its worker threads take the setting of the thread that starts
    them), as XLA and TensorFlow run by default: without it the train steps
    of torch.nn.LSTM at the large shape, whose gradient from the last output
    fades into subnormal values over 200 steps, took 13-15 s instead of
    0.7 s. Whether it was set (None without PyTorch)."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return bool(torch.set_flush_denormal(True))


def _torch_kernels():
    """Whether keras_mi's C++ loops were in use (PyTorch backend)."""
    import keras

    if keras.backend.backend() != "torch":
        return None
    from keras_mi.backend import torch_kernels

    return torch_kernels.load() is not None


def machine():
    import keras

    info = {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output", default=None, help="JSON file to write.")
    parser.add_argument("--shape", action="append", default=None,
                        help="B,T,D,H (repeatable); default: the two grid shapes.")
    parser.add_argument("--variants", default=None,
                        help="Comma-separated variant names; default: all.")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1,
                        help="Calls per timing sample.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-only", action="store_true",
                        help="measure peak memory only (no timings)")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    shapes = (
        [tuple(int(v) for v in s.split(",")) for s in args.shape]
        if args.shape
        else list(SHAPES)
    )
    flushed = _flush_denormals()
    if args.memory_child:
        print(json.dumps(peak_memory_child(args.memory_child, shapes[0])))
        return
    import keras

    variants = list(KERAS_VARIANTS)
    if keras.backend.backend() in ("jax", "tensorflow"):
        variants += [f"{layer}{FRAMEWORK_LOOPS}" for layer in ("MILSTM", "MIGRU", "MIRNN", "MLSTM")]
    if keras.backend.backend() == "torch" or importlib.util.find_spec("torch") is not None:
        variants = list(TORCH_VARIANTS) + variants
    if args.variants:
        variants = [v.strip() for v in args.variants.split(",")]
    results = []
    for shape in shapes:
        print(f"shape B,T,D,H = {shape}", flush=True)
        entry = {"shape": list(shape), "times": {}}
        if not args.memory_only:
            entry["times"] = measure_times(
                variants, shape, args.warmup, args.rounds, args.calls, args.seed
            )
        if not args.no_memory:
            entry["memory"] = {name: measure_memory(name, shape) for name in variants}
        for name, timing in entry["times"].items():  # empty if memory only
            print(
                f"  {name:26s} train {timing['train']['median_ms']:9.1f} ms"
                f"  infer {timing['infer']['median_ms']:9.1f} ms",
                flush=True,
            )
        results.append(entry)
    report = {
        "machine": machine(),
        "settings": {
            "warmup": args.warmup,
            "rounds": args.rounds,
            "calls_per_sample": args.calls,
            "dtype": "float32",
            "compile": "Keras defaults (model.compile(optimizer='adam', loss='mse'))",
            "torch_kernels": _torch_kernels(),
            "torch_flush_denormal": flushed,
        },
        "results": results,
        "ratios": ratios(results),
    }
    for row in report["ratios"]:
        memory = row.get("memory_ratio")
        memory_text = "" if memory is None else f"  memory {memory:.2f}x"
        time_text = f"{row['ratio']:.2f}x" if "ratio" in row else "-"
        print(
            f"{row['shape']} {row['kind']:5s} {row['mi']:>8s} / "
            f"{row['reference']:26s} {time_text}{memory_text}"
        )
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w") as handle:
            json.dump(report, handle, indent=2)


if __name__ == "__main__":
    main()
