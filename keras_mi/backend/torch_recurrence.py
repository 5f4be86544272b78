"""The fused MI recurrences on PyTorch: a `torch.autograd.Function`.

The backward pass is the hand-written one of `keras_mi.backend.recurrence`,
registered as the function's `backward`. On the CPU in float32 the forward
and backward loops run in C++ (`keras_mi.backend.torch_kernels`, one pass of
elementwise work per step) where that module could be built; otherwise, and
for other dtypes and devices, they run eagerly, step by step, with the math
of `keras_mi.backend.recurrence`. Both keep nothing for the backward pass
when no gradient is needed (inference).
"""

import torch

from keras_mi.backend import recurrence, torch_kernels


class TorchOps:
    """The array namespace `xp` of `keras_mi.backend.recurrence`.

    One instance serves one pass (forward or backward). Its `matmul` is
    always a product by a weight matrix that is the same in every step: on
    a CPU with oneDNN it packs that matrix once per pass (the layout
    oneDNN's own RNN kernels use) and multiplies by the packed form, about
    3x faster per step than `torch.mm` at (32, 256) x (256, 1024) on a
    2-core AVX-512 CPU (48 vs 132 microseconds).
    """

    def __init__(self):
        self._packed = {}

    multiply = staticmethod(torch.mul)
    add = staticmethod(torch.add)

    tanh = staticmethod(torch.tanh)
    sigmoid = staticmethod(torch.sigmoid)
    relu = staticmethod(torch.relu)
    where = staticmethod(torch.where)

    def matmul(self, a, b):
        packed = self._packed.get(id(b))
        if packed is None:
            packed = self._packed[id(b)] = (b, torch_kernels.pack(b, a))
        if packed[1] is None:
            return torch.mm(a, b)
        return torch.ops.mkldnn._linear_pointwise(a, packed[1], None, "none", [], "")

    zeros_like = staticmethod(torch.zeros_like)

    @staticmethod
    def sum_batch(a):
        return a.sum(dim=0)

    @staticmethod
    def transpose(a):
        return a.t()

    @staticmethod
    def cast(x, dtype):
        return x.to(dtype)

    @staticmethod
    def concat(tensors):
        return torch.cat(tensors, dim=-1)


    def project(self, x, weight):
        """`x @ weight` for a `(T, B, n)` sequence, into a pooled buffer."""
        steps, batch, features = x.shape
        out = torch_kernels.POOL.take((steps, batch, weight.shape[1]), x)
        torch.mm(x.reshape(-1, features), weight, out=out.view(-1, weight.shape[1]))
        return out

    def project_back(self, d, weight):
        """`d @ weight^T` for a `(T, B, n)` sequence."""
        steps, batch, width = d.shape
        return self.matmul(d.reshape(-1, width), weight.t()).view(steps, batch, -1)

    @staticmethod
    def concat_time(first, sequence):
        return torch.cat([first.unsqueeze(0), sequence[:-1]], dim=0)

    @staticmethod
    def tensordot(a, b):
        """`sum_(t, n) a[t, n, i] * b[t, n, j]`: one GEMM over all steps."""
        return torch.mm(a.reshape(-1, a.shape[-1]).t(), b.reshape(-1, b.shape[-1]))

    @staticmethod
    def sum_leading(a):
        return a.sum(dim=(0, 1))


def _flatten(tree):
    """`(leaves, rebuild)` for a nest of dicts and tuples of tensors."""
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [_flatten(tree[k]) for k in keys]
        sizes = [len(p[0]) for p in parts]

        def rebuild(leaves):
            out, start = {}, 0
            for key, (_, sub), size in zip(keys, parts, sizes):
                out[key] = sub(leaves[start : start + size])
                start += size
            return out

        return [leaf for p in parts for leaf in p[0]], rebuild
    if isinstance(tree, (tuple, list)):
        parts = [_flatten(v) for v in tree]
        sizes = [len(p[0]) for p in parts]

        def rebuild(leaves):
            out, start = [], 0
            for (_, sub), size in zip(parts, sizes):
                out.append(sub(leaves[start : start + size]))
                start += size
            return tuple(out)

        return [leaf for p in parts for leaf in p[0]], rebuild
    return [tree], lambda leaves: leaves[0]


def scan(fn, carry, elems, reverse=False):
    """`jax.lax.scan` for eager PyTorch; outputs go to preallocated buffers."""
    leaves, rebuild = _flatten(elems)
    length = leaves[0].shape[0]
    steps = range(length - 1, -1, -1) if reverse else range(length)
    buffers = None
    for t in steps:
        carry, y = fn(carry, rebuild([leaf[t] for leaf in leaves]))
        y_leaves, y_rebuild = _flatten(y)
        if buffers is None:
            buffers = [v.new_empty((length,) + tuple(v.shape)) for v in y_leaves]
        for buffer, value in zip(buffers, y_leaves):
            buffer[t].copy_(value)
    return carry, y_rebuild(buffers)


