"""Fig. 1(b), (c) and (d) of Wu et al. (2016, sections 3.1.2-3.1.3): tanh RNNs with and without MI.

(b) validation BPC curves of a vanilla RNN (Eq. 1), an MI-RNN simple
(Eq. 2, `Wx * Uh + b`) and an MI-RNN general (Eq. 4, initial coefficients
searched on validation data as the paper did, footnote 5), each trained to
convergence (protocol.py); (c, d) histograms of the hidden activations over
validation windows after training, and their saturation (the fraction with
|h| > 0.95) over the whole training, logged by
`keras_mi.callbacks.ActivationMonitor` at every evaluation and read back from
its TensorBoard event files, compared at equal step and at equal validation
BPC. Paper (Penn-Treebank, 2048 units): both MI-RNNs end far below the
vanilla RNN, general converging faster than simple; the vanilla RNN's
activations are mostly saturated near ±1, the MI-RNN's mostly near 0.

    .venv/bin/python -m examples.paper.fig1bcd_tanh_rnns [--seeds 3] [--dataset data/kjv]
"""

import os

import keras
import numpy as np

from examples.paper import common, protocol, verdicts

from keras_mi.callbacks import ActivationMonitor, events
from keras_mi.models import compile_language_model

NAME = "fig1bcd_tanh_rnns"
KINDS = ("vanilla-RNN", "MI-RNN-simple", "MI-RNN-general")
HISTOGRAM_BINS = np.linspace(-1.0, 1.0, 41)
SMALL = dict(protocol.DEFAULTS, seeds=3, coefficients="search", search_steps=3000)
PAPER_SCALE = dict(SMALL, units=2048, learning_rate=1e-4, steps=200_000, eval_every=2_000,
                   convergence_window=10_000)


def recurrent(kind, units, seed, coefficients):
    """W ~ U[-0.02, 0.02] (the paper's range: W acts on one-hot vectors), U
    at the paper's spectral radius (protocol.hidden_range)."""
    integration = {"vanilla-RNN": "additive", "MI-RNN-simple": "simple"}.get(kind, "general")
    return protocol.mirnn(units, seed, integration, coefficients)


def build(kind, args, corpus, seed, coefficients):
    model = protocol.one_hot_model(recurrent(kind, args.units, seed, coefficients),
                                   corpus.characters.size, args.units, args.sequence_length, seed)
    return compile_language_model(model, args.learning_rate, clipnorm=None)


def read_activations(log_dir):
    """The last logged hidden-activation histogram (bin edges, counts) and
    the saturation over training (steps, fractions), from the event files."""
    steps, fractions = events.read_scalars(log_dir, events.SATURATION)
    return (events.read_histogram(log_dir, events.HIDDEN),
            {"steps": steps, "fraction": fractions})


def hidden_activations(model, x):
    """Every h_t of the recurrent layer over windows `x` (flattened)."""
    from keras_mi.callbacks.probe import Probe, find_recurrent_layer

    layer = find_recurrent_layer(model)
    return np.asarray(keras.ops.convert_to_numpy(Probe(model, layer, x).run()[0])).ravel()


