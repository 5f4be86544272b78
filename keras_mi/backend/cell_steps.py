"""Each cell's step and its hand-written derivative, once, for every
backend.

`Recurrence` says what a recurrence computes (the cell kind and its
options); `RNNMath`, `LSTMMath`, `MLSTMMath` and `GRUMath` hold one step of
each cell and its backward step, written against a small namespace `xp` of
array functions (`multiply`, `add`, matrix products, activations, `where`,
concatenation) that each backend module supplies. Eq. 4 is computed by
`keras_mi.ops.multiplicative_integration` and differentiated with
`keras_mi.ops.mi_derivative_uz` and `mi_derivative_wx`.
`keras_mi.backend.recurrence` runs these steps over a sequence, forwards
and backwards; keras_mi/backend/csrc/mi_core.h is the one native
copy of them, checked against them by tests/layers/test_fused_recurrence.py.
Names are those of `keras_mi.backend.recurrence`'s docstring.
"""

from dataclasses import dataclass
from numbers import Number

from keras import ops as keras_ops

from keras_mi.ops import (
    FIXED_COEFFICIENTS,
    mi_derivative_uz,
    mi_derivative_wx,
    multiplicative_integration,
    slice_coefficient,
)

# Activations whose derivative is a function of their output `y`, the only
# ones the fused recurrences support (others fall back to the step loop).
ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")

# The matrices the steps multiply by (after `CellMath.prepare`).
MATRICES = ("U", "U_zr", "U_h", "Wmh")


@dataclass(frozen=True)
class Recurrence:
    """What a fused recurrence computes: the cell kind and its options.

    Attributes:
        kind: `"rnn"`, `"lstm"`, `"gru"` or `"mlstm"`.
        integration: `"general"`, `"simple"` or `"additive"` (Eq. 4, 2, 1).
        activation: name of the activation (`ACTIVATIONS`).
        recurrent_activation: name of the gate activation (LSTM, GRU).
        reset_after: GRU only, where the reset gate applies.
    """

    kind: str
    integration: str = "general"
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    reset_after: bool = False

    @property
    def state_count(self):
        return 2 if self.kind in ("lstm", "mlstm") else 1

    @property
    def math(self):
        return _MATH[self.kind]

    @property
    def saves_uz(self):
        """Whether a derivative needs `uz`: all but the additive block."""
        return self.integration != "additive"

    def coefficients(self, w):
        """`(alpha, beta1, beta2, bias)`: tensors, numbers or `None`."""
        if self.integration == "general":
            alpha, beta1, beta2 = w["alpha"], w["beta1"], w["beta2"]
        else:
            alpha, beta1, beta2 = FIXED_COEFFICIENTS[self.integration]
        return alpha, beta1, beta2, w.get("bias")


def activate(xp, name, v):
    """`phi(v)` for the activation `name` of `ACTIVATIONS`, or for a
    callable (the cells' step loop runs any Keras activation)."""
    if callable(name):
        return name(v)
    if name == "tanh":
        return xp.tanh(v)
    if name == "sigmoid":
        return xp.sigmoid(v)
    if name == "relu":
        return xp.relu(v)
    return v


def activation_derivative(xp, name, y):
    """`phi'(v)` from the output `y = phi(v)`."""
    if name == "tanh":
        return 1.0 - y * y
    if name == "sigmoid":
        return y * (1.0 - y)
    if name == "relu":
        return xp.cast(y > 0, y.dtype)
    return 1.0


def scaled(factor, x):
    """`factor * x`, where `factor` may be the number 1."""
    if isinstance(factor, Number) and factor == 1:
        return x
    return factor * x


def columns(value, start, stop):
    """`value[..., start:stop]`, a number left as it is."""
    return slice_coefficient(value, start, stop)


