"""The Multiplicative Interaction layer (Jayakumar et al. 2020).

For an input `x` (n features) and a context `z` (m features), Eq. 1 of the
paper is

    f(x, z) = z^T W x + z^T U + V x + b

with a 3D tensor `W` of shape `(m, n, k)`. Read as a hypernetwork, the context
generates a weight matrix `z^T W + V` and a bias `z^T U + b` for `x`. Three
forms are offered:

- `"hypernetwork"` (or `"full"`): `W` is a free 3D tensor;
- `"diagonal"`: the projections `V x` and `C z` (both of size k) are combined
  by the MI block of Wu et al. (2016), `alpha * Vx * Cz + beta1 * Cz +
  beta2 * Vx + b`: a 3D tensor restricted to `W_ijk = alpha_k C_ik V_jk`
  (the diagonal form applied after a projection of x);
- `"scalar"`: the context generates one scale per example, `s(z) = z . w +
  s0`, applied to `V x` (`W = w (x) V`, the FiLM-like form):
  `s(z) * Vx + z^T U + b`.
"""

import keras
from keras import ops

from keras_mi import validation
from keras_mi.ops import multiplicative_integration

MODES = ("hypernetwork", "full", "diagonal", "scalar")


@keras.saving.register_keras_serializable(package="keras_mi")
class MultiplicativeInteraction(keras.layers.Layer):
    """Multiplicative Interaction layer: `z^T W x + z^T U + V x + b`.

    Called on `[x, z]`: the input `x` of shape `(batch, ..., n)` and the
    context `z` of shape `(batch, ..., m)`, with the same leading dimensions.
    Returns a tensor of shape `(batch, ..., units)`.

    Weights (with m the context size, or `context_units` if given):

    | mode | weights | parameters |
    |---|---|---|
    | `"hypernetwork"` | `interaction_kernel` (m, n, k), `context_kernel` (m, k), `kernel` (n, k), `bias` (k,) | m*n*k + m*k + n*k + k |
    | `"diagonal"` | `kernel` (n, k), `context_kernel` (m, k), `alpha`, `beta1`, `beta2`, `bias` (k,) | n*k + m*k + 4k |
    | `"scalar"` | `kernel` (n, k), `context_kernel` (m, k), `scale_kernel` (m, 1), `scale_bias` (1,), `bias` (k,) | n*k + m*k + m + 1 + k |

    (k = `units`; without a bias, k fewer.) `context_units` adds the
    `context_projection` sublayer, `Dense(context_units, "relu")`, with
    `m_in * context_units + context_units` parameters.

    Args:
        units: Positive integer, the output size k.
        mode: `"hypernetwork"` (default; `"full"` is the same), `"diagonal"`
            or `"scalar"`.
        context_units: `None` (default) or a positive integer: the context
            first goes through `relu(Dense(context_units))`, the low-rank
            bottleneck of Jayakumar et al. (section 8) that keeps `W` small.
        use_bias: Boolean (default `True`), whether to add `b`.
        kernel_initializer: Initializer of `kernel` (`V`). Default:
            `"glorot_uniform"`.
        context_initializer: Initializer of `context_kernel` (`U`, or `C` in
            diagonal mode). Default: `"glorot_uniform"`.
        interaction_initializer: Initializer of `interaction_kernel`
            (hypernetwork) and `scale_kernel` (scalar). Default (`None`):
            normal with variance 1 / fan-in, where the fan-in of
            `interaction_kernel` is m * n (a product of z and x enters
            each output).
        bias_initializer: Initializer of `bias`. Default: `"zeros"`.
        alpha_initializer, beta1_initializer, beta2_initializer: Initializers
            of the MI coefficients (diagonal mode). Default: `"ones"`.
        kernel_regularizer, context_regularizer, interaction_regularizer,
        bias_regularizer: Regularizers of those weights. Default: `None`.
        kernel_constraint, context_constraint, interaction_constraint,
        bias_constraint: Constraints of those weights. Default: `None`.

    Example:

    >>> x = np.random.random((8, 5))
    >>> z = np.random.random((8, 3))
    >>> MultiplicativeInteraction(4)([x, z]).shape
    (8, 4)
    >>> MultiplicativeInteraction(4, mode="diagonal")([x, z]).shape
    (8, 4)
    """

    def __init__(
        self,
        units,
        mode="hypernetwork",
        context_units=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        context_initializer="glorot_uniform",
        interaction_initializer=None,
        bias_initializer="zeros",
        alpha_initializer="ones",
        beta1_initializer="ones",
        beta2_initializer="ones",
        kernel_regularizer=None,
        context_regularizer=None,
        interaction_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        context_constraint=None,
        interaction_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        units = validation.check_positive_int("units", units)
        mode = validation.check_choice("mode", mode, MODES)
        if context_units is not None:
            context_units = validation.check_positive_int(
                "context_units", context_units
            )
        super().__init__(**kwargs)
        self.units = units
        self.mode = "hypernetwork" if mode == "full" else mode
        self.context_units = context_units
        self.use_bias = validation.check_bool("use_bias", use_bias)
        validation.set_weight_options(
            self,
            locals(),
            ("kernel", "context", "bias", "alpha", "beta1", "beta2"),
            kinds=("initializer",),
        )
        self.interaction_initializer = (
            None
            if interaction_initializer is None
            else validation.get_initializer(
                "interaction_initializer", interaction_initializer
            )
        )
        validation.set_weight_options(
            self,
            locals(),
            ("kernel", "context", "interaction", "bias"),
            kinds=("regularizer", "constraint"),
        )
        self.context_projection = None
        if context_units is not None:
            self.context_projection = keras.layers.Dense(
                context_units,
                activation="relu",
                name="context_projection",
                dtype=self.dtype_policy,
            )

    def _split_shapes(self, input_shape):
        if not (
            isinstance(input_shape, (list, tuple))
            and len(input_shape) == 2
            and all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                f"Layer `{self.name}` expects to be called on a list `[x, z]` "
                "of two tensors (the input and the context), got inputs of "
                f"shape {input_shape}."
            )
        x_shape, z_shape = (tuple(s) for s in input_shape)
        leading_ok = len(x_shape) == len(z_shape) and len(x_shape) >= 2
        if leading_ok:
            leading_ok = all(
                a is None or b is None or a == b
                for a, b in zip(x_shape[:-1], z_shape[:-1])
            )
        if not leading_ok:
            raise ValueError(
                f"Layer `{self.name}` expects an input x of shape (batch, ..., "
                "n) and a context z of shape (batch, ..., m) with the same "
                f"leading dimensions, got x.shape={x_shape} and "
                f"z.shape={z_shape}."
            )
        for name, shape in (("x", x_shape), ("z", z_shape)):
            if shape[-1] is None:
                raise ValueError(
                    f"The last dimension of `{name}` passed to layer "
                    f"`{self.name}` must be defined, got {name}.shape={shape}."
                )
        return x_shape, z_shape

    def _add(self, name, shape, initializer, kind):
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer,
            regularizer=getattr(self, f"{kind}_regularizer"),
            constraint=getattr(self, f"{kind}_constraint"),
        )

    def build(self, input_shape):
        x_shape, z_shape = self._split_shapes(input_shape)
        n, m, k = x_shape[-1], z_shape[-1], self.units
        if self.context_projection is not None:
            self.context_projection.build(z_shape)
            m = self.context_units
        self.kernel = self._add("kernel", (n, k), self.kernel_initializer, "kernel")
        self.context_kernel = self._add(
            "context_kernel", (m, k), self.context_initializer, "context"
        )
        if self.mode == "hypernetwork":
            self.interaction_kernel = self._add(
                "interaction_kernel",
                (m, n, k),
                self._interaction_initializer_for(m * n),
                "interaction",
            )
        elif self.mode == "diagonal":
            for name in ("alpha", "beta1", "beta2"):
                setattr(
                    self,
                    name,
                    self.add_weight(
                        shape=(k,),
                        name=name,
                        initializer=getattr(self, f"{name}_initializer"),
                    ),
                )
        else:
            self.scale_kernel = self._add(
                "scale_kernel",
                (m, 1),
                self._interaction_initializer_for(m),
                "interaction",
            )
            self.scale_bias = self.add_weight(
                shape=(1,), name="scale_bias", initializer="ones"
            )
        self.bias = None
        if self.use_bias:
            self.bias = self._add("bias", (k,), self.bias_initializer, "bias")

    def _interaction_initializer_for(self, fan_in):
        """The given initializer, or by default normal(0, 1 / fan_in)."""
        if self.interaction_initializer is not None:
            return self.interaction_initializer
        return keras.initializers.RandomNormal(stddev=(1.0 / fan_in) ** 0.5)

    def call(self, inputs):
        x, z = inputs
        # Again on each call, on the shapes the call is given: a layer built
        # on an unknown batch size would otherwise broadcast a context of
        # batch 1 over a batch of 6 in the diagonal and scalar forms.
        self._split_shapes([tuple(x.shape), tuple(z.shape)])
        self._check_widths(x.shape[-1], z.shape[-1])
        if self.context_projection is not None:
            z = self.context_projection(z)
        vx = ops.matmul(x, self.kernel)
        cz = ops.matmul(z, self.context_kernel)
        if self.mode == "diagonal":
            return multiplicative_integration(
                vx, cz, self.alpha, self.beta1, self.beta2, self.bias
            )
        if self.mode == "hypernetwork":
            # Appendix B of Jayakumar et al.: the context generates one weight
            # matrix per example, z^T W (shape (..., n, k)), applied to x.
            # Computed as the same sum in the other order: the outer product
            # z x^T (..., m, n), its last two axes merged, times W as an
            # (m * n, k) matrix: one matrix product, without a (..., n, k)
            # tensor per example (benchmarks/interaction_speed.py: a train
            # step 1.1-1.7x faster on JAX and PyTorch, 20-90x on TensorFlow,
            # whose einsum over `...` was the slow part). The leading axes
            # are kept, not merged into -1: exporters such as jax2onnx cannot
            # reshape a symbolic batch or length into another axis, and
            # OpenVINO has no `tensordot`.
            # In float32 under a float16 policy: the contraction sums m * n
            # products per output (float16 accumulates them poorly), and
            # TensorFlow's oneDNN float16 einsum returned wrong rows on a CPU
            # with AVX512-FP16 (TF 2.21).
            wide = "float32" if self.compute_dtype == "float16" else self.compute_dtype
            outer = ops.expand_dims(ops.cast(z, wide), -1) * ops.expand_dims(
                ops.cast(x, wide), -2
            )
            m, n, k = self.interaction_kernel.shape
            product = ops.matmul(
                ops.reshape(outer, (*ops.shape(outer)[:-2], m * n)),
                ops.reshape(ops.cast(self.interaction_kernel, wide), (m * n, k)),
            )
            output = ops.cast(product, self.compute_dtype) + vx + cz
        else:
            scale = ops.matmul(z, self.scale_kernel) + self.scale_bias
            output = scale * vx + cz
        if self.bias is not None:
            output = output + self.bias
        return output

    def _check_widths(self, x_width, z_width):
        """The feature widths of x and z must be those the weights were
        built for."""
        built = {
            "x": self.kernel.shape[0],
            "z": (self.context_projection.kernel.shape[0]
                  if self.context_projection is not None else self.context_kernel.shape[0]),
        }
        for name, width in (("x", x_width), ("z", z_width)):
            if width is not None and width != built[name]:
                raise ValueError(
                    f"Layer `{self.name}` was built for {name} with {built[name]} features "
                    f"(last axis), but received {name} with {width}. Inputs whose width "
                    f"changes need a new layer."
                )

    def compute_output_shape(self, input_shape):
        x_shape, _ = self._split_shapes(input_shape)
        return x_shape[:-1] + (self.units,)

    def get_config(self):
        config = {
            "units": self.units,
            "mode": self.mode,
            "context_units": self.context_units,
            "use_bias": self.use_bias,
        }
        config.update(validation.weight_options_config(
            self, ("kernel", "context", "bias", "alpha", "beta1", "beta2", "interaction"),
            kinds=("initializer",)))
        config.update(validation.weight_options_config(
            self, ("kernel", "context", "interaction", "bias"),
            kinds=("regularizer", "constraint")))
        return {**super().get_config(), **config}