def train(args, out, corpus, validation, test):
    """The runs, and the record's protocol part."""
    coefficients, search = protocol.chosen_coefficients(
        args, corpus, lambda c: build("MI-RNN-general", args, corpus, 0, c))
    probe = (validation[0][:64],)
    runs = []
    for seed in range(args.seeds):
        for kind in KINDS:
            common.set_seed(seed)
            model = build(kind, args, corpus, seed, coefficients)
            log_dir = common.fresh_log_dir(os.path.join(out, "logs", f"{kind}_seed{seed}"))
            monitor = ActivationMonitor(log_dir, probe)
            monitor.set_model(model)
            result = protocol.trained_and_tested(
                model, args, corpus.stream(seed), validation, test,
                on_evaluation=lambda step: protocol.log_monitor(monitor, step))
            logged_histogram, saturation = read_activations(log_dir)
            # Over every validation window (not only the probe's), binned
            # on a fixed grid so that seeds can be averaged.
            hidden = hidden_activations(model, validation[0])
            counts, _ = np.histogram(hidden, bins=HISTOGRAM_BINS)
            runs.append({
                "model": kind, "seed": seed, **result,
                "saturation": saturation,
                "final_saturation": float(np.mean(np.abs(hidden) > 0.95)),
                "mean_abs_activation": float(np.mean(np.abs(hidden))),
                "histogram": (counts / counts.sum()).tolist(),
                "logged_histogram": logged_histogram,
            })
            protocol.say(runs[-1], kind, f"; saturated {runs[-1]['final_saturation']:.1%}")
    return runs, {"protocol": protocol.coefficient_note(args, coefficients, search, corpus)}


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    return {
        "fig1b_final": (verdicts.CRITERIA["fig1b_final"], verdicts.fig1b_final(runs)),
        "fig1b_speed": (verdicts.CRITERIA["fig1b_speed"], verdicts.fig1b_speed(runs)),
        "fig1cd_saturation": (verdicts.CRITERIA["fig1cd_saturation"],
                              verdicts.fig1cd_saturation(runs, bin_edges=HISTOGRAM_BINS)),
    }


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs (also `--from-json`)."""
    results, rows = {}, []
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        results[kind] = {
            **protocol.model_summary(mine),
            "curve": common.mean_curve([r["curve"] for r in mine]),
            "final_saturation": common.summary([r["final_saturation"] for r in mine]),
            "mean_abs_activation": common.summary([r["mean_abs_activation"] for r in mine]),
            "histogram": np.mean([r["histogram"] for r in mine], axis=0).tolist(),
        }
        result = results[kind]
        rows.append([kind, common.pm(result["test_bpc"]),
                     common.pm({k: 100 * v if k != "n" else v
                                for k, v in result["final_saturation"].items()}, 1),
                     common.pm(result["mean_abs_activation"]), result["converged"],
                     f"{result['steps']['mean']:.0f}"])
    table = {"columns": ["model", "test BPC", "saturated % (abs h > 0.95)", "mean abs h",
                         "converged", "mean steps"], "rows": rows}
    claims = judge(runs)
    figures = [
        common.plot_curves(os.path.join(out, "fig1b_validation_curves.png"),
                           {k: results[k]["curve"] for k in KINDS},
                           f"validation BPC (mean ± std over {args.seeds} seeds)"),
        draw_histograms(os.path.join(out, "fig1cd_activations.png"), results, runs),
    ]
    return common.Summary(results, table, figures, claims)


def draw_histograms(path, results, runs):
    """(c, d) the histograms after training; saturation against the step
    (equal step) and against the validation BPC (equal BPC), one line per run."""
    plt = common.pyplot()
    figure, axes = plt.subplots(1, 4, figsize=(18, 3.8))
    centres = (HISTOGRAM_BINS[:-1] + HISTOGRAM_BINS[1:]) / 2
    width = HISTOGRAM_BINS[1] - HISTOGRAM_BINS[0]
    for axis, kind in zip(axes[:2], ("vanilla-RNN", "MI-RNN-general")):
        axis.bar(centres, results[kind]["histogram"], width=width)
        axis.set_title(f"{kind}: h_t on validation data")
        axis.set_xlabel("activation")
        axis.set_ylabel("fraction")
    colours = dict(zip(KINDS, ("C0", "C1", "C2")))
    for kind in KINDS:
        for i, run in enumerate(r for r in runs if r["model"] == kind):
            label = kind if i == 0 else None
            steps, fraction = run["saturation"]["steps"], run["saturation"]["fraction"]
            axes[2].plot(steps, fraction, color=colours[kind], alpha=0.7, label=label)
            bpc = dict(zip(run["curve"]["steps"], run["curve"]["validation_bpc"]))
            axes[3].plot([bpc[s] for s in steps if s in bpc and s > 0],
                         [f for s, f in zip(steps, fraction) if s in bpc and s > 0],
                         color=colours[kind], alpha=0.7, marker=".", label=label)
    axes[2].set_title("saturation (|h| > 0.95) at equal step")
    axes[2].set_xlabel("training step")
    axes[3].set_title("saturation at equal validation BPC")
    axes[3].set_xlabel("validation BPC")
    axes[3].invert_xaxis()
    for axis in axes[2:]:
        axis.set_ylabel("fraction saturated")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return common.save_figure(figure, path)


def main(argv=None):
    return protocol.experiment(NAME, __doc__, argv, SMALL, PAPER_SCALE,
                               protocol.coefficient_options("MI-RNN-general"), train, summarize)


if __name__ == "__main__":
    main()