def mi_block(xp, spec, w, wx, uz, start=None, stop=None):
    """Eq. 4 for the gates in columns `start:stop` (all if `None`).

    The coefficients of a column range are sliced once per call, by
    `CellMath.prepare` (`w["coefficients", start, stop]`), not in the loop.
    """
    if start is None:
        return multiplicative_integration(wx, uz, *spec.coefficients(w), xp=xp)
    coefficients = w.get(("coefficients", start, stop))
    if coefficients is None:
        coefficients = [columns(c, start, stop) for c in spec.coefficients(w)]
    return multiplicative_integration(wx[..., start:stop], uz, *coefficients, xp=xp)


def dropped(w, h):
    rmask = w.get("rmask")
    return h if rmask is None else h * rmask


class CellMath:
    """One cell's step, its backward step and its weight gradients.

    - `prepare(spec, w)`: the weights as the loops use them (once per call);
    - `step(xp, spec, w, x, states, save) -> (new_states, saved)`;
    - `step_backward(xp, spec, w, x, prev, new, saved, d_new, dz_duz)
      -> (d_prev, grads)`: `prev`/`new` are the states before/after the
      step, `d_new` the gradients of the loss with respect to `new`,
      `dz_duz` the derivative of Eq. 4 with respect to `uz`;
    - `finish(xp, spec, w, xs, h_prev, saved, grads) -> (d_xs, d_w)`: the
      gradients of the sequences of `xs` (but `wx`) and of the recurrent
      weights, from every step's `saved` and `grads` stacked over time
      (`h_prev`, a `keras_mi.backend.recurrence.PreviousStates`, is the
      sequence of `h_(t-1)`).
    """

    @staticmethod
    def prepare(spec, w):
        return w

    @staticmethod
    def recurrent_term(xp, w, x, h, saved):
        """`U h_(t-1)` (with recurrent dropout), the recurrent term of
        Eq. 4; for the GRU the product by the whole `U`, before the reset
        gate (what the scale monitor compares with `W x`)."""
        return xp.matmul(dropped(w, h), w["U"])


class RNNMath(CellMath):
    """MI-RNN: `h_t = phi(MI(W x_t, U h_(t-1)))` (Eq. 4)."""

    @classmethod
    def step(cls, xp, spec, w, x, states, save):
        uz = cls.recurrent_term(xp, w, x, states[0], {})
        h = activate(xp, spec.activation, mi_block(xp, spec, w, x["wx"], uz))
        return (h,), ({"uz": uz} if save and spec.saves_uz else {})

    @staticmethod
    def step_backward(xp, spec, w, x, prev, new, saved, d_new, dz_duz):
        # h = phi(z).
        dz = d_new[0] * activation_derivative(xp, spec.activation, new[0])
        duz = scaled(dz_duz, dz)
        # uz = U (rmask * h_prev).
        dh_prev = dropped(w, xp.matmul(duz, w["U.T"]))
        return (dh_prev,), {"dz": dz, "duh": duz}

    @staticmethod
    def finish(xp, spec, w, xs, h_prev, saved, grads):
        return {}, {"U": h_prev.dot(xp, w, grads["duh"])}


