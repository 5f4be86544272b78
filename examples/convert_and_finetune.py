"""Train a Keras LSTM, convert it into an MI-LSTM with the same outputs, and
fine-tune it: the multiplicative term grows from zero.

    .venv/bin/python examples/convert_and_finetune.py [--epochs 3]
"""

import argparse

import keras
import numpy as np

from keras_mi import convert_model


def make_data(rng, count=512, timesteps=20):
    """A sequence task with a multiplicative interaction: y = sum_t x1_t * x2_t."""
    x = rng.normal(size=(count, timesteps, 2)).astype("float32")
    y = (x[..., 0] * x[..., 1]).sum(axis=1, keepdims=True) / np.sqrt(timesteps)
    return x, y.astype("float32")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x, y = make_data(rng)
    model = keras.Sequential(
        [keras.Input((None, 2)), keras.layers.LSTM(32), keras.layers.Dense(1)]
    )
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=args.epochs, verbose=0)
    lstm_loss = model.evaluate(x, y, verbose=0)

    mi_model = convert_model(model)
    mi_model.compile(optimizer="adam", loss="mse")
    converted_loss = mi_model.evaluate(x, y, verbose=0)
    mi_model.fit(x, y, epochs=args.epochs, verbose=0)
    alpha = next(w for w in mi_model.weights if w.name == "alpha")
    alpha_size = float(np.abs(keras.ops.convert_to_numpy(alpha)).mean())
    print(f"LSTM loss {lstm_loss:.4f}; converted MI-LSTM before fine-tuning {converted_loss:.4f}")
    print(f"after fine-tuning {mi_model.evaluate(x, y, verbose=0):.4f}; mean |alpha| {alpha_size:.4f}")
    return lstm_loss, converted_loss


if __name__ == "__main__":
    main()
