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


def _digest(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


def test_gradient_norm_example_logs_and_draws_in_its_run_dir(tmp_path):
    docs_images = EXAMPLES.parent / "docs" / "images"
    before = _digest(docs_images)
    run_dir = tmp_path / "run"
    arguments = ["--steps", "4", "--units", "8", "--sequence-length", "12",
                 "--run-dir", str(run_dir)]
    norms = load("gradient_norms").main(arguments)
    assert set(norms) == {"lin-RNN", "lin-MI-RNN"}
    assert all(len(v) == 12 for v in norms.values())
    for name in ("gradient_norms.png", "tensorboard_scale_profile.png"):
        assert (run_dir / name).read_bytes()[:4] == b"\x89PNG"
    # The documentation's images are left alone unless --docs is given...
    assert _digest(docs_images) == before
    # ... which copies the figures into the docs folder.
    docs = tmp_path / "docs"
    load("gradient_norms").main(arguments + ["--docs", "--docs-dir", str(docs)])
    assert _digest(docs) == _digest(run_dir)
