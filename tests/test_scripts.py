"""The helper scripts of the test command."""

import importlib.util
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_command_totals_the_backends(tmp_path, capsys):
    summarize = _load("summarize_tests")
    logs = {
        "tensorflow": "....\n= 404 passed, 6 skipped, 14 warnings in 288.81s (0:04:48) =\n",
        "jax": "..F.\nFAILED tests/x.py::t\n1 failed, 403 passed, 6 skipped in 559.52s\n",
        "torch": "ImportError while loading conftest\n",
    }
    paths = []
    for name, text in logs.items():
        path = tmp_path / f"{name}.log"
        path.write_text(text)
        paths.append(str(path))
    summarize.main(paths)
    line = capsys.readouterr().out.strip()
    assert line == "all backends: 807 passed, 12 skipped, 1 failed"
    summarize.main([paths[-1]])
    assert capsys.readouterr().out.strip() == "all backends: no results"
