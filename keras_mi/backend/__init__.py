"""The only part of keras_mi that branches on the Keras backend.

Everything else is written with `keras.ops`; what cannot be (automatic
differentiation outside `model.fit`, 64-bit floats on JAX) lives here.
"""

from keras_mi.backend.autodiff import float64_scope, value_and_gradients

__all__ = ["float64_scope", "value_and_gradients"]
