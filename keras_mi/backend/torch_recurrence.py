"""The fused MI recurrences on PyTorch: a `torch.autograd.Function`.

The backward pass is the hand-written one of `keras_mi.backend.recurrence`,
registered as the function's `backward`. On the CPU in float32 the forward
and backward loops run in C++ (`keras_mi.backend.torch_kernels`, one pass of
elementwise work per step) where that module could be built; otherwise, and
for other dtypes and devices, they run eagerly, step by step, with the math
of `keras_mi.backend.recurrence`. Both keep nothing for the backward pass
when no gradient is needed (inference).
"""

from numbers import Number

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
            packed = self._packed[id(b)] = (b, _pack(b, a))
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
        out = POOL.take((steps, batch, weight.shape[1]), x)
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


def _pack(weight, example):
    """`weight` in oneDNN's packed layout for products `a @ weight`, or
    `None` where that path does not apply (or fails)."""
    if not (
        _ONEDNN_PACKING
        and weight.dtype == torch.float32
        and example.dtype == torch.float32
        and weight.device.type == "cpu"
        and example.dim() == 2
    ):
        return None
    try:
        return torch.ops.mkldnn._reorder_linear_weight(
            weight.t().contiguous(), example.shape[0]
        )
    except (AttributeError, RuntimeError):
        return None


_ONEDNN_PACKING = torch.backends.mkldnn.is_available() and hasattr(
    torch.ops.mkldnn, "_reorder_linear_weight"
)


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


# The C++ loops: codes of the cell kinds and activations, and the matrices
# each kind multiplies by (after `CellMath.prepare`), in the C++ order.
KERNEL_KINDS = {"rnn": 0, "lstm": 1, "gru": 2, "mlstm": 3}
KERNEL_ACTIVATIONS = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}


def _kernel_matrices(spec):
    if spec.kind == "mlstm":
        return ("W", "U", "Wmx", "Wmh")
    if spec.kind == "gru" and not spec.reset_after:
        return ("W", "U_zr", "U_h")
    return ("W", "U")


class BufferPool:
    """Large buffers of the C++ loops, kept from one call to the next.

    A fresh buffer of tens of MB costs its page faults at every call (the
    C library returns large blocks to the system when they are freed): at
    (B, T, units) = (32, 100, 256) that was 12 ms of a 20 ms forward pass.
    Only buffers no caller ever sees are pooled (what the forward pass saves
    for the backward pass, and the backward pass' own scratch), at most
    `per_shape` of each shape; `clear()` frees them.
    """

    def __init__(self, per_shape=4):
        self.per_shape = per_shape
        self._free = {}

    def take(self, shape, like):
        free = self._free.get((tuple(shape), like.dtype))
        if free:
            return free.pop()
        return like.new_empty(shape)

    def give(self, *tensors):
        for tensor in tensors:
            if tensor is None:
                continue
            free = self._free.setdefault((tuple(tensor.shape), tensor.dtype), [])
            if len(free) < self.per_shape:
                free.append(tensor)

    def clear(self):
        self._free.clear()


POOL = BufferPool()


def native_loops_cover(spec, dtype):
    """Whether the C++ loops run a recurrence `spec` computing in `dtype`
    (else the fused recurrence runs its eager PyTorch loops)."""
    if spec.kind != "rnn" and (
        spec.activation != "tanh" or spec.recurrent_activation != "sigmoid"
    ):
        return False
    return dtype == "float32" and torch_kernels.load() is not None


def _kernels_for(spec, xs, tensors):
    """The C++ module if it covers this call, else `None`."""
    if "x" not in xs:
        return None
    if spec.kind != "rnn" and (
        spec.activation != "tanh" or spec.recurrent_activation != "sigmoid"
    ):
        return None
    if any(t.dtype != torch.float32 or t.device.type != "cpu" for t in tensors):
        return None
    return torch_kernels.load()


def _kernel_arguments(spec, xs, states, w):
    """What every call of the C++ loops takes: the inputs, the initial
    states and the coefficients of Eq. 4 as vectors."""
    x = xs["x"].contiguous()
    width = w["U"].shape[-1]
    coefficients = []
    for value in spec.coefficients(w):
        if value is None or isinstance(value, Number):
            value = torch.full((width,), float(value or 0.0), dtype=x.dtype)
        coefficients.append(value.contiguous())
    c0 = states[1] if spec.state_count == 2 else None
    return x, states[0], c0, coefficients


def _kernel_forward(module, spec, xs, states, w, keep, save):
    """`forward_pass` by the C++ loop: same results."""
    prepared = spec.math.prepare(spec, w)
    matrices = [prepared[name].contiguous() for name in _kernel_matrices(spec)]
    x, h0, c0, coefficients = _kernel_arguments(spec, xs, states, w)
    packed = [_pack(matrix, x[0]) for matrix in matrices]
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
    width = coefficients[0].shape[0]
    out = [None] * 4
    if save:
        out = [
            POOL.take((steps, batch, units), x) if spec.state_count == 2 else None,
            POOL.take((steps, batch, width), x) if spec.kind != "rnn" else None,
            POOL.take((steps, batch, width), x),
            POOL.take((steps, batch, units), x)
            if spec.kind == "mlstm" or (spec.kind == "gru" and spec.reset_after)
            else None,
        ]
    outputs = module.forward(
        KERNEL_KINDS[spec.kind],
        KERNEL_ACTIVATIONS[spec.activation],
        spec.reset_after,
        x,
        h0,
        c0,
        matrices,
        packed,
        *coefficients,
        w.get("b_rec"),
        w.get("rmask"),
        None if keep is None else keep[..., 0],
        save,
        out,
    )
    count = spec.state_count
    h_sequence, finals = outputs[0], tuple(outputs[1 : 1 + count])
    rest = list(outputs[1 + count :])
    if not save:
        return finals, h_sequence
    state_sequences = (h_sequence,)
    if count == 2:
        state_sequences += (rest.pop(0),)
    saved = {}
    if spec.kind != "rnn":
        saved["gates"] = rest.pop(0)
    saved["uz"] = rest.pop(0)
    if rest:
        saved["wmh" if spec.kind == "mlstm" else "uh_h"] = rest.pop(0)
    # The projections are never stored: the backward loop computes them
    # again from the inputs.
    return finals, (state_sequences, saved, dict(xs))


