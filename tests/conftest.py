"""Test set-up: the backend comes from KERAS_BACKEND (the test command runs
the suite once per backend); every test starts from the same Keras state."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if os.environ.get("KERAS_BACKEND") == "jax":
    # XLA's compiled programs are kept on disk and reused: the suite builds
    # the same small models (same shapes, same computation) many times, and
    # compiling them again was most of its time on JAX. The cache is keyed
    # by the program, JAX's version and its flags, so a reused entry is the
    # program that would have been compiled. Set in the environment, so that
    # the command's subprocesses use it too.
    import tempfile

    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
        tempfile.gettempdir(), f"keras_mi_jax_cache_{os.getuid()}"))
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.tiny_corpus import write_tiny_corpus  # noqa: E402


@pytest.fixture(autouse=True)
def clean_keras_state():
    keras.utils.clear_session()
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()} (keras {keras.__version__})"


@pytest.fixture
def tiny_corpus(tmp_path):
    return write_tiny_corpus(tmp_path)


# The files that take minutes, or most of one, longest first: a module
# fixture that runs every paper experiment, a distributed training in a
# subprocess, training runs killed and resumed, the command's runs, the
# exports, the documentation's commands, the examples, loading on the other
# backends (fresh processes). pytest-xdist's `--dist loadfile` hands files
# to its workers in collection order, so these start first, on different
# workers, and the many short files fill in around them; collected last,
# one of them could run alone at the end.
SLOW_FILES = ("test_paper_experiments.py", "test_distribution.py", "test_run_files.py",
              "test_cli.py", "test_export.py", "test_documentation.py", "test_examples.py",
              "test_saving.py", "test_saved_files.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FILES)))
