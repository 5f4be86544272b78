"""Fig. 1(a) of Wu et al. (2016) at small scale: the gradient norms
`log ||dC/dh_t||` at t = 0, 5, 10 of a linear RNN and a linear MI-RNN (C: the
loss of the prediction at the last step of 50), with saturation and
input/recurrent scale, logged to TensorBoard while both train with
`model.fit` on the embedded corpus.

    .venv/bin/python examples/gradient_norms.py [--steps 300] [--run-dir runs/gradient_norms]
    .venv/bin/python -m tensorboard.main --logdir runs/gradient_norms

Writes, in the run directory: the TensorBoard logs of both models,
`gradient_norms.png` (the logged `log ||dC/dh_t||` at t = 0, 5, 10 over
training, read back from the event files) and
`tensorboard_scale_profile.png` (the `scale/profile` image exactly as
TensorBoard stores and shows it). `--docs` also copies both figures into
docs/images, where the documentation shows them.
"""

import argparse
import os
import shutil

import keras
import numpy as np

from keras_mi import MIRNN
from keras_mi.callbacks import (
    ActivationMonitor,
    GradientNormMonitor,
    ScaleMonitor,
    events,
)
from keras_mi.data import VOCABULARY_SIZE, byte_windows, embedded_corpus_files
from keras_mi.metrics import BitsPerCharacter

# The paper's lin-RNN and lin-MI-RNN: the identity as nonlinearity, so that
# only the gated products U^T diag(W x_k) of Eq. 6 differ.
LAYERS = {
    "lin-RNN": lambda units: keras.layers.SimpleRNN(
        units, activation=None, return_sequences=True, name="recurrent"
    ),
    "lin-MI-RNN": lambda units: MIRNN(
        units, activation=None, return_sequences=True, name="recurrent"
    ),
}
PLOTTED_STEPS = (0, 5, 10)


def train(kind, args, probe, log_dir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((args.sequence_length,), dtype="int32"),
            keras.layers.Embedding(VOCABULARY_SIZE, 32),
            LAYERS[kind](args.units),
            keras.layers.Dense(VOCABULARY_SIZE),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[BitsPerCharacter()],
    )
    data = byte_windows(
        embedded_corpus_files("train"), args.sequence_length, 32,
        shuffle_buffer=500, seed=0, repeat=True,
    )
    every = max(args.steps // 10, 1)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir),
        GradientNormMonitor(log_dir, probe, every_n_batches=every, timesteps=PLOTTED_STEPS),
        ActivationMonitor(log_dir, (probe[0],), every_n_batches=every),
        ScaleMonitor(log_dir, (probe[0],), every_n_batches=every),
    ]
    model.fit(
        data, steps_per_epoch=args.steps, epochs=1, callbacks=callbacks, verbose=0,
        shuffle=False,  # the tf.data pipeline shuffles
    )
    return callbacks[1].gradient_norms()


def read_profiles(log_dir):
    """The logged log-norms `{t: (steps, values)}` and the last
    `scale/profile` image (PNG bytes), read back from the event files."""
    return (events.read_gradient_norms(log_dir, PLOTTED_STEPS),
            events.read_image(log_dir, events.SCALE_PROFILE))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=300, help="training steps per model")
    parser.add_argument("--units", type=int, default=128, help="recurrent units")
    parser.add_argument("--sequence-length", type=int, default=50, help="characters per window")
    parser.add_argument(
        "--run-dir",
        default=os.path.join("runs", "gradient_norms"),
        help="where the logs and figures are written",
    )
    parser.add_argument(
        "--docs",
        action="store_true",
        help="also copy the figures into --docs-dir (regenerates the documentation's images)",
    )
    parser.add_argument("--docs-dir", default=os.path.join("docs", "images"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    x, y = next(iter(byte_windows(embedded_corpus_files("validation"), args.sequence_length, 16)))
    probe = (np.asarray(x), np.asarray(y))
    norms = {}
    for kind in LAYERS:
        log_dir = os.path.join(args.run_dir, kind)
        norms[kind] = train(kind, args, probe, log_dir)
        print(
            f"{kind}: log ||dC/dh_t|| after training at t=0, 5, 10, T-1: "
            + ", ".join(f"{np.log(norms[kind][t]):.2f}" for t in (*PLOTTED_STEPS, -1))
        )
    figures = draw(args)
    print("figures: " + ", ".join(figures))
    if args.docs:
        os.makedirs(args.docs_dir, exist_ok=True)
        for path in figures:
            shutil.copy(path, os.path.join(args.docs_dir, os.path.basename(path)))
        print(f"copied into {args.docs_dir}")
    return norms


def draw(args):
    """The two figures, written into the run directory; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.run_dir, exist_ok=True)
    curve_path = os.path.join(args.run_dir, "gradient_norms.png")
    figure, axis = plt.subplots(figsize=(7, 4))
    for kind, style in zip(LAYERS, ("-", "--")):
        curves, _ = read_profiles(os.path.join(args.run_dir, kind))
        for t, (steps, values) in curves.items():
            axis.plot(steps, values, style, marker=".", label=f"{kind}, t={t}")
    axis.set_xlabel("training step")
    axis.set_ylabel("log ||dC/dh_t||")
    axis.set_title(f"loss at the last of {args.sequence_length} steps")
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axis.grid(alpha=0.3)
    figure.savefig(curve_path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    _, png = read_profiles(os.path.join(args.run_dir, "lin-MI-RNN"))
    profile_path = os.path.join(args.run_dir, "tensorboard_scale_profile.png")
    with open(profile_path, "wb") as handle:
        handle.write(png)
    return [curve_path, profile_path]


if __name__ == "__main__":
    main()
