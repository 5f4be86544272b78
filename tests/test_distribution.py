"""keras_mi under Keras' distribution engines, on virtual CPU devices.

The runs happen in a subprocess (tests/distributed_run.py) so that the rest
of the suite keeps one device: 4 virtual devices on JAX
(`--xla_force_host_platform_device_count`), 2 logical CPUs on TensorFlow.
PyTorch has no Keras distribution engine; its test checks the clear error.

Tolerance: 1e-5 on losses and predictions. Distributed and one-device runs
do the same float32 arithmetic except for the order of the reductions over
the batch (an all-reduce of per-replica sums, or XLA's partitioned sums):
that reorders additions of O(1) terms, ~1e-7 relative per step; the
measured differences are <= 2e-6 after three epochs (the tests run two).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mi
from keras_mi import distribution

BACKEND = keras.backend.backend()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOLERANCE = 1e-5
MI_LAYERS = ("MIRNN", "MILSTM", "MIGRU", "MLSTM", "interaction")

needs_engine = pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"),
    reason="Keras has distribution engines for JAX and TensorFlow only",
)


def _clean_env():
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["KERAS_BACKEND"] = BACKEND
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return env


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("distributed")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distributed_run.py"), str(out)],
        capture_output=True, text=True, env=_clean_env(), cwd=ROOT, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _max_difference(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))))


@needs_engine
@pytest.mark.parametrize("name", MI_LAYERS)
def test_distributed_losses_equal_one_device(runs, name):
    """Masks on both padding sides; on JAX with dropout under a fixed seed."""
    entry = runs["models"][name]
    # On JAX: the model-parallel mesh (batch and units sharded), and a
    # data-parallel run for the models tests/distributed_run.py names.
    engines = [engine for engine in ("data", "model") if engine in entry]
    assert engines == (["model"] if BACKEND == "jax" else ["data"]) or engines == ["data", "model"]
    for engine in engines:
        assert _max_difference(entry[engine]["loss"], entry["one"]["loss"]) < TOLERANCE, engine
        assert (
            _max_difference(entry[engine]["prediction"], entry["one"]["prediction"])
            < 10 * TOLERANCE  # predictions after training: 2 epochs of drift
        ), engine


@needs_engine
def test_saved_under_a_distribution_loads_on_one_device(runs):
    checked = set()
    for name, entry in runs["models"].items():
        for engine, run in entry.items():
            if engine != "one" and "loaded_prediction" in run:
                checked.add(name)
                assert _max_difference(run["loaded_prediction"], run["prediction"]) < TOLERANCE, (
                    name, engine,
                )
    # A recurrent layer, one with batch-norm statistics, the interaction layer.
    assert checked == {"MILSTM", "MILSTM-batchnorm", "interaction"}, checked


@needs_engine
def test_gradient_monitor_under_a_distribution(runs):
    entry = runs["models"]["MILSTM"]
    one = np.asarray(entry["one"]["gradient_norms"])
    assert one.shape == (6,) and np.all(np.isfinite(one)) and np.all(one > 0)
    for engine, run in entry.items():
        if engine != "one":
            np.testing.assert_allclose(run["gradient_norms"], one, rtol=1e-4, atol=1e-7)


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution's ModelParallel runs on JAX")
def test_model_parallel_shards_every_mi_weight(runs):
    for name in MI_LAYERS + ("MILSTM-batchnorm",):
        shardings = runs["models"][name]["model"]["shardings"]
        mi = {
            path: spec for path, spec in shardings.items()
            if "_cell/" in path or "multiplicative_interaction" in path
        }
        assert mi, name
        for path, (spec, shards) in mi.items():
            leaf = path.rsplit("/", 1)[-1]
            assert leaf in distribution.SHARDED_WEIGHTS, path
            assert spec[-1] == "model" and all(a is None for a in spec[:-1]), (path, spec)
            assert shards == 2, (path, shards)  # the mesh's model axis has size 2
        others = {p: s for p, s in shardings.items() if p not in mi}
        assert all(shards == 1 for _, shards in others.values()), others


@pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution draws global masks on JAX")
def test_dropout_under_jax_distribution_equals_one_device(runs):
    # The JAX runs all use dropout (rate 0.2, fixed seeds).
    entry = runs["models"]["MILSTM"]
    assert _max_difference(entry["data"]["loss"], entry["one"]["loss"]) < TOLERANCE


@pytest.mark.skipif(BACKEND != "tensorflow", reason="tf.distribute's per-replica dropout")
def test_dropout_under_mirrored_strategy_is_per_replica_and_reproducible(runs):
    """Each replica draws the masks of its own share of the batch, so the
    losses differ from one device's but repeat exactly with the seed."""
    entry = runs["models"]["MILSTM-dropout"]
    assert _max_difference(entry["data"]["loss"], entry["data-again"]["loss"]) == 0.0
    assert _max_difference(entry["data"]["loss"], entry["one"]["loss"]) > 1e-3


