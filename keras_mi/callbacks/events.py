"""What the monitors write to TensorBoard, and the one reader of it.

The tags are constants here: the monitors write under them, and the
examples, the experiments and the tests read them back with the functions
below (never by re-typing a tag).

Layout under a monitor's `log_dir`:

- `monitors/`: every tag below but `GRADIENT_TAG`;
- `monitors/gradient_t=NNN/`: `GRADIENT_TAG`, log ||dC/dh_t|| of step t, one
  run per logged step (TensorBoard draws each run in its own colour).
"""

import os

import numpy as np

MONITORS = "monitors"  # the run (folder under log_dir) of the monitors

GRADIENT_TAG = "gradient_norm/log_dC_dh_t"
GRADIENT_RUN = "gradient_t={:03d}"
GRADIENT_LOG_PROFILE = "gradient_norm/log_profile"  # histogram over t
GRADIENT_PROFILE = "gradient_norm/profile"  # image
HIDDEN = "activations/hidden"  # histogram
CELL = "activations/cell"  # histogram (LSTM family)
SATURATION = "activations/saturation"  # scalar
SCALE_WX = "scale/Wx"  # scalar
SCALE_UH = "scale/Uh"  # scalar
SCALE_RATIO = "scale/ratio_Wx_over_Uh"  # scalar
SCALE_PROFILE = "scale/profile"  # image

TAGS = (GRADIENT_LOG_PROFILE, GRADIENT_PROFILE, HIDDEN, CELL, SATURATION, SCALE_WX,
        SCALE_UH, SCALE_RATIO, SCALE_PROFILE)


def _accumulator(folder):
    from tensorboard.backend.event_processing import event_accumulator

    events = event_accumulator.EventAccumulator(folder, size_guidance={"tensors": 0})
    events.Reload()
    return events


def read_tensors(log_dir, tag, run=MONITORS):
    """`[(step, value)]` of every record of `tag` in `log_dir/run`, in the
    order written; `value` a NumPy array (a scalar has shape `()`).

    Raises:
        ValueError: no such run, or no such tag in it (the message lists
            the tags that are there).
    """
    from tensorflow import make_ndarray

    folder = os.path.join(log_dir, run)
    if not os.path.isdir(folder):
        raise ValueError(f"No monitor logs in {folder}.")
    events = _accumulator(folder)
    tags = events.Tags()["tensors"]
    if tag not in tags:
        raise ValueError(f"No tag {tag!r} in {folder} (its tags: {sorted(tags)}).")
    return [(int(record.step), make_ndarray(record.tensor_proto))
            for record in events.Tensors(tag)]


def tags(log_dir, run=MONITORS):
    """The tags logged in `log_dir/run`."""
    return set(_accumulator(os.path.join(log_dir, run)).Tags()["tensors"])


def read_scalars(log_dir, tag, run=MONITORS):
    """`(steps, values)` of a scalar tag, as lists."""
    records = read_tensors(log_dir, tag, run)
    return [step for step, _ in records], [float(value) for _, value in records]


def read_histogram(log_dir, tag, run=MONITORS):
    """The last histogram of `tag`: `{"left", "right", "count"}` lists (one
    entry per bin: its edges and its count)."""
    histogram = read_tensors(log_dir, tag, run)[-1][1]
    return {"left": histogram[:, 0].tolist(), "right": histogram[:, 1].tolist(),
            "count": histogram[:, 2].tolist()}


def read_image(log_dir, tag, run=MONITORS):
    """The PNG bytes of the last image of `tag`."""
    return read_tensors(log_dir, tag, run)[-1][1][2]  # [width, height, png]


def gradient_steps(log_dir):
    """The timesteps t whose log ||dC/dh_t|| was logged, sorted."""
    folder = os.path.join(log_dir, MONITORS)
    if not os.path.isdir(folder):
        return []
    return sorted(int(name.split("=")[1]) for name in os.listdir(folder)
                  if name.startswith("gradient_t="))


def read_gradient_norms(log_dir, timesteps=None):
    """`{t: (steps, log norms)}` as `GradientNormMonitor` logged them under
    `log_dir` (all the steps it logged, or `timesteps`)."""
    logged = gradient_steps(log_dir)
    curves = {}
    for t in logged if timesteps is None else timesteps:
        if t not in logged:
            raise ValueError(f"No gradient norm of step t={t} in "
                             f"{os.path.join(log_dir, MONITORS)} (logged: {logged or 'none'}).")
        curves[t] = read_scalars(log_dir, GRADIENT_TAG, os.path.join(MONITORS, GRADIENT_RUN.format(t)))
    return curves


def last_value(log_dir, tag, run=MONITORS):
    """`(step, value)` of the last record of a scalar tag."""
    step, value = read_tensors(log_dir, tag, run)[-1]
    return step, float(np.asarray(value))
