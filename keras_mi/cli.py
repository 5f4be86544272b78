"""The `keras-mi` command: train, evaluate and sample character-level models.

    keras-mi train --cell milstm --epochs 3       # on the embedded corpus
    keras-mi evaluate runs/milstm/model.keras
    keras-mi sample runs/milstm/model.keras --temperature 0.7
"""

import argparse
import os
import sys

import numpy as np


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


def _windows(args, split, repeat):
    from keras_mi.data import byte_windows

    return byte_windows(
        _dataset_files(args.dataset, split),
        args.sequence_length,
        args.batch_size,
        shuffle_buffer=1000 if split == "train" else 0,
        seed=args.seed,
        repeat=repeat,
    )


def train(args):
    import keras

    from keras_mi.models import char_language_model, compile_language_model

    keras.utils.set_random_seed(args.seed)
    run_dir = args.run_dir or os.path.join("runs", args.cell)
    log_dir = os.path.join(run_dir, "logs")
    checkpoint_dir = args.checkpoint_dir or os.path.join(run_dir, "checkpoints")
    os.makedirs(checkpoint_dir, exist_ok=True)
    model = char_language_model(args.cell, args.units, args.layers, args.embedding_dim)
    compile_language_model(model, args.learning_rate, args.clipnorm)
    print(f"{model.name}: {model.count_params():,} parameters, backend {keras.backend.backend()}")
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(run_dir, "backup")),
        keras.callbacks.TensorBoard(log_dir),
        keras.callbacks.ModelCheckpoint(os.path.join(checkpoint_dir, "epoch_{epoch:03d}.keras")),
    ]
    model.fit(
        _windows(args, "train", repeat=True),
        validation_data=_windows(args, "validation", repeat=True),
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.validation_steps,
        callbacks=callbacks,
        verbose=args.verbose,
    )
    model_path = os.path.join(run_dir, "model.keras")
    model.save(model_path)
    results = model.evaluate(
        _windows(args, "test", repeat=True), steps=args.test_steps, return_dict=True, verbose=0
    )
    print(f"test BPC: {results['bpc']:.4f} ({args.test_steps} batches of the test split)")
    print(f"model saved to {model_path}")
    print(f"open the logs with: tensorboard --logdir {log_dir}")
    return results


def evaluate(args):
    import keras

    model = keras.models.load_model(args.model)
    results = model.evaluate(
        _windows(args, args.split, repeat=True), steps=args.steps, return_dict=True, verbose=0
    )
    print(f"{args.split} BPC: {results['bpc']:.4f} ({args.steps} batches)")
    return results


def sample(args):
    import keras

    from keras_mi.data import decode_bytes

    model = keras.models.load_model(args.model)
    rng = np.random.default_rng(args.seed)
    ids = list(args.prime.encode("utf-8")) or [ord("\n")]
    for _ in range(args.length):
        window = np.asarray([ids[-args.context :]], dtype="int32")
        logits = keras.ops.convert_to_numpy(model(window, training=False))[0, -1].astype("float64")
        logits = logits / max(args.temperature, 1e-6)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        ids.append(int(rng.choice(len(probabilities), p=probabilities)))
    text = decode_bytes(ids)
    print(text)
    return text


def _add_data_arguments(parser):
    parser.add_argument("--dataset", default="embedded", help="'embedded' (the Python standard library's sources) or a text file, directory or glob")
    parser.add_argument("--sequence-length", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)


def build_parser():
    parser = argparse.ArgumentParser(prog="keras-mi", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("train", help="train a character-level language model")
    from keras_mi.models import RECURRENT_LAYERS

    p.add_argument("--cell", choices=sorted(RECURRENT_LAYERS), default="milstm")
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps-per-epoch", type=int, default=300)
    p.add_argument("--validation-steps", type=int, default=30)
    p.add_argument("--test-steps", type=int, default=50)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--clipnorm", type=float, default=1.0)
    p.add_argument("--run-dir", default=None, help="default: runs/CELL")
    p.add_argument("--checkpoint-dir", default=None, help="default: RUN_DIR/checkpoints")
    p.add_argument("--verbose", type=int, default=1)
    _add_data_arguments(p)
    p.set_defaults(func=train)

    p = commands.add_parser("evaluate", help="bits per character of a saved model")
    p.add_argument("model")
    p.add_argument("--split", choices=["train", "validation", "test"], default="test")
    p.add_argument("--steps", type=int, default=50)
    _add_data_arguments(p)
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
