"""Fig. 1 of Wu et al. (2016) at small scale: gradient norms through time,
saturation and input/recurrent scale of a tanh RNN and an MI-RNN, logged to
TensorBoard while both train with `model.fit` on the embedded corpus.

    python examples/gradient_norms.py [--steps 200] [--log-dir runs/fig1]
    tensorboard --logdir runs/fig1

Writes `FIGURE` (default docs/images/gradient_norms.png): the logged
`log ||dC/dh_t||` profiles read back from the event files, and
`docs/images/tensorboard_scale_profile.png`, the `scale/profile` image exactly
as TensorBoard stores and shows it.
"""

import argparse
import os

import keras
import numpy as np

from keras_mi import MIRNN
from keras_mi.callbacks import ActivationMonitor, GradientNormMonitor, ScaleMonitor
from keras_mi.data import VOCABULARY_SIZE, byte_windows, embedded_corpus_files
from keras_mi.metrics import BitsPerCharacter

LAYERS = {
    "rnn": lambda units: keras.layers.SimpleRNN(units, return_sequences=True, name="recurrent"),
    "mirnn": lambda units: MIRNN(units, return_sequences=True, name="recurrent"),
}


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
    every = max(args.steps // 4, 1)
    callbacks = [
        keras.callbacks.TensorBoard(log_dir),
        GradientNormMonitor(
            log_dir, probe, every_n_batches=every, timesteps=range(args.sequence_length)
        ),
        ActivationMonitor(log_dir, (probe[0],), every_n_batches=every),
        ScaleMonitor(log_dir, (probe[0],), every_n_batches=every),
    ]
    model.fit(data, steps_per_epoch=args.steps, epochs=1, callbacks=callbacks, verbose=0)
    return callbacks[1].gradient_norms()


def read_profiles(log_dir):
    """The last logged log-norm of each timestep and the last `scale/profile`
    image (PNG bytes), read back from the event files."""
    import tensorflow as tf
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(
        os.path.join(log_dir, "monitors"), size_guidance={"tensors": 0}
    )
    events.Reload()
    tags = sorted(t for t in events.Tags()["tensors"] if t.startswith("gradient_norm/log_dC_dh_t="))
    logs = [float(tf.make_ndarray(events.Tensors(tag)[-1].tensor_proto)) for tag in tags]
    image = events.Tensors("scale/profile")[-1]
    png = tf.make_ndarray(image.tensor_proto)[2]  # [width, height, png bytes]
    return np.array(logs), png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--sequence-length", type=int, default=50)
    parser.add_argument("--log-dir", default=os.path.join("runs", "fig1"))
    parser.add_argument("--figure", default=os.path.join("docs", "images", "gradient_norms.png"))
    args = parser.parse_args(argv)
    x, y = next(iter(byte_windows(embedded_corpus_files("validation"), args.sequence_length, 16)))
    probe = (np.asarray(x), np.asarray(y))
    norms = {}
    for kind in LAYERS:
        log_dir = os.path.join(args.log_dir, kind)
        norms[kind] = train(kind, args, probe, log_dir)
        print(f"{kind}: log ||dC/dh_t|| at t=0: {np.log(norms[kind][0]):.2f}, "
              f"at t=T-1: {np.log(norms[kind][-1]):.2f}")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        os.makedirs(os.path.dirname(args.figure) or ".", exist_ok=True)
        figure, axis = plt.subplots(figsize=(6, 3.5))
        for kind in LAYERS:
            logs, _ = read_profiles(os.path.join(args.log_dir, kind))
            axis.plot(np.arange(len(logs)), logs, label=kind)
        axis.set_xlabel("timestep t")
        axis.set_ylabel("log ||dC/dh_t||")
        axis.set_title(f"after {args.steps} training steps (loss at the final step)")
        axis.legend()
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(args.figure, dpi=100)
        plt.close(figure)
        _, png = read_profiles(os.path.join(args.log_dir, "mirnn"))
        with open(os.path.join(os.path.dirname(args.figure), "tensorboard_scale_profile.png"), "wb") as handle:
            handle.write(png)
    return norms


if __name__ == "__main__":
    main()
