"""Test set-up: the backend comes from KERAS_BACKEND (the test command runs
the suite once per backend); every test starts from the same Keras state."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

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
