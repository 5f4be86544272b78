"""The example scripts run (shortened) and do what they say."""

import importlib.util
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_convert_and_finetune_keeps_loss_at_conversion():
    lstm_loss, converted_loss = load("convert_and_finetune").main(["--epochs", "1"])
    assert converted_loss == pytest.approx(lstm_loss, rel=1e-4)


def test_quickstart_trains_below_uniform_bpc():
    # A uniform guess over 256 bytes costs 8 bits per character.
    assert load("quickstart").main(["--steps", "30", "--units", "16"]) < 8.0
