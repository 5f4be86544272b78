"""The README quickstart: an MI-LSTM character model trained with model.fit on
the embedded corpus (the Python standard library's sources).

    .venv/bin/python examples/quickstart.py [--steps 100]
"""

import argparse

import keras

from keras_mi import MILSTMCell
from keras_mi.data import VOCABULARY_SIZE, byte_windows, embedded_corpus_files
from keras_mi.metrics import BitsPerCharacter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--units", type=int, default=128)
    args = parser.parse_args(argv)
    train = byte_windows(embedded_corpus_files("train"), 64, 32, shuffle_buffer=500, seed=0, repeat=True)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(VOCABULARY_SIZE, 32),
            keras.layers.RNN(MILSTMCell(args.units), return_sequences=True),
            keras.layers.Dense(VOCABULARY_SIZE),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(2e-3, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[BitsPerCharacter()],
    )
    history = model.fit(train, epochs=1, steps_per_epoch=args.steps, verbose=2, shuffle=False)
    return history.history["bpc"][-1]


if __name__ == "__main__":
    main()
