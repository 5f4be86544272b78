"""Dataset specifications: the one place that turns a `--dataset` value
(`"embedded"`, a text file, directory or glob, or `tfds:NAME`) into the
documents of a split. The `keras-mi` command and the paper experiments both
read data through it."""

import os

from keras_mi.data import corpus

TFDS_PREFIX = "tfds:"
# How errors about the specification begin (Keras' wording).
ARGUMENT = "Received an invalid value for argument `dataset`"


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
        raise ValueError(
            f"{ARGUMENT}: {dataset!r} is not an existing file, directory or glob pattern "
            "(or 'embedded', or tfds:NAME)"
        ) from None


def dataset_files(dataset, split):
    """The files of one split of a local dataset (`"embedded"` or a path)."""
    if dataset == "embedded":
        return corpus.embedded_corpus_files(split)
    paths = corpus.text_files(dataset)
    root = dataset if os.path.isdir(dataset) else os.path.dirname(paths[0])
    files = corpus.split_files(paths, root, split)
    if not files:
        raise ValueError(
            f"{ARGUMENT}: {dataset!r} has no files in its {split} split "
            f"({len(paths)} files in all, assigned to splits by a hash of "
            "their paths: 90% train, 5% validation, 5% test); give a "
            "directory with more files."
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
    return pipeline.file_documents(dataset_files(dataset, split))
