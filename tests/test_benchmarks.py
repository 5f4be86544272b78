"""The interaction benchmark at a tiny size: it writes its JSON, and the two
contraction orders it times compute the same function."""

import importlib.util
import json
import pathlib

import numpy as np

from tests.layers import helpers

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "interaction_speed.py"


def _load():
    spec = importlib.util.spec_from_file_location("interaction_speed", SCRIPT)
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
