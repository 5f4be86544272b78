"""The `keras-mi` command: train, evaluate and sample character-level models.

    keras-mi train --cell milstm --epochs 3       # on the embedded corpus
    keras-mi evaluate runs/milstm
    keras-mi sample runs/milstm --temperature 0.7
    keras-mi compare --cells milstm,lstm --epochs 3
"""

import argparse
import contextlib
import os
import shutil
import sys

import numpy as np

from keras_mi.startup import quiet_tensorflow

VOCABULARY_FILE = "vocabulary.json"
MODEL_FILE = "model.keras"
RUN_FILE = "run.json"  # the options a run was started with
# Options that do not change what a run computes: a resumed run may differ
# from the interrupted one in these.
_NOT_RECORDED = {"command", "func", "resume", "overwrite", "verbose", "run_dir",
                 "checkpoint_dir", "test_steps"}
SPLITS = ("validation", "test")
# A held-out split of fewer characters than this gets a warning: its BPC
# is measured on too little text to compare runs (one batch of 3,200
# characters once read 1.32 against a training BPC of 2.46).
MEASURABLE_CHARACTERS = 20_000


class CommandError(ValueError):
    """A bad command line: printed as `keras-mi COMMAND: error: ...`."""


# Numeric options, checked when the command line is parsed (argparse
# prints `argument --NAME: ...` with the command's usage).


def positive_int(text):
    """An integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer of at least 1, got {value}")
    return value


def seed_int(text):
    """A seed: an integer in [0, 2**32)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {text!r}")
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**32), got {value}")
    return value


def positive_float(text):
    """A finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text!r}")
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text}")
    return value


def _dataset_error(error):
    """A `keras_mi.data.sources` error about the dataset, as the command's."""
    from keras_mi.data import sources

    text = str(error)
    if text.startswith(sources.ARGUMENT):
        return CommandError("argument --dataset" + text[len(sources.ARGUMENT) :])
    return error


def _check_dataset(dataset):
    """Fails early, naming `--dataset`, where it names no data."""
    from keras_mi.data import sources

    try:
        sources.check_dataset(dataset)
    except ValueError as error:
        raise _dataset_error(error) from None


def _documents(args, split):
    """The documents (tf.string) of one split of `--dataset`."""
    from keras_mi.data import sources

    try:
        return sources.dataset_documents(
            args.dataset, split, data_dir=args.data_dir, text_feature=args.text_feature
        )
    except ValueError as error:
        raise _dataset_error(error) from None


def _windows(args, split, repeat, vocabulary=None):
    from keras_mi import data

    shuffle = split == "train" and not args.contiguous
    return data.windows(
        data.symbol_stream(_documents(args, split), vocabulary),
        args.sequence_length,
        args.batch_size,
        shuffle_buffer=1000 if shuffle else 0,
        seed=args.seed,
        repeat=repeat,
        contiguous=args.contiguous,
    )


def _check_splits(args, vocabulary):
    """Fails before training where a split cannot fill one batch, saying
    which split is short and by how much."""
    from keras_mi import data

    needed = args.batch_size * args.sequence_length + 1
    small = {}
    for split in ("train", *SPLITS):
        if any(True for _ in _windows(args, split, False, vocabulary).take(1)):
            if split in SPLITS:
                stream = data.symbol_stream(_documents(args, split), vocabulary)
                held = int(stream.take(MEASURABLE_CHARACTERS).reduce(
                    np.int64(0), lambda n, _: n + 1))
                if held < MEASURABLE_CHARACTERS:
                    small[split] = held
            continue
        stream = data.symbol_stream(_documents(args, split), vocabulary)
        held = int(stream.reduce(np.int64(0), lambda n, _: n + 1))
        raise CommandError(
            f"argument --dataset: the {split} split of {args.dataset!r} holds "
            f"{held} characters, {needed - held} fewer than one batch needs "
            f"({needed}: --batch-size {args.batch_size} windows of "
            f"--sequence-length {args.sequence_length}, plus one); give more "
            "data or smaller sizes."
        )
    return small