class LSTMMath(CellMath):
    """MI-LSTM (App. A.1), gate order i, f, c, o:

        z = MI(W x_t, U h_(t-1))                                (Eq. 4)
        i, f, o = sigma(z_i, z_f, z_o),  g = phi(z_c)
        c_t = f * c_(t-1) + i * g,       h_t = o * phi(c_t)
    """

    @classmethod
    def step(cls, xp, spec, w, x, states, save):
        h_prev, c_prev = states[:2]
        saved = {}
        uz = cls.recurrent_term(xp, w, x, h_prev, saved)
        wx = x["wx"]
        # Recurrent batch or layer normalization (the cells' step loop
        # only): `w["normalizer"]` maps `W x`, `U h` and `c_t` to what
        # enters Eq. 4 and the output activation; the state keeps `c_t`.
        normalizer = w.get("normalizer")
        if normalizer is not None:
            wx, uz = normalizer.input(wx), normalizer.recurrent(uz)
        z = mi_block(xp, spec, w, wx, uz)
        units = c_prev.shape[-1]
        sigma, phi = spec.recurrent_activation, spec.activation
        i = activate(xp, sigma, z[..., :units])
        f = activate(xp, sigma, z[..., units : 2 * units])
        g = activate(xp, phi, z[..., 2 * units : 3 * units])
        o = activate(xp, sigma, z[..., 3 * units :])
        c = f * c_prev + i * g
        h = o * activate(xp, phi, c if normalizer is None else normalizer.cell(c))
        if not save:
            return (h, c), {}
        saved["gates"] = xp.concat([i, f, g, o])
        if spec.saves_uz:
            saved["uz"] = uz
        return (h, c), saved

    @staticmethod
    def gates_backward(xp, spec, prev, new, saved, d_new):
        """`(dz, dc_prev)`: through the cell update, from `dh_t`, `dc_t`."""
        c_prev, c = prev[1], new[1]
        dh, dc = d_new
        gates = saved["gates"]
        units = c.shape[-1]
        i = gates[..., :units]
        f = gates[..., units : 2 * units]
        g = gates[..., 2 * units : 3 * units]
        o = gates[..., 3 * units :]
        sigma, phi = spec.recurrent_activation, spec.activation
        y = activate(xp, phi, c)
        # h = o * phi(c): d o = dh * phi(c), d c += dh * o * phi'(c).
        do = dh * y
        dc = dc + dh * o * activation_derivative(xp, phi, y)
        # c = f * c_prev + i * g.
        dz = xp.concat(
            [
                dc * g * activation_derivative(xp, sigma, i),
                dc * c_prev * activation_derivative(xp, sigma, f),
                dc * i * activation_derivative(xp, phi, g),
                do * activation_derivative(xp, sigma, o),
            ]
        )
        return dz, dc * f

    @classmethod
    def step_backward(cls, xp, spec, w, x, prev, new, saved, d_new, dz_duz):
        dz, dc_prev = cls.gates_backward(xp, spec, prev, new, saved, d_new)
        duz = scaled(dz_duz, dz)
        # uz = U (rmask * h_prev).
        dh_prev = dropped(w, xp.matmul(duz, w["U.T"]))
        return (dh_prev, dc_prev), {"dz": dz, "duh": duz}

    @staticmethod
    def finish(xp, spec, w, xs, h_prev, saved, grads):
        return {}, {"U": h_prev.dot(xp, w, grads["duh"])}


class MLSTMMath(LSTMMath):
    """mLSTM (Krause et al. 2016): `LSTMMath` with `uz = U m_t`,
    `m_t = (W_mx x_t) * (W_mh h_(t-1))` (Eq. 2) in place of `U h_(t-1)`."""

    @staticmethod
    def recurrent_term(xp, w, x, h, saved):
        wmh = xp.matmul(dropped(w, h), w["Wmh"])
        saved["wmh"] = wmh
        return xp.matmul(x["wmx"] * wmh, w["U"])

    @classmethod
    def step_backward(cls, xp, spec, w, x, prev, new, saved, d_new, dz_duz):
        dz, dc_prev = cls.gates_backward(xp, spec, prev, new, saved, d_new)
        duz = scaled(dz_duz, dz)
        # uz = U m,  m = wmx * wmh,  wmh = W_mh (rmask * h_prev).
        dm = xp.matmul(duz, w["U.T"])
        dwmh = dm * x["wmx"]
        dh_prev = dropped(w, xp.matmul(dwmh, w["Wmh.T"]))
        grads = {
            "dz": dz,
            "duh": duz,
            "m": x["wmx"] * saved["wmh"],
            "dwmh": dwmh,
            "dwmx": dm * saved["wmh"],
        }
        return (dh_prev, dc_prev), grads

    @staticmethod
    def finish(xp, spec, w, xs, h_prev, saved, grads):
        d_w = {
            "U": xp.tensordot(grads["m"], grads["duh"]),
            "Wmh": h_prev.dot(xp, w, grads["dwmh"]),
        }
        return {"wmx": grads["dwmx"]}, d_w


