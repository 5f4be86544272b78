"""keras_mi.data's NumPy windows: each window is a slice of the corpus and
its target the same slice one symbol on; random offsets follow the
generator; spread windows run from the first symbol to the last."""

import numpy as np
import pytest

from keras_mi import data
from keras_mi.data import embedded_corpus_files

# A corpus whose symbols are their own positions: a window's first input
# symbol is its offset.
N = 200
POSITIONS = np.arange(N)


def test_window_arrays_are_slices_and_targets_are_the_next_symbols():
    x, y = data.window_arrays(POSITIONS, [0, 3, N - 6], 5)
    assert x.dtype == y.dtype == np.int32
    np.testing.assert_array_equal(x, [[0, 1, 2, 3, 4], [3, 4, 5, 6, 7],
                                      [N - 6, N - 5, N - 4, N - 3, N - 2]])
    np.testing.assert_array_equal(y, x + 1)


def test_random_windows_follow_the_generator():
    x, y = data.random_windows(POSITIONS, 500, 7, np.random.default_rng(4))
    np.testing.assert_array_equal(y, x + 1)
    np.testing.assert_array_equal(x, x[:, :1] + np.arange(7))  # contiguous
    # Offsets are uniform over every window that has a next symbol.
    assert x[:, 0].min() == 0 and x[:, 0].max() == N - 8
    again, _ = data.random_windows(POSITIONS, 500, 7, 4)  # a seed: a new generator
    np.testing.assert_array_equal(again, x)
    rng = np.random.default_rng(4)
    first, _ = data.random_windows(POSITIONS, 3, 7, rng)
    second, _ = data.random_windows(POSITIONS, 3, 7, rng)
    np.testing.assert_array_equal(first, x[:3])
    assert not np.array_equal(first, second)  # the generator moved on


def test_spread_windows_cover_the_split():
    x, y = data.spread_windows(POSITIONS, 4, 10)
    np.testing.assert_array_equal(x[:, 0], np.linspace(0, N - 11, 4).astype(int))
    assert y[-1, -1] == N - 1  # the last window ends on the last symbol
    whole, _ = data.spread_windows(POSITIONS, 0, 10)  # 0: consecutive windows
    np.testing.assert_array_equal(whole.ravel(), POSITIONS[:len(whole) * 10])
    assert len(whole) == (N - 1) // 10
    too_many, _ = data.spread_windows(POSITIONS, 10_000, 10)
    np.testing.assert_array_equal(too_many, whole)


def test_split_symbols_are_the_splits_bytes_in_order():
    expected = b"".join(open(path, "rb").read() for path in embedded_corpus_files("test"))
    symbols = data.split_symbols("embedded", "test")
    assert symbols.dtype == np.uint8
    assert symbols.tobytes() == expected


@pytest.mark.parametrize("call, argument, value", [
    (lambda: data.random_windows(POSITIONS, 2, 0, 0), "sequence_length", "0"),
    (lambda: data.spread_windows(POSITIONS[:5], 2, 5), "symbols", "(5,)"),
    (lambda: data.spread_windows(POSITIONS.reshape(20, 10), 2, 5), "symbols", "(20, 10)"),
    (lambda: data.random_windows(POSITIONS, -1, 5, 0), "count", "-1"),
    (lambda: data.random_windows(POSITIONS, 2.5, 5, 0), "count", "2.5"),
    (lambda: data.window_arrays(POSITIONS, [0, N - 5], 5), "offsets", str(N - 6)),
])
def test_bad_arguments_are_named(call, argument, value):
    with pytest.raises(ValueError, match=f"argument `{argument}`") as error:
        call()
    assert value in str(error.value)
