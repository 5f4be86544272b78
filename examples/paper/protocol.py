"""The converged small-scale protocol of the Wu et al. (2016) section 3.1
experiments (Table 1 top, Fig. 1): what the claims depend on, kept; what
this 2-core CPU cannot afford, scaled with a stated rule.

- **Data**: English text with a compact character vocabulary (the
  characters of the train split, plus one id for any other byte), one-hot
  inputs, windows of 50 characters at random offsets of the train split,
  drawn by a generator seeded by the run's seed: within a seed every model
  sees the same batches in the same order, however long it trains.
- **Width and initialisation**: the paper trains 2048 units with every
  weight `~ U[-0.02, 0.02]`. A square n x n matrix of i.i.d. `U[-a, a]`
  entries (variance a^2 / 3) has spectral radius about `a * sqrt(n / 3)`
  (the circular law): 0.52 at the paper's width. At n units the range
  `a = 0.02 * sqrt(2048 / n)` keeps that radius (0.08 at 128 units). The rule
  applies to every matrix whose input is the hidden state (`U` and the
  output layer), so their outputs start at the paper's scale; `W` acts on a
  one-hot vector, whose scale does not depend on the width, and keeps the
  paper's range. Biases start at 0.
- **Optimiser**: Adam from `--learning-rate`, halved when the validation
  BPC has not improved on its best by `--plateau-delta` for
  `--plateau-patience` evaluations in a row (the paper halves on a 2-epoch
  plateau in section 3.2).
- **Convergence**: training stops when the best validation BPC gained less
  than `--min-gain` over the last `--convergence-window` steps, or at the
  step cap `--steps`; each run records which, with its whole curve. An
  unconverged run is reported as such.
"""

import math
import time

import keras
import numpy as np

from examples.paper import common

from keras_mi import data

PAPER_UNITS = 2048
PAPER_RANGE = 0.02

# The protocol's defaults, shared by the scripts that use it.
DEFAULTS = dict(
    dataset="data/kjv", sequence_length=50, batch_size=32, units=128, learning_rate=1e-3,
    steps=20_000, eval_every=500, convergence_window=2_000, min_gain=0.02,
    plateau_patience=2, plateau_delta=0.005, validation_windows=1024, test_windows=0,
    evaluations=None,
)


def add_arguments(parser):
    """The protocol's options (the data and size options come from common)."""
    parser.add_argument("--eval-every", type=int, help="training steps between evaluations")
    parser.add_argument("--convergence-window", type=int,
                        help="converged: best validation BPC gained < --min-gain over this many steps")
    parser.add_argument("--min-gain", type=float, help="see --convergence-window (BPC)")
    parser.add_argument("--plateau-patience", type=int,
                        help="evaluations without improvement before the learning rate is halved")
    parser.add_argument("--plateau-delta", type=float,
                        help="an improvement smaller than this (BPC) does not count")


def check_arguments(args):
    for name in ("eval_every", "convergence_window", "plateau_patience"):
        value = getattr(args, name)
        if value is None or value < 1:
            raise ValueError(f"Received an invalid value for argument `--{name.replace('_', '-')}`: "
                             f"{value!r}; expected an integer of at least 1.")
    for name in ("min_gain", "plateau_delta"):
        value = getattr(args, name)
        if value is None or not math.isfinite(value) or value < 0:
            raise ValueError(f"Received an invalid value for argument `--{name.replace('_', '-')}`: "
                             f"{value!r}; expected a finite number of at least 0.")


def hidden_range(units, paper_units=PAPER_UNITS, paper_range=PAPER_RANGE):
    """The `U[-a, a]` range at `units` whose spectral radius is the paper's."""
    return paper_range * math.sqrt(paper_units / units)


def spectral_radius(units, half_range):
    """The circular law's radius of an n x n matrix of `U[-a, a]` entries."""
    return half_range * math.sqrt(units / 3.0)


def uniform(half_range, seed):
    return keras.initializers.RandomUniform(-half_range, half_range, seed=seed)


# ---------------------------------------------------------------------- data


class Characters:
    """A compact character vocabulary: the bytes of the train split, sorted,
    then one id for every other byte."""

    def __init__(self, train_symbols):
        self.symbols = np.unique(np.asarray(train_symbols, dtype=np.uint8))
        self.size = len(self.symbols) + 1
        self.table = np.full(256, len(self.symbols), dtype=np.int32)
        self.table[self.symbols] = np.arange(len(self.symbols), dtype=np.int32)

    def ids(self, symbols):
        return self.table[np.asarray(symbols, dtype=np.uint8)]