class GRUMath(CellMath):
    """MI-GRU (App. A.2), gate order z, r, h, Keras' update convention:

        z, r = sigma(MI(W_zr x_t, U_zr h_(t-1)))
        reset_after=False:  u = U_h (r * h_(t-1))
        reset_after=True:   u = r * (U_h h_(t-1) + b'_h)
        h~ = phi(MI(W_h x_t, u)),   h_t = z * h_(t-1) + (1 - z) * h~

    With `reset_after`, `b'` (the recurrent bias) is added to the whole
    recurrent projection, so it enters the update and reset gates too, as
    in Keras. `uz`, the recurrent term of Eq. 4, is `[U_zr h_(t-1), u]`.
    """

    @staticmethod
    def prepare(spec, w):
        units = w["U"].shape[0]
        coefficients = spec.coefficients(w)
        prepared = dict(w)
        for start, stop in ((0, 2 * units), (2 * units, 3 * units)):
            prepared["coefficients", start, stop] = [
                columns(c, start, stop) for c in coefficients
            ]
        if not spec.reset_after:
            # The reset gate sits between U_zr h and U_h: two products.
            prepared["U_zr"] = w["U"][:, : 2 * units]
            prepared["U_h"] = w["U"][:, 2 * units :]
        return prepared

    @staticmethod
    def step(xp, spec, w, x, states, save):
        (h_prev,) = states
        units = h_prev.shape[-1]
        hd = dropped(w, h_prev)
        if spec.reset_after:
            uh = xp.matmul(hd, w["U"])
            if "b_rec" in w:
                uh = uh + w["b_rec"]
            uh_zr, uh_h = uh[..., : 2 * units], uh[..., 2 * units :]
        else:
            uh_zr = xp.matmul(hd, w["U_zr"])
        zr = activate(
            xp,
            spec.recurrent_activation,
            mi_block(xp, spec, w, x["wx"], uh_zr, 0, 2 * units),
        )
        z, r = zr[..., :units], zr[..., units:]
        if spec.reset_after:
            u = r * uh_h
        else:
            u = xp.matmul(r * hd, w["U_h"])
        candidate = activate(
            xp,
            spec.activation,
            mi_block(xp, spec, w, x["wx"], u, 2 * units, 3 * units),
        )
        h = z * h_prev + (1.0 - z) * candidate
        if not save:
            return (h,), {}
        saved = {"gates": xp.concat([z, r, candidate])}
        if spec.saves_uz:
            saved["uz"] = xp.concat([uh_zr, u])
        if spec.reset_after:
            saved["uh_h"] = uh_h
        return (h,), saved

    @staticmethod
    def step_backward(xp, spec, w, x, prev, new, saved, d_new, dz_duz):
        (h_prev,) = prev
        (dh,) = d_new
        units = h_prev.shape[-1]
        gates = saved["gates"]
        z, r = gates[..., :units], gates[..., units : 2 * units]
        candidate = gates[..., 2 * units :]
        sigma = spec.recurrent_activation
        # h = z * h_prev + (1 - z) * h~,  h~ = phi(z_h).
        dz_h = dh * (1.0 - z) * activation_derivative(xp, spec.activation, candidate)
        du = scaled(columns(dz_duz, 2 * units, 3 * units), dz_h)
        hd = dropped(w, h_prev)
        if spec.reset_after:
            # u = r * uh_h.
            dr = du * saved["uh_h"]
            duh_h = du * r
        else:
            # u = U_h (r * hd).
            duh_h = du
            drh = xp.matmul(du, w["U_h.T"])
            dr = drh * hd
        dz_zr = xp.concat(
            [
                dh * (h_prev - candidate) * activation_derivative(xp, sigma, z),
                dr * activation_derivative(xp, sigma, r),
            ]
        )
        duh_zr = scaled(columns(dz_duz, 0, 2 * units), dz_zr)
        duh = xp.concat([duh_zr, duh_h])
        grads = {"dz": xp.concat([dz_zr, dz_h]), "duh": duh}
        if spec.reset_after:
            # uh = U hd + b'.
            dhd = xp.matmul(duh, w["U.T"])
        else:
            # uh_zr = U_zr hd, and hd enters r * hd.
            dhd = drh * r + xp.matmul(duh_zr, w["U_zr.T"])
            grads["rh"] = r * hd
        dh_prev = dh * z + dropped(w, dhd)
        return (dh_prev,), grads

    @staticmethod
    def finish(xp, spec, w, xs, h_prev, saved, grads):
        units = h_prev.units
        duh = grads["duh"]
        if spec.reset_after:
            d_w = {"U": h_prev.dot(xp, w, duh)}
            if "b_rec" in w:
                d_w["b_rec"] = xp.sum_leading(duh)
            return {}, d_w
        # [U_zr hd, U_h (r * hd)].
        d_u = xp.concat(
            [
                h_prev.dot(xp, w, duh[..., : 2 * units]),
                xp.tensordot(grads["rh"], duh[..., 2 * units :]),
            ]
        )
        return {}, {"U": d_u}


