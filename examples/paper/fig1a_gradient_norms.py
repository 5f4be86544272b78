"""Fig. 1(a) of Wu et al. (2016): gradient norms through time.

`log ||dC/dh_t||` at t = 0, 5, 10 over training, for a linear RNN and a
linear MI-RNN (identity nonlinearity), C the loss of the prediction at the
last of 50 steps, Adam 1e-4, every weight `~ U[-0.02, 0.02]`: the paper's
setting, scaled down in width and steps only. The norms are logged by
`keras_mi.callbacks.GradientNormMonitor` and read back from its TensorBoard
event files. Paper (Penn-Treebank, 2048 units): lin-RNN's norms stay near
1e-4 and barely move; lin-MI-RNN's grow quickly and exceed them by far;
test BPC 1.48 (lin-MI-RNN) vs over 2 (lin-RNN).

    .venv/bin/python examples/paper/fig1a_gradient_norms.py [--seeds 3] [--steps 1000] [--paper-scale]
"""

import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from keras_mi import MIRNN  # noqa: E402
from keras_mi.callbacks import GradientNormMonitor  # noqa: E402

NAME = "fig1a_gradient_norms"
TIMESTEPS = (0, 5, 10)
KINDS = ("lin-RNN", "lin-MI-RNN")
SMALL = dict(seeds=3, steps=1000, units=128, sequence_length=50, batch_size=32,
             learning_rate=1e-4, evaluations=10, validation_windows=256, test_windows=2048)
PAPER_SCALE = dict(seeds=3, steps=60_000, units=2048, sequence_length=50, batch_size=32,
                   learning_rate=1e-4, evaluations=20, validation_windows=2048, test_windows=0)


def uniform(seed):
    return keras.initializers.RandomUniform(-0.02, 0.02, seed=seed)


def recurrent(kind, units, seed):
    layer = keras.layers.SimpleRNN if kind == "lin-RNN" else MIRNN
    return layer(units, activation=None, kernel_initializer=uniform(seed),
                 recurrent_initializer=uniform(seed + 1), return_sequences=True,
                 name="recurrent")


def read_gradient_norms(log_dir, timesteps=TIMESTEPS):
    """`{t: (steps, log norms)}` as GradientNormMonitor logged them."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(
        os.path.join(log_dir, "monitors"), size_guidance={"tensors": 0})
    events.Reload()
    curves = {}
    for t in timesteps:
        records = events.Tensors(f"gradient_norm/log_dC_dh_t={t:03d}")
        curves[t] = ([int(r.step) for r in records],
                     [float(tf.make_ndarray(r.tensor_proto)) for r in records])
    return curves


def main(argv=None):
    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE)
    if args.sequence_length <= max(TIMESTEPS):
        raise ValueError(
            f"Received an invalid value for argument `--sequence-length`: "
            f"{args.sequence_length}; the figure follows t = {TIMESTEPS}, so it must be "
            f"more than {max(TIMESTEPS)}.")
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    x_val, y_val = common.held_out_windows(args, "validation", args.validation_windows)
    probe = (x_val[:32], y_val[:32])
    every = max(args.steps // args.evaluations, 1)
    runs = []
    for seed in range(args.seeds):
        data = common.train_windows(args, seed)
        for kind in KINDS:
            common.set_seed(seed)
            model = common.language_model(recurrent(kind, args.units, seed), args.sequence_length)
            dense = model.get_layer("logits")
            dense.kernel.assign(uniform(seed + 2)(dense.kernel.shape))
            common.compile_model(model, args.learning_rate)
            log_dir = os.path.join(out, "logs", f"{kind}_seed{seed}")
            monitor = GradientNormMonitor(log_dir, probe, every_n_batches=every,
                                          timesteps=TIMESTEPS)
            monitor.set_model(model)
            monitor.record(0)  # the norms at initialisation
            result = common.fit_language_model(
                model, args, seed, train=data, callbacks=[monitor])
            curves = read_gradient_norms(log_dir)
            runs.append({"model": kind, "seed": seed, "log_dir": os.path.relpath(log_dir, out),
                         "log_gradient_norm": {str(t): c for t, c in curves.items()},
                         **result})
            last = ", ".join(f"{curves[t][1][-1]:.2f}" for t in TIMESTEPS)
            print(f"seed {seed} {kind}: log||dC/dh_t|| at t=0,5,10 after training {last}; "
                  f"test BPC {result['test_bpc']:.3f}", flush=True)
    results = {}
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        per_t = {}
        for t in TIMESTEPS:
            values = np.asarray([r["log_gradient_norm"][str(t)][1] for r in mine])
            per_t[str(t)] = {
                "steps": mine[0]["log_gradient_norm"][str(t)][0],
                "mean": values.mean(axis=0).tolist(),
                "std": (values.std(axis=0, ddof=1) if len(values) > 1
                        else 0 * values[0]).tolist(),
                "first": common.summary(values[:, 0]),
                "last": common.summary(values[:, -1]),
            }
        results[kind] = {"log_gradient_norm": per_t,
                         "test_bpc": common.summary([r["test_bpc"] for r in mine])}
    table = make_table(results)
    figure = draw(os.path.join(out, f"{NAME}.png"), results, args)
    return common.write_record(out, NAME, args, runs, results, table, started, [figure])


# Logged values below this are norms of exactly 0 (the monitor logs
# log(max(norm, tiny)): a gradient that underflowed in float32).
UNDERFLOW = -700.0


def _log_norm(stats):
    if stats["mean"] < UNDERFLOW:
        return "-inf (norm 0: underflow)"
    return common.pm(stats, 2)


def make_table(results):
    rows = []
    for kind, result in results.items():
        for t in TIMESTEPS:
            curve = result["log_gradient_norm"][str(t)]
            rows.append([kind, t, _log_norm(curve["first"]), _log_norm(curve["last"]),
                         common.pm(result["test_bpc"])])
    return {"columns": ["model", "t", "log-norm at start", "log-norm at end", "test BPC"],
            "rows": rows}


def draw(path, results, args):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    underflow = False
    for kind, style in zip(KINDS, ("-", "--")):
        for t in TIMESTEPS:
            curve = results[kind]["log_gradient_norm"][str(t)]
            steps, mean, std = (np.asarray(curve[k], dtype="float64")
                                for k in ("steps", "mean", "std"))
            underflow |= bool(np.any(mean < UNDERFLOW))
            mean[mean < UNDERFLOW] = np.nan  # not drawn: a norm of 0
            axis.plot(steps, mean, style, marker=".", label=f"{kind}, t={t}")
            axis.fill_between(steps, mean - std, mean + std, alpha=0.15)
    axis.set_xlabel("training step")
    axis.set_ylabel("log ||dC/dh_t||")
    axis.set_title(f"loss at the last of {args.sequence_length} steps "
                   f"(mean ± std over {args.seeds} seeds)"
                   + ("\npoints missing: the gradient underflowed to 0 in float32"
                      if underflow else ""))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


if __name__ == "__main__":
    main()
