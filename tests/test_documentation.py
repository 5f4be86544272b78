"""Every code block of the README and of docs/ runs as written.

Python blocks run in order, one namespace per document, in a scratch
directory. Shell blocks run line by line: `keras-mi` commands through the
command's own entry point, at tiny size (size options appended, which
override the documented ones; a tiny local corpus, or a mocked tfds
dataset, as data); the benchmark script through bash at a tiny shape. The
few lines that are not run here say why in `RUN_ELSEWHERE`.
"""

import os
import pathlib
import re
import shlex
import subprocess

import keras
import pytest

from keras_mi import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# Documented lines that this test does not run, each with where it runs.
RUN_ELSEWHERE = {
    "pip install": "installation: scripts/setup.sh runs it before any test",
    "bash scripts/test.sh": "the test command itself (CI runs it)",
    "bash scripts/train.sh": "the main job: CI runs it, shortened, after the tests",
    ".venv/bin/python -m examples.paper.run_all": (
        "tests/test_paper_experiments.py runs the runner, and with it every "
        "experiment, at tiny size"
    ),
    ".venv/bin/python -m examples.paper.table1_paper_lr": (
        "tests/test_paper_experiments.py runs it at tiny size, through the runner"
    ),
    "keras-mi train --run-dir runs/milstm --resume": (
        "a finished run is not resumed; tests/test_cli.py kills a real run and "
        "resumes it, and checks that a finished one says so"
    ),
    ".venv/bin/python -m examples.paper.report --page": (
        "tests/test_paper_experiments.py checks that it leaves docs/results.md as committed"
    ),
    ".venv/bin/python -m examples.paper.build_kjv_corpus": (
        "it fetches Debian packages from the mirror; tests/test_paper_experiments.py "
        "tests its parser and the corpus layout"
    ),
}
TINY_MODEL = [
    "--units", "8", "--embedding-dim", "4", "--epochs", "1",
    "--steps-per-epoch", "2", "--validation-steps", "1", "--test-steps", "1",
    "--no-monitors", "--verbose", "0",
]
TINY_DATA = ["--sequence-length", "8", "--batch-size", "2"]


def code_blocks(path, language):
    text = path.read_text()
    return [m.group(1) for m in re.finditer(rf"```{language}\n(.*?)```", text, re.S)]


def shell_lines(path):
    """The commands of a document's bash blocks (continuations joined,
    comments dropped)."""
    lines = []
    for block in code_blocks(path, "bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def test_documents_have_code():
    assert any(code_blocks(d, "python") for d in DOCUMENTS)
    assert any(shell_lines(d) for d in DOCUMENTS)


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if code_blocks(d, "python")],
    ids=lambda p: p.name,
)
def test_python_blocks_run(document, tmp_path, monkeypatch):
    blocks = code_blocks(document, "python")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__documentation__"}
    for index, block in enumerate(blocks):
        try:
            exec(compile(block, f"{document.name} block {index + 1}", "exec"), namespace)
        except Exception as error:  # noqa: BLE001 - reported with the block
            pytest.fail(f"{document.name}, Python block {index + 1} failed: {error!r}\n{block}")
        keras.utils.clear_session()


@pytest.fixture
def tiny_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for k in range(60):
        (corpus / f"f{k:02d}.txt").write_text(f"file {k}: the quick brown fox. " * 4)
    return str(corpus)


def _run_keras_mi(argv, tiny_corpus):
    """One documented `keras-mi` command at tiny size, in-process."""
    command = argv[0]
    extra = []
    if command in ("train", "compare"):
        extra += TINY_MODEL
    if command in ("train", "compare", "evaluate"):
        if not any(a.startswith("tfds:") for a in argv):
            extra += ["--dataset", tiny_corpus]
        extra += TINY_DATA
    if command == "evaluate":
        extra += ["--steps", "1"]
    if command == "sample":
        extra += ["--length", "5"]
    arguments = [os.path.expanduser(a) for a in argv] + extra
    if "tfds:tiny_shakespeare" in arguments:
        import tensorflow_datasets as tfds

        with tfds.testing.mock_data(num_examples=40):
            return cli.main(arguments)
    return cli.main(arguments)


@pytest.mark.parametrize(
    "document",
    [d for d in DOCUMENTS if shell_lines(d)],
    ids=lambda p: p.name,
)
def test_shell_commands_run(document, tmp_path, monkeypatch, tiny_corpus, capsys):
    monkeypatch.chdir(tmp_path)
    for line in shell_lines(document):
        if any(line.startswith(prefix) for prefix in RUN_ELSEWHERE):
            continue
        argv = shlex.split(line)
        if argv[0] in ("keras-mi", ".venv/bin/keras-mi"):
            code = _run_keras_mi(argv[1:], tiny_corpus)
            assert code == 0, f"{document.name}: `{line}` failed:\n{capsys.readouterr().err}"
            continue
        if argv[:3] == [".venv/bin/python", "-m", "examples.paper.report"]:
            # The summary of the committed results, read from the checkout.
            from examples.paper import report

            arguments = [a if a.startswith("-") else str(ROOT / a) for a in argv[3:]]
            assert report.main(arguments)["rows"], f"{document.name}: `{line}` read nothing"
            continue
        if argv[:2] == [".venv/bin/python", "-m"] and "--from-json" in argv:
            # An experiment redrawn from its committed record (cwd is tmp_path).
            import importlib

            module = importlib.import_module(argv[2])
            arguments = [str(ROOT / a) if a.endswith(".json") else a for a in argv[3:]]
            record = module.main(arguments)
            assert record["figures"], f"{document.name}: `{line}` drew nothing"
            continue
        if argv[:2] == ["bash", "benchmarks/run_cpu.sh"]:
            if keras.backend.backend() != "torch":
                continue  # it runs every backend itself: once per test run
            result = subprocess.run(
                ["bash", str(ROOT / "benchmarks" / "run_cpu.sh"), "--shape", "2,3,2,4",
                 "--rounds", "1", "--warmup", "1", "--variants", "keras.LSTM,MILSTM"],
                capture_output=True, text=True,
                env={**os.environ, "BENCHMARK_DIR": str(tmp_path / "benchmarks")},
            )
            assert result.returncode == 0, result.stderr[-3000:]
            assert "| MILSTM | keras.LSTM |" in result.stdout
            continue
        pytest.fail(
            f"{document.name}: no rule to run `{line}`; add one here, or to "
            "RUN_ELSEWHERE with where it runs"
        )
