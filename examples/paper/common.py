"""What the paper experiments share: arguments, data, models, training,
statistics, the JSON record and the figures.

Every experiment is a plain `model.fit` program on keras_mi layers. Data
are windows of a character corpus (any `keras-mi --dataset` value), drawn at
random offsets of the train split with a generator seeded by the run's seed,
so the models compared within one seed see the same batches in the same
order.
"""

import argparse
import functools
import json
import os
import platform
import shlex
import sys
import time
from typing import NamedTuple

import keras
import numpy as np

from keras_mi import data
from keras_mi.data import VOCABULARY_SIZE

LN2 = float(np.log(2.0))


# ----------------------------------------------------------------- arguments


def parse_arguments(description, argv, small, paper, extra=None, text=True):
    """Parses the shared options and the experiment's own (`extra(parser)`).

    `small` are the defaults (this machine's scale); `--paper-scale` replaces
    them by `paper`, the paper's hyper-parameters. Options given on the
    command line win over both. `text=False` leaves out the options about
    text data and language models.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--seeds", type=int, help="runs per model (seeds 0, 1, ...)")
    parser.add_argument("--steps", type=int, help="training steps per run")
    parser.add_argument("--batch-size", type=int, help="examples per batch")
    if text:
        _add_text_arguments(parser)
    parser.add_argument(
        "--paper-scale",
        action="store_true",
        help="the paper's hyper-parameters (sizes, steps, learning rate) instead of this machine's",
    )
    parser.add_argument("--out", default=None, help="where the JSON and figures go")
    parser.add_argument(
        "--from-json", default=None, metavar="PATH",
        help="train nothing: redraw the table and figures (and recompute the verdicts) from a "
             "record this experiment wrote, with that record's settings",
    )
    if extra is not None:
        extra(parser)
    parser.set_defaults(**small)
    known, _ = parser.parse_known_args(argv)
    if known.paper_scale:
        parser.set_defaults(**paper)
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.from_json is not None:
        return _recorded_arguments(parser, args)
    for name in ("seeds", "steps", "units", "sequence_length", "batch_size", "evaluations",
                 "validation_windows"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            parser.error(f"argument --{name.replace('_', '-')}: must be at least 1, got {value}")
    if getattr(args, "test_windows", None) is not None and args.test_windows < 0:
        parser.error(f"argument --test-windows: must be 0 or more, got {args.test_windows}")
    if text:
        from keras_mi.data import check_dataset

        try:
            check_dataset(args.dataset)
        except ValueError as error:
            hint = ""
            if os.path.normpath(str(args.dataset)) == os.path.join("data", "kjv"):
                hint = (" Build this English corpus first: .venv/bin/python -m "
                        "examples.paper.build_kjv_corpus --out data/kjv (or give --dataset).")
            parser.error(str(error) + hint)
    return args


def _recorded_arguments(parser, args):
    """`--from-json`: the options the record was written with (options the
    experiment gained since then keep their defaults), `--out` from the
    command line, and the record itself as `args.record`."""
    given = sorted({a.split("=", 1)[0] for a in args.argv if a.startswith("--")}
                   - {"--from-json", "--out"})
    if given:
        parser.error(f"argument --from-json: the record's own settings are used; "
                     f"{', '.join(given)} cannot be given with it (only --out)")
    try:
        with open(args.from_json) as handle:
            record = json.load(handle)
    except (OSError, ValueError) as error:
        parser.error(f"argument --from-json: cannot read {args.from_json!r} ({error})")
    if not isinstance(record, dict) or not {"experiment", "settings", "runs"} <= set(record):
        parser.error(f"argument --from-json: {args.from_json!r} is not an experiment's record "
                     "(it needs 'experiment', 'settings' and 'runs')")
    defaults = vars(parser.parse_args([]))
    recorded = argparse.Namespace(**{**defaults, **record["settings"]})
    recorded.out, recorded.argv, recorded.from_json = args.out, args.argv, args.from_json
    recorded.record = record
    return recorded


def redraw(args, names, summarize):
    """`--from-json`: `summarize(args, runs, out)` over the record's runs,
    written as the record again (with its settings, environment and time)
    in `--out`. `names` are the experiments this program writes."""
    record = args.record
    if record["experiment"] not in names:
        raise ValueError(f"Received an invalid value for argument `--from-json`: "
                         f"{args.from_json!r} is a record of {record['experiment']!r}, not of "
                         f"{' or '.join(repr(n) for n in names)}.")
    out = output_dir(args, record["experiment"])
    return write_record(out, record["experiment"], args, record["runs"],
                        summarize(args, record["runs"], out), origin=record)


def _add_text_arguments(parser):
    parser.add_argument("--units", type=int, help="recurrent units (or the size that sets the parameter budget)")
    parser.add_argument(
        "--dataset",
        default="embedded",
        help="'embedded', a text file, directory or glob, or tfds:NAME (as for keras-mi)",
    )
    parser.add_argument("--data-dir", default=None, help="tfds data_dir for tfds:NAME")
    parser.add_argument("--text-feature", default=None, help="the text feature of a tfds dataset")
    parser.add_argument("--sequence-length", type=int, help="characters per training window")
    parser.add_argument("--learning-rate", type=float, help="Adam's learning rate")
    parser.add_argument("--evaluations", type=int, help="validation points on each learning curve")
    parser.add_argument("--validation-windows", type=int, help="validation windows per evaluation")
    parser.add_argument(
        "--test-windows", type=int, help="test windows for the final BPC (0: the whole test split)"
    )


def output_dir(args, name):
    path = args.out or os.path.join("runs", "paper", name)
    os.makedirs(path, exist_ok=True)
    return path


# ---------------------------------------------------------------------- data


# The splits' bytes are read once per process (every run of an experiment
# cuts its windows from the same splits).
split_symbols = functools.lru_cache(maxsize=8)(data.split_symbols)


def _corpus(args, split, length):
    symbols = split_symbols(args.dataset, split, args.data_dir, args.text_feature)
    if len(symbols) < length + 1:
        raise ValueError(
            f"Received an invalid value for argument `dataset`: the {split} "
            f"split of {args.dataset!r} holds {len(symbols)} characters, fewer "
            f"than one window of {length + 1}."
        )
    return symbols


def train_windows(args, seed, count=None, length=None):
    """`count` (default steps x batch) training windows at random offsets;
    the same seed gives the same windows in the same order."""
    length = length or args.sequence_length
    count = count or args.steps * args.batch_size
    return data.random_windows(_corpus(args, "train", length), count, length,
                               np.random.default_rng(10_000 + seed))


def held_out_windows(args, split, count, length=None):
    """`count` windows spread evenly over a held-out split (0: all of it,
    cut into consecutive windows)."""
    length = length or args.sequence_length
    return data.spread_windows(_corpus(args, split, length), count, length)


# -------------------------------------------------------------------- models


class OneHot(keras.layers.Layer):
    """Integer characters to one-hot vectors: the paper's input, on which
    `W x` is one column of `W` (so `W`'s initial scale is the input's)."""

    def __init__(self, depth, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, inputs):
        return keras.ops.one_hot(inputs, self.depth, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


def language_model(recurrent, sequence_length=None, one_hot=True, embedding_dim=32,
                   vocabulary_size=VOCABULARY_SIZE, name="lm"):
    """Characters -> (one-hot or embedding) -> `recurrent` -> logits."""
    inputs = keras.Input((sequence_length,), dtype="int32", name="characters")
    if one_hot:
        x = OneHot(vocabulary_size, name="one_hot")(inputs)
    else:
        x = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")(inputs)
    x = recurrent(x)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    return keras.Model(inputs, logits, name=name)


def bits_per_character(model, x, y, batch_size=64):
    """Mean BPC over the given windows (every character weighs the same)."""
    logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    return float(logs["bpc"])


class ValidationCurve(keras.callbacks.Callback):
    """Validation BPC every `every` training steps (and at step 0)."""

    def __init__(self, x, y, every):
        super().__init__()
        self.x, self.y, self.every = x, y, every
        self.steps, self.bpc, self.seen = [], [], 0

    def _record(self):
        self.steps.append(self.seen)
        self.bpc.append(bits_per_character(self.model, self.x, self.y))

    def on_train_begin(self, logs=None):
        if not self.steps:
            self._record()

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen % self.every == 0:
            self._record()


def fit_language_model(model, args, seed, steps=None, curve=True, callbacks=(), train=None):
    """Trains on the seed's windows with `model.fit` (one pass, in order).

    Returns a dict: `curve` (steps, validation BPC), `train_seconds`,
    `validation_bpc` and `test_bpc` at the end.
    """
    steps = steps or args.steps
    x, y = train if train is not None else train_windows(args, seed, steps * args.batch_size)
    x_val, y_val = held_out_windows(args, "validation", args.validation_windows)
    tracker = ValidationCurve(x_val, y_val, max(steps // args.evaluations, 1))
    started = time.perf_counter()
    model.fit(
        x[: steps * args.batch_size], y[: steps * args.batch_size],
        batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0,
        callbacks=([tracker] if curve else []) + list(callbacks),
    )
    seconds = time.perf_counter() - started
    x_test, y_test = held_out_windows(args, "test", args.test_windows)
    result = {
        "train_seconds": seconds,
        "validation_bpc": bits_per_character(model, x_val, y_val),
        "test_bpc": bits_per_character(model, x_test, y_test),
        "test_characters": int(x_test.size),
    }
    if curve:
        if tracker.steps[-1] != steps:
            tracker.seen = steps
            tracker._record()
        result["curve"] = {"steps": tracker.steps, "validation_bpc": tracker.bpc}
    return result


def trainable_parameters(model):
    """Trainable parameters only (batch norm's population statistics are
    state, not parameters)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def units_for_budget(build, parameter_count):
    """The units at which `build(units)` has the trainable parameter count
    closest to `parameter_count` (the count grows with units)."""
    from keras_mi.models import units_for_parameter_count

    return units_for_parameter_count(
        lambda u: trainable_parameters(build(u)), parameter_count)


