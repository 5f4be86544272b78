"""Fig. 1(a) of Wu et al. (2016, section 3.1.1): gradient norms through time.

`log ||dC/dh_t||` at t = 0, 5, 10 over the whole training, for a linear RNN
and a linear MI-RNN (identity nonlinearity), C the loss of the prediction at
the last of 50 steps, the paper's Adam 1e-4, each trained to convergence
(protocol.py: U and the output layer at the paper's spectral radius, so
that no gradient underflows at initialisation). lin-MI-RNN's initial
coefficients are searched on validation data. The norms are logged by
`keras_mi.callbacks.GradientNormMonitor` at every evaluation and read back
from its TensorBoard event files. Paper (Penn-Treebank, 2048 units):
lin-RNN's norms stay near 1e-4 and barely move; lin-MI-RNN's grow quickly
and exceed them by far; test BPC 1.48 (lin-MI-RNN) vs over 2 (lin-RNN).

    .venv/bin/python -m examples.paper.fig1a_gradient_norms [--seeds 3] [--dataset data/kjv]
"""

import os

import numpy as np

from examples.paper import common, protocol, verdicts

from keras_mi import callbacks
from keras_mi.callbacks import GradientNormMonitor
from keras_mi.models import compile_language_model

NAME = "fig1a_gradient_norms"
TIMESTEPS = (0, 5, 10)
KINDS = ("lin-RNN", "lin-MI-RNN")
# The paper's Adam 1e-4 (section 3.1): the figure is about how the norms
# move at that rate; the linear models plateau early, so it converges here.
SMALL = dict(protocol.DEFAULTS, seeds=3, learning_rate=1e-4, coefficients="search",
             search_steps=3000)
PAPER_SCALE = dict(SMALL, units=2048, steps=200_000, eval_every=2_000,
                   convergence_window=10_000)


def recurrent(kind, units, seed, coefficients):
    """Identity nonlinearity; W ~ U[-0.02, 0.02], U at the paper's spectral
    radius (protocol.hidden_range), so that dC/dh_0 does not underflow in
    float32 at initialisation."""
    integration = "additive" if kind == "lin-RNN" else "general"
    return protocol.mirnn(units, seed, integration, coefficients, activation=None)


def build(kind, args, corpus, seed, coefficients):
    model = protocol.one_hot_model(recurrent(kind, args.units, seed, coefficients),
                                   corpus.characters.size, args.units, args.sequence_length, seed)
    return compile_language_model(model, args.learning_rate, clipnorm=None)


def read_gradient_norms(log_dir, timesteps=TIMESTEPS):
    """`{t: (steps, log norms)}` as GradientNormMonitor logged them."""
    return callbacks.read_gradient_norms(log_dir, timesteps)


def train(args, out, corpus, validation, test):
    """The runs, and the record's protocol part."""
    if args.sequence_length <= max(TIMESTEPS):
        raise ValueError(
            f"Received an invalid value for argument `--sequence-length`: "
            f"{args.sequence_length}; the figure follows t = {TIMESTEPS}, so it must be "
            f"more than {max(TIMESTEPS)}.")
    coefficients, search = protocol.chosen_coefficients(
        args, corpus, lambda c: build("lin-MI-RNN", args, corpus, 0, c))
    probe = (validation[0][:32], validation[1][:32])
    runs = []
    for seed in range(args.seeds):
        for kind in KINDS:
            common.set_seed(seed)
            model = build(kind, args, corpus, seed, coefficients)
            log_dir = common.fresh_log_dir(os.path.join(out, "logs", f"{kind}_seed{seed}"))
            monitor = GradientNormMonitor(log_dir, probe, timesteps=TIMESTEPS)
            monitor.set_model(model)
            result = protocol.trained_and_tested(
                model, args, corpus.stream(seed), validation, test,
                on_evaluation=lambda step: protocol.log_monitor(monitor, step))
            curves = read_gradient_norms(log_dir)
            runs.append({"model": kind, "seed": seed, "log_dir": os.path.relpath(log_dir, out),
                         "log_gradient_norm": {str(t): c for t, c in curves.items()}, **result})
            common.save_partial(out, NAME, runs)
            last = ", ".join(f"{curves[t][1][0]:.2f} -> {curves[t][1][-1]:.2f}" for t in TIMESTEPS)
            protocol.say(runs[-1], kind, f"; log||dC/dh_t|| at t=0,5,10 {last}")
    return runs, {"protocol": protocol.coefficient_note(args, coefficients, search, corpus)}


def judge(runs):
    """{claim: (criterion, verdict)} from the runs (verdicts.py)."""
    curves = {kind: {t: [tuple(r["log_gradient_norm"][str(t)]) for r in runs
                         if r["model"] == kind] for t in TIMESTEPS} for kind in KINDS}
    return {"fig1a_gradient_norms": (verdicts.CRITERIA["fig1a_gradient_norms"],
                                     verdicts.fig1a_gradient_norms(curves))}


# Logged values below this are norms of exactly 0 (the monitor logs
# log(max(norm, tiny)): a gradient that underflowed in float32).
UNDERFLOW = -700.0


def summarize(args, runs, out):
    """The table, the verdicts and the figures from the runs (also `--from-json`)."""
    results = {}
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        per_t = {}
        for t in TIMESTEPS:
            values = [r["log_gradient_norm"][str(t)][1] for r in mine]
            longest = max(values, key=len)
            padded = np.asarray([v + [v[-1]] * (len(longest) - len(v)) for v in values])
            per_t[str(t)] = {
                "steps": max((r["log_gradient_norm"][str(t)][0] for r in mine), key=len),
                "mean": padded.mean(axis=0).tolist(),
                "std": (padded.std(axis=0, ddof=1) if len(padded) > 1
                        else 0 * padded[0]).tolist(),
                "first": common.summary([v[0] for v in values]),
                "last": common.summary([v[-1] for v in values]),
            }
        results[kind] = {"log_gradient_norm": per_t, **protocol.model_summary(mine)}
    table = make_table(results)
    claims = judge(runs)
    figure = draw(os.path.join(out, f"{NAME}.png"), results, args)
    return common.Summary(results, table, [figure], claims)


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
                         common.pm(result["test_bpc"]), result["converged"]])
    return {"columns": ["model", "t", "log-norm at start", "log-norm at end", "test BPC",
                        "converged"], "rows": rows}


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
    return common.save_figure(figure, path)


def main(argv=None):
    return protocol.experiment(NAME, __doc__, argv, SMALL, PAPER_SCALE,
                               protocol.coefficient_options("lin-MI-RNN"), train, summarize)


if __name__ == "__main__":
    main()