class Corpus:
    """The three splits of `args.dataset` as character ids."""

    def __init__(self, args):
        train = common.split_symbols(args.dataset, "train", args.data_dir, args.text_feature)
        self.characters = Characters(train)
        self.args = args
        self.splits = {"train": self.characters.ids(train)}
        for split in ("validation", "test"):
            self.splits[split] = self.characters.ids(
                common.split_symbols(args.dataset, split, args.data_dir, args.text_feature))
        length = args.sequence_length
        for split, ids in self.splits.items():
            if len(ids) < length + 1:
                raise ValueError(
                    f"Received an invalid value for argument `dataset`: the {split} split of "
                    f"{args.dataset!r} holds {len(ids)} characters, fewer than one window of "
                    f"{length + 1}.")

    def stream(self, seed):
        return WindowStream(self.splits["train"], self.args.sequence_length, seed)

    def held_out(self, split, count):
        """`count` windows spread evenly over a held-out split (0: all of it,
        in consecutive windows)."""
        return data.spread_windows(self.splits[split], count, self.args.sequence_length)


class WindowStream:
    """Training windows at random offsets, in chunks; one seed, one stream."""

    def __init__(self, ids, length, seed):
        self.ids, self.length = ids, length
        self.rng = np.random.default_rng(10_000 + seed)

    def next(self, count):
        return data.random_windows(self.ids, count, self.length, self.rng)


# ------------------------------------------------------------------ training


def mirnn(units, seed, integration, coefficients=None, scale=PAPER_RANGE, **options):
    """The MI-RNN of the Table 1 / Fig. 1 experiments: W ~ U[-scale, scale]
    (the paper's 0.02 by default), U ~ U[-h, h] at the paper's spectral
    radius (`hidden_range`), every step's output, named "recurrent";
    `coefficients` (alpha, beta1, beta2) initialise the general form.
    `options` go to `MIRNN` (for example `activation=None`)."""
    from keras_mi import MIRNN

    if integration == "general":
        alpha, beta1, beta2 = coefficients
        options.update(alpha_initializer=keras.initializers.Constant(alpha),
                       beta1_initializer=keras.initializers.Constant(beta1),
                       beta2_initializer=keras.initializers.Constant(beta2))
    return MIRNN(units, integration=integration,
                 kernel_initializer=uniform(scale, seed),
                 recurrent_initializer=uniform(hidden_range(units), seed + 1),
                 return_sequences=True, name="recurrent", **options)


def one_hot_model(recurrent, vocabulary_size, units, sequence_length, seed,
                  output_range=None):
    """One-hot characters -> `recurrent` -> logits, the output layer
    `~ U[-a, a]` with the hidden-width rule (`hidden_range(units)`)."""
    output_range = hidden_range(units) if output_range is None else output_range
    inputs = keras.Input((sequence_length,), dtype="int32", name="characters")
    x = common.OneHot(vocabulary_size, name="one_hot")(inputs)
    x = recurrent(x)
    logits = keras.layers.Dense(vocabulary_size, kernel_initializer=uniform(output_range, seed + 2),
                                name="logits")(x)
    return keras.Model(inputs, logits, name="lm")


def train_to_convergence(model, args, stream, validation, learning_rate=None,
                         on_evaluation=None):
    """Trains `model` (compiled with Adam) on `stream` until the convergence
    rule or the step cap; evaluates on `validation` every `args.eval_every`
    steps (and at step 0) and calls `on_evaluation(step)` there.

    Returns a dict: `curve` (steps, validation BPC, learning rate), `steps`,
    `converged`, `stopped` ("converged", "step cap" or "diverged"),
    `train_seconds`, `validation_bpc`.
    """
    learning_rate = args.learning_rate if learning_rate is None else learning_rate
    model.optimizer.learning_rate.assign(learning_rate)
    x_val, y_val = validation
    steps, curve = 0, {"steps": [], "validation_bpc": [], "learning_rate": []}
    best, best_curve, since_best = math.inf, [], 0
    seconds = 0.0

    def evaluate():
        bpc = common.bits_per_character(model, x_val, y_val, batch_size=256)
        curve["steps"].append(steps)
        curve["validation_bpc"].append(bpc)
        curve["learning_rate"].append(float(keras.ops.convert_to_numpy(
            model.optimizer.learning_rate)))
        if on_evaluation is not None:
            on_evaluation(steps)
        return bpc

    evaluate()
    stopped = "step cap"
    while steps < args.steps:
        chunk = min(args.eval_every, args.steps - steps)
        x, y = stream.next(chunk * args.batch_size)
        started = time.perf_counter()
        model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        seconds += time.perf_counter() - started
        steps += chunk
        bpc = evaluate()
        if not math.isfinite(bpc):
            stopped = "diverged"
            break
        if bpc < best - args.plateau_delta:
            since_best = 0
        else:
            since_best += 1
        best = min(best, bpc)
        best_curve.append((steps, best))
        if since_best >= args.plateau_patience:
            model.optimizer.learning_rate.assign(
                keras.ops.convert_to_numpy(model.optimizer.learning_rate) / 2)
            since_best = 0
        if has_converged(best_curve, args.convergence_window, args.min_gain):
            stopped = "converged"
            break
    return {"curve": curve, "steps": steps, "converged": stopped == "converged",
            "stopped": stopped, "train_seconds": seconds,
            "validation_bpc": curve["validation_bpc"][-1]}


