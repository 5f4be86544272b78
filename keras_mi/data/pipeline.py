"""Byte-level windows of (inputs, targets) for next-character prediction.

Text is read as bytes (a fixed vocabulary of 256 symbols, so any file can be
read and nothing is ever unknown), streamed file by file so that a corpus
larger than memory is never loaded whole, and cut into consecutive windows:
window k holds bytes [k*T, (k+1)*T) as inputs and bytes [k*T + 1, (k+1)*T + 1)
as targets. Every transition of the stream is predicted exactly once.
"""

import numpy as np
import tensorflow as tf

from keras_mi.layers.validation import check_positive_int

VOCABULARY_SIZE = 256


def _byte_stream(files):
    files = tf.data.Dataset.from_tensor_slices(list(files))
    return files.map(
        lambda path: tf.io.decode_raw(tf.io.read_file(path), tf.uint8),
        num_parallel_calls=tf.data.AUTOTUNE,
    ).unbatch()


def byte_windows(files, sequence_length, batch_size, shuffle_buffer=0, seed=None, repeat=False):
    """A `tf.data.Dataset` of `(inputs, targets)` int32 batches.

    Args:
        files: list of file paths, read in order and concatenated.
        sequence_length: positive int, timesteps per window.
        batch_size: positive int, windows per batch.
        shuffle_buffer: windows held for shuffling (0: keep corpus order,
            which keeps consecutive batches contiguous for stateful models).
        seed: shuffling seed; the same seed gives the same batches.
        repeat: repeat the data forever (for `steps_per_epoch`).

    Returns:
        A dataset of `(inputs, targets)`, each of shape
        `(batch_size, sequence_length)`, dtype int32.
    """
    check_positive_int("sequence_length", sequence_length)
    check_positive_int("batch_size", batch_size)
    files = list(files)
    if not files:
        raise ValueError("Received an empty list for argument `files`: the corpus is empty.")
    stream = _byte_stream(files)
    inputs = stream.batch(sequence_length, drop_remainder=True)
    targets = stream.skip(1).batch(sequence_length, drop_remainder=True)
    windows = tf.data.Dataset.zip((inputs, targets)).map(
        lambda x, y: (tf.cast(x, tf.int32), tf.cast(y, tf.int32))
    )
    if repeat:
        windows = windows.repeat()
    if shuffle_buffer:
        windows = windows.shuffle(shuffle_buffer, seed=seed)
    return windows.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def decode_bytes(ids):
    """Byte ids back to text (invalid UTF-8 sequences are replaced)."""
    return bytes(np.asarray(ids, dtype=np.uint8).tolist()).decode("utf-8", errors="replace")
