"""Which recurrent loop each backend runs fastest.

The sequence layers can compute the input projection `W x` for all timesteps
in one matmul before the loop (the hoisted loop), or per step inside it (the
cell loop of `keras.layers.RNN`). Both give the same numbers. Measured on a
2-core CPU (benchmarks/rnn_speed.py, B=32, T=100, D=64, H=256): on PyTorch,
whose loop runs eagerly op by op, the hoisted loop is faster; under XLA
(JAX's `lax.scan`, TensorFlow's compiled `while_loop`) slicing a precomputed
`(T, B, 4H)` tensor each step was slower than the small per-step matmul, so
those backends keep the cell loop.
"""

import keras

HOISTING_BACKENDS = ("torch",)


def hoists_input_projection():
    """Whether the current backend runs the hoisted loop by default."""
    return keras.backend.backend() in HOISTING_BACKENDS