def _eager(function):
    """Runs `function` outside any torch.compile graph (its C++ loops and
    oneDNN calls are not traceable)."""
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return function if disable is None else disable(function)


def _forward(spec, xs, states, w, keep, tensors, save):
    """`(kernels, forward_pass's result)`: by the C++ loops where they cover
    the call (`kernels` their module), else by the eager loops (`None`)."""
    kernels = torch_kernels.for_call(spec, xs, tensors)
    if kernels is not None:
        with torch_kernels.flushed_denormals(kernels):
            return kernels, torch_kernels.forward(kernels, spec, xs, states, w, keep, save)
    return None, recurrence.forward_pass(TorchOps(), scan, spec, w, xs, states, keep, save=save)


class FusedRecurrence(torch.autograd.Function):
    """`(xs, states, w) -> (h_sequence, *final_states)` with a hand-written
    backward pass (see `keras_mi.backend.recurrence`)."""

    @staticmethod
    def forward(ctx, spec, x_names, w_names, keep, *tensors):
        xs, states, w = _unpack(spec, x_names, w_names, tensors)
        ctx.kernels, (finals, residuals) = _forward(spec, xs, states, w, keep, tensors, True)
        ctx.spec, ctx.keep = spec, keep
        ctx.x_names, ctx.w_names = x_names, w_names
        ctx.residuals = residuals
        ctx.save_for_backward(*tensors)
        # The final states are copies: an output may not view another one.
        return (residuals[0][0], *[state.clone() for state in finals])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, d_h, *d_final):
        return _backward(ctx, d_h, *d_final)


@_eager
def _backward(ctx, d_h, *d_final):
    """The backward pass of `FusedRecurrence`."""
    if ctx.residuals is None:
        raise RuntimeError(
            "The fused recurrence of keras_mi runs its backward pass once "
            "per forward pass (what it saved is reused afterwards), so "
            "`retain_graph=True` with a second backward pass is not "
            "supported; create the layer with use_fused=False for that."
        )
    spec = ctx.spec
    xs, states, w = _unpack(spec, ctx.x_names, ctx.w_names, ctx.saved_tensors)
    scratch = []
    loop = None
    if ctx.kernels is not None:
        loop = torch_kernels.backward_loop(ctx.kernels, scratch)
    residuals, ctx.residuals = ctx.residuals, None
    with torch_kernels.flushed_denormals(ctx.kernels):
        d_xs, d_states, d_w = recurrence.backward_pass(
            TorchOps(),
            scan,
            spec,
            w,
            xs,
            states,
            ctx.keep,
            residuals,
            d_h,
            d_final,
            loop=loop,
        )
    # What the loops saved or used internally goes back to the pool
    # (never the outputs, nor the caller's tensors).
    state_sequences, saved, projected = residuals
    torch_kernels.POOL.give(*state_sequences[1:], *saved.values(), *scratch)
    if "x" in xs:
        torch_kernels.POOL.give(*(v for k, v in projected.items() if k in ("wx", "wmx")))
    return (
        None,
        None,
        None,
        None,
        *[d_xs.get(name) for name in ctx.x_names],
        *d_states,
        *[d_w.get(name) for name in ctx.w_names],
    )


def _unpack(spec, x_names, w_names, tensors):
    count = len(x_names)
    xs = dict(zip(x_names, tensors[:count]))
    states = tuple(tensors[count : count + spec.state_count])
    w = dict(zip(w_names, tensors[count + spec.state_count :]))
    return xs, states, w


def unavailable_reason():
    """Why the fused recurrence cannot run in the current mode (`None` if it
    can): it runs eagerly, and tracers cannot record its C++ loops."""
    if hasattr(torch, "compiler") and torch.compiler.is_compiling():
        # Also torch.export (Keras' format="torch" and "litert").
        return ("the fused recurrence runs eagerly; under torch.compile and "
                "torch.export the step loop is traced instead")
    if torch.jit.is_tracing():
        # TorchScript tracing (Keras' format="onnx" and "openvino") cannot
        # record the C++ loops or the autograd.Function: the step loop
        # traces into plain ops.
        return ("the fused recurrence runs eagerly; under TorchScript tracing "
                "(torch.onnx.export, OpenVINO's converter) the step loop is "
                "traced instead")
    return None


def fused_recurrence(spec, xs, states, w, keep=None):
    """Runs `spec` over the sequences `xs`; see `keras_mi.backend`."""
    reason = unavailable_reason()
    if reason is not None:
        raise NotImplementedError(reason)
    tensors = [*xs.values(), *states, *w.values()]
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)):
        _, (finals, h_sequence) = _forward(spec, xs, states, w, keep, tensors, False)
        return (h_sequence, *finals)
    return FusedRecurrence.apply(spec, tuple(xs), tuple(w), keep, *tensors)
