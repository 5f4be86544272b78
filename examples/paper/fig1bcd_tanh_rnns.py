"""Fig. 1(b), (c) and (d) of Wu et al. (2016): tanh RNNs with and without MI.

(b) validation BPC curves of a vanilla RNN (Eq. 1), an MI-RNN simple
(Eq. 2, `Wx * Uh + b`) and an MI-RNN general (Eq. 4, coefficients
initialised to (2, 0.5, 0.5)); (c, d) histograms of the hidden activations
over validation windows after training, and their saturation (the fraction
with |h| > 0.95) over training, logged by `keras_mi.callbacks.ActivationMonitor`
and read back from its TensorBoard event files. Weights `~ U[-0.02, 0.02]`
as in the paper. Paper (Penn-Treebank, 2048 units): both MI-RNNs end far
below the vanilla RNN, general converging faster than simple; the vanilla
RNN's activations are mostly saturated near ±1, the MI-RNN's mostly near 0.

    .venv/bin/python examples/paper/fig1bcd_tanh_rnns.py [--seeds 3] [--steps 1000] [--paper-scale]
"""

import os
import sys
import time

import keras
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

from keras_mi import MIRNN  # noqa: E402
from keras_mi.callbacks import ActivationMonitor  # noqa: E402

NAME = "fig1bcd_tanh_rnns"
KINDS = ("vanilla-RNN", "MI-RNN-simple", "MI-RNN-general")
HISTOGRAM_BINS = np.linspace(-1.0, 1.0, 41)
SMALL = dict(seeds=3, steps=1000, units=128, sequence_length=50, batch_size=32,
             learning_rate=1e-3, evaluations=10, validation_windows=256, test_windows=2048)
PAPER_SCALE = dict(seeds=3, steps=60_000, units=2048, sequence_length=50, batch_size=32,
                   learning_rate=1e-4, evaluations=30, validation_windows=2048, test_windows=0)


def recurrent(kind, units, seed):
    def uniform(offset):
        return keras.initializers.RandomUniform(-0.02, 0.02, seed=seed + offset)

    common_arguments = dict(kernel_initializer=uniform(0), recurrent_initializer=uniform(1),
                            return_sequences=True, name="recurrent")
    if kind == "vanilla-RNN":
        return keras.layers.SimpleRNN(units, **common_arguments)
    integration = "simple" if kind == "MI-RNN-simple" else "general"
    return MIRNN(units, integration=integration, **common_arguments)


def read_activations(log_dir):
    """The last logged hidden-activation histogram (bin edges, counts) and
    the saturation over training (steps, fractions)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(
        os.path.join(log_dir, "monitors"), size_guidance={"tensors": 0})
    events.Reload()
    saturation = events.Tensors("activations/saturation")
    histogram = tf.make_ndarray(events.Tensors("activations/hidden")[-1].tensor_proto)
    # TensorBoard histograms: rows of (left edge, right edge, count).
    return ({"left": histogram[:, 0].tolist(), "right": histogram[:, 1].tolist(),
             "count": histogram[:, 2].tolist()},
            {"steps": [int(r.step) for r in saturation],
             "fraction": [float(tf.make_ndarray(r.tensor_proto)) for r in saturation]})


def hidden_activations(model, x):
    """Every h_t of the recurrent layer over windows `x` (flattened)."""
    from keras_mi.callbacks.probe import Probe, find_recurrent_layer

    layer = find_recurrent_layer(model)
    return np.asarray(keras.ops.convert_to_numpy(Probe(model, layer, x).run()[0])).ravel()


def main(argv=None):
    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE)
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    x_val, _ = common.held_out_windows(args, "validation", args.validation_windows)
    probe = (x_val[:64],)
    every = max(args.steps // args.evaluations, 1)
    runs = []
    for seed in range(args.seeds):
        data = common.train_windows(args, seed)
        for kind in KINDS:
            common.set_seed(seed)
            model = common.language_model(recurrent(kind, args.units, seed), args.sequence_length)
            common.compile_model(model, args.learning_rate)
            log_dir = os.path.join(out, "logs", f"{kind}_seed{seed}")
            monitor = ActivationMonitor(log_dir, probe, every_n_batches=every)
            monitor.set_model(model)
            monitor.record(0)
            result = common.fit_language_model(model, args, seed, train=data,
                                               callbacks=[monitor])
            logged_histogram, saturation = read_activations(log_dir)
            # Over every validation window (not only the probe's), binned
            # on a fixed grid so that seeds can be averaged.
            hidden = hidden_activations(model, x_val)
            counts, _ = np.histogram(hidden, bins=HISTOGRAM_BINS)
            runs.append({
                "model": kind, "seed": seed, **result,
                "saturation": saturation,
                "final_saturation": float(np.mean(np.abs(hidden) > 0.95)),
                "mean_abs_activation": float(np.mean(np.abs(hidden))),
                "histogram": (counts / counts.sum()).tolist(),
                "logged_histogram": logged_histogram,
            })
            print(f"seed {seed} {kind}: test BPC {result['test_bpc']:.3f}, saturated "
                  f"{runs[-1]['final_saturation']:.1%} ({result['train_seconds']:.0f} s)",
                  flush=True)
    results, rows = {}, []
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        results[kind] = {
            "curve": common.mean_curve([r["curve"] for r in mine]),
            "test_bpc": common.summary([r["test_bpc"] for r in mine]),
            "final_saturation": common.summary([r["final_saturation"] for r in mine]),
            "mean_abs_activation": common.summary([r["mean_abs_activation"] for r in mine]),
            "histogram": np.mean([r["histogram"] for r in mine], axis=0).tolist(),
        }
        result = results[kind]
        rows.append([kind, common.pm(result["test_bpc"]),
                     common.pm(common.summary([r["curve"]["validation_bpc"][len(
                         r["curve"]["validation_bpc"]) // 2] for r in mine])),
                     common.pm({k: 100 * v if k != "n" else v
                                for k, v in result["final_saturation"].items()}, 1),
                     common.pm(result["mean_abs_activation"])])
    table = {"columns": ["model", "test BPC", "validation BPC half-way",
                         "saturated % (abs h > 0.95)", "mean abs h"], "rows": rows}
    figures = [
        common.plot_curves(os.path.join(out, "fig1b_validation_curves.png"),
                           {k: results[k]["curve"] for k in KINDS},
                           f"validation BPC (mean ± std over {args.seeds} seeds)"),
        draw_histograms(os.path.join(out, "fig1cd_activations.png"), results, runs),
    ]
    return common.write_record(out, NAME, args, runs, results, table, started, figures)


def draw_histograms(path, results, runs):
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    centres = (HISTOGRAM_BINS[:-1] + HISTOGRAM_BINS[1:]) / 2
    width = HISTOGRAM_BINS[1] - HISTOGRAM_BINS[0]
    for axis, kind in zip(axes[:2], ("vanilla-RNN", "MI-RNN-general")):
        axis.bar(centres, results[kind]["histogram"], width=width)
        axis.set_title(f"{kind}: h_t on validation data")
        axis.set_xlabel("activation")
        axis.set_ylabel("fraction")
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        values = np.asarray([r["saturation"]["fraction"] for r in mine])
        axes[2].plot(mine[0]["saturation"]["steps"], values.mean(axis=0), marker=".",
                     label=kind)
    axes[2].set_title("saturation (|h| > 0.95) over training")
    axes[2].set_xlabel("training step")
    axes[2].set_ylabel("fraction saturated")
    axes[2].grid(alpha=0.3)
    axes[2].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


if __name__ == "__main__":
    main()
