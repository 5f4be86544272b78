"""TensorBoard monitors of recurrent layers (Wu et al. 2016, section 3.1)."""

from keras_mi.callbacks.monitors import (
    ActivationMonitor,
    GradientNormMonitor,
    ScaleMonitor,
    read_gradient_norms,
)

__all__ = ["ActivationMonitor", "GradientNormMonitor", "ScaleMonitor", "read_gradient_norms"]