def trained_and_tested(model, args, stream, validation, test, on_evaluation=None):
    """`train_to_convergence`, then the test BPC on `test` (x, y): the
    run's record, with `test_bpc` and `test_characters`."""
    result = train_to_convergence(model, args, stream, validation, on_evaluation=on_evaluation)
    x_test, y_test = test
    return {**result,
            "test_bpc": common.bits_per_character(model, x_test, y_test, batch_size=256),
            "test_characters": int(x_test.size)}


def model_summary(runs):
    """Of one model's runs: the test BPC and the steps (`common.summary`)
    and how many converged ("2/3")."""
    return {"test_bpc": common.summary([r["test_bpc"] for r in runs]),
            "steps": common.summary([r["steps"] for r in runs]),
            "converged": f"{sum(r['converged'] for r in runs)}/{len(runs)}"}


def summarize_models(runs, models, size_keys, path, title, claims):
    """The `common.Summary` of models compared at their sizes: per model
    its sizes (`size_keys` of its runs: "units", "parameters") and
    `model_summary`; the table (model, sizes, test BPC, converged, mean
    steps); the mean validation curves drawn in `path`; `claims`."""
    results, rows = {}, []
    for label in models:
        mine = [r for r in runs if r["model"] == label]
        sizes = {key: mine[0][key] for key in size_keys}
        results[label] = {**sizes, **model_summary(mine)}
        rows.append([label] + [f"{sizes[k]:,}" if k == "parameters" else sizes[k]
                               for k in size_keys]
                    + [common.pm(results[label]["test_bpc"]), results[label]["converged"],
                       f"{results[label]['steps']['mean']:.0f}"])
    table = {"columns": ["model", *size_keys, "test BPC", "converged", "mean steps"],
             "rows": rows}
    curves = {label: common.mean_curve([r["curve"] for r in runs if r["model"] == label])
              for label in models}
    return common.Summary(results, table, [common.plot_curves(path, curves, title)], claims)


def has_converged(best_curve, window, min_gain):
    """`best_curve`: (step, best validation BPC so far) after each
    evaluation. Converged when the best gained less than `min_gain` over the
    last `window` steps (and at least `window` steps were trained)."""
    if not best_curve or best_curve[-1][0] < window:
        return False
    step, best = best_curve[-1]
    earlier = [b for s, b in best_curve if s <= step - window]
    return bool(earlier) and earlier[-1] - best < min_gain


KERAS_INITIALISERS = ("Keras' initialisers (Glorot uniform input kernels, orthogonal "
                      "recurrent kernels, unit forget bias; Glorot uniform output layer)")


def settings_note(args, keras_initialisers=False):
    """The protocol's settings in words, for the JSON. `keras_initialisers`:
    the models keep Keras' initialisers instead of section 3.1's ranges."""
    a = hidden_range(args.units)
    initialisation = {"rule": KERAS_INITIALISERS} if keras_initialisers else {
        "hidden_range": a,
        "spectral_radius_U": spectral_radius(args.units, a),
        "paper_spectral_radius_U": spectral_radius(PAPER_UNITS, PAPER_RANGE),
        "rule": ("U and the output layer ~ U[-a, a], a = 0.02 * sqrt(2048 / units): the "
                 "spectral radius of U is the paper's (a * sqrt(units / 3))"),
    }
    return {
        **initialisation,
        "schedule": (f"Adam from {args.learning_rate:g}, halved after {args.plateau_patience} "
                     f"evaluations ({args.eval_every} steps apart) without a gain of "
                     f"{args.plateau_delta:g} BPC"),
        "convergence": (f"best validation BPC gained < {args.min_gain:g} over the last "
                        f"{args.convergence_window} steps, or the cap of {args.steps} steps"),
    }


# --------------------------------------------------- MI coefficient search