# ---------------------------------------------------------------- statistics


def summary(values):
    """Mean, sample standard deviation (n - 1) and count."""
    values = np.asarray(values, dtype="float64")
    std = float(values.std(ddof=1)) if len(values) > 1 else float("nan")
    return {"mean": float(values.mean()), "std": std, "n": int(len(values))}


def mean_curve(curves):
    """Pointwise mean and standard deviation of curves over seeds. Curves
    of runs that stopped earlier (converged) are held at their last value
    up to the longest run's last step; the steps are the longest curve's."""
    longest = max(curves, key=lambda c: len(c["steps"]))
    values = np.asarray([list(c["validation_bpc"]) + [c["validation_bpc"][-1]] * (
        len(longest["steps"]) - len(c["steps"])) for c in curves], dtype="float64")
    return {
        "steps": longest["steps"],
        "mean": values.mean(axis=0).tolist(),
        "std": (values.std(axis=0, ddof=1) if len(values) > 1 else 0 * values[0]).tolist(),
    }


def pm(stats, digits=3):
    """`mean ± std` as text."""
    if stats["n"] < 2:
        return f"{stats['mean']:.{digits}f}"
    return f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"


# ------------------------------------------------------------------- records


def settings(args):
    """The arguments a run used, for its JSON."""
    return {k: v for k, v in sorted(vars(args).items())
            if k not in ("out", "argv", "from_json", "record")}


