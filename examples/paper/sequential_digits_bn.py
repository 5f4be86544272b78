"""Recurrent batch normalization (Cooijmans et al. 2017; the blog post seed, section 3): does the batch-normalized LSTM converge faster than the LSTM?

A sequential pixel task from a data set that ships offline: scikit-learn's
8 x 8 handwritten digits (1,797 images), read one pixel per step (64 steps
of one value in [0, 1]), classified from the last hidden state. The
split is fixed (1,197 train / 300 validation / 300 test images). The LSTM
is `MILSTM(integration="additive")` (Keras' LSTM equations, the fused
recurrence); the BN-LSTM is the same with `normalization="batch"`: `W x`,
`U h` and `c_t` batch-normalized with statistics per timestep and gains
shared across time (gain initialised to 0.1 as Cooijmans et al. advise), the
population statistics of inference kept as moving averages of momentum 0.9.
Both train with Adam 1e-3, batches of 64, gradient clipping at norm 1, for
`--steps` steps; validation accuracy every `--eval-every` steps. The blog
post (after Cooijmans et al.): batch normalization of the recurrent
connections "helped the network to converge faster" (on sequential MNIST).

    .venv/bin/python -m examples.paper.sequential_digits_bn [--seeds 5] [--steps 3000]
"""

import os
import time

import keras
import numpy as np

from examples.paper import common, verdicts

from keras_mi import MILSTM

NAME = "sequential_digits_bn"
MODELS = ("LSTM", "BN-LSTM")
SHARED = "BN-LSTM, shared statistics"  # see bn_statistics.py
TARGET_ACCURACY = 0.8
SMALL = dict(seeds=5, steps=3000, batch_size=64, units=64, eval_every=50, learning_rate=1e-3)
# Cooijmans et al. on sequential MNIST: 100 units, Adam 1e-3, batches of 64.
PAPER_SCALE = dict(SMALL, units=100, steps=20_000)