def _build_vocabulary(args):
    """`None` for bytes, else the character vocabulary of the train split."""
    from keras_mi.data import CharacterVocabulary

    if args.vocabulary == "bytes":
        return None
    documents = _documents(args, "train").as_numpy_iterator()
    return CharacterVocabulary.build(documents, max_size=args.max_vocabulary)


def _model_path(path):
    """A `.keras` file, or the run directory (or checkpoint folder's run)
    that holds one as `model.keras`."""
    if os.path.isdir(path):
        candidate = os.path.join(path, MODEL_FILE)
        if os.path.isfile(candidate):
            return candidate
        raise CommandError(
            f"argument model: the directory {path!r} holds no {MODEL_FILE}; "
            "give a run directory of `keras-mi train` or a .keras file."
        )
    if not os.path.isfile(path):
        raise CommandError(
            f"argument model: {path!r} is neither a .keras file nor a run "
            "directory."
        )
    return path


def _load_model(path):
    import keras

    import keras_mi  # noqa: F401  (registers the classes a model may hold)

    return keras.saving.load_model(_model_path(path))


def _load_vocabulary(model_path):
    """The vocabulary saved next to a model (or its run directory), if any."""
    from keras_mi.data import CharacterVocabulary

    folder = os.path.dirname(os.path.abspath(_model_path(model_path)))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, VOCABULARY_FILE)
        if os.path.exists(path):
            return CharacterVocabulary.load(path)
    return None


def _run_files(run_dir, checkpoint_dir=None):
    """The paths of an earlier run's files: in `run_dir`, and its epoch
    checkpoints (only those) in `checkpoint_dir`."""
    found = [os.path.join(run_dir, name)
             for name in (MODEL_FILE, RUN_FILE, "history.csv", "backup", "logs")
             if os.path.exists(os.path.join(run_dir, name))]
    checkpoint_dir = checkpoint_dir or os.path.join(run_dir, "checkpoints")
    if os.path.isdir(checkpoint_dir):
        found += sorted(os.path.join(checkpoint_dir, name) for name in os.listdir(checkpoint_dir)
                        if name.startswith("epoch_") and name.endswith(".keras"))
    return found


def _check_run_dir(run_dir, resume, overwrite, checkpoint_dir=None):
    """Refuses to mix runs: a folder holding a run is continued (`--resume`,
    if it was interrupted) or replaced (`--overwrite`), never written over
    silently. Called before anything is trained."""
    if resume and overwrite:
        raise CommandError("arguments --resume and --overwrite: give one or the other")
    backup = os.path.join(run_dir, "backup")
    if resume:
        # The model is written once every epoch is done: its run is finished
        # (even if a kill left part of the backup behind).
        if os.path.exists(os.path.join(run_dir, MODEL_FILE)):
            raise CommandError(
                f"argument --resume: the run in {run_dir} is finished ({MODEL_FILE} is "
                "there): nothing to resume; give --overwrite to train it again, or "
                "another --run-dir")
        if os.path.isdir(backup):
            return
    found = _run_files(run_dir, checkpoint_dir)
    if found and not overwrite and not resume:
        raise CommandError(
            f"argument --run-dir: {run_dir} holds a run "
            f"({', '.join(os.path.relpath(path, run_dir) for path in found)}); give "
            "--resume to continue an interrupted one, --overwrite to replace it, or "
            "another --run-dir")


def _prepare_run_dir(run_dir, resume, checkpoint_dir=None):
    """`--resume` keeps the backup and the history; a new run starts from an
    empty folder (after `_check_run_dir`, whatever is there was asked to go)."""
    from keras_mi import run_files

    backup = os.path.join(run_dir, "backup")
    checkpoint_dir = checkpoint_dir or os.path.join(run_dir, "checkpoints")
    run_files.remove_partial_files(run_dir, backup, checkpoint_dir)
    if resume and os.path.isdir(backup):
        print(f"resuming the run in {run_dir}")
        for path in run_files.damaged_checkpoints(checkpoint_dir):
            print(f"warning: the checkpoint {path} is damaged (not a whole .keras file); "
                  "it is left as it is: its epoch's weights cannot be recovered",
                  file=sys.stderr)
        return
    if resume:
        print(f"no backup in {backup}: starting a new run")
    for path in _run_files(run_dir, checkpoint_dir):
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def _recorded_options(args):
    return {key: value for key, value in sorted(vars(args).items())
            if key not in _NOT_RECORDED and isinstance(value, (str, int, float, bool, type(None)))}


