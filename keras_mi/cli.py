"""The `keras-mi` command: train, evaluate and sample character-level models.

    keras-mi train --cell milstm --epochs 3       # on the embedded corpus
    keras-mi evaluate runs/milstm/model.keras
    keras-mi sample runs/milstm/model.keras --temperature 0.7
    keras-mi compare --cells milstm,lstm --epochs 3
"""

import argparse
import os
import sys

import numpy as np


TFDS_PREFIX = "tfds:"
VOCABULARY_FILE = "vocabulary.json"


def _dataset_files(dataset, split):
    from keras_mi.data import corpus

    if dataset == "embedded":
        return corpus.embedded_corpus_files(split)
    paths = corpus.text_files(dataset)
    root = dataset if os.path.isdir(dataset) else os.path.dirname(paths[0])
    files = corpus.split_files(paths, root, split)
    if not files:
        raise ValueError(
            f"The dataset {dataset!r} has no files in split {split!r} "
            f"({len(paths)} files in all, assigned to splits by a hash of "
            "their paths); give a directory with more files."
        )
    return files


def _documents(args, split):
    """The documents (tf.string) of one split of `--dataset`."""
    from keras_mi import data

    if args.dataset.startswith(TFDS_PREFIX):
        return data.tfds_documents(
            args.dataset[len(TFDS_PREFIX) :],
            split,
            data_dir=args.data_dir,
            text_feature=args.text_feature,
        )
    return data.file_documents(_dataset_files(args.dataset, split))


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


def _build_vocabulary(args):
    """`None` for bytes, else the character vocabulary of the train split."""
    from keras_mi.data import CharacterVocabulary

    if args.vocabulary == "bytes":
        return None
    documents = _documents(args, "train").as_numpy_iterator()
    return CharacterVocabulary.build(documents, max_size=args.max_vocabulary)


def _load_vocabulary(model_path):
    """The vocabulary saved next to a model (or its run directory), if any."""
    from keras_mi.data import CharacterVocabulary

    folder = os.path.dirname(os.path.abspath(model_path))
    for candidate in (folder, os.path.dirname(folder)):
        path = os.path.join(candidate, VOCABULARY_FILE)
        if os.path.exists(path):
            return CharacterVocabulary.load(path)
    return None


def _prepare_run_dir(run_dir, resume):
    """A fresh run removes an old backup; `--resume` keeps it."""
    import shutil

    backup = os.path.join(run_dir, "backup")
    if resume:
        if not os.path.isdir(backup):
            print(f"no backup in {backup}: starting a new run")
        else:
            print(f"resuming the run in {run_dir}")
    elif os.path.isdir(backup):
        shutil.rmtree(backup)
        history = os.path.join(run_dir, "history.csv")
        if os.path.exists(history):
            os.remove(history)


def _fit(args, run_dir, quiet=False):
    """Builds, trains, saves and tests one model; returns (model, results)."""
    import keras

    from keras_mi.data import VOCABULARY_SIZE
    from keras_mi.models import char_language_model, compile_language_model

    keras.utils.set_random_seed(args.seed)
    log_dir = os.path.join(run_dir, "logs")
    checkpoint_dir = getattr(args, "checkpoint_dir", None) or os.path.join(
        run_dir, "checkpoints"
    )
    os.makedirs(checkpoint_dir, exist_ok=True)
    _prepare_run_dir(run_dir, getattr(args, "resume", False))
    vocabulary = _build_vocabulary(args)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size
    if vocabulary is not None:
        vocabulary.save(os.path.join(run_dir, VOCABULARY_FILE))
    model = char_language_model(
        args.cell, args.units, args.layers, args.embedding_dim, vocabulary_size=size
    )
    compile_language_model(model, args.learning_rate, args.clipnorm)
    if not quiet:
        print(
            f"{model.name}: {model.count_params():,} parameters, "
            f"{size} symbols, backend {keras.backend.backend()}"
        )
    callbacks = [
        # First, so that an epoch is backed up before anything else of it is
        # written: a run killed later resumes after that epoch.
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        keras.callbacks.CSVLogger(os.path.join(run_dir, "history.csv"), append=True),
        keras.callbacks.TensorBoard(log_dir),
        keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras")
        ),
    ]
    if not getattr(args, "no_monitors", False):
        callbacks += _monitors(args, log_dir, vocabulary)
    history = model.fit(
        _windows(args, "train", repeat=True, vocabulary=vocabulary),
        validation_data=_windows(args, "validation", repeat=True, vocabulary=vocabulary),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        callbacks=callbacks,
        verbose=args.verbose,
    )
    model_path = os.path.join(run_dir, "model.keras")
    model.save(model_path)
    results = model.evaluate(
        _windows(args, "test", repeat=True, vocabulary=vocabulary),
        steps=args.test_steps,
        return_dict=True,
        verbose=0,
    )
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


