"""The fused MI recurrences on JAX: `lax.scan` loops and a `jax.custom_vjp`.

Without differentiation JAX calls the primal function, whose scan keeps
nothing for the backward pass; under `jax.grad` it calls the forward rule,
which stacks what `keras_mi.backend.recurrence` saves, and the backward
rule, the hand-written backpropagation through time. Where the C++ loops
(`keras_mi.backend.xla_kernels`) are on, the forward and backward rules run
them; the primal function keeps the `lax.scan` loops.
"""

import functools

import jax
import jax.numpy as jnp

from keras_mi.backend import loops, recurrence


class JaxOps:
    """The array namespace `xp` of `keras_mi.backend.recurrence`."""

    # `projects_in_loop` (the input projections step by step, inside the
    # loops: XLA on the CPU ran a stored (T, B, G) projection slower, and
    # it costs memory) is set per device by `_fused` (keras_mi.backend.loops).

    multiply = staticmethod(jnp.multiply)
    add = staticmethod(jnp.add)

    tanh = staticmethod(jnp.tanh)
    sigmoid = staticmethod(jax.nn.sigmoid)
    relu = staticmethod(jax.nn.relu)
    where = staticmethod(jnp.where)
    matmul = staticmethod(jnp.matmul)

    zeros_like = staticmethod(jnp.zeros_like)

    @staticmethod
    def sum_batch(a):
        return a.sum(axis=0)

    @staticmethod
    def transpose(a):
        # Materialized once: a product with a transposed operand inside the
        # loop was measured 1.4x-2x slower on XLA's CPU backend.
        return jax.lax.optimization_barrier(a.T)

    @staticmethod
    def cast(x, dtype):
        return x.astype(dtype)

    @staticmethod
    def concat(arrays):
        return jnp.concatenate(arrays, axis=-1)


    @staticmethod
    def project(x, weight):
        return jnp.matmul(x, weight)

    @staticmethod
    def project_back(d, weight):
        return jnp.matmul(d, weight.T)

    @staticmethod
    def concat_time(first, sequence):
        return jnp.concatenate([first[None], sequence[:-1]], axis=0)

    @staticmethod
    def tensordot(a, b):
        return jnp.tensordot(a, b, axes=((0, 1), (0, 1)))

    @staticmethod
    def sum_leading(a):
        return a.sum(axis=(0, 1))


def _scanner(unroll):
    """`lax.scan` unrolled by `unroll` (the device's setting)."""

    def scan(fn, carry, elems, reverse=False):
        # A symbolic length (an export with an unknown sequence length, as
        # `model.export` on `Input((None, ...))`) cannot be split into
        # unrolled blocks: the loop then runs one step per iteration.
        length = jax.tree_util.tree_leaves(elems)[0].shape[0]
        steps = unroll if isinstance(length, int) else 1
        return jax.lax.scan(fn, carry, elems, reverse=reverse, unroll=steps)

    return scan


def _differentiable(spec, xp, run_forward, loop=None, scan=None, run_inference=None):
    """The differentiable recurrence of `spec`, `(xs, states, w, keep) ->
    (h_sequence, *final_states)`, where `keep` is the mask as 0.0/1.0 floats
    (its zero cotangent is then an array like it, which a symbolic batch
    size, as in an export, allows; a boolean's `float0` zeros need a
    concrete shape). `run_forward(xs, states, w, keep, save)` is
    `recurrence.forward_pass` or the C++ loops' (whose backward `loop` is
    then given to `recurrence.backward_pass`); `run_inference`, the same
    without differentiation (default: `run_forward`)."""

    def mask(keep):
        return None if keep is None else keep > 0

    @jax.custom_vjp
    def fused(xs, states, w, keep):
        finals, h_sequence = (run_inference or run_forward)(xs, states, w, mask(keep), False)
        return (h_sequence, *finals)

    def forward(xs, states, w, keep):
        finals, residuals = run_forward(xs, states, w, mask(keep), True)
        return (residuals[0][0], *finals), (xs, states, w, keep, residuals)

    def backward(saved, cotangents):
        xs, states, w, keep, residuals = saved
        d_xs, d_states, d_w = recurrence.backward_pass(
            xp, scan, spec, w, xs, states, mask(keep), residuals, cotangents[0],
            cotangents[1:], loop=loop)
        d_w = {name: d_w.get(name, jnp.zeros_like(value)) for name, value in w.items()}
        d_keep = None if keep is None else jnp.zeros_like(keep)
        return d_xs, tuple(d_states), d_w, d_keep

    fused.defvjp(forward, backward)
    return fused


def _framework_loops(spec, device):
    """`(xp, scan, run_forward)`: `spec`'s forward pass by `lax.scan` loops,
    set for `device`."""
    xp = type("JaxOps", (JaxOps,), {
        "projects_in_loop": loops.setting("projects_in_loop", "jax", device)})
    scan = _scanner(loops.setting("unroll", "jax", device))

    def run_forward(xs, states, w, keep, save):
        return recurrence.forward_pass(xp, scan, spec, w, xs, states, keep, save=save)

    return xp, scan, run_forward


@functools.lru_cache(maxsize=None)
def _native(spec, device):
    """`spec`'s recurrence by the C++ loops (xla_kernels) where it is
    differentiated, a train step; without differentiation (inference, and
    so every export) by the `lax.scan` loops, which measured faster there
    and leave no custom call in an exported function."""
    from keras_mi.backend import xla_kernels

    # The native loops take the inputs, not their projections.
    xp = type("JaxOps", (JaxOps,), {"projects_in_loop": True})
    return _differentiable(
        spec, xp,
        lambda xs, states, w, keep, save: xla_kernels.forward(spec, xs, states, w, keep, save),
        loop=xla_kernels.backward_loop,
        run_inference=_framework_loops(spec, device)[2])


@functools.lru_cache(maxsize=None)
def _fused(spec, device):
    """`spec`'s recurrence by `lax.scan` loops, set for `device`."""
    xp, scan, run_forward = _framework_loops(spec, device)
    return _differentiable(spec, xp, run_forward, scan=scan)


def fused_recurrence(spec, xs, states, w, keep=None):
    """Runs `spec` over the sequences `xs`; see `keras_mi.backend`."""
    if keep is not None:
        keep = keep.astype(jnp.float32)
    from keras_mi.backend import xla_kernels

    device = loops.device_kind()
    if xla_kernels.covers(spec, xs, states, w):
        return _native(spec, device)(dict(xs), tuple(states), dict(w), keep)
    return _fused(spec, device)(dict(xs), tuple(states), dict(w), keep)
