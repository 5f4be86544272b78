"""Character-level language models at equal parameter count (Wu et al. 2016,
Table 1 bottom middle and right; Table 2's MI-LSTM + batch norm).

LSTM, MI-LSTM with the two coefficient initialisations the paper uses
((alpha, beta1, beta2) = (1, 0.5, 0.5) on text8, (1, 1, 1) on Hutter
Wikipedia), GRU, MI-GRU, the multiplicative LSTM (Krause et al. 2016) and
MI-LSTM with recurrent batch normalization (Cooijmans et al. 2017) or layer
normalization, and its additive twin, the batch-normalized LSTM of
Cooijmans et al. (`MILSTM(integration="additive", normalization="batch")`).
The LSTM's size (`--units`) sets the parameter budget; every
other model gets the units that bring it closest to that budget. Test BPC
and validation curves. Paper: text8 LSTM 1.51 vs MI-LSTM 1.44 (about 4M
parameters); Hutter Wikipedia MI-LSTM 1.44 (2048 units).

    .venv/bin/python -m examples.paper.char_lm [--seeds 3] [--steps 1000] [--models lstm,milstm] [--paper-scale]
"""

import os
import time

import keras

from examples.paper import common

from keras_mi import MIGRU, MILSTM, MLSTM
from keras_mi.models import compile_language_model

NAME = "char_lm"


def _milstm(beta, **kwargs):
    return lambda units: MILSTM(units, beta1_initializer=keras.initializers.Constant(beta),
                                beta2_initializer=keras.initializers.Constant(beta),
                                return_sequences=True, name="recurrent", **kwargs)


# Label -> units -> recurrent layer.
MODELS = {
    "LSTM": lambda units: keras.layers.LSTM(units, return_sequences=True, name="recurrent"),
    "MI-LSTM (1, 0.5, 0.5)": _milstm(0.5),
    "MI-LSTM (1, 1, 1)": _milstm(1.0),
    "GRU": lambda units: keras.layers.GRU(units, return_sequences=True, name="recurrent"),
    "MI-GRU": lambda units: MIGRU(units, return_sequences=True, name="recurrent"),
    "mLSTM": lambda units: MLSTM(units, return_sequences=True, name="recurrent"),
    "LSTM + batch norm": lambda units: MILSTM(units, integration="additive",
                                              normalization="batch", return_sequences=True,
                                              name="recurrent"),
    "MI-LSTM + batch norm": _milstm(1.0, normalization="batch"),
    "MI-LSTM + layer norm": _milstm(1.0, normalization="layer"),
}
SHORT = {"lstm": "LSTM", "milstm-half": "MI-LSTM (1, 0.5, 0.5)", "milstm": "MI-LSTM (1, 1, 1)",
         "gru": "GRU", "migru": "MI-GRU", "mlstm": "mLSTM", "lstm-bn": "LSTM + batch norm",
         "milstm-bn": "MI-LSTM + batch norm",
         "milstm-ln": "MI-LSTM + layer norm"}
SMALL = dict(seeds=3, steps=1000, units=128, sequence_length=50, batch_size=32,
             learning_rate=2e-3, evaluations=10, validation_windows=256, test_windows=2048)
# Hutter Wikipedia's MI-LSTM: one layer of 2048 units; Adam, the best
# learning rate of {0.002, 0.001, 0.0005}. Sequence length, batch and steps
# follow the usual protocol for that data (100, 128, many passes).
PAPER_SCALE = dict(seeds=3, steps=200_000, units=2048, sequence_length=100, batch_size=128,
                   learning_rate=1e-3, evaluations=50, validation_windows=4096, test_windows=0)


def build(label, units, args, vocabulary):
    return common.language_model(MODELS[label](units), args.sequence_length, one_hot=False,
                                 embedding_dim=args.embedding_dim, vocabulary_size=vocabulary)


def main(argv=None):
    def extra(parser):
        parser.add_argument("--models", default=",".join(SHORT),
                            help=f"comma-separated, of: {', '.join(SHORT)}")
        parser.add_argument("--embedding-dim", type=int, default=32, help="character embedding size")
        parser.add_argument("--clipnorm", type=float, default=1.0, help="gradient clipping norm")

    args = common.parse_arguments(__doc__.split("\n")[0], argv, SMALL, PAPER_SCALE, extra)
    if args.from_json:
        return common.redraw(args, (NAME,), summarize)
    labels = chosen_models(args)
    out = common.output_dir(args, NAME)
    started = time.perf_counter()
    vocabulary = common.VOCABULARY_SIZE
    budget = common.trainable_parameters(build("LSTM", args.units, args, vocabulary))
    sizes = {}
    for label in labels:
        units = common.units_for_budget(lambda u: build(label, u, args, vocabulary), budget)
        sizes[label] = {"units": units,
                        "parameters": common.trainable_parameters(build(label, units, args, vocabulary))}
    keras.utils.clear_session()
    runs = []
    for seed in range(args.seeds):
        data = common.train_windows(args, seed)
        for label in labels:
            common.set_seed(seed)
            model = build(label, sizes[label]["units"], args, vocabulary)
            compile_language_model(model, args.learning_rate, args.clipnorm)
            result = common.fit_language_model(model, args, seed, train=data)
            runs.append({"model": label, "seed": seed, **sizes[label], **result})
            print(f"seed {seed} {label} ({sizes[label]['units']} units): test BPC "
                  f"{result['test_bpc']:.3f} ({result['train_seconds']:.0f} s)", flush=True)
    return common.write_record(out, NAME, args, runs, summarize(args, runs, out), started)


def chosen_models(args):
    """The models of `--models`, by their labels."""
    labels = []
    for short in args.models.split(","):
        if short.strip() not in SHORT:
            raise ValueError(f"Received an invalid value for argument `--models`: "
                             f"{short.strip()!r}; expected some of {', '.join(SHORT)}.")
        labels.append(SHORT[short.strip()])
    return labels


def summarize(args, runs, out):
    """The table and the figure from the runs (also `--from-json`)."""
    labels = chosen_models(args)
    sizes = {label: {key: next(r[key] for r in runs if r["model"] == label)
                     for key in ("units", "parameters")} for label in labels}
    budget = common.trainable_parameters(build("LSTM", args.units, args, common.VOCABULARY_SIZE))
    results, rows = {}, []
    for label in labels:
        mine = [r for r in runs if r["model"] == label]
        results[label] = {
            **sizes[label],
            "test_bpc": common.summary([r["test_bpc"] for r in mine]),
            "curve": common.mean_curve([r["curve"] for r in mine]),
            "train_seconds": common.summary([r["train_seconds"] for r in mine]),
        }
        rows.append([label, sizes[label]["units"], f"{sizes[label]['parameters']:,}",
                     common.pm(results[label]["test_bpc"]),
                     f"{results[label]['train_seconds']['mean']:.0f}"])
    table = {"columns": ["model", "units", "parameters", "test BPC", "fit s (with validation)"], "rows": rows}
    figure = common.plot_curves(os.path.join(out, f"{NAME}.png"),
                                {k: results[k]["curve"] for k in labels},
                                f"validation BPC at ~{budget:,} parameters "
                                f"(mean ± std over {args.seeds} seeds)")
    return common.Summary(results, table, [figure])


if __name__ == "__main__":
    main()
