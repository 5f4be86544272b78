"""Independent NumPy implementations of the equations in the source papers.

Written from the equations, one gate at a time, in float64 and with explicit
loops, sharing no code with keras_mi. Layers are tested against these on
random weights.

Wu et al. 2016 ("On Multiplicative Integration with Recurrent Neural
Networks"):
- Eq. 4: the general MI block; Eq. 2 (simple) and Eq. 1 (additive) are the
  coefficient settings in `MODES`.
- Appendix A.1: MI-LSTM. Appendix A.2: MI-GRU, here with the Keras update
  convention h = z * h_prev + (1 - z) * h_candidate, and both placements of
  the reset gate.

Parameters are dicts of per-gate arrays: `W[g]` of shape (input_dim, units)
(applied as x @ W[g]), `U[g]` of shape (units, units), and vectors `b[g]`,
`alpha[g]`, `beta1[g]`, `beta2[g]` of shape (units,).
"""

import numpy as np

# (alpha, beta1, beta2) of the fixed integration modes.
MODES = {"simple": (1.0, 0.0, 0.0), "additive": (0.0, 1.0, 1.0)}

LSTM_GATES = ("i", "f", "c", "o")
GRU_GATES = ("z", "r", "h")


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def linear(v):
    return v


def mi(wx, uz, alpha, beta1, beta2, b):
    """Eq. 4: alpha * Wx * Uz + beta1 * Uz + beta2 * Wx + b."""
    return alpha * wx * uz + beta1 * uz + beta2 * wx + b


def _run(step, x, state, mask=None, go_backwards=False):
    """Runs `step(x_t, state) -> (output, state)` over time, Keras-style.

    A masked timestep leaves the state unchanged and repeats the previous
    output. With `go_backwards`, the sequence is read from its end and the
    outputs are returned in that (reversed) order, as Keras does.
    """
    x = np.asarray(x, dtype=np.float64)
    timesteps = x.shape[1]
    order = range(timesteps - 1, -1, -1) if go_backwards else range(timesteps)
    outputs = []
    output = np.zeros_like(np.asarray(state[0]))
    for t in order:
        new_output, new_state = step(x[:, t], state)
        if mask is None:
            output, state = new_output, new_state
        else:
            keep = np.asarray(mask[:, t], dtype=bool)[:, None]
            output = np.where(keep, new_output, output)
            state = [np.where(keep, n, s) for n, s in zip(new_state, state)]
        outputs.append(output)
    return np.stack(outputs, axis=1), state


def mi_rnn(x, p, activation=np.tanh, h0=None, mask=None, go_backwards=False):
    """MI-RNN: h_t = phi(MI(W x_t, U h_(t-1))). Returns (outputs, [h_T])."""
    units = p["U"].shape[0]
    h0 = np.zeros((x.shape[0], units)) if h0 is None else h0

    def step(x_t, state):
        (h,) = state
        h = activation(
            mi(x_t @ p["W"], h @ p["U"], p["alpha"], p["beta1"], p["beta2"], p["b"])
        )
        return h, [h]

    return _run(step, x, [h0], mask, go_backwards)


def mi_lstm(x, p, h0=None, c0=None, mask=None, go_backwards=False):
    """MI-LSTM of Appendix A.1. Returns (outputs, [h_T, c_T])."""
    units = p["U"]["i"].shape[0]
    h0 = np.zeros((x.shape[0], units)) if h0 is None else h0
    c0 = np.zeros((x.shape[0], units)) if c0 is None else c0

    def pre(g, x_t, h):
        return mi(
            x_t @ p["W"][g],
            h @ p["U"][g],
            p["alpha"][g],
            p["beta1"][g],
            p["beta2"][g],
            p["b"][g],
        )

    def step(x_t, state):
        h, c = state
        block_input = np.tanh(pre("c", x_t, h))
        i = sigmoid(pre("i", x_t, h))
        f = sigmoid(pre("f", x_t, h))
        o = sigmoid(pre("o", x_t, h))
        c = i * block_input + f * c
        h = o * np.tanh(c)
        return h, [h, c]

    return _run(step, x, [h0, c0], mask, go_backwards)


def mi_gru(x, p, reset_after=False, h0=None, mask=None, go_backwards=False):
    """MI-GRU of Appendix A.2 with the Keras update convention.

    `reset_after=False`: h~ = tanh(MI(W_h x, U_h (r * h))), the paper's form.
    `reset_after=True`: h~ = tanh(MI(W_h x, r * (U_h h + b'_h))), with the
    recurrent biases `p["b_rec"][g]` added to every U-projection, as in the
    cuDNN-style GRU of Keras.
    Returns (outputs, [h_T]).
    """
    units = p["U"]["z"].shape[0]
    h0 = np.zeros((x.shape[0], units)) if h0 is None else h0

    def coeffs(g):
        return p["alpha"][g], p["beta1"][g], p["beta2"][g], p["b"][g]

    def uproj(g, h):
        out = h @ p["U"][g]
        if reset_after:
            out = out + p["b_rec"][g]
        return out

    def step(x_t, state):
        (h,) = state
        z = sigmoid(mi(x_t @ p["W"]["z"], uproj("z", h), *coeffs("z")))
        r = sigmoid(mi(x_t @ p["W"]["r"], uproj("r", h), *coeffs("r")))
        if reset_after:
            u_h = r * uproj("h", h)
        else:
            u_h = (r * h) @ p["U"]["h"]
        candidate = np.tanh(mi(x_t @ p["W"]["h"], u_h, *coeffs("h")))
        h = z * h + (1.0 - z) * candidate
        return h, [h]

    return _run(step, x, [h0], mask, go_backwards)


def linear_mi_rnn_jacobian(x_t, p):
    """Eq. 6 for the linear simple MI-RNN, one step: dh_t / dh_(t-1).

    With h_t = (W x_t) * (U h_(t-1)) + b and row-vector convention
    h_t = (x_t W) * (h_(t-1) U) + b, the Jacobian d h_t[j] / d h_(t-1)[i]
    is U[i, j] * (x_t W)[j], i.e. U diag(W x_t) in this layout (the paper's
    U^T diag(W x_t) in its column-vector convention). Returns, per example,
    the (units, units) matrix J[i, j] = d h_t[j] / d h_(t-1)[i].
    """
    wx = x_t @ p["W"]  # (batch, units)
    return p["U"][None, :, :] * wx[:, None, :]
