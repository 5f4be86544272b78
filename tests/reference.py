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


def mlstm(x, p, h0=None, c0=None, mask=None, go_backwards=False):
    """mLSTM of Krause et al. (2016), gates combined by the MI block.

    m_t = (x_t W_mx) * (h_(t-1) W_mh); every gate g is
    MI(x_t W[g], m_t U[g]); the cell and output updates are the LSTM's.
    `p` holds the per-gate LSTM parameters plus "Wmx" and "Wmh".
    Returns (outputs, [h_T, c_T]).
    """
    units = p["Wmh"].shape[0]
    h0 = np.zeros((x.shape[0], units)) if h0 is None else h0
    c0 = np.zeros((x.shape[0], units)) if c0 is None else c0

    def step(x_t, state):
        h, c = state
        m = (x_t @ p["Wmx"]) * (h @ p["Wmh"])

        def pre(g):
            return mi(
                x_t @ p["W"][g],
                m @ p["U"][g],
                p["alpha"][g],
                p["beta1"][g],
                p["beta2"][g],
                p["b"][g],
            )

        i, f, o = sigmoid(pre("i")), sigmoid(pre("f")), sigmoid(pre("o"))
        c = f * c + i * np.tanh(pre("c"))
        h = o * np.tanh(c)
        return h, [h, c]

    return _run(step, x, [h0, c0], mask, go_backwards)


def normalized_lstm(x, p, kind, epsilon, statistics=None, multiplicative=False):
    """MI-LSTM (or mLSTM) with recurrent batch or layer normalization.

    Cooijmans et al. (2017): with N the normalization,
        z_g = MI(gx[g] * N(x_t W)[g], gh[g] * N(h_(t-1) U)[g]) + b[g]
        c_t = f * c_(t-1) + i * tanh(z_c)
        h_t = o * tanh(gc * N(c_t) + bc)
    where N(x W) and N(h U) normalize the fused 4*units vector of all gates.

    kind="layer": statistics over the features of each example.
    kind="batch", statistics=None: training mode, statistics over the batch
        at each timestep; the per-step (mean, variance) of the three
        quantities are returned in `collected[name]` lists.
    kind="batch", statistics given: inference, `statistics[name]` is
        (means, variances) with one row per timestep; steps past the last row
        reuse it.
    `p` holds per-gate parameters as for `mi_lstm` (and "Wmx", "Wmh" if
    multiplicative) plus "gx", "gh" (4*units,), "gc", "bc" (units,).
    Returns (outputs, [h_T, c_T], collected).
    """
    gates = LSTM_GATES
    units = p["U"]["i"].shape[0] if not multiplicative else p["Wmh"].shape[0]
    batch, timesteps = x.shape[0], x.shape[1]
    fuse = lambda part: np.concatenate([part[g] for g in gates], axis=-1)  # noqa: E731
    W, U, b = fuse(p["W"]), fuse(p["U"]), fuse(p["b"])
    alpha, beta1, beta2 = fuse(p["alpha"]), fuse(p["beta1"]), fuse(p["beta2"])
    collected = {"input": [], "recurrent": [], "cell": []}

    def norm(name, v, t):
        if kind == "layer":
            mean = v.mean(axis=-1, keepdims=True)
            var = v.var(axis=-1, keepdims=True)
        elif statistics is None:
            mean, var = v.mean(axis=0), v.var(axis=0)
            collected[name].append((mean, var))
        else:
            means, variances = statistics[name]
            row = min(t, len(means) - 1)
            mean, var = means[row], variances[row]
        return (v - mean) / np.sqrt(var + epsilon)

    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = []
    for t in range(timesteps):
        x_t = x[:, t].astype(np.float64)
        recurrent_input = h
        if multiplicative:
            recurrent_input = (x_t @ p["Wmx"]) * (h @ p["Wmh"])
        wx = p["gx"] * norm("input", x_t @ W, t)
        uh = p["gh"] * norm("recurrent", recurrent_input @ U, t)
        z = mi(wx, uh, alpha, beta1, beta2, b)
        z_i, z_f, z_c, z_o = np.split(z, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(p["gc"] * norm("cell", c, t) + p["bc"])
        outputs.append(h)
    return np.stack(outputs, axis=1), [h, c], collected


def interaction(x, z, p, mode):
    """Eq. 1 of Jayakumar et al. (2020) in its three forms, by einsum.

    hypernetwork: sum_ij z_i W_ijk x_j + z U + x V + b;
    diagonal:     alpha * (x V) * (z C) + beta1 * (z C) + beta2 * (x V) + b;
    scalar:       (z . w_s + s0) * (x V) + z U + b.
    """
    x = np.asarray(x, np.float64)
    z = np.asarray(z, np.float64)
    vx = x @ p["V"]
    if mode == "hypernetwork":
        return np.einsum("...i,ijk,...j->...k", z, p["W"], x) + z @ p["U"] + vx + p["b"]
    if mode == "diagonal":
        return mi(vx, z @ p["U"], p["alpha"], p["beta1"], p["beta2"], p["b"])
    scale = z @ p["w_s"] + p["s0"]
    return scale * vx + z @ p["U"] + p["b"]


def appendix_b_hypernetwork(x, z, p):
    """Appendix B of Jayakumar et al.: generate one weight matrix per example.

    W_gen = reshape(Linear(n * k)(z), [B, n, k]) (weights W reshaped to
    (m, n*k), bias V reshaped to n*k); b_gen = Linear(k)(z) (weights U, bias
    b); y = x @ W_gen + b_gen, one matrix product per example.
    """
    m, n, k = p["W"].shape
    generated = z @ p["W"].reshape(m, n * k) + p["V"].reshape(n * k)
    generated = generated.reshape(-1, n, k)
    bias = z @ p["U"] + p["b"]
    return np.stack([x[i] @ generated[i] for i in range(len(x))]) + bias
