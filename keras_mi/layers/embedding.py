"""An embedding whose matrix also maps vectors back to vocabulary logits."""

import keras
from keras import initializers, ops

from keras_mi import validation


@keras.saving.register_keras_serializable(package="keras_mi")
class TiedEmbedding(keras.layers.Layer):
    """Token embedding tied to the output softmax (input/output weight tying).

    `layer(ids)` looks up `embeddings[ids]`; `layer(vectors, reverse=True)`
    returns the logits `vectors @ embeddings^T + output_bias`. One matrix
    serves both ends of a language model, as in Jayakumar et al. (2020,
    section 8), where the output embedding is predicted and scored against
    the tied input embeddings.

    Args:
        input_dim: Positive integer, the vocabulary size.
        output_dim: Positive integer, the embedding size.
        embeddings_initializer: Initializer of `embeddings`. Default:
            `"uniform"` (as `keras.layers.Embedding`).
        use_output_bias: Boolean (default `True`), whether the reverse
            direction adds a per-token bias `output_bias`.

    Example:

    >>> layer = TiedEmbedding(10, 4)
    >>> vectors = layer(np.array([[1, 2, 3]]))
    >>> layer(vectors, reverse=True).shape
    (1, 3, 10)
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        embeddings_initializer="uniform",
        use_output_bias=True,
        **kwargs,
    ):
        self.input_dim = validation.check_positive_int("input_dim", input_dim)
        self.output_dim = validation.check_positive_int("output_dim", output_dim)
        super().__init__(**kwargs)
        self.embeddings_initializer = validation.get_initializer(
            "embeddings_initializer", embeddings_initializer
        )
        self.use_output_bias = validation.check_bool("use_output_bias", use_output_bias)

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            name="embeddings",
            initializer=self.embeddings_initializer,
        )
        self.output_bias = None
        if self.use_output_bias:
            self.output_bias = self.add_weight(
                shape=(self.input_dim,), name="output_bias", initializer="zeros"
            )

    def call(self, inputs, reverse=False):
        if not reverse:
            return self._look_up(inputs)
        logits = ops.matmul(inputs, ops.transpose(self.embeddings))
        if self.output_bias is not None:
            logits = logits + self.output_bias
        return logits

    def _look_up(self, ids):
        """`embeddings[ids]`; an id that is not an index of the vocabulary
        (negative, `>= input_dim`, or a float that is not whole) gives a
        vector of NaN on every backend. Inside a compiled step the values
        are not known, so no error can be raised there; NaN makes the loss
        NaN where the frameworks would differ (an error on TensorFlow,
        wrap-around for -1, clipping or NaN on JAX)."""
        if keras.backend.standardize_dtype(ids.dtype) == "bool":
            raise TypeError(f"Layer `{self.name}` expects integer ids, received a "
                            "tensor of dtype bool.")
        whole = ops.cast(ids, "int32")
        valid = ops.logical_and(whole >= 0, whole < self.input_dim)
        if not keras.backend.is_int_dtype(keras.backend.standardize_dtype(ids.dtype)):
            valid = ops.logical_and(valid, ops.equal(ops.cast(whole, ids.dtype), ids))
        vectors = ops.take(self.embeddings, ops.where(valid, whole, 0), axis=0)
        nan = ops.cast(float("nan"), vectors.dtype)
        return ops.where(ops.expand_dims(valid, -1), vectors, nan)

    def get_config(self):
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": initializers.serialize(
                self.embeddings_initializer
            ),
            "use_output_bias": self.use_output_bias,
        }
