"""The batches a run reads, from a `DataConfig`: windows of each split, the
vocabulary, and the checks that each split can fill a batch."""

import logging

import numpy as np

from keras_mi.validation import ArgumentError

SPLITS = ("validation", "test")  # the held-out splits a run is measured on
# A held-out split of fewer characters than this gets a warning: its BPC
# is measured on too little text to compare runs (one batch of 3,200
# characters once read 1.32 against a training BPC of 2.46).
MEASURABLE_CHARACTERS = 20_000

log = logging.getLogger("keras_mi.runs")


def documents(data, split):
    """The documents (tf.string) of one split of `data.dataset`."""
    from keras_mi.data import sources

    return sources.dataset_documents(
        data.dataset, split, data_dir=data.data_dir, text_feature=data.text_feature)


def windows(data, split, repeat, vocabulary=None):
    """Batches of (inputs, next symbols) windows of one split."""
    from keras_mi import data as pipelines

    shuffle = split == "train" and not data.contiguous
    return pipelines.windows(
        pipelines.symbol_stream(documents(data, split), vocabulary),
        data.sequence_length,
        data.batch_size,
        shuffle_buffer=1000 if shuffle else 0,
        seed=data.seed,
        repeat=repeat,
        contiguous=data.contiguous,
    )


def count(dataset):
    """The elements of a finite tf.data dataset, counted."""
    return int(dataset.reduce(np.int64(0), lambda n, _: n + 1))


def check_splits(data, vocabulary):
    """Fails before training where a split cannot fill one batch, saying
    which split is short and by how much; warns of a held-out split too
    small to measure on."""
    from keras_mi import data as pipelines

    needed = data.batch_size * data.sequence_length + 1
    for split in ("train", *SPLITS):
        if any(True for _ in windows(data, split, False, vocabulary).take(1)):
            if split in SPLITS:
                stream = pipelines.symbol_stream(documents(data, split), vocabulary)
                held = count(stream.take(MEASURABLE_CHARACTERS))
                if held < MEASURABLE_CHARACTERS:
                    log.warning(
                        f"the {split} split of {data.dataset!r} holds only {held:,} characters "
                        f"(under {MEASURABLE_CHARACTERS:,}): its BPC is measured on too little "
                        "text to compare runs; give more data")
            continue
        held = count(pipelines.symbol_stream(documents(data, split), vocabulary))
        raise ArgumentError(
            "dataset",
            f"the {split} split of {data.dataset!r} holds "
            f"{held} characters, {needed - held} fewer than one batch needs "
            f"({needed}: `batch_size` {data.batch_size} windows of "
            f"`sequence_length` {data.sequence_length}, plus one); give more "
            "data or smaller sizes.")


def build_vocabulary(data):
    """`None` for bytes, else the character vocabulary of the train split."""
    from keras_mi.data import CharacterVocabulary

    if data.vocabulary == "bytes":
        return None
    return CharacterVocabulary.build(documents(data, "train").as_numpy_iterator(),
                                     max_size=data.max_vocabulary)


def evaluate_splits(model, data, vocabulary, steps, splits=SPLITS):
    """BPC and the characters covered, on each of `splits` (all of each, or
    `steps` batches)."""
    results = {}
    for split in splits:
        dataset = windows(data, split, repeat=steps is not None, vocabulary=vocabulary)
        # Counted first, so that evaluate is given the exact number of
        # batches: without it, Keras warns that a finite input "ran out of
        # data", and on TensorFlow averages other batches than all of the
        # split's (7.87 against 7.99 BPC measured by hand on one model).
        batches = count(dataset) if steps is None else steps
        log.info(f"evaluating the {split} split ({batches:,} batches)...")
        logs = model.evaluate(dataset, steps=batches, return_dict=True, verbose=0)
        results[split] = {
            "bpc": float(logs["bpc"]),
            "batches": batches,
            "characters": batches * data.batch_size * data.sequence_length,
            "whole_split": steps is None,
        }
    return results