def _record_or_check_options(args, run_dir, resume):
    """A new run writes its options to RUN_DIR/run.json; a resumed one must
    be given the same (else it would not continue the same run)."""
    from keras_mi import run_files

    path = os.path.join(run_dir, RUN_FILE)
    options = _recorded_options(args)
    if not (resume and os.path.exists(path)):
        run_files.write_json(path, options, indent=1)
        return
    try:
        recorded = run_files.read_json(path, "the options the run was started with")
    except run_files.DamagedRunFile as error:
        raise CommandError(f"argument --resume: {error}") from None
    differ = [key for key in sorted(set(options) | set(recorded))
              if options.get(key) != recorded.get(key)]
    if differ:
        def flag(key, value):
            return f"--{key.replace('_', '-')} {value}"
        raise CommandError(
            f"argument --resume: the run in {run_dir} was started with "
            f"{', '.join(flag(k, recorded.get(k)) for k in differ)}, not "
            f"{', '.join(flag(k, options.get(k)) for k in differ)}: resume it with the "
            f"options it was started with (they are in {path})")


def _completed_epochs(run_dir):
    """The epochs an interrupted run completed, from its backup (0 without
    one)."""
    from keras_mi import run_files

    try:
        return run_files.backup_epoch(os.path.join(run_dir, "backup"))
    except run_files.DamagedRunFile as error:
        raise CommandError(f"argument --resume: {error}; remove "
                           f"{os.path.join(run_dir, 'backup')} to start the run over") from None


def _evaluate_splits(model, args, vocabulary, steps):
    """BPC and the characters covered, on the validation and test splits
    (all of each, or `steps` batches)."""
    results = {}
    for split in SPLITS:
        dataset = _windows(args, split, repeat=steps is not None, vocabulary=vocabulary)
        if steps is None:
            # Counted first, so that evaluate is given the exact number of
            # batches: without it, Keras warns that a finite input "ran out
            # of data", and on TensorFlow averages other batches than all of
            # the split's (see `evaluate`).
            batches = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
        else:
            batches = steps
        print(f"evaluating the {split} split ({batches:,} batches)...", flush=True)
        logs = model.evaluate(dataset, steps=batches, return_dict=True, verbose=0)
        results[split] = {
            "bpc": float(logs["bpc"]),
            "batches": batches,
            "characters": batches * args.batch_size * args.sequence_length,
            "whole_split": steps is None,
        }
    return results


def _print_evaluation(results):
    print(f"{'split':10s} {'BPC':>7s} {'characters':>12s}")
    for split, row in results.items():
        extent = "all of the split" if row["whole_split"] else "first batches"
        print(
            f"{split:10s} {row['bpc']:7.4f} {row['characters']:12,d}  "
            f"({row['batches']} batches, {extent})"
        )


