"""The benchmarks at a tiny size: each writes its JSON; the two contraction
orders the interaction benchmark times compute the same function; the
deployment page's table is the one its JSON files give."""

import importlib.util
import json
import pathlib

import numpy as np

from tests.layers import helpers
from tests.test_export import needs_onnx_exporter

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _load(name="interaction_speed"):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_interaction_benchmark_writes_its_json(tmp_path):
    bench = _load()
    out = tmp_path / "mi.json"
    bench.main(["--rounds", "2", "--steps", "1", "--shape", "4,2,3,5", "--output", str(out)])
    record = json.loads(out.read_text())
    (result,) = record["results"]
    assert result["shape"] == {"batch": 4, "m": 2, "n": 3, "k": 5}
    assert set(result["train_step_ms"]) == {"layer", "per_example_weights"}
    assert all(len(t) == 2 for t in result["all_ms"].values())
    assert result["ratio_per_example_over_layer"] > 0


def test_both_contraction_orders_give_the_same_outputs(rng):
    """Same weights, same inputs: the layer and the per-example-weights order
    agree to float32 rounding of sums of m * n = 12 products (1e-5)."""
    bench = _load()
    x = rng.normal(size=(4, 3)).astype("float32")
    z = rng.normal(size=(4, 2)).astype("float32")
    layer_model = bench.build(bench.MultiplicativeInteraction, (4, 2, 3, 5))
    other = bench.build(bench.PerExampleWeights, (4, 2, 3, 5))
    helpers.randomize(layer_model, rng)
    other.set_weights(layer_model.get_weights())
    np.testing.assert_allclose(helpers.to_numpy(layer_model([x, z])),
                               helpers.to_numpy(other([x, z])), rtol=1e-5, atol=1e-5)


@needs_onnx_exporter
def test_export_latency_benchmark_writes_its_json(tmp_path):
    """Both calls timed in Keras and in each format's runtime installed
    here, and each file computes the logits Keras computes (float32, the
    same operations in another order: 1e-5)."""
    bench = _load("export_latency")
    out = tmp_path / "export.json"
    bench.main(["--units", "4", "--length", "5", "--rounds", "2", "--calls", "1",
                "--output", str(out)])
    record = json.loads(out.read_text())
    formats = [f for f in bench.FORMATS[record["backend"]]
               if importlib.util.find_spec(bench.NEEDS[f]) is not None]
    assert "onnx" in formats
    assert [(r["format"], r["call"]) for r in record["results"]] == [
        (f, call) for f in formats for call in ("sequence", "step")]
    for result in record["results"]:
        assert result["keras_predict_ms"] > 0 and result["runtime_ms"] > 0
        assert all(len(s) == 2 for s in result["samples_ms"].values())
        assert result["largest_difference"] < 1e-5, result["format"]


def test_deploy_page_table_is_the_one_its_json_files_give(tmp_path):
    bench = _load("export_latency")
    page = tmp_path / "deploy.md"
    page.write_text((ROOT / "docs" / "deploy.md").read_text())
    records = sorted(str(p) for p in (ROOT / "docs" / "benchmarks").glob("export_cpu_*.json"))
    assert records, "no export latency JSON files in docs/benchmarks"
    bench.write_page(str(page), records)
    assert page.read_text() == (ROOT / "docs" / "deploy.md").read_text()
