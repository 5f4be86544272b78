"""Writes the saved models that tests/test_saved_files.py loads: every layer
and cell form, saved by the package as it was at the version in the folder's
name, so a later change that breaks loading them is caught.

Run once per release, from the repository root, on any backend:

    KERAS_BACKEND=tensorflow .venv/bin/python tests/saved/build.py

It writes tests/saved/v<version>/: `forms.keras` (one functional model with an
output per form, random weights), `language_model.keras` (the command's
character model, compiled and trained one step, so the optimizer's state is
saved too), and `arrays.npz` (their inputs and the outputs they gave).
"""

import os

import keras
import numpy as np

import keras_mi
from keras_mi import layers as mi
from keras_mi.models import char_language_model, compile_language_model
from keras_mi.models import multiplicative_embedding_model

BATCH, LENGTH, FEATURES, VOCABULARY = 3, 7, 5, 11


def forms_model(rng):
    x = keras.Input((LENGTH, FEATURES), name="sequences")
    ids = keras.Input((LENGTH,), dtype="int32", name="ids")
    outputs = [
        keras.layers.Concatenate()(mi.MILSTM(4, return_state=True)(x)),
        mi.MILSTM(4, integration="simple", return_sequences=True)(x),
        mi.MIGRU(4, integration="additive", reset_after=False)(x),
        mi.MIGRU(4, go_backwards=True)(keras.layers.Masking()(x)),
        mi.MIRNN(4, activation="relu")(x),
        mi.MILSTM(4, normalization="batch", normalization_steps=4)(x),
        mi.MILSTM(4, normalization="layer")(x),
        mi.MLSTM(4)(x),
        mi.MLSTM(4, integration="general", normalization="batch")(x),
        keras.layers.Bidirectional(mi.MIGRU(4, return_sequences=True))(x),
        # The cells under Keras' own RNN, one at a time and stacked.
        keras.layers.RNN(mi.MILSTMCell(3))(x),
        keras.layers.RNN(mi.MIGRUCell(3))(x),
        keras.layers.RNN(mi.MIRNNCell(3, integration="simple"))(x),
        keras.layers.RNN(mi.MLSTMCell(3))(x),
        keras.layers.RNN([mi.MILSTMCell(3, normalization="layer"), mi.MIGRUCell(2)])(x),
        keras.layers.RNN(mi.MILSTMCell(3, normalization="batch", normalization_steps=4))(x),
        mi.MultiplicativeInteraction(3)([keras.layers.Flatten()(x), mi.MIRNN(4)(x)]),
        mi.MultiplicativeInteraction(3, mode="diagonal")(
            [keras.layers.Dense(4)(keras.layers.Flatten()(x)), mi.MIRNN(4)(x)]),
        mi.MultiplicativeInteraction(3, mode="scalar")([keras.layers.Flatten()(x), mi.MIRNN(4)(x)]),
        multiplicative_embedding_model(
            units=6, embedding_dim=4, context_units=3, vocabulary_size=VOCABULARY)(ids),
    ]
    model = keras.Model([x, ids], outputs)
    for weight in model.weights:
        value = rng.uniform(-0.5, 0.5, size=weight.shape)
        if "variance" in weight.path:
            value = np.abs(value) + 0.5
        weight.assign(value.astype(weight.dtype))
    return model


def forms_inputs(rng):
    x = rng.normal(size=(BATCH, LENGTH, FEATURES)).astype("float32")
    x[0, 5:] = 0.0  # masked by the Masking layer
    ids = rng.integers(0, VOCABULARY, size=(BATCH, LENGTH)).astype("int32")
    return x, ids


def main():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"v{keras_mi.__version__}")
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    keras.utils.set_random_seed(0)
    forms = forms_model(rng)
    x, ids = forms_inputs(rng)
    forms_outputs = [keras.ops.convert_to_numpy(o) for o in forms.predict([x, ids], verbose=0)]
    forms.save(os.path.join(folder, "forms.keras"))

    language = char_language_model("milstm", units=8, embedding_dim=4)
    compile_language_model(language)
    text = rng.integers(0, 256, size=(4, 13)).astype("int32")
    language.fit(text[:, :-1], text[:, 1:], epochs=1, verbose=0)
    language_outputs = keras.ops.convert_to_numpy(language.predict(text[:, :-1], verbose=0))
    language.save(os.path.join(folder, "language_model.keras"))

    arrays = {"x": x, "ids": ids, "text": text, "language_outputs": language_outputs}
    arrays.update({f"forms_output_{i}": o for i, o in enumerate(forms_outputs)})
    np.savez(os.path.join(folder, "arrays.npz"), **arrays)
    print(f"wrote {folder}: {len(forms_outputs)} form outputs, "
          f"backend {keras.backend.backend()}, keras {keras.__version__}")


if __name__ == "__main__":
    main()