def _kernel_backward_loop(module, scratch):
    """`recurrence.backward_loop` by the C++ loop: same results. It writes
    the per-step gradients over what the forward pass saved (the gates
    receive d W x, uz receives d uh); the pooled buffers it hands out are
    listed in `scratch` (to give back once the weight gradients are
    computed from them)."""

    def loop(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final):
        state_sequences, saved = residuals
        names = _kernel_matrices(spec)
        matrices = [w[name].contiguous() for name in names]
        transposed = [w[name].t().contiguous() for name in names]
        x, h0, c0, coefficients = _kernel_arguments(spec, xs, states, w)
        # Products by W, W_mx (input projections, again) and by the
        # transposed recurrent matrices.
        packed = [
            _pack(m, x[0]) if name in ("W", "Wmx") else None
            for name, m in zip(names, matrices)
        ]
        packed_t = [
            None if name in ("W", "Wmx") else _pack(m, x[0])
            for name, m in zip(names, transposed)
        ]
        steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
        width = coefficients[0].shape[0]
        mlstm = spec.kind == "mlstm"
        out = [
            POOL.take((steps, batch, width), x) if spec.kind == "rnn" else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x) if mlstm else None,
            POOL.take((steps, batch, units), x)
            if spec.kind == "gru" and not spec.reset_after
            else None,
        ]
        scratch.extend(buffer for buffer in out if buffer is not None)
        extra = [saved[name] for name in ("wmh", "uh_h") if name in saved]
        residual_list = (
            list(state_sequences[1:])
            + ([saved["gates"]] if spec.kind != "rnn" else [])
            + [saved["uz"]]
            + extra
        )
        outputs = module.backward(
            KERNEL_KINDS[spec.kind],
            KERNEL_ACTIVATIONS[spec.activation],
            spec.reset_after,
            x,
            h0,
            c0,
            matrices,
            packed,
            transposed,
            packed_t,
            *coefficients,
            w.get("rmask"),
            None if keep is None else keep[..., 0],
            state_sequences[0],
            residual_list,
            d_h,
            d_final[0],
            d_final[1] if len(d_final) > 1 else None,
            out,
        )
        count = spec.state_count
        d_states, rest = tuple(outputs[:count]), outputs[count:]
        grads = {"wx": rest[0], "duh": rest[1]}
        sums = dict(zip(("alpha", "beta1", "beta2", "bias"), rest[2:6]))
        totals = {name: sums[name] for name in recurrence.coefficient_names(spec, w)}
        if mlstm:
            grads.update(m=rest[6], dwmh=rest[7], dwmx=rest[8])
        elif spec.kind == "gru" and not spec.reset_after:
            grads["rh"] = rest[6]
        return d_states, totals, grads

    return loop


def _eager(function):
    """Runs `function` outside any torch.compile graph (its C++ loops and
    oneDNN calls are not traceable)."""
    disable = getattr(getattr(torch, "compiler", None), "disable", None)
    return function if disable is None else disable(function)


class FusedRecurrence(torch.autograd.Function):
    """`(xs, states, w) -> (h_sequence, *final_states)` with a hand-written
    backward pass (see `keras_mi.backend.recurrence`)."""

    @staticmethod
    def forward(ctx, spec, x_names, w_names, keep, *tensors):
        xs, states, w = _unpack(spec, x_names, w_names, tensors)
        kernels = _kernels_for(spec, xs, tensors)
        if kernels is not None:
            finals, residuals = _kernel_forward(kernels, spec, xs, states, w, keep, True)
        else:
            finals, residuals = recurrence.forward_pass(
                TorchOps(), scan, spec, w, xs, states, keep, save=True
            )
        ctx.kernels = kernels
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
        loop = _kernel_backward_loop(ctx.kernels, scratch)
    residuals, ctx.residuals = ctx.residuals, None
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
    POOL.give(*state_sequences[1:], *saved.values(), *scratch)
    if "x" in xs:
        POOL.give(*(v for k, v in projected.items() if k in ("wx", "wmx")))
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
        kernels = _kernels_for(spec, xs, tensors)
        if kernels is not None:
            finals, h_sequence = _kernel_forward(kernels, spec, xs, states, w, keep, False)
        else:
            finals, h_sequence = recurrence.forward_pass(
                TorchOps(), scan, spec, w, xs, states, keep, save=False
            )
        return (h_sequence, *finals)
    return FusedRecurrence.apply(spec, tuple(xs), tuple(w), keep, *tensors)
