"""The only part of keras_mi that branches on the Keras backend.

Everything else is written with `keras.ops`; what cannot be (automatic
differentiation outside `model.fit`) lives here.
"""

from keras_mi.backend.autodiff import value_and_gradients

__all__ = ["value_and_gradients"]
