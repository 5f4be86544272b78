"""TensorBoard monitors of a recurrent layer: what Wu et al. (2016, section
3.1) measure, logged while `model.fit` runs.

- `GradientNormMonitor`: `log ||dC/dh_t||_2` for each timestep (Fig. 1(a)).
- `ActivationMonitor`: histograms of the hidden states (and cell states) and
  the fraction of saturated tanh units (Fig. 1(c, d)).
- `ScaleMonitor`: the norms of `W x_t` and `U h_(t-1)` and their ratio over
  time (section 3.1.2).

Each runs on its own probe batch at the end of every `every_n_epochs`-th
epoch (or every `every_n_batches` batches), so the training step itself is
unchanged. Scalars, histograms and a profile image are written with
`tf.summary` under `LOG_DIR/monitors`, next to the `train` and `validation`
runs of `keras.callbacks.TensorBoard(LOG_DIR)`, together with a layout for
TensorBoard's Custom Scalars dashboard that draws `log ||dC/dh_t||` for every
logged t in one chart (the view of Fig. 1(a)), and `||Wx||` against `||Uh||`
in another. TensorFlow is imported, with its start-up lines silenced, when
a monitor is created.
"""

import io
import os
import warnings

import keras
import numpy as np

from keras_mi.startup import quiet_tensorflow

from keras_mi import validation
from keras_mi.backend import value_and_gradients
from keras_mi.callbacks import events
from keras_mi.callbacks.probe import Probe, find_recurrent_layer


def _to_numpy(x):
    if hasattr(x, "detach"):
        x = x.detach()
    return np.asarray(keras.ops.convert_to_numpy(x))


def _summary():
    """`tf.summary`, imported on first use."""
    import tensorflow as tf

    return tf.summary


def _profile_image(values, title, ylabel):
    """A line plot of each series against t, as a `(1, H, W, 4)` uint8 image
    (large enough to read in TensorBoard, legend outside the lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for label, series in values.items():
        axis.plot(np.arange(len(series)), series, label=label, linewidth=2)
    axis.set_xlabel("timestep t", fontsize=12)
    axis.set_ylabel(ylabel, fontsize=12)
    axis.set_title(title, fontsize=13)
    if len(values) > 1:
        axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=11)
    axis.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGBA"))[None]


def default_timesteps(length):
    """The steps logged by default: 0, T/4, T/2, 3T/4 and T-1 (five lines a
    person can tell apart, from the most distant step to the last)."""
    return sorted({0, length // 4, length // 2, (3 * length) // 4, length - 1})


def custom_scalars_layout():
    """The Custom Scalars dashboard's layout of the monitors' scalars."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    def chart(title, tags):
        return layout_pb2.Chart(
            title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)
        )

    return layout_pb2.Layout(
        category=[
            layout_pb2.Category(
                title="keras_mi monitors",
                chart=[
                    chart(
                        "gradient norm through time: log ||dC/dh_t|| (Fig. 1(a))",
                        [events.GRADIENT_TAG + "$"],
                    ),
                    chart(
                        "input vs recurrent scale: ||Wx||, ||Uh||",
                        [events.SCALE_WX + "$", events.SCALE_UH + "$"],
                    ),
                    chart("tanh saturation", [events.SATURATION]),
                ],
            )
        ]
    )


def write_custom_scalars_layout(writer):
    """Writes `custom_scalars_layout()` with `writer` (once per log dir)."""
    import tensorflow as tf
    from tensorboard.plugins.custom_scalar import summary as custom_scalar

    with writer.as_default(step=0):
        tf.summary.experimental.write_raw_pb(
            custom_scalar.pb(custom_scalars_layout()).SerializeToString(), step=0
        )


def check_log_dir(log_dir):
    """Creates `log_dir/monitors` if needed; raises a `ValueError` naming
    `log_dir` when it cannot be created or written (TensorFlow's own error
    comes later, from inside its summary writer)."""
    folder = os.path.join(log_dir, events.MONITORS)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise ValueError(
            f"Received an invalid value for argument `log_dir`: cannot create "
            f"{folder!r} ({error.strerror or error}); expected a folder that "
            f"can be created and written."
        ) from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"Received an invalid value for argument `log_dir`: {folder!r} is "
            f"not writable; expected a folder that can be written."
        )


