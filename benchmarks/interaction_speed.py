"""Train-step time of `MultiplicativeInteraction(mode="hypernetwork")`: the
layer's contraction against the per-example weight matrices it replaced.

The hypernetwork form computes `z^T W x` with `W` of shape (m, n, k). Two
orders of the same sum:

- `per_example_weights`: `z^T W` first, one (n, k) matrix per example, then
  applied to x (two einsums, a (batch, n, k) intermediate);
- `layer` (what the layer does): the outer product `z x^T` (batch, m, n)
  contracted with W over (m, n), one matrix product.

A train step is `train_on_batch` (forward, backward, Adam) of `MI -> Dense`
with a mean squared error. The variants run in interleaved rounds (shuffled
order in each round); each time is the median over rounds, and the ratio is
per_example_weights / layer on the same rounds.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/interaction_speed.py --output /tmp/mi.json
"""

import argparse
import json
import os
import platform
import random
import statistics
import time

import keras
import numpy as np
from keras import ops

from keras_mi import MultiplicativeInteraction

SHAPES = ((100, 16, 16, 200), (256, 32, 64, 128))  # (batch, m = width of z, n = width of x, k)


class PerExampleWeights(MultiplicativeInteraction):
    """The former contraction order: z^T W per example, then x."""

    def call(self, inputs):
        x, z = inputs
        generated = ops.einsum("...m,mnk->...nk", z, self.interaction_kernel)
        product = ops.einsum("...n,...nk->...k", x, generated)
        return product + ops.matmul(x, self.kernel) + ops.matmul(z, self.context_kernel) + self.bias


def build(cls, shape):
    batch, m, n, k = shape
    x_in, z_in = keras.Input((n,)), keras.Input((m,))
    model = keras.Model([x_in, z_in], keras.layers.Dense(1)(cls(k, mode="hypernetwork")([x_in, z_in])))
    model.compile(optimizer="adam", loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=50, help="train steps timed per round")
    parser.add_argument("--shape", action="append",
                        help="batch,m,n,k (repeatable; default: the two shapes of SHAPES)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shape] if args.shape else SHAPES
    rng = np.random.default_rng(0)
    results = []
    for shape in shapes:
        batch, m, n, _ = shape
        x = rng.normal(size=(batch, n)).astype("float32")
        z = rng.normal(size=(batch, m)).astype("float32")
        y = rng.normal(size=(batch, 1)).astype("float32")
        models = {"layer": build(MultiplicativeInteraction, shape),
                  "per_example_weights": build(PerExampleWeights, shape)}
        for model in models.values():  # compile and warm up
            for _ in range(3):
                model.train_on_batch([x, z], y)
        times = {name: [] for name in models}
        for _ in range(args.rounds):
            order = list(models)
            random.shuffle(order)
            for name in order:
                started = time.perf_counter()
                for _ in range(args.steps):
                    models[name].train_on_batch([x, z], y)
                times[name].append((time.perf_counter() - started) / args.steps * 1e3)
        ratios = [a / b for a, b in zip(times["per_example_weights"], times["layer"])]
        results.append({
            "shape": dict(zip(("batch", "m", "n", "k"), shape)),
            "train_step_ms": {name: statistics.median(t) for name, t in times.items()},
            "all_ms": times,
            "ratio_per_example_over_layer": statistics.median(ratios),
        })
        print(f"{shape}: layer {statistics.median(times['layer']):.2f} ms, per-example weights "
              f"{statistics.median(times['per_example_weights']):.2f} ms, ratio "
              f"{statistics.median(ratios):.2f}", flush=True)
    record = {"backend": keras.backend.backend(), "keras": keras.__version__,
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "rounds": args.rounds, "steps": args.steps, "results": results}
    with open(args.output, "w") as handle:
        json.dump(record, handle, indent=1)


if __name__ == "__main__":
    main()
