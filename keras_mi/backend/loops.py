"""Which loop each backend runs fastest, per kind of device.

The sequence layers can compute the input projection `W x` for all timesteps
in one matmul before the loop (the hoisted loop), or per step inside it (the
cell loop of `keras.layers.RNN`); the fused recurrence on JAX can unroll its
`lax.scan` and compute the projections inside its loops. Every choice gives
the same numbers; which is faster depends on the backend's loop and the
device. Measured on a 2-core CPU with benchmarks/rnn_speed.py
(docs/benchmarks.md; variants `MILSTM[hoisted]` and `MILSTM[cell loop]`):

- PyTorch, whose loop runs eagerly op by op: the hoisted loop is faster;
- JAX (XLA's `lax.scan`): slicing a precomputed `(T, B, 4H)` tensor each
  step was slower than the small per-step matmul, and unrolling the scan by
  4 was faster than not;
- TensorFlow (a graph `while_loop`; Keras does not use XLA on CPU-only
  machines): the two were within noise, so it keeps Keras' cell loop.

The fused recurrence's C++ loops (`native_loops`), against the framework's
own loops, train step, (32, 100, 64, 256) and (64, 200, 128, 512), one
interleaved run each:

- TensorFlow: MILSTM 0.87x and 0.97x the time, MIGRU 0.76x and 0.94x, and
  0.09x-0.17x the host memory of the step: on (in training, and in
  inference eagerly and in Keras' predict and evaluate steps; other graphs
  keep the while_loops: tf_kernels.in_keras_step);
- JAX, with the products spread over XLA's threads (OpenBLAS's own
  threads beside XLA's had made MIGRU 1.56x-1.66x slower at the large
  shape): MILSTM 0.83x and 0.99x, MIGRU 0.81x and 0.88x, MIRNN 0.97x and
  1.03x, MLSTM 1.01x and 1.08x, for 0.63x XLA's temporary memory: on (in
  training; inference keeps the `lax.scan` loops; `KERAS_MI_XLA_KERNELS=0`
  turns them off). PyTorch always runs its C++ loops, which it was measured
  faster with.

Those settings apply on the CPU only; on a device where nothing was measured
the layers keep the frameworks' own defaults (Keras' cell loop, a scan
without unrolling, projections computed before the loop).
"""

import keras

# (backend, device kind) -> the settings measured faster there.
TUNED = {
    ("torch", "cpu"): {"hoist_inputs": True},
    ("jax", "cpu"): {"unroll": 4, "projects_in_loop": True, "native_loops": True},
    ("tensorflow", "cpu"): {"native_loops": True},
}
DEFAULTS = {"hoist_inputs": False, "unroll": 1, "projects_in_loop": False,
            "native_loops": False}


def device_kind():
    """The kind of device the current backend computes on: "cpu", "gpu"
    (CUDA or ROCm) or "tpu"."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.default_backend()
    if backend == "torch":
        import torch

        return "gpu" if torch.cuda.is_available() else "cpu"
    if backend == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return "cpu"


def setting(name, backend=None, device=None):
    """The value of setting `name` (`DEFAULTS`' keys) for `backend` on
    `device` (by default the current ones)."""
    key = (backend or keras.backend.backend(), device or device_kind())
    return TUNED.get(key, {}).get(name, DEFAULTS[name])


def hoists_input_projection():
    """Whether the current backend runs the hoisted loop by default."""
    return setting("hoist_inputs")
