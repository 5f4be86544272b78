"""Models saved by an earlier version of the package load and predict the
same on every backend: the files in tests/saved/v*/ were written once by
tests/saved/build.py and are never rewritten, so a change to a weight's name,
a layer's configuration or the arithmetic shows up here."""

import glob
import os

import keras
import numpy as np
import pytest

import keras_mi  # noqa: F401  (registers the saved classes)

FOLDERS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "saved", "v*")))


def test_there_is_a_saved_version():
    assert FOLDERS, "tests/saved/ holds no saved version"


@pytest.mark.parametrize("folder", FOLDERS, ids=os.path.basename)
def test_every_form_saved_before_predicts_the_same(folder):
    arrays = np.load(os.path.join(folder, "arrays.npz"))
    model = keras.saving.load_model(os.path.join(folder, "forms.keras"))
    outputs = model.predict([arrays["x"], arrays["ids"]], verbose=0)
    expected = [arrays[f"forms_output_{i}"] for i in range(len(outputs))]
    assert f"forms_output_{len(outputs)}" not in arrays.files  # no output lost
    for index, (output, want) in enumerate(zip(outputs, expected)):
        # Saved on one backend, loaded on any: float32 sums in another order,
        # a few units in the sixth digit for these bounded outputs.
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(output), want, atol=1e-5, rtol=1e-5,
            err_msg=f"output {index} of {model.name}")


@pytest.mark.parametrize("folder", FOLDERS, ids=os.path.basename)
def test_language_model_saved_before_resumes(folder):
    arrays = np.load(os.path.join(folder, "arrays.npz"))
    text = arrays["text"]
    model = keras.saving.load_model(os.path.join(folder, "language_model.keras"))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.predict(text[:, :-1], verbose=0)),
        arrays["language_outputs"], atol=1e-5, rtol=1e-5)
    # The optimizer's state came back too: one step was taken before saving.
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 1
    history = model.fit(text[:, :-1], text[:, 1:], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 2
