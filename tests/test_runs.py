"""keras_mi.runs as a library: typed configurations checked on creation,
errors that name the argument, and a run trained, evaluated and sampled
without the command."""

import json
import logging
import os

import numpy as np
import pytest

from keras_mi import cli, runs
from keras_mi.validation import ArgumentError


@pytest.mark.parametrize("changes, argument", [
    ({"units": 0}, "units"),
    ({"epochs": 2.5}, "epochs"),
    ({"cell": "transformer"}, "cell"),
    ({"learning_rate": -1e-3}, "learning_rate"),
    ({"distribute": "all"}, "distribute"),
    ({"monitors": "yes"}, "monitors"),
    ({"data": "embedded"}, "data"),
])
def test_a_bad_train_option_is_refused_by_name(changes, argument):
    with pytest.raises((TypeError, ValueError), match=f"argument `{argument}`"):
        runs.TrainConfig(**changes)


@pytest.mark.parametrize("changes, argument", [
    ({"batch_size": 0}, "batch_size"),
    ({"sequence_length": None}, "sequence_length"),
    ({"vocabulary": "words"}, "vocabulary"),
    ({"seed": -1}, "seed"),
    ({"dataset": 3}, "dataset"),
])
def test_a_bad_data_option_is_refused_by_name(changes, argument):
    with pytest.raises((TypeError, ValueError), match=f"argument `{argument}`"):
        runs.DataConfig(**changes)


def test_the_command_names_its_own_options():
    error = ArgumentError("run_dir", "give `resume` or another `run_dir`")
    assert str(error) == ("Received an invalid value for argument `run_dir`: "
                          "give `resume` or another `run_dir`")
    assert cli.command_message(error) == "argument --run-dir: give --resume or another --run-dir"
    assert cli.command_message(ArgumentError("model", "x")) == "argument model: x"


def test_recorded_options_keep_the_command_s_keys():
    """run.json files written by the command before the library existed are
    compared key by key on resume: the same keys, the same values."""
    parser, _ = cli.build_parser()
    args = parser.parse_args(["train", "--units", "16", "--no-monitors"])
    recorded = cli.train_config(args).recorded()
    assert set(recorded) == {
        "batch_size", "cell", "clipnorm", "contiguous", "data_dir", "dataset", "distribute",
        "embedding_dim", "epochs", "layers", "learning_rate", "max_vocabulary", "no_monitors",
        "seed", "sequence_length", "steps_per_epoch", "text_feature", "units",
        "validation_steps", "vocabulary"}
    assert recorded["units"] == 16 and recorded["no_monitors"] is True


def test_a_run_through_the_library(tiny_corpus, tmp_path, caplog):
    config = runs.TrainConfig(
        data=runs.DataConfig(dataset=tiny_corpus, sequence_length=8, batch_size=2,
                             vocabulary="characters"),
        cell="migru", units=8, embedding_dim=4, epochs=1, steps_per_epoch=2,
        validation_steps=1, test_steps=1, monitors=False, verbose=0)
    run_dir = str(tmp_path / "run")
    with caplog.at_level(logging.INFO, logger="keras_mi.runs"):
        model, history, results = runs.train(config, run_dir)
    assert any("parameters" in record.getMessage() for record in caplog.records)
    assert set(results) == {"validation", "test"} and len(history["loss"]) == 1
    assert json.load(open(os.path.join(run_dir, "run.json"))) == config.recorded()
    with pytest.raises(ArgumentError, match="holds a run") as raised:
        runs.train(config, run_dir)
    assert raised.value.argument == "run_dir"
    evaluated = runs.evaluate(run_dir, config.data, "test", steps=1)
    np.testing.assert_allclose(evaluated["bpc"], results["test"]["bpc"], rtol=1e-5)
    pieces = []
    text = runs.sample(run_dir, prime="de", length=5, on_text=pieces.append)
    assert text.startswith("de") and "".join(pieces) == text and len(pieces) == 6