def environment(name, args):
    command = shlex.join([".venv/bin/python", "-m", f"examples.paper.{name}"] + args.argv)
    return {
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "command": command,
    }


def fresh_log_dir(path):
    """`path`, emptied: a run's TensorBoard logs are read back, and files
    left there by an earlier (interrupted) run would mix with them."""
    import shutil

    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def save_partial(path, name, runs, args=None):
    """The runs so far, written after each run (`NAME.partial.json`): what a
    crash or a stop in the middle leaves is kept. With `args`, the file also
    holds the settings, so that `load_partial` can continue it."""
    partial = os.path.join(path, f"{name}.partial.json")
    content = runs if args is None else {"settings": settings(args), "runs": runs}
    with open(partial + ".tmp", "w") as handle:
        json.dump(content, handle, default=_plain)
    os.replace(partial + ".tmp", partial)


# Settings that do not change what a run computes.
_RESUMABLE = ("seeds", "resume")


def load_partial(path, name, args):
    """The finished runs of `NAME.partial.json` in `path` (none if there is
    no such file). Each run starts from its own seed and data stream, so a
    run trained later is the run it would have been. Raises `ValueError`
    when the file was written with other settings (other than `--seeds`)."""
    partial = os.path.join(path, f"{name}.partial.json")
    if not os.path.exists(partial):
        return []
    with open(partial) as handle:
        content = json.load(handle)
    if not isinstance(content, dict) or "settings" not in content:
        raise ValueError(f"{partial} holds no settings, so it cannot be continued: remove it "
                         f"or run without --resume.")
    ours = json.loads(json.dumps(settings(args), default=_plain))
    differ = sorted(k for k in set(ours) | set(content["settings"]) if k not in _RESUMABLE
                    and ours.get(k) != content["settings"].get(k))
    if differ:
        raise ValueError(f"{partial} was written with other settings: " + ", ".join(
            f"{k}={content['settings'].get(k)!r} (now {ours.get(k)!r})" for k in differ)
            + ". Use the same options, or another --out.")
    return content["runs"]