COEFFICIENT_GRID = ((0.5, 0.5, 0.5), (1.0, 0.5, 0.5), (2.0, 0.5, 0.5), (1.0, 1.0, 1.0),
                    (2.0, 1.0, 1.0))


def search_coefficients(args, corpus, build, steps, grid=COEFFICIENT_GRID, seed=0):
    """The paper searched MI-RNN-general's initial (alpha, beta1, beta2) per
    data set (footnote 5). Here: each of `grid` trains `steps` steps on seed
    0's stream; the lowest validation BPC wins. `build(coefficients)` makes
    the compiled model. Returns (best, {str(coefficients): validation BPC})."""
    x_val, y_val = corpus.held_out("validation", args.validation_windows)
    scores = {}
    for coefficients in grid:
        common.set_seed(seed)
        model = build(coefficients)
        stream = corpus.stream(seed)
        x, y = stream.next(steps * args.batch_size)
        model.fit(x, y, batch_size=args.batch_size, epochs=1, shuffle=False, verbose=0)
        bpc = common.bits_per_character(model, x_val, y_val, batch_size=256)
        scores[",".join(f"{c:g}" for c in coefficients)] = bpc
        print(f"coefficients {coefficients}: validation BPC {bpc:.3f} after {steps} steps",
              flush=True)
    finite = {k: v for k, v in scores.items() if math.isfinite(v)}
    best = min(finite, key=finite.get) if finite else next(iter(scores))
    return tuple(float(c) for c in best.split(",")), scores


def parse_coefficients(text):
    """`'2,0.5,0.5'` -> (2.0, 0.5, 0.5); `'search'` -> None."""
    if text == "search":
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"Received an invalid value for argument `--coefficients`: {text!r}; expected "
            "'search' or three numbers 'alpha,beta1,beta2' (for example '2,0.5,0.5').")
    return values


def experiment(name, doc, argv, small, paper_scale, extra, train, summarize):
    """A protocol experiment from its parts: its options (`extra(parser)`,
    checked); then either, with `--from-json`, the redraw of a record
    (`common.redraw`), or `train(args, out, corpus, validation, test)` ->
    `(runs, record)` on the corpus and its held-out windows, and the record
    written with `summarize(args, runs, out)` (`record`: more of
    `common.write_record`'s arguments). Returns the record."""
    args = common.parse_arguments(doc.split("\n")[0], argv, small, paper_scale, extra=extra)
    check_arguments(args)
    if args.from_json:
        return common.redraw(args, (name,), summarize)
    out = common.output_dir(args, name)
    started = time.perf_counter()
    corpus = Corpus(args)
    validation = corpus.held_out("validation", args.validation_windows)
    test = corpus.held_out("test", args.test_windows)
    runs, record = train(args, out, corpus, validation, test)
    return common.write_record(out, name, args, runs, summarize(args, runs, out), started,
                               **record)


def coefficient_options(model):
    """`add_coefficient_arguments` for `model`, as an experiment's options."""
    return lambda parser: add_coefficient_arguments(parser, model)


def add_coefficient_arguments(parser, model):
    """The protocol's options, and `--coefficients` / `--search-steps` for
    the initial (alpha, beta1, beta2) of `model`."""
    add_arguments(parser)
    parser.add_argument("--coefficients",
                        help=f"{model}'s initial 'alpha,beta1,beta2', or 'search'")
    parser.add_argument("--search-steps", type=int, help="training steps per searched setting")


def chosen_coefficients(args, corpus, build, grid=COEFFICIENT_GRID):
    """`(coefficients, search)`: the `--coefficients` given and `None`, or,
    for 'search', the best of `grid` (`search_coefficients`) and the record
    of the search."""
    coefficients = parse_coefficients(args.coefficients)
    if coefficients is not None:
        return coefficients, None
    coefficients, scores = search_coefficients(args, corpus, build, args.search_steps, grid=grid)
    return coefficients, {"steps": args.search_steps, "validation_bpc": scores,
                          "chosen": coefficients}


def coefficient_note(args, coefficients, search, corpus):
    """The record's `protocol` part for an experiment with MI coefficients."""
    return dict(settings_note(args), coefficients=list(coefficients), coefficient_search=search,
                vocabulary_size=corpus.characters.size)


def say(run, label, extra=""):
    """One line on a finished run."""
    print(f"seed {run['seed']} {label}: test BPC {run['test_bpc']:.3f} after {run['steps']} "
          f"steps ({run['stopped']}, {run['train_seconds']:.0f} s){extra}", flush=True)


def log_monitor(monitor, step):
    """Measures with a keras_mi monitor, writes it to the monitor's
    TensorBoard log at `step`, and returns the measured values."""
    return monitor.record(step)
