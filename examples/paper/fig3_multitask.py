"""Fig. 3 of Jayakumar et al. (2020): toy multitask regression, conditioning by concatenation against a multiplicative interaction.

T tasks (20, 40 or 60; Appendix D), half affine `a x + b`, half scaled sines
`a sin(10 x) + b`, with a and b drawn per task from U[0, 1]; one model
learns them all from `x` and the task's one-hot id z. Three models, as in
Appendix D:

- conditional MLP: `concat(x, Dense(20)(z))`, Dense(30), relu, Dense(20), relu, Dense(1);
- conditional MI: `MultiplicativeInteraction(1)([MLP(x), Dense(20)(z)])` with
  MLP = Dense(30), relu, Dense(20), relu (keras_mi's layer, hypernetwork form);
- multi-headed MLP: Dense(20), relu, Dense(30), relu, then one Dense(1) head
  per task.

Adam 3e-3, batches of 50 examples per task (50 T in all), 10,000 steps, MSE;
the reported number is log10 of the mean squared error on fresh samples
(200 per task) after training. x is not specified by the paper; here
x ~ U[-1, 1]. Paper: the multiplicative model learns both families with
less interference, and its advantage grows with the number of tasks (60
repetitions; here `--seeds`).

    .venv/bin/python -m examples.paper.fig3_multitask [--seeds 3] [--steps 10000] [--tasks 20,40,60]
"""

import math
import os
import time

import keras
import numpy as np

from examples.paper import common, verdicts

from keras_mi import MultiplicativeInteraction

NAME = "fig3_multitask"
MODELS = ("conditional MLP", "multi-headed MLP", "conditional MI")
SMALL = dict(seeds=3, steps=10_000, batch_size=50, tasks="20,40,60", learning_rate=3e-3,
             chunk=1_000, test_per_task=200)
PAPER_SCALE = dict(SMALL, seeds=60)


def tasks_of(count, rng):
    """(kind, a, b) per task: the first half affine, the second sines."""
    a, b = rng.uniform(0, 1, size=count), rng.uniform(0, 1, size=count)
    kinds = np.arange(count) >= count // 2
    return kinds, a, b


def sample(task_set, per_task, rng):
    kinds, a, b = task_set
    count = len(a)
    ids = np.repeat(np.arange(count), per_task)
    x = rng.uniform(-1, 1, size=ids.shape)
    y = np.where(kinds[ids], a[ids] * np.sin(10 * x) + b[ids], a[ids] * x + b[ids])
    return (x[:, None].astype("float32"), ids.astype("int32")), y[:, None].astype("float32")


def build(kind, tasks):
    x = keras.Input((1,), name="x")
    task = keras.Input((), dtype="int32", name="task")
    z = common.OneHot(tasks, name="task_one_hot")(task)
    if kind == "conditional MLP":
        h = keras.layers.Concatenate()([x, keras.layers.Dense(20)(z)])
        h = keras.layers.Dense(30, activation="relu")(h)
        h = keras.layers.Dense(20, activation="relu")(h)
        out = keras.layers.Dense(1)(h)
    elif kind == "conditional MI":
        h = keras.layers.Dense(30, activation="relu")(x)
        h = keras.layers.Dense(20, activation="relu")(h)
        out = MultiplicativeInteraction(1)([h, keras.layers.Dense(20)(z)])
    else:
        h = keras.layers.Dense(20, activation="relu")(x)
        h = keras.layers.Dense(30, activation="relu")(h)
        heads = keras.layers.Dense(tasks)(h)  # one linear head per task
        out = keras.ops.sum(heads * z, axis=-1, keepdims=True)
    return keras.Model([x, task], out, name=kind.replace(" ", "_"))