class Summary(NamedTuple):
    """What an experiment makes of its runs: the summaries, the table, the
    figures' paths and, where it judges claims, `{claim: (criterion,
    {"verdict", "because"})}`."""

    results: dict
    table: dict
    figures: list
    claims: dict = None


def write_record(path, name, args, runs, summary, started=None, protocol=None, resumed_runs=0,
                 origin=None):
    """The experiment's JSON: settings, every run, the summaries, the table;
    with claims, the criteria fixed before the run and the verdicts
    computed from the runs, as `criterion` and `verdict` ({claim: ...}).
    `seconds` is this process's time since `started`; `resumed_runs`
    (stored when not 0) says how many runs came from earlier processes
    through `--resume`, whose time it does not hold. `origin`, a record read
    back (`--from-json`), gives the settings, environment, time, protocol
    and resumed runs instead."""
    if origin is not None:
        record = {"experiment": name, "settings": origin["settings"],
                  "environment": origin.get("environment"), "seconds": origin.get("seconds")}
        protocol, resumed_runs = origin.get("protocol"), origin.get("resumed_runs", 0)
    else:
        record = {"experiment": name, "settings": settings(args),
                  "environment": environment(name, args),
                  "seconds": time.perf_counter() - started}
    record.update({
        "runs": runs,
        "results": summary.results,
        "table": summary.table,
        "figures": [os.path.basename(f) for f in summary.figures],
    })
    if summary.claims is not None:
        record["criterion"] = {claim: criterion for claim, (criterion, _) in summary.claims.items()}
        record["verdict"] = {claim: outcome for claim, (_, outcome) in summary.claims.items()}
        for claim, (_, outcome) in summary.claims.items():
            print(f"{claim}: {outcome['verdict']} ({outcome['because']})")
    if protocol is not None:
        record["protocol"] = protocol
    if resumed_runs:
        record["resumed_runs"] = resumed_runs
    json_path = os.path.join(path, f"{name}.json")
    with open(json_path, "w") as handle:
        json.dump(record, handle, indent=1, default=_plain)
    print(format_table(summary.table))
    print(f"results: {json_path}" + "".join(f"\nfigure: {f}" for f in summary.figures))
    return record


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def format_table(table):
    """A table `{"columns": [...], "rows": [[...], ...]}` as Markdown."""
    lines = [
        "| " + " | ".join(table["columns"]) + " |",
        "|" + "|".join("---" for _ in table["columns"]) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


# ------------------------------------------------------------------- figures


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(path, curves, title, ylabel="validation BPC", xlabel="training step"):
    """Mean curves with a ±1 std band: `curves` maps label -> mean_curve."""
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for label, curve in curves.items():
        steps = np.asarray(curve["steps"])
        mean, std = np.asarray(curve["mean"]), np.asarray(curve["std"])
        axis.plot(steps, mean, marker=".", label=label)
        axis.fill_between(steps, mean - std, mean + std, alpha=0.2)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(figure, path)


def save_figure(figure, path):
    """Writes `figure` to `path` (PNG), closes it, returns `path`."""
    figure.savefig(path, dpi=100, bbox_inches="tight")
    pyplot().close(figure)
    return path


def set_seed(seed):
    keras.utils.clear_session()
    keras.utils.set_random_seed(seed)
