"""The keras-mi command on a tiny corpus: train, evaluate, sample."""

import os
import warnings

import pytest

from keras_mi import cli, run_files, runs


def test_train_evaluate_sample(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    common = ["--dataset", tiny_corpus, "--sequence-length", "8", "--batch-size", "2"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = cli.main(
            ["train", "--cell", "milstm", "--units", "8", "--embedding-dim", "4",
             "--epochs", "2", "--steps-per-epoch", "3", "--validation-steps", "1",
             "--run-dir", run_dir, "--verbose", "0", *common]
        )
    assert code == 0
    # Keras' "shuffle=True was passed, but will be ignored" is not shown.
    assert not [w for w in caught if "shuffle" in str(w.message)]
    out = capsys.readouterr().out
    # Validation and test side by side, over all of each split, with the
    # characters each covers.
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line[:4] in ("vali", "test")}
    for split in ("validation", "test"):
        bpc, characters = float(rows[split][1]), int(rows[split][2].replace(",", ""))
        assert 0 < bpc < 9 and characters > 0 and "all of the split" in " ".join(rows[split])
    assert "tensorboard" in out and "--logdir" in out
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == [
        "epoch_001.keras",
        "epoch_002.keras",
    ]
    assert os.listdir(os.path.join(run_dir, "logs", "train"))
    assert os.listdir(os.path.join(run_dir, "logs", "monitors"))  # keras_mi monitors
    model = os.path.join(run_dir, "model.keras")
    # The whole test split by default, same figure as the training's report.
    assert cli.main(["evaluate", model, *common]) == 0
    evaluated = capsys.readouterr().out
    assert f"test BPC: {float(rows['test'][1]):.4f} (all of the split)" in evaluated
    # A run directory works in place of its model.keras.
    assert cli.main(["evaluate", run_dir, "--steps", "1", *common]) == 0
    assert "test BPC:" in capsys.readouterr().out
    assert cli.main(["sample", run_dir, "--length", "12", "--prime", "fox"]) == 0
    assert capsys.readouterr().out.startswith("fox")


def test_printed_tensorboard_command_runs_as_printed():
    """The command printed after training starts the environment's
    TensorBoard from the current directory (not a bare `tensorboard`)."""
    import shlex
    import subprocess

    command = shlex.split(runs.tensorboard_command("runs/x/logs"))
    assert command[-2:] == ["--logdir", "runs/x/logs"]
    result = subprocess.run(command[:-2] + ["--version_tb"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()[0].isdigit()


def test_sample_steps_the_state_and_equals_a_full_recompute(tmp_path):
    """Stateful sampling (one step per character) draws exactly what a
    reference that re-runs the model on the whole text so far draws."""
    import keras
    import numpy as np

    from keras_mi.models import char_language_model, draw, sample_symbols

    keras.utils.set_random_seed(3)
    model = char_language_model("milstm", units=16, embedding_dim=8, layers=2)
    length = 12  # the reference recomputes the whole text per symbol
    prime = list(b"def fox(")
    streamed = []
    got = sample_symbols(model, prime, length, temperature=0.9, seed=5, on_symbol=streamed.append)
    assert streamed == got and len(got) == length
    rng = np.random.default_rng(5)
    text = list(prime)
    for _ in range(length):
        logits = keras.ops.convert_to_numpy(model(np.asarray([text], "int32"), training=False))
        text.append(draw(logits[0, -1], 0.9, rng))
    assert got == text[len(prime):]


@pytest.mark.parametrize("cell", ["milstm", "lstm", "mlstm"])
def test_step_model_carries_the_states_of_a_saved_model(tmp_path, cell):
    """The step model (states in, states out) run one character at a time
    gives the whole-sequence logits of a model saved and loaded as
    `keras-mi sample` loads it, on every backend (on JAX a stateful copy fed
    one step per `predict_on_batch` call loses its state: 0.33 off)."""
    import keras
    import numpy as np

    from keras_mi.models import char_language_model, step_model

    keras.utils.set_random_seed(1)
    model = char_language_model(cell, units=16, embedding_dim=8, layers=2)
    rng = np.random.default_rng(0)
    # Weights large enough that the state matters for the next character.
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32")
                       for w in model.get_weights()])
    path = str(tmp_path / "model.keras")
    model.save(path)
    model = keras.saving.load_model(path)
    text = np.asarray([list(b"the fox jumps")], "int32")
    whole = keras.ops.convert_to_numpy(model(text, training=False))[0]
    stepper, sizes = step_model(model)
    states = [np.zeros((1, size), "float32") for size in sizes]
    steps = []
    for t in range(text.shape[1]):
        logits, *states = stepper.predict_on_batch([text[:, t:t + 1], *states])
        steps.append(np.asarray(logits)[0, 0])
    # float32 through 13 steps of two layers: 1e-4 absolute on logits of
    # order 1 covers the rounding of one fused pass against another.
    np.testing.assert_allclose(np.asarray(steps), whole, atol=1e-4)
    assert np.abs(whole[-1] - whole[0]).max() > 0.1  # the state changes the logits


def test_sample_runs_one_step_per_character(tiny_corpus, tmp_path, capsys, monkeypatch):
    """`keras-mi sample` feeds the prime once and then one character per
    model call (the state carried between calls), so that its cost per
    character does not grow with the text (the old full recompute re-ran
    the whole text for every character). Wall-clock time is not asserted:
    the note on sampling speed comes from a timed run, not from tests."""
    from keras_mi import models
    from keras_mi.models import char_language_model

    model = char_language_model("milstm", units=16, embedding_dim=8)
    path = str(tmp_path / "model.keras")
    model.save(path)
    shapes = []
    real_step_model = models.step_model

    def recording_step_model(source):
        stepper, sizes = real_step_model(source)
        real_predict = stepper.predict_on_batch

        def predict_on_batch(x):
            shapes.append(tuple(x[0].shape))
            return real_predict(x)

        stepper.predict_on_batch = predict_on_batch
        return stepper, sizes

    monkeypatch.setattr(models, "step_model", recording_step_model)
    assert cli.main(["sample", path, "--length", "40", "--prime", "import "]) == 0
    text = capsys.readouterr().out
    assert text.startswith("import ")
    assert shapes == [(1, len("import "))] + [(1, 1)] * 39


def _common(tiny_corpus):
    return ["--dataset", tiny_corpus, "--sequence-length", "8", "--batch-size", "2"]


def _tiny(epochs=1, steps=2):
    """A tiny model trained `epochs` of `steps` steps, one step to validate
    and to test, quiet."""
    return ["--units", "8", "--embedding-dim", "4", "--epochs", str(epochs),
            "--steps-per-epoch", str(steps), "--validation-steps", "1", "--test-steps", "1",
            "--verbose", "0"]


def test_character_vocabulary_is_saved_and_used(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    assert cli.main(
        ["train", "--cell", "mlstm", *_tiny(), "--run-dir", run_dir,
         "--vocabulary", "characters", *_common(tiny_corpus)]
    ) == 0
    from keras_mi.data import CharacterVocabulary

    vocabulary = CharacterVocabulary.load(os.path.join(run_dir, "vocabulary.json"))
    assert set(vocabulary.characters) <= set("file 0123456789:thequickbrownfx.")
    import keras

    model = keras.saving.load_model(os.path.join(run_dir, "model.keras"))
    assert model.output.shape[-1] == vocabulary.size
    capsys.readouterr()
    checkpoint = os.path.join(run_dir, "checkpoints", "epoch_001.keras")
    assert cli.main(["evaluate", checkpoint, "--steps", "1", *_common(tiny_corpus)]) == 0
    assert cli.main(["sample", checkpoint, "--length", "5", "--prime", "fox"]) == 0
    text = capsys.readouterr().out.splitlines()[-1]
    assert text.startswith("fox") and len(text) == 8


def test_compare_prints_table_and_writes_plot(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "compare")
    assert cli.main(
        ["compare", "--cells", "milstm,lstm", *_tiny(epochs=2), "--run-dir", run_dir,
         "--no-monitors", *_common(tiny_corpus)]
    ) == 0
    lines = capsys.readouterr().out.splitlines()
    # Each run is announced with its cell, units and size.
    announced = [line for line in lines if line.startswith("== ")]
    assert [line.split()[2] for line in announced] == ["milstm,", "lstm,"]
    assert all("units" in line and "parameters" in line for line in announced)
    header = next(i for i, line in enumerate(lines) if line.startswith("cell"))
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [r[0] for r in rows] == ["milstm", "lstm"]
    milstm_params, lstm_params = (int(r[2].replace(",", "")) for r in rows)
    # Same budget: the LSTM gets the units that match the MI-LSTM's count
    # (within one unit's worth of parameters).
    assert int(rows[1][1]) >= 8
    assert abs(lstm_params - milstm_params) < 0.1 * milstm_params
    png = os.path.join(run_dir, "learning_curves.png")
    with open(png, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_killed_run_resumes_without_losing_an_epoch(tiny_corpus, tmp_path, capsys):
    """A real process is killed after its second epoch; --resume finishes
    (here, in this process: what is tested is what the killed one left)."""
    import signal
    import subprocess
    import sys
    import time

    run_dir = str(tmp_path / "run")
    arguments = [
        "train", "--cell", "mirnn", *_tiny(5, 40),
        "--run-dir", run_dir, "--no-monitors", *_common(tiny_corpus),
    ]
    checkpoints = os.path.join(run_dir, "checkpoints")
    process = subprocess.Popen([sys.executable, "-m", "keras_mi", *arguments],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    backup = os.path.join(run_dir, "backup")
    while time.time() < deadline and process.poll() is None:
        # An epoch is complete once its backup is: its checkpoint and
        # history row are written before it.
        if run_files.backup_epoch(backup) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = sorted(os.listdir(checkpoints))
    assert "epoch_002.keras" in done and "epoch_005.keras" not in done, done
    stamps = {name: os.path.getmtime(os.path.join(checkpoints, name)) for name in done}

    capsys.readouterr()
    assert cli.main(arguments + ["--resume"]) == 0
    resumed = capsys.readouterr().out
    assert "resuming the run" in resumed
    assert sorted(os.listdir(checkpoints)) == [f"epoch_{k:03d}.keras" for k in range(1, 6)]
    # Completed epochs were not trained again ...
    for name in ("epoch_001.keras", "epoch_002.keras"):
        assert os.path.getmtime(os.path.join(checkpoints, name)) == stamps[name]
    # ... and the history holds each of the 5 epochs exactly once.
    with open(os.path.join(run_dir, "history.csv")) as handle:
        epochs = [line.split(",")[0] for line in handle.read().splitlines()[1:]]
    epochs = [e for e in epochs if e != "epoch"]
    assert sorted(int(e) for e in epochs) == [0, 1, 2, 3, 4]
    assert "continuing after epoch" in resumed
    # ... and it ends with the weights of the same run uninterrupted: the
    # data stream went on where it stopped (not from its first batch).
    straight_dir = str(tmp_path / "straight")
    straight = list(arguments)
    straight[straight.index("--run-dir") + 1] = straight_dir
    assert cli.main(straight) == 0
    import keras
    import numpy as np

    resumed_weights = keras.saving.load_model(os.path.join(run_dir, "model.keras")).get_weights()
    straight_weights = keras.saving.load_model(
        os.path.join(straight_dir, "model.keras")).get_weights()
    # Same backend, seed and batches on the CPU: equal up to the rounding of
    # reductions whose order may vary between processes (1e-6 relative).
    for a, b in zip(resumed_weights, straight_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("how", ["script", "python -m keras_mi"])
def test_installed_command_prints_no_tensorflow_start_up_lines(how, tiny_corpus, tmp_path):
    """The `keras-mi` script of the environment, as a user runs it, and
    `python -m keras_mi`: the output is the results only, without
    TensorFlow's CUDA probing and CPU-feature lines (which `import keras`
    prints on the TensorFlow backend, and tf.data on the others)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if how == "script":
        command = [os.path.join(os.path.dirname(sys.executable), "keras-mi"), "train",
                   "--run-dir", str(tmp_path / "run"), *_common(tiny_corpus), *_tiny(),
                   "--no-monitors"]
        printed = "model saved to"
    else:
        # The package's own start (its quiet import of TensorFlow); what
        # follows is the same command as the script's.
        command = [sys.executable, "-m", "keras_mi", "train", "--help"]
        printed = "usage: keras-mi train"
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "rebuild TensorFlow"):
        assert noise not in result.stderr + result.stdout, noise
    assert printed in result.stdout


def test_a_program_importing_the_package_keeps_tensorflow_output():
    """Only the command is quieted: a program that imports keras_mi sees
    TensorFlow's start-up as it would without it."""
    import subprocess
    import sys

    code = "import keras_mi.startup as s; print(s.is_command())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr[-2000:]


@pytest.mark.parametrize("argv, option", [
    (["train", "--steps-per-epoch", "0"], "--steps-per-epoch"),
    (["train", "--steps-per-epoch", "-1"], "--steps-per-epoch"),
    (["train", "--validation-steps", "-1"], "--validation-steps"),
    (["train", "--test-steps", "0"], "--test-steps"),
    (["train", "--test-steps", "-2"], "--test-steps"),
    (["train", "--epochs", "0"], "--epochs"),
    (["train", "--epochs", "-1"], "--epochs"),
    (["train", "--learning-rate", "-1"], "--learning-rate"),
    (["train", "--learning-rate", "nan"], "--learning-rate"),
    (["train", "--clipnorm", "-1"], "--clipnorm"),
    (["train", "--clipnorm", "nan"], "--clipnorm"),
    (["train", "--max-vocabulary", "0"], "--max-vocabulary"),
    (["train", "--max-vocabulary", "-1"], "--max-vocabulary"),
    (["train", "--seed", "-3"], "--seed"),
    (["train", "--seed", str(2**40)], "--seed"),
    (["train", "--units", "x"], "--units"),
    (["evaluate", "runs/x", "--steps", "0"], "--steps"),
    (["evaluate", "runs/x", "--steps", "-1"], "--steps"),
    (["sample", "runs/x", "--temperature", "-1"], "--temperature"),
    (["sample", "runs/x", "--temperature", "inf"], "--temperature"),
    (["sample", "runs/x", "--length", "0"], "--length"),
])
def test_numeric_options_are_checked_when_parsed(argv, option, capsys):
    """Each numeric option is refused at parse time, naming the option, the
    value and the accepted range (these used to hang, or train on NaN)."""
    with pytest.raises(SystemExit) as raised:
        cli.main(argv)
    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {option}: expected " in error
    assert argv[-1] in error or repr(argv[-1]) in error


@pytest.mark.parametrize("option", ["--run-dir", "--checkpoint-dir"])
def test_a_folder_that_cannot_be_created_is_named(option, tiny_corpus, tmp_path, capsys):
    """A run or checkpoint folder under a file: exit 2 with the option and
    the reason, before any training (before: a NotADirectoryError
    traceback)."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    folders = {"--run-dir": str(tmp_path / "run"), "--checkpoint-dir": str(tmp_path / "ckpt")}
    folders[option] = str(blocker / "sub")
    code = cli.main(["train", "--cell", "mirnn", "--units", "4", "--embedding-dim", "4",
                     "--epochs", "1", "--steps-per-epoch", "1", "--no-monitors",
                     "--run-dir", folders["--run-dir"],
                     "--checkpoint-dir", folders["--checkpoint-dir"], *_common(tiny_corpus)])
    assert code == 2
    error = capsys.readouterr().err
    assert f"argument {option}: cannot create {blocker / 'sub'} (Not a directory)" in error


def test_a_finished_run_is_never_written_over_unasked(tiny_corpus, tmp_path, capsys):
    run_dir = str(tmp_path / "run")
    command = ["train", "--cell", "mirnn", *_tiny(epochs=2), "--run-dir", run_dir,
               "--no-monitors", *_common(tiny_corpus)]
    assert cli.main(command) == 0
    model = os.path.join(run_dir, "model.keras")
    stamp = os.path.getmtime(model)
    capsys.readouterr()
    # Training again into the folder: refused, naming the way to ask for it.
    assert cli.main(command) == 2
    error = capsys.readouterr().err
    assert "argument --run-dir" in error and "--overwrite" in error and "model.keras" in error
    # --resume of a finished run: says so and stops.
    assert cli.main(command + ["--resume"]) == 2
    error = capsys.readouterr().err
    assert "argument --resume" in error and "finished" in error
    assert os.path.getmtime(model) == stamp
    # --overwrite replaces it: one history, the new run's checkpoints only.
    extra = os.path.join(run_dir, "checkpoints", "epoch_009.keras")
    open(extra, "w").close()
    assert cli.main(command + ["--overwrite"]) == 0
    with open(os.path.join(run_dir, "history.csv")) as handle:
        epochs = [line.split(",")[0] for line in handle.read().splitlines()[1:]]
    assert epochs == ["0", "1"]
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == [
        "epoch_001.keras", "epoch_002.keras"]


def test_evaluate_averages_every_batch_of_the_split(tiny_corpus, tmp_path, capsys):
    """`keras-mi evaluate` equals BPC computed by hand over all of the split's
    windows (on TensorFlow, Keras' evaluate of a finite dataset without
    `steps` averaged other batches: 7.87 against 7.99)."""

    import keras
    import numpy as np

    from keras_mi.models import char_language_model, compile_language_model

    keras.utils.set_random_seed(0)
    model = char_language_model("milstm", units=8, embedding_dim=4)
    compile_language_model(model, 1e-3, 1.0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    assert cli.main(["evaluate", path, *_common(tiny_corpus)]) == 0
    printed = float(capsys.readouterr().out.split("test BPC:")[1].split()[0])
    data = runs.DataConfig(dataset=tiny_corpus, sequence_length=8, batch_size=2)
    bits, count = 0.0, 0
    for x, y in runs.windows(data, "test", repeat=False).as_numpy_iterator():
        logits = keras.ops.convert_to_numpy(model(x)).astype("float64")
        logits -= logits.max(axis=-1, keepdims=True)
        log_p = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        bits -= np.take_along_axis(log_p, y[..., None], axis=-1).sum() / np.log(2)
        count += y.size
    # Printed to 4 decimals; float32 logits: 1e-3 covers both.
    assert abs(printed - bits / count) < 1e-3


def test_help_says_each_default_once():
    """Before: `(default: all of both) (default: None)`."""
    parser, commands = cli.build_parser()
    for name, command in commands.choices.items():
        text = " ".join(command.format_help().split())  # argparse wraps lines
        assert "(default: None)" not in text and "(default: False)" not in text, name
        for option in command._actions:
            if option.help and "default" in option.help:
                assert text.count(" ".join(option.help.split())) == 1, (name, option.help)
                assert f"{' '.join(option.help.split())} (default:" not in text, (name, option.help)


def test_the_compare_plot_marks_a_one_epoch_curve(tmp_path, monkeypatch):
    """Before: the training curve was a line without markers, invisible for
    one epoch (one point)."""
    import matplotlib.pyplot as plt

    closed = []
    monkeypatch.setattr(plt, "close", closed.append)
    runs.plot_curves({"milstm": {"bpc": [4.0], "val_bpc": [4.2]}}, str(tmp_path / "c.png"))
    (figure,) = closed
    lines = figure.axes[0].get_lines()
    assert len(lines) == 2 and all(line.get_marker() not in (None, "None", "") for line in lines)
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