def train(kind, task_set, args, seed):
    """Returns (log10 test MSE, [(step, log10 training MSE of that chunk)])."""
    tasks = len(task_set[1])
    common.set_seed(seed)
    model = build(kind, tasks)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss="mse")
    rng = np.random.default_rng(20_000 + seed)
    curve, step = [], 0
    while step < args.steps:
        chunk = min(args.chunk, args.steps - step)
        (x, ids), y = sample(task_set, args.batch_size * chunk, rng)
        # Shuffle within the chunk so that each batch of 50 T mixes the tasks.
        order = rng.permutation(len(y))
        history = model.fit([x[order], ids[order]], y[order], batch_size=args.batch_size * tasks,
                            epochs=1, shuffle=False, verbose=0)
        step += chunk
        curve.append((step, math.log10(history.history["loss"][-1])))
    (x, ids), y = sample(task_set, args.test_per_task, np.random.default_rng(30_000 + seed))
    mse = float(model.evaluate([x, ids], y, batch_size=4096, verbose=0))
    return math.log10(mse), curve, int(sum(np.prod(w.shape) for w in model.trainable_weights))


def _arguments(parser):
    parser.add_argument("--tasks", help="numbers of tasks (comma-separated)")
    parser.add_argument("--learning-rate", type=float, help="Adam's learning rate")
    parser.add_argument("--chunk", type=int, help="steps per fit call (one curve point each)")
    parser.add_argument("--test-per-task", type=int, help="fresh samples per task for the final MSE")


def main(argv=None):
    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE,
                                  extra=_arguments, text=False)
    if args.from_json:
        return common.redraw(args, (NAME,), summarize)
    task_counts = tasks_of_argument(args)
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    runs = []
    for seed in range(args.seeds):
        for tasks in task_counts:
            task_set = tasks_of(tasks, np.random.default_rng(40_000 + 100 * seed + tasks))
            for kind in MODELS:
                log_mse, curve, parameters = train(kind, task_set, args, seed)
                runs.append({"model": kind, "tasks": tasks, "seed": seed, "log10_mse": log_mse,
                             "curve": curve, "parameters": parameters})
                common.save_partial(out, NAME, runs)
                print(f"seed {seed} T={tasks} {kind}: log10 MSE {log_mse:.3f}", flush=True)
    return common.write_record(out, NAME, args, runs, summarize(args, runs, out), started)


def tasks_of_argument(args):
    """The task counts of `--tasks`."""
    try:
        task_counts = [int(t) for t in args.tasks.split(",")]
    except ValueError:
        task_counts = []
    if not task_counts or min(task_counts) < 2:
        raise ValueError(f"Received an invalid value for argument `--tasks`: {args.tasks!r}; "
                         "expected comma-separated integers of at least 2.")
    return task_counts


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs (also `--from-json`)."""
    task_counts = tasks_of_argument(args)
    results, rows = {}, []
    for kind in MODELS:
        results[kind] = {str(t): common.summary([r["log10_mse"] for r in runs
                                                 if r["model"] == kind and r["tasks"] == t])
                         for t in task_counts}
        rows.append([kind] + [common.pm(results[kind][str(t)]) for t in task_counts]
                    + [", ".join(str(next(r["parameters"] for r in runs if r["model"] == kind
                                          and r["tasks"] == t)) for t in task_counts)])
    table = {"columns": ["model"] + [f"log10 MSE, T={t}" for t in task_counts]
             + ["parameters (per T)"], "rows": rows}
    figure = draw(os.path.join(out, f"{NAME}.png"), runs, task_counts)
    return common.Summary(results, table, [figure], judge(runs))


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {"fig3_mi_better": (verdicts.CRITERIA["fig3_mi_better"], verdicts.fig3_mi_better(runs)),
            "fig3_gap_grows": (verdicts.CRITERIA["fig3_gap_grows"], verdicts.fig3_gap_grows(runs))}


def draw(path, runs, task_counts):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, len(task_counts), figsize=(5 * len(task_counts), 3.6),
                                squeeze=False)
    for axis, tasks in zip(axes[0], task_counts):
        for kind in MODELS:
            curves = np.asarray([[v for _, v in r["curve"]] for r in runs
                                 if r["model"] == kind and r["tasks"] == tasks])
            steps = [s for s, _ in next(r["curve"] for r in runs if r["model"] == kind)]
            axis.plot(steps, curves.mean(axis=0), marker=".", label=kind)
        axis.set_title(f"{tasks} tasks")
        axis.set_xlabel("training step")
        axis.set_ylabel("log10 training MSE")
        axis.grid(alpha=0.3)
    axes[0][-1].legend()
    figure.tight_layout()
    return common.save_figure(figure, path)


if __name__ == "__main__":
    main()
