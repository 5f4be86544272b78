"""The files of a training run survive a kill at any moment: each is
written whole or not at all, and `--resume` continues the run to the
weights of the same run uninterrupted."""

import json
import os
import subprocess
import sys
import zipfile

import keras
import numpy as np
import pytest

from keras_mi import cli, run_files
from tests.tiny_corpus import write_tiny_corpus

KILLER = os.path.join(os.path.dirname(__file__), "kill_at_write.py")
EPOCHS = 2
# The files a 2-epoch run with a character vocabulary writes, in order:
# run.json, vocabulary.json, then per epoch the history, the checkpoint,
# the backup's weights and its metadata, and last model.keras.
WRITES = ["options", "vocabulary"] + [
    f"{what} {epoch}" for epoch in range(1, EPOCHS + 1)
    for what in ("history", "checkpoint", "backup weights", "backup metadata")] + ["model"]


def _train_arguments(corpus, run_dir):
    return ["train", "--cell", "mirnn", "--units", "8", "--embedding-dim", "4",
            "--epochs", str(EPOCHS), "--steps-per-epoch", "6", "--validation-steps", "1",
            "--test-steps", "1", "--no-monitors", "--verbose", "0",
            "--vocabulary", "characters", "--dataset", corpus,
            "--sequence-length", "8", "--batch-size", "2", "--run-dir", run_dir]


def _weights(run_dir):
    return keras.saving.load_model(os.path.join(run_dir, "model.keras")).get_weights()


def _leftovers(run_dir):
    return [os.path.join(folder, name) for folder, _, names in os.walk(run_dir)
            for name in names if name.startswith(run_files.PARTIAL_PREFIX)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("straight")
    corpus = write_tiny_corpus(folder)
    run_dir = str(folder / "run")
    assert cli.main(_train_arguments(corpus, run_dir)) == 0
    return corpus, _weights(run_dir)


def test_the_writes_are_counted_right(uninterrupted, tmp_path, monkeypatch):
    """The kill points below name the writes: the run makes exactly these,
    each one through the one commit."""
    corpus, _ = uninterrupted
    written = []
    commit = run_files._commit
    monkeypatch.setattr(run_files, "_commit",
                        lambda temporary, path: (written.append(path), commit(temporary, path)))
    run_dir = str(tmp_path / "run")
    assert cli.main(_train_arguments(corpus, run_dir)) == 0
    names = [os.path.basename(path) for path in written]
    assert len(names) == len(WRITES), names
    assert names[:2] == ["run.json", "vocabulary.json"] and names[-1] == "model.keras"
    assert names[2:6] == ["history.csv", "epoch_001.keras", "weights_a.weights.h5",
                          "training_metadata.json"]
    assert names[6:10] == ["history.csv", "epoch_002.keras", "weights_b.weights.h5",
                           "training_metadata.json"]
    assert not os.path.exists(os.path.join(run_dir, "backup"))  # removed once finished


# On TensorFlow, a kill at each point that leaves a different run: before
# any epoch (options; the vocabulary's write is the same case), in the
# first epoch's backup (no complete epoch yet), in an epoch's files before
# its backup (checkpoint; the history row is the same case, and its
# truncation has its own test below), in each write of the backup, and in
# the final model. The run files do not depend on the backend (Keras writes
# .keras and .weights.h5 the same on all), so JAX and PyTorch kill the
# writes a resume reads: the second epoch's backup.
KILLED = (["options", "backup metadata 1", "checkpoint 2", "backup weights 2",
           "backup metadata 2", "model"]
          if keras.backend.backend() == "tensorflow" else
          ["backup weights 2", "backup metadata 2"])


@pytest.mark.parametrize("write", KILLED)
def test_a_run_killed_at_any_write_resumes_to_the_same_weights(uninterrupted, tmp_path, write):
    position = WRITES.index(write) + 1
    corpus, straight = uninterrupted
    run_dir = str(tmp_path / "run")
    arguments = _train_arguments(corpus, run_dir)
    killed = subprocess.run([sys.executable, KILLER, str(position), *arguments],
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert "killed while writing" in killed.stdout
    # What the kill left: no final file is cut short.
    for name in ("vocabulary.json", "run.json", "backup/training_metadata.json"):
        path = os.path.join(run_dir, name)
        if os.path.exists(path):
            json.loads(open(path).read())
    assert not run_files.damaged_checkpoints(os.path.join(run_dir, "checkpoints"))

    assert cli.main(arguments + ["--resume"]) == 0
    assert not _leftovers(run_dir)
    resumed = _weights(run_dir)
    # Same backend, seed and batches: equal up to the rounding of reductions
    # whose order may vary between processes (1e-6 relative).
    for a, b in zip(resumed, straight):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    with open(os.path.join(run_dir, "history.csv")) as handle:
        epochs = [line.split(",")[0] for line in handle.read().splitlines()[1:]]
    assert epochs == [str(e) for e in range(EPOCHS)]
    checkpoints = os.path.join(run_dir, "checkpoints")
    assert sorted(os.listdir(checkpoints)) == [f"epoch_{k:03d}.keras"
                                               for k in range(1, EPOCHS + 1)]
    assert all(zipfile.is_zipfile(os.path.join(checkpoints, n)) for n in os.listdir(checkpoints))


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "a.json"
    run_files.write_json(str(path), {"old": 1})
    with pytest.raises(RuntimeError):
        with run_files.atomic_path(str(path)) as temporary:
            with open(temporary, "w") as handle:
                handle.write('{"new": ')
            raise RuntimeError("the writer failed half-way")
    assert json.loads(path.read_text()) == {"old": 1}
    assert os.listdir(tmp_path) == ["a.json"]  # the temporary file is gone


@pytest.mark.parametrize("content, message", [
    ("", "Expecting value"),
    ('{"epoch": -1, "weights": "weights_a.weights.h5"}', "'epoch' is -1"),
    ('{"epoch": 1, "weights": "../model.keras"}', "'weights' is '../model.keras'"),
    ('{"epoch": 1, "weights": "weights_a.weights.h5"}', "weights_a.weights.h5 is damaged or missing"),
])
def test_a_damaged_backup_is_named_on_resume(tiny_corpus, tmp_path, capsys, content, message):
    run_dir = tmp_path / "run"
    (run_dir / "backup").mkdir(parents=True)
    (run_dir / "backup" / "training_metadata.json").write_text(content)
    code = cli.main(_train_arguments(tiny_corpus, str(run_dir)) + ["--resume"])
    assert code == 2
    error = capsys.readouterr().err
    assert "argument --resume" in error and message in error, error
    assert "backup" in error


def test_resume_with_other_options_is_refused(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    arguments = _train_arguments(tiny_corpus, run_dir)
    os.makedirs(os.path.join(run_dir, "backup"))
    run_files.write_json(os.path.join(run_dir, "run.json"),
                         dict(cli.train_config(cli.build_parser()[0].parse_args(arguments)).recorded(),
                              units=16))
    assert cli.main(arguments + ["--resume"]) == 2
    error = capsys.readouterr().err
    assert "was started with --units 16, not --units 8" in error, error


def test_history_keeps_only_the_completed_epochs(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.")  # epoch 2 cut short
    log = run_files.HistoryLog(str(path), completed_epochs=2)
    log.on_epoch_end(2, {"loss": np.float32(1.5)})
    assert path.read_text().splitlines() == ["epoch,loss", "0,3.0", "1,2.0", "2,1.5"]
