"""Argument checks shared by the package (layers, data, models, monitors):
errors name the argument, the value received and what is accepted, in
Keras' own wording."""

import math
from numbers import Integral, Real

import numpy as np
from keras import activations, constraints, initializers, regularizers


def _check_number(name, value, types, expected, accepted):
    """Returns `value` if it is an instance of `types` (not a bool) for which
    `accepted(value)` holds; else raises a `TypeError` or a `ValueError`
    that says the argument was `expected`."""
    if isinstance(value, bool) or not isinstance(value, types):
        raise TypeError(
            f"Received an invalid type for argument `{name}`, expected "
            f"{expected}, got {name}={value!r} of type {type(value).__name__}."
        )
    if not accepted(value):
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected "
            f"{expected}, got {name}={value}."
        )
    return value


def check_positive_int(name, value):
    """Returns `value` if it is a positive integer, else raises."""
    return int(_check_number(name, value, Integral, "a positive integer", lambda v: v > 0))


# Seeds fit the state of Keras' SeedGenerator on every backend (a signed
# 32-bit integer on PyTorch, an unsigned one on JAX).
SEED_LIMIT = 2**31


def check_seed(name, value, limit=None):
    """Returns `value` if it is `None` or an integer in `[0, limit)` (by
    default `[0, 2**31)`, what every backend's layer seeds hold), else
    raises."""
    limit = SEED_LIMIT if limit is None else limit
    if value is None:
        return None
    return int(_check_number(name, value, Integral, f"None or an integer in [0, {limit})",
                             lambda v: 0 <= v < limit))


def check_rate(name, value):
    """Returns `value` as a float if it lies in `[0, 1)`, else raises."""
    return float(_check_number(name, value, Real, "a float in [0, 1)",
                               lambda v: 0.0 <= v < 1.0))


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices`, else raises `ValueError`."""
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected one "
            f"of {tuple(choices)}, got {name}={value!r}."
        )
    return value


def get_activation(name, identifier):
    """`keras.activations.get` with an error that names the argument."""
    try:
        return activations.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected the "
            "name of a Keras activation (such as 'tanh' or 'sigmoid'), a "
            f"callable or None, got {name}={identifier!r}. ({error})"
        ) from None


def _get_keras_object(module, kind, examples, name, identifier):
    try:
        return module.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected the "
            f"name of a Keras {kind} (such as {examples}), a config dict, an "
            f"instance, a callable or None, got {name}={identifier!r}. ({error})"
        ) from None


def get_initializer(name, identifier):
    """`keras.initializers.get` with an error that names the argument."""
    return _get_keras_object(
        initializers, "initializer", "'glorot_uniform' or 'zeros'", name, identifier
    )


def get_regularizer(name, identifier):
    """`keras.regularizers.get` with an error that names the argument."""
    return _get_keras_object(regularizers, "regularizer", "'l2'", name, identifier)


def get_constraint(name, identifier):
    """`keras.constraints.get` with an error that names the argument."""
    return _get_keras_object(constraints, "constraint", "'non_neg'", name, identifier)


_GETTERS = {
    "initializer": get_initializer,
    "regularizer": get_regularizer,
    "constraint": get_constraint,
}


def set_weight_options(layer, arguments, weights, kinds=tuple(_GETTERS)):
    """Sets `layer.<weight>_<kind>` from `arguments["<weight>_<kind>"]` (a
    constructor's `locals()`) for each weight and kind, through the getter
    that names the argument on a bad value."""
    for weight in weights:
        for kind in kinds:
            name = f"{weight}_{kind}"
            setattr(layer, name, _GETTERS[kind](name, arguments[name]))


_SERIALIZERS = {
    "initializer": initializers.serialize,
    "regularizer": regularizers.serialize,
    "constraint": constraints.serialize,
}


def weight_options_config(layer, weights, kinds=tuple(_GETTERS)):
    """The config entries of what `set_weight_options` set: `{"<weight>_<kind>":
    serialized}` for each weight and kind (`None` stays `None`)."""
    config = {}
    for weight in weights:
        for kind in kinds:
            value = getattr(layer, f"{weight}_{kind}")
            config[f"{weight}_{kind}"] = None if value is None else _SERIALIZERS[kind](value)
    return config


def check_positive_float(name, value):
    """Returns `value` as a float if it is a number > 0, else raises."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"Received an invalid type for argument `{name}`, expected a "
            f"positive float, got {name}={value!r} "
            f"of type {type(value).__name__}."
        )
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"finite positive float, got {name}={value}."
        )
    return float(value)


def check_bool(name, value):
    """Returns `value` as a Python bool if it is a boolean, else raises
    `TypeError` (a string such as `'no'` would otherwise count as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"Received an invalid type for argument `{name}`, expected a "
            f"boolean (True or False), got {name}={value!r} "
            f"of type {type(value).__name__}."
        )
    return bool(value)


class ArgumentError(ValueError):
    """A bad value of one named argument, in Keras' wording. `argument` is
    its name, `reason` what is wrong with it (argument names in it are
    written between backticks, so that a command line can name its own
    options instead)."""

    def __init__(self, argument, reason):
        self.argument = argument
        self.reason = reason
        super().__init__(f"Received an invalid value for argument `{argument}`: {reason}")
