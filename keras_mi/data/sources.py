"""Dataset specifications: the one place that turns a `--dataset` value
(`"embedded"`, a text file, directory or glob, or `tfds:NAME`) into the
documents of a split. The `keras-mi` command and the paper experiments both
read data through it."""

import os

from keras_mi.data import corpus
from keras_mi.validation import ArgumentError

TFDS_PREFIX = "tfds:"


def check_dataset(dataset):
    """Raises `ValueError` naming `dataset` where it names no data."""
    if not isinstance(dataset, str):
        raise TypeError(
            f"Received an invalid value for argument `dataset`: expected a "
            f"string, got {dataset!r} of type {type(dataset).__name__}."
        )
    if dataset == "embedded" or dataset.startswith(TFDS_PREFIX):
        return
    try:
        corpus.text_files(dataset)
    except ValueError:
        raise ArgumentError(
            "dataset",
            f"{dataset!r} is not an existing file, directory or glob pattern "
            "(or 'embedded', or tfds:NAME)",
        ) from None


# Shares of the splits when a local dataset is split by position.
POSITION_SHARES = {"train": (0.0, 0.9), "validation": (0.9, 0.95), "test": (0.95, 1.0)}


def _local_paths(dataset):
    paths = corpus.text_files(dataset)
    root = dataset if os.path.isdir(dataset) else os.path.dirname(paths[0])
    return paths, root


def splits_by_position(dataset):
    """Whether a local dataset is split by position: when its files are too
    few for the hash split to give every split at least one file (one text
    file, for example)."""
    if dataset == "embedded" or dataset.startswith(TFDS_PREFIX):
        return False
    paths, root = _local_paths(dataset)
    return any(not corpus.split_files(paths, root, split) for split in corpus.SPLITS)


def split_description(dataset):
    """How a dataset is split, in words (the command prints it)."""
    if dataset.startswith(TFDS_PREFIX):
        return "the dataset's own splits"
    if dataset == "embedded":
        return ("files assigned to splits by a hash of their paths: 90% train, 5% validation, "
                "5% test")
    paths, _ = _local_paths(dataset)
    if splits_by_position(dataset):
        return (f"{len(paths)} file(s), too few to split by file: their concatenated text split "
                "by position, the first 90% for training, the next 5% for validation, the last "
                "5% for test (each cut at a line end)")
    return (f"{len(paths)} files assigned to splits by a hash of their paths: 90% train, "
            "5% validation, 5% test")


def _position_slice(dataset, split):
    """The bytes of `split` when the dataset is split by position."""
    paths, _ = _local_paths(dataset)
    text = b"".join(open(path, "rb").read() for path in paths)

    def cut(share):
        position = int(len(text) * share)
        if 0 < position < len(text):
            newline = text.find(b"\n", position)
            position = len(text) if newline < 0 else newline + 1
        return position

    start, end = POSITION_SHARES[split]
    return text[cut(start) if start else 0 : cut(end) if end < 1 else len(text)]


def dataset_files(dataset, split):
    """The files of one split of a local dataset (`"embedded"` or a path)."""
    if dataset == "embedded":
        return corpus.embedded_corpus_files(split)
    paths = corpus.text_files(dataset)
    root = dataset if os.path.isdir(dataset) else os.path.dirname(paths[0])
    files = corpus.split_files(paths, root, split)
    if not files:
        raise ArgumentError(
            "dataset",
            f"{dataset!r} has no files in its {split} split "
            f"({len(paths)} files in all, assigned to splits by a hash of "
            "their paths: 90% train, 5% validation, 5% test); with so few files "
            "dataset_documents splits their text by position instead.",
        )
    return files


def dataset_documents(dataset, split, data_dir=None, text_feature=None):
    """The documents (a `tf.data.Dataset` of `tf.string`) of one split."""
    from keras_mi.data import pipeline, tfds_source

    check_dataset(dataset)
    if dataset.startswith(TFDS_PREFIX):
        return tfds_source.tfds_documents(
            dataset[len(TFDS_PREFIX) :], split, data_dir=data_dir, text_feature=text_feature
        )
    if splits_by_position(dataset):
        import tensorflow as tf

        if split not in corpus.SPLITS:
            corpus.split_files([], "", split)  # its error names the accepted splits
        return tf.data.Dataset.from_tensors(tf.constant(_position_slice(dataset, split)))
    return pipeline.file_documents(dataset_files(dataset, split))