def train(args):
    run_dir = args.run_dir or os.path.join("runs", args.cell)
    _, _, results = _fit(args, run_dir)
    print(f"test BPC: {results['bpc']:.4f} ({args.test_steps} batches of the test split)")
    print(f"model saved to {os.path.join(run_dir, 'model.keras')}")
    print(f"open the logs with: tensorboard --logdir {os.path.join(run_dir, 'logs')}")
    return results


def matched_units(cell, parameter_count, layers, embedding_dim, vocabulary_size):
    """The units for which `cell`'s model has the parameter count closest to
    `parameter_count` (the other sizes fixed)."""
    from keras_mi.models import char_language_model

    def count(units):
        return char_language_model(
            cell, units, layers, embedding_dim, vocabulary_size
        ).count_params()

    low, high = 1, 8
    while count(high) < parameter_count:
        low, high = high, high * 2
    while high - low > 1:  # the count grows with units
        middle = (low + high) // 2
        if count(middle) < parameter_count:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda u: abs(count(u) - parameter_count))


def compare(args):
    """Trains several cells on the same data and budget; table and plot."""
    import copy
    import json

    import keras

    from keras_mi.data import VOCABULARY_SIZE
    from keras_mi.models import RECURRENT_LAYERS, char_language_model

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    for cell in cells:
        if cell not in RECURRENT_LAYERS:
            raise ValueError(
                f"Received an invalid value for argument `--cells`: {cell!r} is "
                f"not one of {sorted(RECURRENT_LAYERS)}."
            )
    os.makedirs(args.run_dir, exist_ok=True)
    vocabulary = _build_vocabulary(args)
    size = VOCABULARY_SIZE if vocabulary is None else vocabulary.size
    budget = char_language_model(
        cells[0], args.units, args.layers, args.embedding_dim, size
    ).count_params()
    rows, curves = [], {}
    for cell in cells:
        run_args = copy.copy(args)
        run_args.cell = cell
        run_args.resume = False
        if not args.same_units:
            run_args.units = matched_units(
                cell, budget, args.layers, args.embedding_dim, size
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
                "validation_bpc": history["val_bpc"][-1],
                "test_bpc": results["bpc"],
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
    with open(os.path.join(args.run_dir, "comparison.json"), "w") as handle:
        json.dump({"rows": rows, "curves": curves}, handle, indent=2)
    print(f"learning curves saved to {plot_path}")
    return rows


def _plot_curves(curves, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for cell, history in curves.items():
        epochs = range(1, len(history["bpc"]) + 1)
        line = axis.plot(epochs, history["val_bpc"], marker="o", label=f"{cell} validation")
        axis.plot(
            epochs, history["bpc"], linestyle="--", color=line[0].get_color(),
            label=f"{cell} train",
        )
    axis.set_xlabel("epoch")
    axis.set_ylabel("bits per character")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def evaluate(args):
    import keras

    model = keras.models.load_model(args.model)
    vocabulary = _load_vocabulary(args.model)
    results = model.evaluate(
        _windows(args, args.split, repeat=True, vocabulary=vocabulary),
        steps=args.steps,
        return_dict=True,
        verbose=0,
    )
    print(f"{args.split} BPC: {results['bpc']:.4f} ({args.steps} batches)")
    return results


def sample(args):
    import keras

    from keras_mi.data import decode_bytes

    model = keras.models.load_model(args.model)
    vocabulary = _load_vocabulary(args.model)
    rng = np.random.default_rng(args.seed)
    if vocabulary is None:
        ids = list(args.prime.encode("utf-8")) or [ord("\n")]
    else:
        ids = vocabulary.encode(args.prime).tolist() or vocabulary.encode("\n").tolist()
    for _ in range(args.length):
        window = np.asarray([ids[-args.context :]], dtype="int32")
        logits = keras.ops.convert_to_numpy(model(window, training=False))[0, -1].astype("float64")
        logits = logits / max(args.temperature, 1e-6)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        ids.append(int(rng.choice(len(probabilities), p=probabilities)))
    text = decode_bytes(ids) if vocabulary is None else vocabulary.decode(ids)
    print(text)
    return text


def _add_data_arguments(parser, vocabulary=True):
    parser.add_argument("--dataset", default="embedded", help="'embedded' (the Python standard library's sources), a text file, directory or glob, or tfds:NAME (a prepared TensorFlow Datasets dataset)")
    parser.add_argument("--data-dir", default=None, help="tfds data_dir for tfds:NAME")
    parser.add_argument("--text-feature", default=None, help="the text feature of a tfds dataset (default: the first Text feature)")
    parser.add_argument("--contiguous", action="store_true", help="contiguous (stateful-friendly) batches: row i of each batch continues row i of the previous one; no shuffling")
    if vocabulary:
        parser.add_argument("--vocabulary", choices=["bytes", "characters"], default="bytes", help="bytes (256 symbols) or the characters of the train split (saved as vocabulary.json in the run directory)")
        parser.add_argument("--max-vocabulary", type=int, default=None, help="keep the most frequent characters only (others become unknown)")
    parser.add_argument("--sequence-length", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-mi", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    from keras_mi.models import RECURRENT_LAYERS

    def add_model_arguments(p):
        p.add_argument("--units", type=int, default=128)
        p.add_argument("--layers", type=int, default=1)
        p.add_argument("--embedding-dim", type=int, default=32)
        p.add_argument("--epochs", type=int, default=3)
        p.add_argument("--steps-per-epoch", type=int, default=300)
        p.add_argument("--validation-steps", type=int, default=30)
        p.add_argument("--test-steps", type=int, default=50)
        p.add_argument("--learning-rate", type=float, default=2e-3)
        p.add_argument("--clipnorm", type=float, default=1.0)
        p.add_argument("--verbose", type=int, default=1)
        p.add_argument("--no-monitors", action="store_true", help="do not log the keras_mi gradient/activation/scale monitors")
        _add_data_arguments(p)

    p = commands.add_parser("train", help="train a character-level language model")
    p.add_argument("--cell", choices=sorted(RECURRENT_LAYERS), default="milstm")
    p.add_argument("--run-dir", default=None, help="default: runs/CELL")
    p.add_argument("--checkpoint-dir", default=None, help="default: RUN_DIR/checkpoints")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in RUN_DIR after its last completed epoch")
    add_model_arguments(p)
    p.set_defaults(func=train)

    p = commands.add_parser("compare", help="train several cells on the same data and budget")
    p.add_argument("--cells", default="milstm,lstm", help="comma-separated cells; the first sets the parameter budget")
    p.add_argument("--same-units", action="store_true", help="give every cell --units instead of matching the parameter count")
    p.add_argument("--run-dir", default=os.path.join("runs", "compare"))
    add_model_arguments(p)
    p.set_defaults(func=compare)

    p = commands.add_parser("evaluate", help="bits per character of a saved model")
    p.add_argument("model")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test")
    p.add_argument("--steps", type=int, default=50)
    _add_data_arguments(p, vocabulary=False)
    p.set_defaults(func=evaluate)

    p = commands.add_parser("sample", help="generate text from a saved model")
    p.add_argument("model")
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--prime", default="def ")
    p.add_argument("--context", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=sample)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ValueError as error:
        print(f"keras-mi: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
