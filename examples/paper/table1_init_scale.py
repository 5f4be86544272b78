"""Table 1 (top left) of Wu et al. (2016, section 3.1.2): robustness to the scale of W.

A tanh RNN (Eq. 1) and an MI-RNN (Eq. 4) with `W ~ U[-r, r]`, r in
{0.02, 0.1, 0.3, 0.6}, on one-hot characters of English text, each trained
to convergence (protocol.py: U and the output layer at the paper's spectral
radius, Adam halved on plateaus); test BPC per r and the standard deviation
across r. MI-RNN's initial (alpha, beta1, beta2) are searched first on
validation data, as the paper did per data set (footnote 5). After training
`ScaleMonitor` measures ||Wx|| against ||Uh|| (section 3.1.2's mechanism).
Paper (Penn-Treebank, 2048 units, Adam 1e-4): RNN 1.69, 1.65, 1.57, 1.54
(std 0.06); MI-RNN 1.39, 1.40, 1.40, 1.41 (std 0.008).

`--paper-learning-rate` runs the paper's Adam 1e-4 on r in {0.02, 0.6}
instead (the experiment `table1_paper_lr`): does the learning rate explain
the result?

    .venv/bin/python -m examples.paper.table1_init_scale [--seeds 3] [--dataset data/kjv]
"""

import os
import time

import numpy as np

from examples.paper import common, protocol, verdicts

from keras_mi.callbacks import ScaleMonitor
from keras_mi.models import compile_language_model

NAME = "table1_init_scale"
PAPER_LR_NAME = "table1_paper_lr"
SCALES = (0.02, 0.1, 0.3, 0.6)
PAPER_LR_SCALES = (0.02, 0.6)
PAPER_LEARNING_RATE = 1e-4
KINDS = ("RNN", "MI-RNN")
PAPER = {"RNN": [1.69, 1.65, 1.57, 1.54, 0.06], "MI-RNN": [1.39, 1.40, 1.40, 1.41, 0.008]}
SMALL = dict(protocol.DEFAULTS, seeds=3, coefficients="search", search_steps=3000)
# Section 3.1: 2048 units, sequences of 50, Adam 1e-4, every weight
# U[-0.02, 0.02] (the width rule then gives exactly that range).
PAPER_SCALE = dict(SMALL, units=2048, learning_rate=1e-4, steps=200_000, eval_every=2_000,
                   convergence_window=10_000)


def recurrent(kind, units, scale, seed, coefficients):
    integration = "additive" if kind == "RNN" else "general"
    return protocol.mirnn(units, seed, integration, coefficients, scale=scale)


def build(kind, args, corpus, scale, seed, coefficients, learning_rate):
    model = protocol.one_hot_model(
        recurrent(kind, args.units, scale, seed, coefficients), corpus.characters.size,
        args.units, args.sequence_length, seed)
    return compile_language_model(model, learning_rate, clipnorm=None)


def _arguments(parser):
    protocol.add_coefficient_arguments(parser, "MI-RNN")
    parser.add_argument("--scales", default=None, help="the r of W ~ U[-r, r] (comma-separated)")
    parser.add_argument("--search-grid", default=None,
                        help="the searched settings, 'alpha,beta1,beta2' separated by ';' "
                             "(default: the protocol's grid of five)")
    parser.add_argument("--paper-learning-rate", action="store_true",
                        help=f"Adam {PAPER_LEARNING_RATE:g} on r in {PAPER_LR_SCALES} "
                             f"(the experiment {PAPER_LR_NAME})")


def main(argv=None, paper_learning_rate=False):
    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE,
                                  extra=_arguments)
    protocol.check_arguments(args)
    if args.from_json:  # the record says which of the two experiments it is
        return common.redraw(args, (PAPER_LR_NAME,) if paper_learning_rate
                             else (NAME, PAPER_LR_NAME), summarize)
    args.paper_learning_rate |= paper_learning_rate
    name = PAPER_LR_NAME if args.paper_learning_rate else NAME
    if args.paper_learning_rate:
        args.learning_rate = PAPER_LEARNING_RATE
    scales = chosen_scales(args)
    out = common.output_dir(args, name)
    started = time.perf_counter()
    corpus = protocol.Corpus(args)
    grid = (tuple(protocol.parse_coefficients(c) for c in args.search_grid.split(";"))
            if args.search_grid else protocol.COEFFICIENT_GRID)
    coefficients, search = protocol.chosen_coefficients(
        args, corpus,
        lambda c: build("MI-RNN", args, corpus, SCALES[0], 0, c, args.learning_rate), grid=grid)
    validation = corpus.held_out("validation", args.validation_windows)
    test = corpus.held_out("test", args.test_windows)
    probe = (validation[0][:64],)
    runs = []
    for seed in range(args.seeds):
        for scale in scales:
            for kind in KINDS:
                common.set_seed(seed)
                model = build(kind, args, corpus, scale, seed, coefficients, args.learning_rate)
                result = protocol.trained_and_tested(model, args, corpus.stream(seed),
                                                     validation, test)
                scale_monitor = ScaleMonitor(common.fresh_log_dir(
                    os.path.join(out, "logs", f"{kind}_r{scale}_seed{seed}")), probe)
                scale_monitor.set_model(model)
                wx, uh = protocol.log_monitor(scale_monitor, result["steps"])
                runs.append({
                    "model": kind, "scale": scale, "seed": seed, **result,
                    "scale_Wx": float(wx.mean()), "scale_Uh": float(uh[1:].mean()),
                })
                common.save_partial(out, name, runs)
                ratio = runs[-1]["scale_Wx"] / runs[-1]["scale_Uh"]
                protocol.say(runs[-1], f"r={scale} {kind}", f"; ||Wx||/||Uh|| {ratio:.3f}")
    return common.write_record(out, name, args, runs, summarize(args, runs, out), started,
                               protocol=protocol.coefficient_note(args, coefficients, search, corpus))


