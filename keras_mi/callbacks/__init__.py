"""TensorBoard monitors of recurrent layers (Wu et al. 2016, section 3.1),
and the reader of what they log (`keras_mi.callbacks.events`)."""

from keras_mi.callbacks import events
from keras_mi.callbacks.events import read_gradient_norms
from keras_mi.callbacks.monitors import ActivationMonitor, GradientNormMonitor, ScaleMonitor

__all__ = ["ActivationMonitor", "GradientNormMonitor", "ScaleMonitor", "events",
           "read_gradient_norms"]