def _make_folder(option, path):
    """Creates `path` if needed; a `ValueError` naming `option` when it
    cannot be created or written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as error:
        raise ValueError(f"argument {option}: cannot create {path} "
                         f"({error.strerror or error})") from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"argument {option}: {path} is not writable")


def _fit(args, run_dir, quiet=False):
    """Builds, trains, saves and evaluates one model; returns (model,
    history, results)."""
    import keras

    from keras_mi import distribution
    from keras_mi.data import VOCABULARY_SIZE

    keras.utils.set_random_seed(args.seed)
    log_dir = os.path.join(run_dir, "logs")
    checkpoint_dir = getattr(args, "checkpoint_dir", None) or os.path.join(
        run_dir, "checkpoints"
    )
    resume = getattr(args, "resume", False)
    _check_run_dir(run_dir, resume, getattr(args, "overwrite", False), checkpoint_dir)
    vocabulary = _build_vocabulary(args)
    small = _check_splits(args, vocabulary)
    if not quiet:
        from keras_mi.data import sources

        print(f"data: {args.dataset}: {sources.split_description(args.dataset)}")
    for split, held in small.items():
        print(f"warning: the {split} split of {args.dataset!r} holds only {held:,} characters "
              f"(under {MEASURABLE_CHARACTERS:,}): its BPC is measured on too little text to "
              "compare runs; give more data", file=sys.stderr)
    _prepare_run_dir(run_dir, resume, checkpoint_dir)
    _make_folder("--run-dir", run_dir)
    _make_folder("--checkpoint-dir", checkpoint_dir)
    _record_or_check_options(args, run_dir, resume)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size
    if vocabulary is not None:
        vocabulary.save(os.path.join(run_dir, VOCABULARY_FILE))  # atomically
    engine = distribution.for_command(getattr(args, "distribute", "none"))
    if engine is not None and not quiet:
        print(f"distribution: {distribution.describe(engine)}")
    with contextlib.nullcontext() if engine is None else engine.scope():
        return _fit_in_scope(args, run_dir, quiet, log_dir, checkpoint_dir, vocabulary, size)


def _fit_in_scope(args, run_dir, quiet, log_dir, checkpoint_dir, vocabulary, size):
    import keras

    from keras_mi import run_files

    from keras_mi.models import char_language_model, compile_language_model

    model = char_language_model(
        args.cell, args.units, args.layers, args.embedding_dim, vocabulary_size=size
    )
    compile_language_model(model, args.learning_rate, args.clipnorm)
    if not quiet:
        print(
            f"{model.name}: {model.count_params():,} parameters, "
            f"{size} symbols, backend {keras.backend.backend()}"
        )
    done = _completed_epochs(run_dir) if getattr(args, "resume", False) else 0
    backup = os.path.join(run_dir, "backup")
    callbacks = [
        run_files.HistoryLog(os.path.join(run_dir, "history.csv"), completed_epochs=done),
        keras.callbacks.TensorBoard(log_dir),
        run_files.EpochCheckpoint(os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras")),
    ]
    if not getattr(args, "no_monitors", False):
        callbacks += _monitors(args, log_dir, vocabulary)
    # Last, so that an epoch counts as done once everything of it is written
    # (every file atomically, keras_mi.run_files): a run killed at any
    # moment resumes after its last complete epoch and redoes the one it
    # was in.
    callbacks.append(run_files.RunBackup(backup))
    train = _windows(args, "train", repeat=True, vocabulary=vocabulary)
    if done:
        # The stream goes on where the interrupted run left it: the resumed
        # run sees the batches the uninterrupted one would have seen.
        train = train.skip(done * args.steps_per_epoch)
        if not quiet:
            print(f"continuing after epoch {done}: the {done * args.steps_per_epoch:,} "
                  "training batches it saw are skipped")
    history = model.fit(
        train,
        validation_data=_windows(args, "validation", repeat=True, vocabulary=vocabulary),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        callbacks=callbacks,
        verbose=args.verbose,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    run_files.save_model(model, os.path.join(run_dir, MODEL_FILE))
    # Only now: a run killed before its model was written resumes from it.
    run_files.remove_backup(backup)
    results = _evaluate_splits(model, args, vocabulary, args.test_steps)
    return model, history.history, results


def _monitors(args, log_dir, vocabulary):
    """The keras_mi monitors on a probe batch of 8 validation windows."""
    from keras_mi.callbacks import ActivationMonitor, GradientNormMonitor, ScaleMonitor

    x, y = next(iter(_windows(args, "validation", repeat=True, vocabulary=vocabulary)))
    probe = (np.asarray(x)[:8], np.asarray(y)[:8])
    return [
        GradientNormMonitor(log_dir, probe),
        ActivationMonitor(log_dir, (probe[0],)),
        ScaleMonitor(log_dir, (probe[0],)),
    ]


def tensorboard_command(log_dir):
    """A command line that starts TensorBoard on `log_dir` as printed: the
    `tensorboard` of the running Python's environment, by a path that works
    from the current directory."""
    script = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if not os.path.isfile(script):
        return f"{sys.executable} -m tensorboard.main --logdir {log_dir}"
    relative = os.path.relpath(script)
    program = script if relative.startswith(os.pardir) else relative
    return f"{program} --logdir {log_dir}"


def train(args):
    run_dir = args.run_dir or os.path.join("runs", args.cell)
    _, _, results = _fit(args, run_dir)
    _print_evaluation(results)
    print(f"model saved to {os.path.join(run_dir, MODEL_FILE)}")
    print(f"open the logs with: {tensorboard_command(os.path.join(run_dir, 'logs'))}")
    return results


def matched_units(cell, parameter_count, layers, embedding_dim, vocabulary_size):
    """The units for which `cell`'s model has the parameter count closest to
    `parameter_count` (the other sizes fixed)."""
    from keras_mi.models import char_language_model, units_for_parameter_count

    return units_for_parameter_count(
        lambda units: char_language_model(
            cell, units, layers, embedding_dim, vocabulary_size
        ).count_params(),
        parameter_count,
    )


def compare(args):
    """Trains several cells on the same data and budget; table and plot."""
    import copy

    import keras

    from keras_mi import run_files

    from keras_mi.data import VOCABULARY_SIZE
    from keras_mi.models import RECURRENT_LAYERS, char_language_model

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    for cell in cells:
        if cell not in RECURRENT_LAYERS:
            raise CommandError(
                f"argument --cells: {cell!r} is not one of "
                f"{', '.join(sorted(RECURRENT_LAYERS))}"
            )
    for cell in cells:  # before anything is trained
        _check_run_dir(os.path.join(args.run_dir, cell), False, args.overwrite)
    _make_folder("--run-dir", args.run_dir)
    vocabulary = _build_vocabulary(args)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size
    budget = char_language_model(
        cells[0], args.units, args.layers, args.embedding_dim, size
    ).count_params()
    rows, curves = [], {}
    for position, cell in enumerate(cells, 1):
        run_args = copy.copy(args)
        run_args.cell = cell
        run_args.resume = False
        if not args.same_units:
            run_args.units = matched_units(
                cell, budget, args.layers, args.embedding_dim, size
            )
        parameters = char_language_model(
            cell, run_args.units, args.layers, args.embedding_dim, size
        ).count_params()
        print(
            f"== {position}/{len(cells)}: {cell}, {run_args.units} units, "
            f"{parameters:,} parameters",
            flush=True,
        )
        model, history, results = _fit(
            run_args, os.path.join(args.run_dir, cell), quiet=True
        )
        curves[cell] = history
        rows.append(
            {
                "cell": cell,
                "units": run_args.units,
                "parameters": model.count_params(),
                "validation_bpc": results["validation"]["bpc"],
                "test_bpc": results["test"]["bpc"],
            }
        )
        keras.utils.clear_session()
    header = f"{'cell':8s} {'units':>6s} {'parameters':>11s} {'val BPC':>8s} {'test BPC':>9s}"
    print(header)
    for row in rows:
        print(
            f"{row['cell']:8s} {row['units']:6d} {row['parameters']:11,d} "
            f"{row['validation_bpc']:8.4f} {row['test_bpc']:9.4f}"
        )
    plot_path = os.path.join(args.run_dir, "learning_curves.png")
    _plot_curves(curves, plot_path)
    run_files.write_json(os.path.join(args.run_dir, "comparison.json"),
                         {"rows": rows, "curves": curves}, indent=2)
    print(f"learning curves saved to {plot_path}")
    return rows


def _plot_curves(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4))
    for cell, history in curves.items():
        epochs = range(1, len(history["bpc"]) + 1)
        line = axis.plot(epochs, history["val_bpc"], marker="o", label=f"{cell} validation")
        # Markers on both: a one-epoch run is a point, not a line.
        axis.plot(
            epochs, history["bpc"], linestyle="--", marker="x", color=line[0].get_color(),
            label=f"{cell} train",
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel("bits per character")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.grid(alpha=0.3)
    from keras_mi import run_files

    with run_files.atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, bbox_inches="tight", format="png")
    plt.close(figure)


def evaluate(args):
    model = _load_model(args.model)
    vocabulary = _load_vocabulary(args.model)
    dataset = _windows(args, args.split, repeat=args.steps is not None, vocabulary=vocabulary)
    steps = args.steps
    if steps is None:
        # Counted first: on TensorFlow, Keras' evaluate of a finite dataset
        # without `steps` runs out of data mid-way and averages a different
        # set of batches (7.87 against 7.99 BPC measured by hand on one model).
        steps = int(dataset.reduce(np.int64(0), lambda n, _: n + 1))
    results = model.evaluate(dataset, steps=steps, return_dict=True, verbose=0)
    extent = "all of the split" if args.steps is None else f"{args.steps} batches"
    print(f"{args.split} BPC: {results['bpc']:.4f} ({extent})")
    return results


def sample(args):
    import codecs

    from keras_mi.models import sample_symbols

    model = _load_model(args.model)
    vocabulary = _load_vocabulary(args.model)
    if vocabulary is None:
        prime = list(args.prime.encode("utf-8")) or [ord("\n")]
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def text_of(symbol):
            return decoder.decode(bytes([symbol]))

    else:
        prime = vocabulary.encode(args.prime).tolist() or vocabulary.encode("\n").tolist()

        def text_of(symbol):
            return vocabulary.decode([symbol])

    pieces = [args.prime]
    sys.stdout.write(args.prime)
    sys.stdout.flush()

    def stream(symbol):
        piece = text_of(symbol)
        pieces.append(piece)
        sys.stdout.write(piece)
        sys.stdout.flush()

    sample_symbols(
        model, prime, args.length, args.temperature, seed=args.seed, on_symbol=stream
    )
    sys.stdout.write("\n")
    return "".join(pieces)


def _add_data_arguments(parser, vocabulary=True, seed=True):
    parser.add_argument(
        "--dataset",
        default="embedded",
        help="'embedded' (the Python standard library's sources), a text "
        "file, directory or glob, or tfds:NAME (a prepared TensorFlow "
        "Datasets dataset)",
    )
    parser.add_argument("--data-dir", default=None, help="tfds data_dir for tfds:NAME")
    parser.add_argument(
        "--text-feature",
        default=None,
        help="the text feature of a tfds dataset (default: its first Text feature)",
    )
    parser.add_argument(
        "--contiguous",
        action="store_true",
        help="contiguous (stateful-friendly) batches: row i of each batch "
        "continues row i of the previous one; no shuffling",
    )
    if vocabulary:
        parser.add_argument(
            "--vocabulary",
            choices=["bytes", "characters"],
            default="bytes",
            help="bytes (256 symbols) or the characters of the train split "
            "(saved as vocabulary.json in the run directory)",
        )
        parser.add_argument(
            "--max-vocabulary",
            type=positive_int,
            default=None,
            help="keep the most frequent characters only (others become unknown)",
        )
    parser.add_argument("--sequence-length", type=positive_int, default=100, help="characters per window")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="windows per batch")
    if seed:
        parser.add_argument("--seed", type=seed_int, default=0, help="random seed")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help, unless the help says its
    default itself or there is none to say (None, False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def build_parser():
    from keras_mi.models import RECURRENT_LAYERS

    cells = sorted(RECURRENT_LAYERS)
    formatter = _HelpFormatter
    parser = argparse.ArgumentParser(
        prog="keras-mi", description=__doc__.split("\n")[0], formatter_class=formatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add_model_arguments(p):
        p.add_argument("--units", type=positive_int, default=128, help="units per recurrent layer")
        p.add_argument("--layers", type=positive_int, default=1, help="stacked recurrent layers")
        p.add_argument("--embedding-dim", type=positive_int, default=32, help="size of the character embedding")
        p.add_argument("--epochs", type=positive_int, default=3, help="training epochs")
        p.add_argument("--steps-per-epoch", type=positive_int, default=300, help="training batches per epoch")
        p.add_argument(
            "--validation-steps", type=positive_int, default=30,
            help="validation batches at the end of each epoch",
        )
        p.add_argument(
            "--test-steps", type=positive_int, default=None,
            help="batches of the validation and test splits evaluated after "
            "training (default: all of both)",
        )
        p.add_argument("--learning-rate", type=positive_float, default=2e-3, help="Adam's learning rate")
        p.add_argument("--clipnorm", type=positive_float, default=1.0, help="gradient norm clipping")
        p.add_argument(
            "--verbose", type=int, choices=[0, 1, 2], default=1,
            help="Keras' progress output: 0 none, 1 progress bar, 2 one line per epoch",
        )
        p.add_argument(
            "--overwrite", action="store_true",
            help="replace a run already in the run directory (without it, such a run "
            "is never written over)",
        )
        p.add_argument(
            "--no-monitors", action="store_true",
            help="do not log the keras_mi gradient/activation/scale monitors",
        )
        _add_data_arguments(p)

    p = commands.add_parser(
        "train", help="train a character-level language model", formatter_class=formatter
    )
    p.add_argument("--cell", choices=cells, default="milstm", help="the recurrent cell")
    p.add_argument("--run-dir", default=None, help="where everything is written (default: runs/CELL)")
    p.add_argument("--checkpoint-dir", default=None, help="default: RUN_DIR/checkpoints")
    p.add_argument(
        "--resume", action="store_true",
        help="continue an interrupted run in RUN_DIR after its last completed epoch",
    )
    p.add_argument(
        "--distribute", choices=["none", "data", "model"], default="none",
        help="train on all visible devices: 'data' replicates the model "
        "(keras.distribution.DataParallel on JAX, tf.distribute.MirroredStrategy "
        "on TensorFlow), 'model' shards the MI weights on their unit axis "
        "(keras.distribution.ModelParallel, JAX); see docs/scaling.md",
    )
    add_model_arguments(p)
    p.set_defaults(func=train)

    p = commands.add_parser(
        "compare", help="train several cells on the same data and parameter budget",
        formatter_class=formatter,
    )
    p.add_argument(
        "--cells", default="milstm,lstm",
        help=f"comma-separated cells among {', '.join(cells)}; the first sets the parameter budget",
    )
    p.add_argument(
        "--same-units", action="store_true",
        help="give every cell --units instead of matching the parameter count",
    )
    p.add_argument("--run-dir", default=os.path.join("runs", "compare"), help="where the runs, table and plot go")
    add_model_arguments(p)
    p.set_defaults(func=compare)

    p = commands.add_parser(
        "evaluate", help="bits per character of a saved model", formatter_class=formatter
    )
    p.add_argument("model", help="a run directory (its model.keras) or a .keras file")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test", help="the split evaluated")
    p.add_argument("--steps", type=positive_int, default=None, help="batches evaluated (default: all of the split)")
    _add_data_arguments(p, vocabulary=False)
    p.set_defaults(func=evaluate)

    p = commands.add_parser(
        "sample", help="generate text from a saved model", formatter_class=formatter
    )
    p.add_argument("model", help="a run directory (its model.keras) or a .keras file")
    p.add_argument("--length", type=positive_int, default=200, help="characters to generate")
    p.add_argument(
        "--temperature", type=positive_float, default=0.8,
        help="sampling temperature: lower is more conservative",
    )
    p.add_argument("--prime", default="def ", help="the text the generation continues")
    p.add_argument("--seed", type=seed_int, default=0, help="random seed of the sampling")
    p.set_defaults(func=sample)
    return parser, commands


def main(argv=None):
    parser, commands = build_parser()
    args, extra = parser.parse_known_args(argv)
    command = commands.choices[args.command]
    if extra:
        # Report it with the command's own usage, not the top-level one.
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    quiet_tensorflow()  # where main is called directly, not by the command
    try:
        if hasattr(args, "dataset"):
            _check_dataset(args.dataset)
        args.func(args)
    except ValueError as error:
        print(f"keras-mi {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
