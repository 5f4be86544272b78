"""Byte-level windows, the corpora and their errors."""

import numpy as np
import pytest

from keras_mi.data import byte_windows, corpus, decode_bytes, embedded_corpus_files


@pytest.fixture
def text_dir(tmp_path):
    texts = {"a.txt": "hello world, " * 7, "sub/b.txt": "MI-LSTM é 0123456789\n" * 5}
    for name, text in texts.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    stream = b"".join(texts[name].encode("utf-8") for name in sorted(texts))
    return tmp_path, stream


def _collect(dataset):
    batches = [(np.asarray(x), np.asarray(y)) for x, y in dataset.as_numpy_iterator()]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_windows_cover_stream_without_overlap_and_targets_are_shifted(text_dir):
    root, stream = text_dir
    files = corpus.text_files(str(root))
    x, y = _collect(byte_windows(files, sequence_length=9, batch_size=1))
    expected = np.frombuffer(stream, dtype=np.uint8)
    count = (len(expected) - 1) // 9
    assert x.shape == (count, 9) and x.dtype == np.int32
    np.testing.assert_array_equal(x.reshape(-1), expected[: count * 9])
    np.testing.assert_array_equal(y.reshape(-1), expected[1 : count * 9 + 1])


def test_same_seed_same_batches_and_other_seed_differs(text_dir):
    files = corpus.text_files(str(text_dir[0]))
    runs = [
        _collect(byte_windows(files, 5, 2, shuffle_buffer=50, seed=seed))[0]
        for seed in (1, 1, 2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_byte_vocabulary_round_trip():
    text = "Ünïcode ✓ and ascii"
    ids = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    assert decode_bytes(ids) == text


def test_embedded_corpus_is_split_deterministically_and_disjointly():
    splits = {s: embedded_corpus_files(s) for s in corpus.SPLITS}
    assert all(splits.values())
    assert not set(splits["train"]) & set(splits["test"])
    assert not set(splits["validation"]) & set(splits["test"])
    assert len(splits["train"]) > 5 * len(splits["test"])
    assert splits["test"] == embedded_corpus_files("test")
    assert all(p.endswith(".py") for p in splits["test"])


def test_glob_and_single_file(text_dir):
    root, _ = text_dir
    assert [p.endswith("a.txt") for p in corpus.text_files(str(root / "*.txt"))] == [True]
    assert corpus.text_files(str(root / "a.txt")) == [str(root / "a.txt")]


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda root: corpus.text_files(str(root / "missing")), "not an existing file"),
        (lambda root: corpus.text_files(str(root / "*.nothing")), "no files match"),
        (lambda root: byte_windows([], 5, 2), "corpus is empty"),
        (lambda root: byte_windows([str(root / "a.txt")], 0, 2), "`sequence_length`"),
        (lambda root: byte_windows([str(root / "a.txt")], 5, -1), "`batch_size`"),
        (lambda root: embedded_corpus_files("dev"), "`split`.*'dev'"),
    ],
)
def test_errors(text_dir, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(text_dir[0])
