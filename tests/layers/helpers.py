"""Helpers shared by the layer tests: random weights in Keras layout, and
their translation into the per-gate parameters of tests/reference.py."""

import keras
import numpy as np

from tests import reference


def to_numpy(x):
    if hasattr(x, "detach"):  # a torch tensor that requires grad
        x = x.detach()
    return np.asarray(keras.ops.convert_to_numpy(x))


def randomize(layer, rng, scale=0.5):
    """Assigns uniform(-scale, scale) values to every weight of `layer`
    (the MI coefficients included) and returns them by variable name."""
    values = {}
    for variable in layer.weights:
        value = rng.uniform(-scale, scale, size=variable.shape)
        variable.assign(value.astype(variable.dtype))
        values[variable.name] = value
    return values


def coefficients(values, mode, width):
    """(alpha, beta1, beta2) as full vectors for the given mode."""
    if mode == "general":
        return values["alpha"], values["beta1"], values["beta2"]
    return tuple(np.full(width, c) for c in reference.MODES[mode])


def per_gate(values, mode, units, gates, bias=None):
    """Splits Keras' fused (.., G * units) weights into per-gate dicts."""
    width = len(gates) * units
    alpha, beta1, beta2 = coefficients(values, mode, width)
    bias = np.zeros(width) if bias is None else bias

    def split(array):
        return {g: array[..., k * units : (k + 1) * units] for k, g in enumerate(gates)}

    return {
        "W": split(values["kernel"]),
        "U": split(values["recurrent_kernel"]),
        "b": split(bias),
        "alpha": split(alpha),
        "beta1": split(beta1),
        "beta2": split(beta2),
    }


def rnn_params(values, mode, units):
    p = per_gate(values, mode, units, ("h",), values.get("bias"))
    return {key: value["h"] for key, value in p.items()}


def lstm_params(values, mode, units):
    return per_gate(values, mode, units, reference.LSTM_GATES, values.get("bias"))


def gru_params(values, mode, units, reset_after):
    bias = values.get("bias")
    if reset_after:
        input_bias = None if bias is None else bias[0]
        p = per_gate(values, mode, units, reference.GRU_GATES, input_bias)
        recurrent_bias = np.zeros(3 * units) if bias is None else bias[1]
        p["b_rec"] = {
            g: recurrent_bias[k * units : (k + 1) * units]
            for k, g in enumerate(reference.GRU_GATES)
        }
        return p
    return per_gate(values, mode, units, reference.GRU_GATES, bias)


def random_mask(rng, batch, timesteps):
    """A boolean mask with holes in the middle and a masked tail."""
    mask = rng.uniform(size=(batch, timesteps)) > 0.3
    mask[:, 0] = True
    mask[0, -2:] = False
    return mask


def compiled(fn):
    """`fn` compiled once on JAX (where each eager call of a layer would
    trace and compile its loop again); `fn` itself elsewhere."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    return fn
