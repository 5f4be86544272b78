"""Bits per character: the cross-entropy of next-character prediction in bits."""

import math

import keras

from keras_mi.validation import check_bool


@keras.saving.register_keras_serializable(package="keras_mi")
class BitsPerCharacter(keras.metrics.Mean):
    """Mean cross-entropy in bits (log base 2) over the predicted characters.

    BPC is `log2` of the per-character perplexity, the measure Wu et al.
    (2016) report. Positions with a zero `sample_weight` (or masked by the
    model's output mask) are excluded from the mean; with none counted the
    result is NaN.

    Args:
        from_logits: whether `y_pred` holds logits (default) or
            probabilities.
        name: metric name. Default: `"bpc"`.
        dtype: metric dtype.

    Example:

    >>> metric = BitsPerCharacter(from_logits=False)
    >>> metric.update_state([0, 1], [[0.5, 0.5], [0.5, 0.5]])
    >>> float(metric.result())
    1.0
    """

    def __init__(self, from_logits=True, name="bpc", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = check_bool("from_logits", from_logits)

    def update_state(self, y_true, y_pred, sample_weight=None):
        # A label that is not a class (negative, or >= the number of classes)
        # counts as NaN on every backend: the frameworks would differ (an
        # error on TensorFlow, a silent 0 on JAX), and inside a compiled
        # step no error can be raised.
        ops = keras.ops
        y_pred = ops.convert_to_tensor(y_pred)
        labels = ops.cast(ops.convert_to_tensor(y_true), "int32")
        valid = ops.logical_and(labels >= 0, labels < ops.shape(y_pred)[-1])
        nats = keras.losses.sparse_categorical_crossentropy(
            ops.where(valid, labels, 0), y_pred, from_logits=self.from_logits
        )
        valid = ops.reshape(valid, ops.shape(nats))
        nats = ops.where(valid, nats, ops.cast(float("nan"), nats.dtype))
        return super().update_state(nats / math.log(2.0), sample_weight=sample_weight)

    def result(self):
        """The mean, or NaN where no character was counted (all weights zero):
        an empty mean is unknown, not a perfect score of 0."""
        count = keras.ops.cast(self.count, self.dtype)
        return keras.ops.where(
            count > 0,
            keras.ops.divide_no_nan(keras.ops.cast(self.total, self.dtype), count),
            keras.ops.cast(float("nan"), self.dtype),
        )

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}