class _Monitor(keras.callbacks.Callback):
    """Shared plumbing: probe data, frequency, the writer."""

    def __init__(
        self,
        log_dir,
        probe_data,
        layer_name=None,
        every_n_epochs=1,
        every_n_batches=None,
    ):
        super().__init__()
        if not isinstance(probe_data, (tuple, list)) or len(probe_data) not in (1, 2):
            raise ValueError(
                "Received an invalid value for argument `probe_data`: expected "
                "a tuple `(x, y)` (or `(x,)`) of arrays, got "
                f"{type(probe_data).__name__}."
            )
        self.log_dir = os.fspath(log_dir)
        self.probe_x = np.asarray(probe_data[0])
        if self.probe_x.ndim < 2 or 0 in self.probe_x.shape[:2]:
            raise ValueError(
                "Received an invalid value for argument `probe_data`: its inputs "
                f"have shape {self.probe_x.shape}; expected (batch, timesteps, ...) "
                "with at least one sequence of at least one timestep."
            )
        self.probe_y = None if len(probe_data) == 1 else np.asarray(probe_data[1])
        self.layer_name = layer_name
        self.every_n_epochs = validation.check_positive_int(
            "every_n_epochs", every_n_epochs
        )
        self.every_n_batches = (
            None
            if every_n_batches is None
            else validation.check_positive_int("every_n_batches", every_n_batches)
        )
        self._writer = None
        self._step = 0
        # The monitors write with tf.summary on every backend. Loading
        # TensorFlow now, with its start-up lines silenced, keeps them out of
        # the user's output (keras.callbacks.TensorBoard would otherwise load
        # it, printing them, when training begins).
        quiet_tensorflow()

    def probe(self):
        layer = find_recurrent_layer(self.model, self.layer_name)
        return Probe(self.model, layer, self.probe_x, self.probe_y)

    def writer(self):
        if self._writer is None:
            self._writer = _summary().create_file_writer(
                os.path.join(self.log_dir, events.MONITORS)
            )
            write_custom_scalars_layout(self._writer)
        return self._writer

    def on_train_begin(self, logs=None):
        self.probe()  # fail early, with a clear error, on a bad setup
        check_log_dir(self.log_dir)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self.every_n_batches and self._step % self.every_n_batches == 0:
            self.record(self._step)

    def on_epoch_end(self, epoch, logs=None):
        if not self.every_n_batches and (epoch + 1) % self.every_n_epochs == 0:
            self.record(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def record(self, step):
        """Measures, writes the values at `step` and returns them."""
        values = self.measure()
        with self.writer().as_default(step=step):
            self.write(values)
        self.writer().flush()
        return values

    def measure(self):
        raise NotImplementedError

    def write(self, values):
        raise NotImplementedError


def _check_timesteps(timesteps):
    """A list of distinct non-negative ints (the steps to log)."""
    if isinstance(timesteps, (str, bytes)) or not hasattr(timesteps, "__iter__"):
        raise TypeError(f"Received an invalid value for argument `timesteps`: {timesteps!r}. "
                        "Expected a list of non-negative integers (steps of the probe).")
    steps = list(timesteps)
    bad = [t for t in steps if isinstance(t, bool) or not isinstance(t, (int, np.integer))
           or t < 0]
    if bad or not steps:
        raise ValueError(f"Received an invalid value for argument `timesteps`: {timesteps!r}"
                         f"{f' ({bad} are not)' if bad else ' (empty)'}. Expected a non-empty "
                         "list of non-negative integers (steps of the probe).")
    return sorted({int(t) for t in steps})


class GradientNormMonitor(_Monitor):
    """Logs `log ||dC/dh_t||_2` for every timestep t of a recurrent layer.

    `h_t` is the state the recurrence carries, and the gradient includes
    every path through later steps: it is the derivative of the loss with
    respect to a perturbation added to `h_t`. C is the model's compiled loss
    summed over the probe examples (so each example contributes its own
    gradient), by default on the prediction at the final timestep, as in Wu
    et al. (2016, Fig. 1(a)); `loss_over="all"` uses every timestep's loss.
    The norm is taken per example and averaged over the probe batch.

    Logged: for each of `timesteps`, the scalar `gradient_norm/log_dC_dh_t`
    in its own run `LOG_DIR/monitors/gradient_t=NNN` (TensorBoard draws the
    steps in one chart, one colour per step, named by run); under
    `LOG_DIR/monitors`, the histogram `gradient_norm/log_profile` of all
    steps and the image `gradient_norm/profile` (log norm against t, every
    step). `read_gradient_norms(log_dir)` reads the scalars back.

    Cost: one forward and one backward pass of the layer over the probe
    batch, run step by step in eager mode, per record.

    Args:
        log_dir: the directory given to `keras.callbacks.TensorBoard`.
        probe_data: `(x, y)` arrays of one probe batch.
        layer_name: the recurrent layer (default: the model's first).
        loss_over: `"final"` (default) or `"all"` timesteps.
        timesteps: the steps logged as scalars (default: 0, T/4, T/2, 3T/4
            and T-1, see `default_timesteps`).
        every_n_epochs, every_n_batches: how often to record.

    Example:

    >>> monitor = GradientNormMonitor("logs", (x_val[:32], y_val[:32]))
    >>> model.fit(x, y, callbacks=[keras.callbacks.TensorBoard("logs"), monitor])
    """

    def __init__(self, log_dir, probe_data, layer_name=None, loss_over="final",
                 timesteps=None, every_n_epochs=1, every_n_batches=None):
        super().__init__(log_dir, probe_data, layer_name, every_n_epochs, every_n_batches)
        if len(probe_data) != 2:
            raise ValueError(
                "Received an invalid value for argument `probe_data`: the "
                "gradient monitor needs targets, `(x, y)`."
            )
        self.loss_over = validation.check_choice("loss_over", loss_over, ("final", "all"))
        self.timesteps = None if timesteps is None else _check_timesteps(timesteps)
        self._step_writers = {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        length = self.probe().timesteps
        outside = [t for t in self.timesteps or () if t >= length]
        if outside:
            raise ValueError(
                f"Received an invalid value for argument `timesteps`: {outside} are beyond "
                f"the probe's {length} timesteps; expected steps in [0, {length - 1}].")

    def gradient_norms(self):
        """`||dC/dh_t||_2` averaged over the probe batch, shape (T,)."""
        probe = self.probe()
        batch = probe.sequences.shape[0]
        zeros = np.zeros((probe.timesteps, batch, probe.units), dtype="float32")
        dtype = keras.backend.standardize_dtype(probe.sequences.dtype)

        def loss(perturbations):
            hidden = probe.run(perturbations)[0]
            predictions = probe.tail(probe.layer_output(hidden), training=False)
            if isinstance(predictions, (list, tuple)):
                predictions = predictions[0]
            return probe.per_example_loss(predictions, self.loss_over == "final")

        _, (grads,) = value_and_gradients(loss, [zeros.astype(dtype)])
        # In float64: the squares of a float32 gradient below about 1e-19 per
        # element underflow to 0, and a norm of 1e-30 (a vanishing gradient
        # at t = 0, the very thing measured) would read as exactly 0.
        return np.linalg.norm(np.asarray(grads, dtype="float64"), axis=-1).mean(axis=1)

    def measure(self):
        return self.gradient_norms()

    def _step_writer(self, t):
        if t not in self._step_writers:
            self._step_writers[t] = _summary().create_file_writer(
                os.path.join(self.log_dir, events.MONITORS, events.GRADIENT_RUN.format(t)))
        return self._step_writers[t]

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        for writer in self._step_writers.values():
            writer.flush()

    def record(self, step):
        norms = self.measure()
        logs = np.log(np.maximum(norms, np.finfo("float64").tiny))
        for t in self.timesteps or default_timesteps(len(norms)):
            if 0 <= t < len(norms):
                writer = self._step_writer(t)
                with writer.as_default(step=step):
                    _summary().scalar(events.GRADIENT_TAG, logs[t])
                writer.flush()
        with self.writer().as_default(step=step):
            self.write(norms)
        self.writer().flush()
        return norms

    def write(self, norms):
        if not np.all(np.isfinite(norms)):
            warnings.warn(
                f"GradientNormMonitor: ||dC/dh_t|| is not finite at t = "
                f"{np.flatnonzero(~np.isfinite(norms)).tolist()[:10]} (the probe batch or the "
                "model gives NaN or inf); the logged values there are not measurements.",
                stacklevel=2)
        summary = _summary()
        logs = np.log(np.maximum(norms, np.finfo("float64").tiny))
        summary.histogram(events.GRADIENT_LOG_PROFILE, logs)
        summary.image(
            events.GRADIENT_PROFILE,
            _profile_image({"log ||dC/dh_t||": logs}, "gradient norm through time", "log norm"),
        )


class ActivationMonitor(_Monitor):
    """Histograms of the hidden activations and their saturation.

    Logs, over the probe batch and all timesteps: the histogram
    `activations/hidden` of `h_t`, `activations/cell` of `c_t` for
    LSTM-family cells (the second state), and the scalar
    `activations/saturation`: the fraction of units with `|h_t| > threshold`
    (0.95 by default), the tanh saturation of Wu et al. (2016, Fig. 1(c, d)).

    Cost: one forward pass of the layer over the probe batch per record.
    """

    def __init__(self, log_dir, probe_data, layer_name=None, threshold=0.95,
                 every_n_epochs=1, every_n_batches=None):
        super().__init__(log_dir, probe_data, layer_name, every_n_epochs, every_n_batches)
        self.threshold = validation.check_positive_float("threshold", threshold)

    def measure(self):
        states = [_to_numpy(state) for state in self.probe().run()]
        hidden = states[0]
        return {
            "hidden": hidden,
            "cell": states[1] if len(states) > 1 else None,
            "saturation": float(np.mean(np.abs(hidden) > self.threshold)),
        }

    def write(self, values):
        summary = _summary()
        summary.histogram(events.HIDDEN, values["hidden"])
        if values["cell"] is not None:
            summary.histogram(events.CELL, values["cell"])
        summary.scalar(events.SATURATION, values["saturation"])


class ScaleMonitor(_Monitor):
    """The scales of the input and recurrent terms over time.

    Logs `scale/Wx` and `scale/Uh` (the norms of `W x_t` and `U h_(t-1)` over
    all gates, per example, averaged over the probe batch and over time),
    `scale/ratio_Wx_over_Uh`, and the image `scale/profile` of both against
    t: section 3.1.2 of Wu et al. (2016), where MI lets `W x` rescale `U h`.
    For the mLSTM `U` acts on `m_t`.

    Cost: one forward pass of the layer over the probe batch per record.
    """

    def measure(self):
        wx, uh = self.probe().projections()
        wx_norm = np.linalg.norm(_to_numpy(wx), axis=-1).mean(axis=1)
        uh_norm = np.linalg.norm(_to_numpy(uh), axis=-1).mean(axis=1)
        return wx_norm, uh_norm

    def write(self, values):
        summary = _summary()
        wx_norm, uh_norm = values
        # U h_(t-1) is zero at t = 0 (zero initial state): averaged from t = 1.
        later = slice(1, None) if len(uh_norm) > 1 else slice(None)
        summary.scalar(events.SCALE_WX, float(wx_norm.mean()))
        summary.scalar(events.SCALE_UH, float(uh_norm[later].mean()))
        summary.scalar(
            events.SCALE_RATIO,
            float(wx_norm[later].mean() / max(uh_norm[later].mean(), 1e-12)),
        )
        summary.image(
            events.SCALE_PROFILE,
            _profile_image({"||Wx_t||": wx_norm, "||Uh_(t-1)||": uh_norm}, "input vs recurrent scale", "norm"),
        )
