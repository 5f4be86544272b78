"""The keras-mi command on a tiny corpus: train, evaluate, sample."""

import os

import pytest

from keras_mi import cli


@pytest.fixture
def tiny_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    for k in range(60):  # enough files for every hash split to get some
        (corpus / f"f{k:02d}.txt").parent.mkdir(exist_ok=True)
        (corpus / f"f{k:02d}.txt").write_text(f"file {k}: the quick brown fox. " * 4)
    return str(corpus)


def test_train_evaluate_sample(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    common = ["--dataset", tiny_corpus, "--sequence-length", "8", "--batch-size", "2"]
    code = cli.main(
        ["train", "--cell", "milstm", "--units", "8", "--embedding-dim", "4",
         "--epochs", "2", "--steps-per-epoch", "3", "--validation-steps", "1",
         "--test-steps", "1", "--run-dir", run_dir, "--verbose", "0", *common]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "test BPC:" in out and "tensorboard --logdir" in out
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == [
        "epoch_001.keras",
        "epoch_002.keras",
    ]
    assert os.listdir(os.path.join(run_dir, "logs", "train"))
    model = os.path.join(run_dir, "model.keras")
    assert cli.main(["evaluate", model, "--steps", "1", *common]) == 0
    assert "test BPC:" in capsys.readouterr().out
    assert cli.main(["sample", model, "--length", "12", "--prime", "fox"]) == 0
    assert capsys.readouterr().out.startswith("fox")


def test_bad_dataset_is_a_clear_error(tmp_path, capsys):
    code = cli.main(["train", "--dataset", str(tmp_path / "nowhere")])
    assert code == 2
    assert "not an existing file" in capsys.readouterr().err