class KerasOps:
    """The array namespace `xp` over `keras.ops`: the cells' own step (the
    step loop of `keras.layers.RNN`) runs the math above with it."""

    multiply = staticmethod(keras_ops.multiply)
    add = staticmethod(keras_ops.add)
    tanh = staticmethod(keras_ops.tanh)
    sigmoid = staticmethod(keras_ops.sigmoid)
    relu = staticmethod(keras_ops.relu)
    where = staticmethod(keras_ops.where)
    matmul = staticmethod(keras_ops.matmul)
    cast = staticmethod(keras_ops.cast)
    zeros_like = staticmethod(keras_ops.zeros_like)

    @staticmethod
    def concat(tensors):
        return keras_ops.concatenate(tensors, axis=-1)


_MATH = {"rnn": RNNMath, "lstm": LSTMMath, "mlstm": MLSTMMath, "gru": GRUMath}


def masked_step(xp, spec, w, x, keep, states, save):
    """One step; rows where `keep` is False carry their states over."""
    new, saved = spec.math.step(xp, spec, w, x, states, save)
    if keep is not None:
        new = tuple(xp.where(keep, n, s) for n, s in zip(new, states))
    return new, saved


def masked_step_backward(xp, spec, w, x, keep, prev, new, saved, d_new):
    """The backward step of `masked_step`: `(d_prev, grads)`."""
    alpha, beta1 = spec.coefficients(w)[:2]
    # z = alpha * wx * uz + beta1 * uz + beta2 * wx + b           (Eq. 4)
    dz_duz = mi_derivative_uz(x["wx"], alpha, beta1, xp)
    if keep is None:
        return spec.math.step_backward(
            xp, spec, w, x, prev, new, saved, d_new, dz_duz
        )
    keep = xp.cast(keep, d_new[0].dtype)
    d_cell = tuple(d * keep for d in d_new)
    d_prev, grads = spec.math.step_backward(
        xp, spec, w, x, prev, new, saved, d_cell, dz_duz
    )
    d_prev = tuple(dp + d * (1.0 - keep) for dp, d in zip(d_prev, d_new))
    return d_prev, grads


def mi_step_gradients(xp, spec, w, wx, uz, dz):
    """Through Eq. 4 at one step: `(d_wx, d_coefficients)`, the gradient of
    `W x_t` and the batch sums that are this step's share of the gradients
    of `alpha`, `beta1`, `beta2` and `b`."""
    alpha, beta1, beta2, bias = spec.coefficients(w)
    d_coefficients = {}
    if spec.integration == "general":
        dz_uz = dz * uz
        d_coefficients["alpha"] = xp.sum_batch(dz_uz * wx)
        d_coefficients["beta1"] = xp.sum_batch(dz_uz)
        d_coefficients["beta2"] = xp.sum_batch(dz * wx)
    if bias is not None:
        d_coefficients["bias"] = xp.sum_batch(dz)
    return scaled(mi_derivative_wx(uz, alpha, beta2, xp), dz), d_coefficients