def digits():
    """(x, y) per split: pixels in [0, 1] as (images, 64, 1), labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images.reshape(-1, 64, 1) / 16.0).astype("float32")
    y = data.target.astype("int32")
    order = np.random.default_rng(0).permutation(len(y))
    parts = {"train": order[:1197], "validation": order[1197:1497], "test": order[1497:]}
    return {split: (x[index], y[index]) for split, index in parts.items()}


def build(kind, units):
    inputs = keras.Input((64, 1), name="pixels")
    options = dict(integration="additive", name="recurrent")
    if kind.startswith("BN-LSTM"):
        # Population statistics as moving averages with momentum 0.9, not the
        # layer's default 0.99: at 0.99 they still carry a quarter of their
        # initial values after 150 steps, and inference with them stays at
        # chance long after training accuracy has risen (measured: 0.79
        # training against 0.11 validation accuracy after 300 steps).
        options.update(normalization="batch", normalization_momentum=0.9)
        if kind == SHARED:
            options.update(normalization_statistics="shared")
    h = MILSTM(units, **options)(inputs)
    outputs = keras.layers.Dense(10, name="classes")(h)
    return keras.Model(inputs, outputs, name="model")


def train(kind, seed, args, data):
    """One run: `kind` trained on the seed's batches (the same for every
    model), validated every `args.eval_every` steps; its record."""
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    common.set_seed(seed)
    model = build(kind, args.units)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=1.0),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    rng = np.random.default_rng(50_000 + seed)
    curve = {"steps": [], "validation_accuracy": [], "validation_loss": []}
    step, seconds = 0, 0.0
    while True:
        loss, accuracy = model.evaluate(x_val, y_val, batch_size=300, verbose=0)
        curve["steps"].append(step)
        curve["validation_accuracy"].append(float(accuracy))
        curve["validation_loss"].append(float(loss))
        if step >= args.steps:
            break
        chunk = min(args.eval_every, args.steps - step)
        # The seed's batches: the same for both models.
        index = rng.integers(0, len(y_train), size=chunk * args.batch_size)
        begin = time.perf_counter()
        model.fit(x_train[index], y_train[index], batch_size=args.batch_size, epochs=1,
                  shuffle=False, verbose=0)
        seconds += time.perf_counter() - begin
        step += chunk
    test_loss, test_accuracy = model.evaluate(*data["test"], batch_size=300, verbose=0)
    run = {"model": kind, "seed": seed, "curve": curve, "train_seconds": seconds,
           "test_accuracy": float(test_accuracy), "test_loss": float(test_loss),
           "steps_to_target": verdicts.steps_to_accuracy(curve, TARGET_ACCURACY)}
    print(f"seed {seed} {kind}: test accuracy {test_accuracy:.3f}, "
          f"{run['steps_to_target']} steps to {TARGET_ACCURACY:.0%} validation "
          f"accuracy ({seconds:.0f} s)", flush=True)
    return run


def summarizer(name, models, judge):
    """`summarize(args, runs, out)` for `models` (also `--from-json`): per
    model the test accuracy, the steps to the target and the mean curve;
    the table, `judge(runs)` and the figure."""

    def summarize(args, runs, out):
        results, table = summarise(runs, models)
        figure = common.plot_curves(os.path.join(out, f"{name}.png"),
                                    {k: results[k]["curve"] for k in models},
                                    f"sequential 8x8 digits (mean ± std over {args.seeds} seeds)",
                                    ylabel="validation accuracy")
        return common.Summary(results, table, [figure], judge(runs))

    return summarize


def summarise(runs, models):
    results, rows = {}, []
    for kind in models:
        mine = [r for r in runs if r["model"] == kind]
        reached = [r["steps_to_target"] for r in mine if r["steps_to_target"] is not None]
        results[kind] = {
            "test_accuracy": common.summary([r["test_accuracy"] for r in mine]),
            "steps_to_target": common.summary(reached) if reached else None,
            "reached": f"{len(reached)}/{len(mine)}",
            "curve": common.mean_curve([{"steps": r["curve"]["steps"],
                                         "validation_bpc": r["curve"]["validation_accuracy"]}
                                        for r in mine]),
        }
        rows.append([kind, common.pm(results[kind]["test_accuracy"]),
                     "never" if not reached else f"{np.mean(reached):.0f} ± "
                     f"{np.std(reached, ddof=1) if len(reached) > 1 else 0:.0f}",
                     results[kind]["reached"]])
    table = {"columns": ["model", "test accuracy", f"steps to {TARGET_ACCURACY:.0%} validation "
                         "accuracy", "seeds reaching it"], "rows": rows}
    return results, table


def _arguments(parser):
    parser.add_argument("--units", type=int, help="LSTM units")
    parser.add_argument("--eval-every", type=int, help="training steps between validations")
    parser.add_argument("--learning-rate", type=float, help="Adam's learning rate")


def parse(description, argv):
    args = common.parse_arguments(description, argv, SMALL, PAPER_SCALE, extra=_arguments,
                                  text=False)
    if args.eval_every is None or args.eval_every < 1:
        raise ValueError(f"Received an invalid value for argument `--eval-every`: "
                         f"{args.eval_every!r}; expected an integer of at least 1.")
    return args


def run(name, models, description, argv, judge):
    """Trains `models` on the digits for every seed and writes `name`'s
    record, judged by `judge(runs)`."""
    args = parse(description, argv)
    summarize = summarizer(name, models, judge)
    if args.from_json:
        return common.redraw(args, (name,), summarize)
    out = common.output_dir(args, name)
    started = time.perf_counter()
    data = digits()
    runs = [train(kind, seed, args, data) for seed in range(args.seeds) for kind in models]
    return common.write_record(out, name, args, runs, summarize(args, runs, out), started)


def main(argv=None):
    return run(NAME, MODELS, __doc__.split("\n")[0], argv, judge)


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {"bn_faster": (verdicts.CRITERIA["bn_faster"], verdicts.bn_faster(runs))}


if __name__ == "__main__":
    main()
