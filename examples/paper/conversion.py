"""From a trained LSTM to an MI-LSTM: does converting and fine-tuning beat
training the same LSTM for as long?

An LSTM language model trains for `--steps`; then two continuations see the
same next `--extra-steps` batches with a fresh Adam each: (a) the LSTM as
it is, (b) `keras_mi.convert_model` of it, an MI-LSTM that starts with the
LSTM's outputs (alpha = 0, beta1 = beta2 = 1) and learns its multiplicative
term. Test BPC before and after, and both validation curves. (Not an
experiment of the paper: the package's conversion, measured the same way.)

    .venv/bin/python -m examples.paper.conversion [--seeds 3] [--steps 600] [--extra-steps 600]
"""

import os
import time

import keras
import numpy as np

from examples.paper import common

from keras_mi import convert_model
from keras_mi.models import compile_language_model

NAME = "conversion"
KINDS = ("LSTM, trained on", "LSTM -> MI-LSTM, fine-tuned")
SMALL = dict(seeds=3, steps=600, units=128, sequence_length=50, batch_size=32,
             learning_rate=2e-3, evaluations=6, validation_windows=256, test_windows=2048)
PAPER_SCALE = dict(seeds=3, steps=100_000, units=2048, sequence_length=100, batch_size=128,
                   learning_rate=1e-3, evaluations=20, validation_windows=4096, test_windows=0)


def main(argv=None):
    def extra(parser):
        parser.add_argument("--extra-steps", type=int, default=None,
                            help="steps of each continuation (default: --steps)")

    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE, extra)
    if args.from_json:
        return common.redraw(args, (NAME,), summarize)
    extra_steps = args.extra_steps or args.steps
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    x_test, y_test = common.held_out_windows(args, "test", args.test_windows)
    runs = []
    for seed in range(args.seeds):
        x, y = common.train_windows(args, seed, (args.steps + extra_steps) * args.batch_size)
        first = args.steps * args.batch_size
        common.set_seed(seed)
        lstm = common.language_model(
            keras.layers.LSTM(args.units, return_sequences=True, name="recurrent"),
            args.sequence_length, one_hot=False)
        compile_language_model(lstm, args.learning_rate, clipnorm=1.0)
        base = common.fit_language_model(lstm, args, seed, train=(x[:first], y[:first]))
        converted = convert_model(lstm)
        continuations = {KINDS[0]: lstm, KINDS[1]: converted}
        converted_bpc = None
        for kind, model in continuations.items():
            keras.utils.set_random_seed(seed)
            compile_language_model(model, args.learning_rate, clipnorm=1.0)
            if model is converted:
                converted_bpc = common.bits_per_character(converted, x_test, y_test)
            result = common.fit_language_model(
                model, args, seed, steps=extra_steps, train=(x[first:], y[first:]))
            alpha = [np.abs(keras.ops.convert_to_numpy(w)).mean()
                     for w in model.weights if w.name == "alpha"]
            runs.append({"model": kind, "seed": seed, "base_test_bpc": base["test_bpc"],
                         "converted_test_bpc": converted_bpc,
                         "mean_abs_alpha": float(alpha[0]) if alpha else None,
                         "base_curve": base["curve"], **result})
            print(f"seed {seed} {kind}: test BPC {base['test_bpc']:.3f} -> "
                  f"{result['test_bpc']:.3f}", flush=True)
    return common.write_record(out, NAME, args, runs, summarize(args, runs, out), started)


def summarize(args, runs, out):
    """The table and the figure from the runs (also `--from-json`)."""
    extra_steps = args.extra_steps or args.steps
    results, rows = {}, []
    for kind in KINDS:
        mine = [r for r in runs if r["model"] == kind]
        curves = [{"steps": [args.steps + s for s in r["curve"]["steps"]],
                   "validation_bpc": r["curve"]["validation_bpc"]} for r in mine]
        results[kind] = {
            "base_test_bpc": common.summary([r["base_test_bpc"] for r in mine]),
            "test_bpc": common.summary([r["test_bpc"] for r in mine]),
            "curve": common.mean_curve(curves),
        }
        if kind == KINDS[1]:
            results[kind]["converted_test_bpc"] = common.summary(
                [r["converted_test_bpc"] for r in mine])
            results[kind]["mean_abs_alpha"] = common.summary([r["mean_abs_alpha"] for r in mine])
        rows.append([kind, common.pm(results[kind]["base_test_bpc"]),
                     common.pm(results[kind]["test_bpc"])])
    differences = [a["test_bpc"] - b["test_bpc"] for a, b in zip(
        [r for r in runs if r["model"] == KINDS[1]], [r for r in runs if r["model"] == KINDS[0]])]
    results["difference"] = common.summary(differences)
    rows.append(["MI-LSTM minus LSTM (paired by seed)", "",
                 common.pm(results["difference"])])
    table = {"columns": ["continuation", f"test BPC after {args.steps} LSTM steps",
                         f"test BPC after {extra_steps} more"], "rows": rows}
    base_curves = common.mean_curve([r["base_curve"] for r in runs if r["model"] == KINDS[0]])
    figure = common.plot_curves(
        os.path.join(out, f"{NAME}.png"),
        {"LSTM (first part)": base_curves, **{k: results[k]["curve"] for k in KINDS}},
        f"conversion at step {args.steps} (mean ± std over {args.seeds} seeds)")
    return common.Summary(results, table, [figure])


if __name__ == "__main__":
    main()
