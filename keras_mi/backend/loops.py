"""Which recurrent loop each backend runs fastest.

The sequence layers can compute the input projection `W x` for all timesteps
in one matmul before the loop (the hoisted loop), or per step inside it (the
cell loop of `keras.layers.RNN`). Both give the same numbers; which is faster
depends on the backend's loop. Measured on a 2-core CPU with
benchmarks/rnn_speed.py (docs/benchmarks.md, variants `MILSTM[hoisted]` and
`MILSTM[cell loop]`): on PyTorch, whose loop runs eagerly op by op, the
hoisted loop is faster; on JAX (XLA's `lax.scan`) slicing a precomputed
`(T, B, 4H)` tensor each step was slower than the small per-step matmul; on
TensorFlow (a graph `while_loop`; Keras does not use XLA on CPU-only
machines) the two were within noise, so it keeps Keras' cell loop.
"""

import keras

HOISTING_BACKENDS = ("torch",)


def hoists_input_projection():
    """Whether the current backend runs the hoisted loop by default."""
    return keras.backend.backend() in HOISTING_BACKENDS
