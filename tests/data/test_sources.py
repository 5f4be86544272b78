"""Dataset specifications: files, splits, documents and their errors."""

import pytest

from keras_mi import cli
from keras_mi.data import check_dataset, corpus, dataset_documents, dataset_files


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "texts"
    root.mkdir()
    for k in range(80):  # enough for every split to get some (checked below)
        (root / f"t{k:02d}.txt").write_text(f"text number {k}\n")
    assert {corpus.split_of(f"t{k:02d}.txt") for k in range(80)} == set(corpus.SPLITS)
    return root


def test_every_file_lands_in_exactly_one_split(folder):
    splits = {s: dataset_files(str(folder), s) for s in ("train", "validation", "test")}
    every = sorted(p for files in splits.values() for p in files)
    assert every == corpus.text_files(str(folder))
    # The assignment is corpus.split_of on the path relative to the folder.
    for split, files in splits.items():
        assert all(corpus.split_of(f.rsplit("/", 1)[-1]) == split for f in files)


def test_documents_are_the_files_of_the_split(folder):
    files = dataset_files(str(folder), "train")
    documents = list(dataset_documents(str(folder), "train").as_numpy_iterator())
    assert documents == [open(f, "rb").read() for f in files]


def test_errors_name_the_argument_and_the_value(tmp_path):
    with pytest.raises(ValueError, match=r"argument `dataset`: '.*missing' is not an existing"):
        check_dataset(str(tmp_path / "missing"))
    with pytest.raises(TypeError, match=r"argument `dataset`: expected a string, got 3"):
        check_dataset(3)
    (tmp_path / "one.txt").write_text("x")
    split = next(s for s in corpus.SPLITS if corpus.split_of("one.txt") != s)
    with pytest.raises(ValueError, match=rf"has no files in its {split} split"):
        dataset_files(str(tmp_path / "one.txt"), split)


def test_the_command_reports_them_as_its_option(tmp_path, capsys):
    assert cli.main(["train", "--dataset", str(tmp_path / "missing")]) == 2
    error = capsys.readouterr().err
    assert "keras-mi train: error: argument --dataset: " in error
    assert "missing' is not an existing file" in error


def test_one_file_is_split_by_position_at_line_ends(tmp_path):
    """Too few files for the hash split: the text is split 90 / 5 / 5 by
    position, each cut at a line end, and every byte lands in one split."""
    from keras_mi.data import sources

    lines = [f"line {k:04d} of the only file\n" for k in range(400)]
    path = tmp_path / "one.txt"
    path.write_text("".join(lines))
    assert sources.splits_by_position(str(path))
    parts = {s: b"".join(dataset_documents(str(path), s).as_numpy_iterator())
             for s in corpus.SPLITS}
    assert parts["train"] + parts["validation"] + parts["test"] == path.read_bytes()
    for split, part in parts.items():
        assert part.endswith(b"\n") and part, split
    total = len(path.read_bytes())
    assert abs(len(parts["train"]) - 0.9 * total) <= len(lines[0])
    assert abs(len(parts["test"]) - 0.05 * total) <= len(lines[0])
    assert "by position" in sources.split_description(str(path))


def test_the_command_trains_on_one_file_and_warns_of_small_splits(tmp_path, capsys):
    path = tmp_path / "one.txt"
    path.write_text("".join(f"a line of text, number {k}\n" for k in range(300)))
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(["train", "--dataset", str(path), "--cell", "mirnn", "--units", "4",
                     "--embedding-dim", "4", "--epochs", "1", "--steps-per-epoch", "2",
                     "--validation-steps", "1", "--sequence-length", "8", "--batch-size", "2",
                     "--run-dir", str(tmp_path / "run"), "--verbose", "0",
                     "--no-monitors"])
    assert code == 0
    # The whole-split evaluation is told its number of batches: no "ran out
    # of data" warning from Keras.
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    captured = capsys.readouterr()
    assert "evaluating the test split" in captured.out
    assert "split by position" in captured.out
    assert "warning: the test split" in captured.err and "too little text" in captured.err
