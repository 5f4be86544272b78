"""Byte-level windows, the corpora and their errors."""

import numpy as np
import pytest

from keras_mi.data import (
    CharacterVocabulary,
    byte_windows,
    corpus,
    decode_bytes,
    embedded_corpus_files,
)


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


def _empty(root):
    return _written(root, "empty.txt", "")


def _written(root, name, text):
    (root / name).write_text(text)
    return root / name


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda root: corpus.text_files(str(root / "missing")), "not an existing file"),
        (lambda root: corpus.text_files(str(root / "*.nothing")), "no files match"),
        (lambda root: byte_windows([], 5, 2), "corpus is empty"),
        (lambda root: byte_windows([str(root / "a.txt")], 0, 2), "`sequence_length`"),
        (lambda root: byte_windows([str(root / "a.txt")], 5, -1), "`batch_size`"),
        (lambda root: embedded_corpus_files("dev"), "`split`.*'dev'"),
        # Before: an empty file gave 0 batches (and an endless repeat); a
        # missing file or a folder failed inside tf.data.
        (lambda root: byte_windows([str(_empty(root))], 5, 2), "0 bytes.*needs.*11"),
        (lambda root: byte_windows([str(root / "missing.txt")], 5, 2), "does not exist"),
        (lambda root: byte_windows([str(root)], 5, 2), "is a directory"),
        (lambda root: byte_windows([str(root / "a.txt")], 5, 2, shuffle_buffer=-5),
         "`shuffle_buffer`: -5"),
        (lambda root: CharacterVocabulary.build(["abc"], max_size=0), "`max_size`: 0"),
        (lambda root: CharacterVocabulary.build(["abc"], max_size=-1), "`max_size`: -1"),
        (lambda root: CharacterVocabulary.load(str(_written(root, "v.json", "{"))), "damaged"),
        (lambda root: CharacterVocabulary.load(str(_written(root, "w.json", '{"chars": "ab"}'))),
         "not a CharacterVocabulary's.*characters"),
    ],
)
def test_errors(text_dir, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(text_dir[0])


def test_contiguous_batches_continue_each_row(text_dir):
    root, stream = text_dir
    files = corpus.text_files(str(root))
    T, B = 4, 3
    batches = list(byte_windows(files, T, B, contiguous=True).as_numpy_iterator())
    symbols = np.frombuffer(stream, dtype=np.uint8)
    per_lane = ((len(symbols) - 1) // T) // B
    assert len(batches) == per_lane
    for j, (x, y) in enumerate(batches):
        for lane in range(B):
            start = (lane * per_lane + j) * T
            np.testing.assert_array_equal(x[lane], symbols[start : start + T])
            np.testing.assert_array_equal(y[lane], symbols[start + 1 : start + T + 1])
    with pytest.raises(ValueError, match="cannot be shuffled"):
        byte_windows(files, T, B, contiguous=True, shuffle_buffer=10)


def test_character_vocabulary_round_trip_unknowns_and_saving(tmp_path):
    from keras_mi.data import CharacterVocabulary, symbol_stream, file_documents

    vocabulary = CharacterVocabulary.build(["aab", "bbc é"])
    # most frequent first: b (3), a (2), then ' ', c, é by code point
    assert vocabulary.characters == ["b", "a", " ", "c", "é"]
    assert vocabulary.size == 6
    assert vocabulary.decode(vocabulary.encode("cab é")) == "cab é"
    assert vocabulary.encode("xa").tolist() == [0, 2]
    assert vocabulary.decode([0]) == "\ufffd"
    path = str(tmp_path / "vocabulary.json")
    vocabulary.save(path)
    assert CharacterVocabulary.load(path).characters == vocabulary.characters
    # The tf.data encoder gives the same ids as the Python one.
    text_file = tmp_path / "t.txt"
    text_file.write_text("béxa", encoding="utf-8")
    ids = list(symbol_stream(file_documents([str(text_file)]), vocabulary).as_numpy_iterator())
    assert ids == vocabulary.encode("béxa").tolist()
    with pytest.raises(ValueError, match="empty"):
        CharacterVocabulary.build([""])


def test_tfds_documents_with_mock_data():
    import tensorflow_datasets as tfds

    from keras_mi.data import tfds_documents, symbol_stream, windows

    with tfds.testing.mock_data(num_examples=4):
        documents = tfds_documents("tiny_shakespeare", "train")
        texts = list(documents.as_numpy_iterator())
        assert len(texts) == 4 and all(isinstance(t, bytes) for t in texts)
        stream = b"".join(texts)
        x, y = _collect(windows(symbol_stream(tfds_documents("tiny_shakespeare", "train")), 5, 1))
        symbols = np.frombuffer(stream, dtype=np.uint8)
        assert len(x) == (len(symbols) - 1) // 5
        np.testing.assert_array_equal(x.ravel(), symbols[: x.size])
        np.testing.assert_array_equal(y.ravel(), symbols[1 : x.size + 1])



def test_tfds_dataset_prepared_locally_splits_and_features(tmp_path):
    """A dataset built offline with store_as_tfds_dataset, read by name."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_mi.data import tfds_documents

    features = tfds.features.FeaturesDict(
        {"label": tfds.features.ClassLabel(num_classes=2), "body": tfds.features.Text()}
    )
    splits = {
        "train": tf.data.Dataset.from_tensor_slices(
            {"label": [0, 1], "body": ["first text", "second"]}
        ),
        "test": tf.data.Dataset.from_tensor_slices({"label": [1], "body": ["third"]}),
    }
    tfds.dataset_builders.store_as_tfds_dataset(
        name="keras_mi_local_texts",
        version="1.0.0",
        features=features,
        split_datasets=splits,
        config=None,
        data_dir=str(tmp_path),
        description="texts for a test",
    )
    documents = tfds_documents("keras_mi_local_texts", "train", data_dir=str(tmp_path))
    assert list(documents.as_numpy_iterator()) == [b"first text", b"second"]
    named = tfds_documents(
        "keras_mi_local_texts", "test", data_dir=str(tmp_path), text_feature="body"
    )
    assert list(named.as_numpy_iterator()) == [b"third"]
    with pytest.raises(ValueError, match="no split 'validation'"):
        tfds_documents("keras_mi_local_texts", "validation", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match="features"):
        tfds_documents(
            "keras_mi_local_texts", "train", data_dir=str(tmp_path), text_feature="text"
        )
    with pytest.raises(ValueError, match="no text feature"):
        from keras_mi.data import tfds_source

        tfds_source._text_feature(_InfoWithoutText(), "x", None)


class _InfoWithoutText:
    def __init__(self):
        import tensorflow_datasets as tfds

        self.features = tfds.features.FeaturesDict(
            {"label": tfds.features.ClassLabel(num_classes=2)}
        )


def test_tfds_errors_unknown_name_and_not_prepared(tmp_path):
    from keras_mi.data import tfds_documents

    with pytest.raises(ValueError, match="not a TensorFlow Datasets name"):
        tfds_documents("no_such_dataset_here", "train")
    with pytest.raises(ValueError, match="tfds build tiny_shakespeare"):
        tfds_documents("tiny_shakespeare", "train", data_dir=str(tmp_path))