@needs_engine
def test_batch_normalization_statistics_under_data_parallelism(runs):
    """JAX: the statistics are the global batch's (equal to one device).
    TensorFlow: each replica's own, unless `normalization_synchronized`."""
    plain = runs["models"]["MILSTM-batchnorm"]
    difference = _max_difference(plain["data"]["loss"], plain["one"]["loss"])
    if BACKEND == "jax":
        assert difference < TOLERANCE
        assert _max_difference(plain["model"]["loss"], plain["one"]["loss"]) < TOLERANCE
    else:
        assert difference > 1e-3  # per-replica statistics of half batches
        synchronized = runs["models"]["MILSTM-batchnorm-synchronized"]
        assert (
            _max_difference(synchronized["data"]["loss"], synchronized["one"]["loss"])
            < TOLERANCE
        )


@pytest.mark.skipif(BACKEND != "jax", reason="the layout map is keras.distribution's (JAX)")
def test_layout_map_patterns():
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), devices=["cpu:0"])
    layouts = keras_mi.distribution.layout_map(mesh)
    sharded = {
        "sequential/milstm/milstm_cell/kernel": (None, "model"),
        "rnn/migru_cell_2/alpha": ("model",),
        "model/bidirectional/forward_mlstm/mlstm_cell/multiplicative_kernel": (None, "model"),
        "multiplicative_interaction_3/interaction_kernel": (None, None, "model"),
        "sequential/milstm/milstm_cell/moving_cell_variance": (None, "model"),
    }
    for path, axes in sharded.items():
        assert layouts[path] is not None and tuple(layouts[path].axes) == axes, path
    for path in (
        "sequential/dense/kernel",
        "sequential/lstm/lstm_cell/kernel",
        "tied_embedding/embeddings",
        "multiplicative_interaction/scale_kernel",
        "seed_generator/seed_generator_state",
    ):
        assert layouts[path] is None, path
    named = keras_mi.distribution.layout_map(mesh, scopes=("encoder_cell",))
    assert tuple(named["net/encoder/encoder_cell/recurrent_kernel"].axes) == (None, "model")


@pytest.mark.skipif(BACKEND != "jax", reason="the layout map is keras.distribution's (JAX)")
def test_layout_map_rejects_bad_arguments():
    mesh = keras.distribution.DeviceMesh((1, 1), ("batch", "model"), devices=["cpu:0"])
    with pytest.raises(ValueError, match="model_axis='units'.*'batch', 'model'"):
        keras_mi.distribution.layout_map(mesh, model_axis="units")
    with pytest.raises(TypeError, match="device_mesh"):
        keras_mi.distribution.layout_map(("batch", "model"))
    with pytest.raises(ValueError, match="scopes"):
        keras_mi.distribution.layout_map(mesh, scopes="milstm_cell")
    with pytest.raises(ValueError, match="regular expression"):
        keras_mi.distribution.layout_map(mesh, scopes=("(",))


def test_command_engine_choice_errors_name_what_is_accepted():
    with pytest.raises(ValueError, match="distribute='rings'.*'none', 'data', 'model'"):
        distribution.for_command("rings")
    assert distribution.for_command("none") is None
    if BACKEND == "torch":
        with pytest.raises(ValueError, match="no distribution engine.*'none'"):
            distribution.for_command("data")
    if BACKEND == "tensorflow":
        with pytest.raises(ValueError, match="'model' on the TensorFlow backend"):
            distribution.for_command("model")


@needs_engine
def test_train_command_distributes_and_prints_its_mesh(tmp_path):
    """`keras-mi train --distribute` on the virtual devices, tiny size."""
    kind = "model" if BACKEND == "jax" else "data"
    code = (
        "import os, sys\n"
        "if os.environ['KERAS_BACKEND'] == 'jax':\n"
        "    os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'\n"
        "else:\n"
        "    import tensorflow as tf\n"
        "    cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "    tf.config.set_logical_device_configuration(\n"
        "        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "from keras_mi import cli\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [
            sys.executable, "-c", code, "train", "--distribute", kind,
            "--units", "8", "--embedding-dim", "4", "--epochs", "1",
            "--steps-per-epoch", "2", "--validation-steps", "1", "--test-steps", "1",
            "--sequence-length", "8", "--batch-size", "4", "--no-monitors",
            "--verbose", "0", "--run-dir", str(tmp_path / "run"),
        ],
        capture_output=True, text=True, env=_clean_env(), cwd=ROOT, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if BACKEND == "jax":
        assert "ModelParallel over a mesh {'batch': 1, 'model': 2} of 2 devices" in result.stdout
    else:
        assert "MirroredStrategy over 2 devices" in result.stdout
    assert os.path.isfile(tmp_path / "run" / "model.keras")


@needs_engine
def test_scaling_documentation_programs_run_as_written(tmp_path):
    """docs/scaling.md's program for this backend, on virtual devices."""
    import re

    text = open(os.path.join(ROOT, "docs", "scaling.md")).read()
    blocks = re.findall(r"```py\n(.*?)```", text, re.S)
    marker = "keras.distribution.list_devices" if BACKEND == "jax" else "tf.distribute"
    (program,) = [b for b in blocks if marker in b]
    setup = (
        "import os\n"
        "os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'\n"
        if BACKEND == "jax"
        else "import tensorflow as tf\n"
        "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0],"
        " [tf.config.LogicalDeviceConfiguration()] * 2)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", setup + program], capture_output=True, text=True,
        env=_clean_env(), cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    if BACKEND == "jax":
        assert re.search(r"P(artitionSpec)?\(None, 'model'\)", result.stdout), result.stdout[-500:]
