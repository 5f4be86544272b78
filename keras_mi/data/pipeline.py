"""Windows of (inputs, targets) for next-character prediction.

A corpus is a stream of *documents* (file contents, or the texts of a tfds
dataset). Each document becomes symbol ids, either its bytes (a fixed
vocabulary of 256 symbols, so nothing is ever unknown) or its characters
through a `CharacterVocabulary`; documents are streamed one after the other,
so a corpus larger than memory is never loaded whole, and cut into
consecutive windows: window k holds symbols [k*T, (k+1)*T) as inputs and
[k*T + 1, (k+1)*T + 1) as targets. Every transition of the stream is
predicted exactly once.
"""

import os

import numpy as np
import tensorflow as tf

from keras_mi.validation import check_positive_int, check_seed



def file_documents(files):
    """A dataset of the contents (tf.string) of `files`, in order."""
    files = [os.fspath(path) if isinstance(path, os.PathLike) else path for path in files]
    if not files:
        raise ValueError(
            "Received an empty list for argument `files`: the corpus is empty."
        )
    for path in files:
        if not isinstance(path, (str, bytes)):
            raise TypeError(f"Received an invalid value in argument `files`: {path!r} of type "
                            f"{type(path).__name__}; expected paths (str or os.PathLike).")
        if not tf.io.gfile.exists(path):
            raise ValueError(f"Received an invalid value in argument `files`: {path!r} does "
                             "not exist.")
        if tf.io.gfile.isdir(path):
            raise ValueError(f"Received an invalid value in argument `files`: {path!r} is a "
                             "directory; give the files in it (for example with glob).")
    return tf.data.Dataset.from_tensor_slices(files).map(tf.io.read_file)


def symbol_stream(documents, vocabulary=None):
    """The concatenated symbol ids (int32) of a dataset of documents.

    `vocabulary=None` reads bytes; a `CharacterVocabulary` maps characters
    (unknown ones to its unknown id).
    """
    if vocabulary is None:

        def encode(text):
            return tf.cast(tf.io.decode_raw(text, tf.uint8), tf.int32)

    else:
        encode = vocabulary.tf_encoder()
    return documents.map(encode, num_parallel_calls=tf.data.AUTOTUNE).unbatch()


def windows(
    stream,
    sequence_length,
    batch_size,
    shuffle_buffer=0,
    seed=None,
    repeat=False,
    contiguous=False,
):
    """A `tf.data.Dataset` of `(inputs, targets)` batches from a symbol stream.

    Args:
        stream: a dataset of int32 scalars (see `symbol_stream`).
        sequence_length: positive int, timesteps per window.
        batch_size: positive int, windows per batch.
        shuffle_buffer: windows held for shuffling (0: corpus order).
        seed: shuffling seed; the same seed gives the same batches.
        repeat: repeat the data forever (for `steps_per_epoch`).
        contiguous: stateful-friendly batching: the stream is cut into
            `batch_size` equal lanes and row i of batch j+1 continues row i
            of batch j. Costs one streaming pass to count the windows.
            Cannot be combined with shuffling.

    Returns:
        A dataset of `(inputs, targets)`, each of shape
        `(batch_size, sequence_length)`, dtype int32.
    """
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("batch_size", batch_size)
    if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, (int, np.integer)) \
            or shuffle_buffer < 0:
        raise ValueError(f"Received an invalid value for argument `shuffle_buffer`: "
                         f"{shuffle_buffer!r}. Expected a non-negative integer (0: no "
                         "shuffling).")
    check_seed("seed", seed, limit=2**63)  # tf.data's seeds are int64
    if contiguous and shuffle_buffer:
        raise ValueError(
            "Received contiguous=True and shuffle_buffer="
            f"{shuffle_buffer}: contiguous batches keep the corpus order, "
            "so they cannot be shuffled; pass shuffle_buffer=0."
        )
    inputs = stream.batch(sequence_length, drop_remainder=True)
    targets = stream.skip(1).batch(sequence_length, drop_remainder=True)
    pairs = tf.data.Dataset.zip((inputs, targets))
    if contiguous:
        count = int(pairs.reduce(np.int64(0), lambda n, _: n + 1))
        per_lane = count // batch_size
        if per_lane == 0:
            raise ValueError(
                f"The corpus holds {count} windows of {sequence_length} "
                f"symbols, fewer than batch_size={batch_size}."
            )
        lanes = tuple(
            pairs.skip(lane * per_lane).take(per_lane) for lane in range(batch_size)
        )
        batches = tf.data.Dataset.zip(lanes).map(
            lambda *rows: (
                tf.stack([r[0] for r in rows]),
                tf.stack([r[1] for r in rows]),
            )
        )
        return (batches.repeat() if repeat else batches).prefetch(tf.data.AUTOTUNE)
    if repeat:
        pairs = pairs.repeat()
    if shuffle_buffer:
        pairs = pairs.shuffle(shuffle_buffer, seed=seed)
    return pairs.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _some_paths(files, shown=3):
    """The first `shown` of `files`, for an error message."""
    names = ", ".join(repr(os.fspath(f)) for f in files[:shown])
    return names + (f" and {len(files) - shown} more" if len(files) > shown else "")


def byte_windows(
    files,
    sequence_length,
    batch_size,
    shuffle_buffer=0,
    seed=None,
    repeat=False,
    contiguous=False,
):
    """`windows` over the bytes of `files` (read in order, concatenated).
    Files that together hold less than one batch are refused."""
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("batch_size", batch_size)
    files = list(files)
    documents = file_documents(files)  # checks the paths
    total = sum(tf.io.gfile.stat(os.fspath(path)).length for path in files)
    needed = batch_size * sequence_length + 1
    if total < needed:
        raise ValueError(
            f"Received files holding {total} bytes in all ({len(files)} files: "
            f"{_some_paths(files)}), fewer than one batch needs: "
            f"batch_size * sequence_length + 1 = {needed}.")
    return windows(
        symbol_stream(documents),
        sequence_length,
        batch_size,
        shuffle_buffer=shuffle_buffer,
        seed=seed,
        repeat=repeat,
        contiguous=contiguous,
    )


def decode_bytes(ids):
    """Byte ids back to text (invalid UTF-8 sequences are replaced)."""
    return bytes(np.asarray(ids, dtype=np.uint8).tolist()).decode(
        "utf-8", errors="replace"
    )
