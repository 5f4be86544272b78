"""The Multiplicative Integration (MI) building block.

Wu et al. (2016) replace the additive building block of a recurrent network,
`phi(W x + U z + b)` (their Eq. 1), by

    phi(alpha * Wx * Uz + beta1 * Uz + beta2 * Wx + b)            (Eq. 4)

where `*` is the elementwise (Hadamard) product and `alpha`, `beta1`, `beta2`
are vectors of the same size as `b`. Eq. 2 (`Wx * Uz + b`) and Eq. 1 are the
settings `(alpha, beta1, beta2) = (1, 0, 0)` and `(0, 1, 1)`.

Every cell and layer of this package computes its pre-activations with the
functions of this module; nothing else re-types the formula. They are written
with `keras.ops` by default, so they run on every Keras backend. Each cell's
step is defined once, in `keras_mi.backend.cell_steps`, against an array
namespace `xp`: the cells run it with `keras.ops`, the fused recurrences of
`keras_mi.backend` with the backend's own array functions, each providing
`multiply` and `add` for this module.

Eq. 4 is computed in its *hoisted* form

    (alpha * Wx + beta1) * Uz + (beta2 * Wx + b)  =  gate * Uz + offset

The two input terms `gate` and `offset` do not depend on the recurrent state,
so a sequence layer can compute them for all timesteps before its loop.
"""

from numbers import Number

from keras import ops

INTEGRATION_MODES = ("general", "simple", "additive")

# (alpha, beta1, beta2) of the modes whose coefficients are fixed numbers.
FIXED_COEFFICIENTS = {
    "simple": (1.0, 0.0, 0.0),  # Eq. 2
    "additive": (0.0, 1.0, 1.0),  # Eq. 1, the plain RNN / LSTM / GRU
}


def _is_constant(value, constant):
    return isinstance(value, Number) and value == constant


def _scale_and_shift(scale, x, shift, xp=ops):
    """`scale * x + shift`, skipping products by 1 and terms equal to 0.

    `scale` and `shift` are tensors or Python numbers; `shift` may be `None`
    (no shift). Constant coefficients of the fixed modes thus cost nothing:
    the additive mode adds two tensors, exactly like `keras.layers.LSTM`.
    """
    if _is_constant(scale, 0):
        result = None
    elif _is_constant(scale, 1):
        result = x
    else:
        result = xp.multiply(scale, x)
    if shift is None or _is_constant(shift, 0):
        return 0.0 if result is None else result
    if result is None:
        return shift
    return xp.add(result, shift)


def mi_input_terms(wx, alpha, beta1, beta2, bias=None, xp=ops):
    """The state-independent terms of Eq. 4: `(gate, offset)`.

    Args:
        wx: the input projection `W x`, shape `(..., d)`.
        alpha, beta1, beta2: tensors of shape `(d,)` or Python numbers.
        bias: tensor of shape `(d,)`, or `None` for no bias.
        xp: the array module computing it (default: `keras.ops`).

    Returns:
        `gate = alpha * wx + beta1` and `offset = beta2 * wx + bias`, such
        that the pre-activation of Eq. 4 is `gate * Uz + offset`. A term that
        is a constant is returned as a Python number.
    """
    gate = mi_derivative_uz(wx, alpha, beta1, xp)
    offset = _scale_and_shift(beta2, wx, bias, xp)
    return gate, offset


def mi_combine(gate, offset, uz, xp=ops):
    """Completes Eq. 4 from its input terms: `gate * uz + offset`."""
    return _scale_and_shift(gate, uz, offset, xp)


def mi_derivative_uz(wx, alpha, beta1, xp=ops):
    """`dz/duz = alpha * wx + beta1`, the derivative of Eq. 4 with respect
    to the recurrent term (it is the `gate` of `mi_input_terms`)."""
    return _scale_and_shift(alpha, wx, beta1, xp)


def mi_derivative_wx(uz, alpha, beta2, xp=ops):
    """`dz/dwx = alpha * uz + beta2`, the derivative of Eq. 4 with respect
    to the input term. (With respect to the coefficients, the derivatives
    are `wx * uz`, `uz`, `wx` and 1.)"""
    return _scale_and_shift(alpha, uz, beta2, xp)


def multiplicative_integration(wx, uz, alpha, beta1, beta2, bias=None, xp=ops):
    """The MI pre-activation `alpha*wx*uz + beta1*uz + beta2*wx + bias`.

    This is Eq. 4 of Wu et al. (2016) before the nonlinearity.

    Args:
        wx: the input projection `W x`, shape `(..., d)`.
        uz: the recurrent (or context) projection `U z`, shape `(..., d)`.
        alpha, beta1, beta2: tensors of shape `(d,)` or Python numbers;
            `(1, 0, 0)` gives Eq. 2 and `(0, 1, 1)` the additive Eq. 1.
        bias: tensor of shape `(d,)`, or `None`.
        xp: the array module computing it (default: `keras.ops`).

    Returns:
        A tensor of shape `(..., d)`.

    Example:

    >>> import numpy as np
    >>> wx = np.array([[1.0, 2.0]])
    >>> uz = np.array([[3.0, 4.0]])
    >>> out = multiplicative_integration(wx, uz, 1.0, 0.0, 0.0)
    >>> np.asarray(out).tolist()
    [[3.0, 8.0]]
    """
    return mi_combine(*mi_input_terms(wx, alpha, beta1, beta2, bias, xp), uz, xp)


def slice_coefficient(coefficient, start, stop):
    """`coefficient[..., start:stop]` (last axis) for a tensor.

    A Python number (a constant term) or `None` is returned unchanged.
    """
    if isinstance(coefficient, Number) or coefficient is None:
        return coefficient
    return coefficient[..., start:stop]