def chosen_scales(args):
    """The r of `--scales`, or the experiment's own."""
    if args.scales:
        return [float(s) for s in args.scales.split(",")]
    return list(PAPER_LR_SCALES if args.paper_learning_rate else SCALES)


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs."""
    name = PAPER_LR_NAME if args.paper_learning_rate else NAME
    scales = chosen_scales(args)
    results, rows = {}, []
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        per_scale = {str(s): common.summary([r["test_bpc"] for r in mine if r["scale"] == s])
                     for s in scales}
        # The paper's "std": the spread of the test BPC across r (population
        # standard deviation), here per seed so that it has an error bar.
        spread = common.summary([np.std([r["test_bpc"] for r in mine if r["seed"] == seed])
                                 for seed in range(args.seeds)])
        results[kind] = {
            **protocol.model_summary(mine), "test_bpc": per_scale, "std_across_scales": spread,
            "ratio_Wx_over_Uh": {str(s): common.summary(
                [r["scale_Wx"] / r["scale_Uh"] for r in mine if r["scale"] == s]) for s in scales},
        }
        rows.append([kind] + [common.pm(per_scale[str(s)]) for s in scales]
                    + [common.pm(spread, 4), results[kind]["converged"],
                       f"{results[kind]['steps']['mean']:.0f}"])
        if tuple(scales) == SCALES:
            rows.append([f"{kind} (paper)"] + [f"{v}" for v in PAPER[kind]] + ["", ""])
    table = {"columns": ["model"] + [f"r={s}" for s in scales]
             + ["std across r", "converged", "mean steps"], "rows": rows}
    claims = judge(runs, paper_learning_rate=args.paper_learning_rate)
    figures = [draw(os.path.join(out, f"{name}.png"), results, scales),
               common.plot_curves(os.path.join(out, f"{name}_curves.png"), {
                   f"{kind}, r={s}": common.mean_curve(
                       [r["curve"] for r in runs if r["model"] == kind and r["scale"] == s])
                   for kind in KINDS for s in scales},
                   f"validation BPC (mean ± std over {args.seeds} seeds)")]
    return common.Summary(results, table, figures, claims)


def judge(runs, paper_learning_rate=False):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    if paper_learning_rate:
        return {"table1_paper_lr": (verdicts.CRITERIA["table1_paper_lr"],
                                    verdicts.table1_paper_lr(runs))}
    low = min(r["scale"] for r in runs)
    return {
        "table1_init_scale": (verdicts.CRITERIA["table1_init_scale"],
                              verdicts.table1_init_scale(runs)),
        "scale_mechanism": (verdicts.CRITERIA["scale_mechanism"], verdicts.scale_mechanism(
            {kind: [r["scale_Wx"] / r["scale_Uh"] for r in runs
                    if r["model"] == kind and r["scale"] == low] for kind in KINDS})),
    }


def draw(path, results, scales):
    plt = common.pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for kind, result in results.items():
        means = [result["test_bpc"][str(s)]["mean"] for s in scales]
        stds = [result["test_bpc"][str(s)]["std"] for s in scales]
        axis.errorbar(scales, means, yerr=np.nan_to_num(stds), marker="o", capsize=3, label=kind)
    axis.set_xscale("log")
    axis.minorticks_off()
    axis.set_xticks(scales)
    axis.set_xticklabels([str(s) for s in scales])
    axis.set_xlabel("r  (W ~ U[-r, r])")
    axis.set_ylabel("test BPC")
    axis.set_title("sensitivity to the scale of W (mean ± std over seeds)")
    axis.grid(alpha=0.3)
    axis.legend()
    return common.save_figure(figure, path)


if __name__ == "__main__":
    main()
