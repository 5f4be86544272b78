"""Windows of a character corpus as NumPy arrays, for `model.fit(x, y)`
without a `tf.data` pipeline: one split's bytes at once, then windows at
random offsets (one generator, one order: models compared on the same
seed see the same batches) or spread evenly over a held-out split.

    symbols = split_symbols("embedded", "train")
    x, y = random_windows(symbols, 640, 50, np.random.default_rng(0))
    model.fit(x, y, batch_size=32, shuffle=False)
"""

import numbers

import numpy as np

from keras_mi.validation import ArgumentError, check_positive_int


def split_symbols(dataset, split, data_dir=None, text_feature=None):
    """Every byte of one split of `dataset` (any `keras-mi --dataset`
    value), its documents concatenated in order, as a uint8 array."""
    from keras_mi.data.sources import dataset_documents

    documents = dataset_documents(dataset, split, data_dir=data_dir, text_feature=text_feature)
    chunks = [np.frombuffer(d, dtype=np.uint8) for d in documents.as_numpy_iterator()]
    return np.concatenate(chunks) if chunks else np.zeros((0,), np.uint8)


def _checked(symbols, sequence_length):
    check_positive_int("sequence_length", sequence_length)
    symbols = np.asarray(symbols)
    if symbols.ndim != 1 or len(symbols) < sequence_length + 1:
        raise ArgumentError(
            "symbols", f"expected a 1D array of at least sequence_length + 1 = "
            f"{sequence_length + 1} symbols (one window and its next symbol), got shape "
            f"{symbols.shape}")
    return symbols


def _check_count(count):
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ArgumentError("count", f"expected an integer of 0 or more, got {count!r}")
    return int(count)


def window_arrays(symbols, offsets, sequence_length):
    """`(inputs, targets)`, int32 of shape `(len(offsets), sequence_length)`:
    the symbols from each offset, and the same shifted by one."""
    symbols = _checked(symbols, sequence_length)
    offsets = np.asarray(offsets, dtype=np.int64)
    last = len(symbols) - sequence_length - 1
    if offsets.ndim != 1 or (offsets.size and (offsets.min() < 0 or offsets.max() > last)):
        raise ArgumentError("offsets", f"expected a 1D array of offsets in [0, {last}]")
    index = offsets[:, None] + np.arange(sequence_length + 1)[None, :]
    window = symbols[index].astype("int32")
    return window[:, :-1], window[:, 1:]


def random_windows(symbols, count, sequence_length, rng):
    """`count` windows at offsets drawn uniformly by `rng` (a
    `np.random.Generator`, or a seed for a new one): the same generator
    state gives the same windows in the same order."""
    symbols = _checked(symbols, sequence_length)
    count = _check_count(count)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    offsets = rng.integers(0, len(symbols) - sequence_length, size=count)
    return window_arrays(symbols, offsets, sequence_length)


def spread_windows(symbols, count, sequence_length):
    """`count` windows spread evenly from the first symbol to the last (0,
    or more than fit side by side: every symbol, in consecutive windows)."""
    symbols = _checked(symbols, sequence_length)
    count = _check_count(count)
    last = len(symbols) - sequence_length - 1
    if count == 0 or count > last // sequence_length + 1:
        offsets = np.arange(0, last + 1, sequence_length)
    else:
        offsets = np.linspace(0, last, count).astype("int64")
    return window_arrays(symbols, offsets, sequence_length)
