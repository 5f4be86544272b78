"""Gradients of a scalar function of tensors, on the current Keras backend."""

import keras
import numpy as np


def value_and_gradients(fn, inputs):
    """Evaluates `fn(*inputs)` and its gradient with respect to each input.

    Args:
        fn: a function of tensors returning a scalar tensor, written with
            `keras.ops` (it may call Keras layers).
        inputs: a list of arrays (NumPy or backend tensors); they are
            converted to backend tensors of their own dtype.

    Returns:
        `(value, gradients)`: the value as a Python float and the gradients
        as a list of NumPy arrays shaped like `inputs`.
    """
    name = keras.backend.backend()
    arrays = [np.asarray(keras.ops.convert_to_numpy(x)) for x in inputs]
    if name == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        with tf.GradientTape() as tape:
            for tensor in tensors:
                tape.watch(tensor)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
    elif name == "jax":
        import jax

        value, grads = jax.value_and_grad(
            lambda *xs: fn(*xs), argnums=tuple(range(len(arrays)))
        )(*[jax.numpy.asarray(a) for a in arrays])
    elif name == "torch":
        import torch

        tensors = [
            keras.ops.convert_to_tensor(a, dtype=a.dtype.name)
            .detach()
            .clone()
            .requires_grad_(True)
            for a in arrays
        ]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
        value = value.detach()
        grads = [None if g is None else g.detach() for g in grads]
    else:
        raise NotImplementedError(
            f"Gradients are not implemented for the Keras backend {name!r}; "
            "supported backends are 'tensorflow', 'jax' and 'torch'."
        )
    grads = [
        np.zeros_like(a) if g is None else np.asarray(keras.ops.convert_to_numpy(g))
        for a, g in zip(arrays, grads)
    ]
    return float(keras.ops.convert_to_numpy(value)), grads
