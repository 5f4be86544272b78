"""The only part of keras_mi that branches on the Keras backend.

Everything else is written with `keras.ops`; what cannot be (automatic
differentiation outside `model.fit`, the fused recurrences with their
hand-written backward passes, each backend's distribution engine in
`engines`) lives here.
"""

import importlib

import keras

from keras_mi.backend.autodiff import value_and_gradients
from keras_mi.backend.cell_steps import ACTIVATIONS, Recurrence

FUSED_BACKENDS = ("tensorflow", "jax", "torch")

__all__ = [
    "ACTIVATIONS",
    "Recurrence",
    "clear_buffers",
    "fused_recurrence",
    "fused_unavailable_reason",
    "masked_outputs_start_at_zero",
    "value_and_gradients",
]


def masked_outputs_start_at_zero():
    """What Keras' own step loop outputs at masked steps before a row's
    first unmasked one: zeros on TensorFlow and PyTorch, the initial state
    `h_0` on JAX (its loop repeats the previous state). The fused
    recurrence does the same as the backend's loop, to give its numbers."""
    return keras.backend.backend() in ("tensorflow", "torch")


def fused_unavailable_reason():
    """Why the current backend, in its current mode, cannot run the fused
    recurrence (`None` if it can): on PyTorch, tracing by `torch.compile`,
    `torch.export` or TorchScript, as Keras' exports do."""
    name = keras.backend.backend()
    if name not in FUSED_BACKENDS:
        return f"no fused recurrence for backend {name!r}"
    if name == "torch":
        from keras_mi.backend import torch_recurrence

        return torch_recurrence.unavailable_reason()
    return None


def clear_buffers():
    """Frees the buffers the fused recurrences keep from one call to the
    next (on PyTorch, those of the C++ loops: at most
    `KERAS_MI_BUFFER_POOL_MB` megabytes, 512 by default). Returns the bytes
    freed; the next call allocates again."""
    if keras.backend.backend() != "torch":
        return 0
    from keras_mi.backend import torch_kernels

    freed = torch_kernels.POOL.bytes
    torch_kernels.POOL.clear()
    return freed


def fused_recurrence(spec, xs, states, w, keep=None):
    """Runs a whole recurrence as one op with a hand-written backward pass.

    Args:
        spec: a `Recurrence` (cell kind and activations).
        xs: dict of time-major input sequences `(T, B, n)`: the inputs `x`
            (projected by `W`, and `Wmx` for the mLSTM, inside the op), or
            the projections `wx` (and `wmx`) themselves.
        states: tuple of initial states, `(B, units)` each.
        w: dict of weights: `U`; `W` (and `Wmx`) with inputs `x`;
            `alpha`, `beta1`, `beta2` in general integration; optionally
            `bias` (Eq. 4's `b`), `rmask` (the recurrent dropout
            multiplier, `(B, units)`), `b_rec` (GRU with `reset_after`),
            `Wmh` (mLSTM).
        keep: `None` or a boolean `(T, B, 1)` tensor; where False the step
            leaves the states unchanged (masking).

    Returns:
        `(h_sequence, *final_states)`, `h_sequence` of shape `(T, B, units)`.

    Raises:
        NotImplementedError: the current backend, or its current mode (for
            example tracing by `torch.compile`), has no fused recurrence.
    """
    name = keras.backend.backend()
    if name not in FUSED_BACKENDS:
        raise NotImplementedError(f"no fused recurrence for backend {name!r}")
    module = importlib.import_module(f"keras_mi.backend.{name}_recurrence")
    return module.fused_recurrence(spec, xs, states, w, keep)
