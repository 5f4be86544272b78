"""Fused MI recurrences: a cell's steps run over a whole sequence, forwards
and backwards.

A fused recurrence runs a whole sequence of one cell as one differentiable
operation whose backward pass is written by hand (backpropagation through
time with the closed-form derivatives of Wu et al. 2016, Appendix A), so
that:

- per step, the forward pass does one recurrent GEMM (two for the mLSTM and
  for the GRU without `reset_after`) and elementwise work, and so does the
  backward pass (`dz_t @ U^T`);
- the weight gradients are computed once after the loop, as single large
  GEMMs over all timesteps (`U`), from per-step gradients stacked by the
  loop; the gradients of `alpha`, `beta1`, `beta2` and `b` are sums over
  the batch accumulated in the loop's carry; the gradient of the input
  projection `Wx` comes out as a sequence, from which the framework's
  autodiff gives `dW` and `dx` in one GEMM each. (Everything a GEMM after
  the loop reads is stacked by the loop: XLA on CPU was measured to run an
  elementwise op that feeds such a GEMM as a slow transposing fusion.)
- only what the backward pass needs is kept.

The input projection `Wx` of all timesteps is computed before the operation
by the layer (one GEMM). Each step and its derivative are those of
`keras_mi.backend.cell_steps`, written once against a small namespace `xp`
of array functions that each backend module supplies; this module runs them
over a sequence (`forward_pass`, `backward_pass`), and
`keras_mi/backend/<backend>_recurrence.py` runs the loops and registers the
backward pass with its framework. Names:

- `xs`: the per-step inputs, a dict of `(T, B, n)` sequences: either `x`
  (the inputs; the recurrence then computes `wx = x W` and, for the mLSTM,
  `wmx = x W_mx` before its loop, and their gradients after it) or the
  projections `wx` (`W x` of every gate) and `wmx` themselves; `x` in the
  step functions is one step of the projections;
- `w`: the weights: `U`; `W` (and `Wmx`) with inputs `x`; `alpha`,
  `beta1`, `beta2` (general integration);
  optional `bias` (the `b` of Eq. 4), `rmask` (the recurrent dropout
  multiplier, `(B, units)`), `b_rec` (GRU with `reset_after`), `Wmh`
  (mLSTM);
- `states`: the tuple of states (`(h,)` or `(h, c)`); `saved`: what a step
  keeps for the backward pass, always with `uz`, the recurrent term that
  entered Eq. 4 (unless the integration is additive, where no derivative
  needs it); `grads`: what a backward step returns per timestep for the
  weight gradients after the loop, always with `dz`, the gradient of the
  pre-activation of Eq. 4 (consumed in the loop), and `duh`, the gradient
  of the recurrent GEMM's output.
"""

from keras_mi.backend.cell_steps import (
    MATRICES,
    dropped,
    masked_step,
    masked_step_backward,
    mi_step_gradients,
)


class PreviousStates:
    """The sequence `h_(t-1)`, `[h_0, h_1, ..., h_(T-2)]`, without building it
    (a copy of the whole `h` sequence): `dot` multiplies it by a sequence of
    gradients in two products."""

    def __init__(self, first, sequence):
        self.first, self.sequence = first, sequence

    @property
    def units(self):
        return self.first.shape[-1]

    def dot(self, xp, w, d):
        """`sum_t (rmask * h_(t-1))^T d_t`, the gradient of a product by
        `U` (or `W_mh`) summed over all timesteps."""
        return xp.tensordot(dropped(w, self.first)[None], d[:1]) + xp.tensordot(
            dropped(w, self.sequence[:-1]), d[1:]
        )


def projects_in_loop(xp, xs):
    """Whether the loops compute the input projections step by step (the
    backend's choice, `xp.projects_in_loop`): nothing of size `(T, B, G)` is
    then stored, and the backward loop computes them again."""
    return "x" in xs and getattr(xp, "projects_in_loop", False)


def project(xp, xs, w):
    """The input projections of all timesteps, one product each (`wx = x W`,
    and `wmx = x W_mx` for the mLSTM), where `xs` holds the inputs `x`; for
    a backend that `projects_in_loop`, those of one step."""
    if "x" not in xs:
        return dict(xs)
    projected = {name: value for name, value in xs.items() if name != "x"}
    projected["wx"] = xp.project(xs["x"], w["W"])
    if "Wmx" in w:
        projected["wmx"] = xp.project(xs["x"], w["Wmx"])
    return projected


def project_backward(xp, xs, w, d_projected):
    """The gradients of `project`'s inputs: `(d_xs, d_w)`."""
    if "x" not in xs:
        return d_projected, {}
    x = xs["x"]
    d_xs = {name: value for name, value in d_projected.items() if name not in ("wx", "wmx")}
    d_x = xp.project_back(d_projected["wx"], w["W"])
    d_w = {"W": xp.tensordot(x, d_projected["wx"])}
    if "wmx" in d_projected:
        d_x = d_x + xp.project_back(d_projected["wmx"], w["Wmx"])
        d_w["Wmx"] = xp.tensordot(x, d_projected["wmx"])
    d_xs["x"] = d_x
    return d_xs, d_w


def forward_pass(xp, scan, spec, w, xs, states, keep=None, save=True):
    """Runs the recurrence over a sequence.

    Args:
        xp: the backend's array namespace.
        scan: the backend's loop, `scan(fn, carry, elems, reverse=False)
            -> (carry, ys)` with `fn(carry, elem) -> (carry, y)` and `ys`
            the `y`s stacked over time (as `jax.lax.scan`).
        spec: a `Recurrence`.
        w, xs, states: the weights, the per-step input sequences and the
            initial states (see the module docstring).
        keep: `None`, or a boolean `(T, B, 1)` sequence: where False, the
            step leaves the states of that row unchanged (masking).
        save: whether to return what the backward pass needs.

    Returns:
        `(final_states, h_sequence)` if not `save`, else `(final_states,
        (state_sequences, saved_sequences, projected_xs))`.
    """
    in_loop = projects_in_loop(xp, xs)
    projected = xs if in_loop else project(xp, xs, w)
    prepared = spec.math.prepare(spec, w)
    elems = _elements(projected, keep)

    def body(carry, elem):
        x = project(xp, elem["x"], w) if in_loop else elem["x"]
        new, saved = masked_step(
            xp, spec, prepared, x, elem.get("keep"), carry, save
        )
        return new, ((new, saved) if save else new[0])

    finals, ys = scan(body, tuple(states), elems)
    if not save:
        return finals, ys
    return finals, (*ys, projected)


def backward_pass(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final, loop=None):
    """Backpropagation through time for `forward_pass`.

    Args:
        residuals: `(state_sequences, saved_sequences, projected_xs)` from
            `forward_pass`.
        d_h: the gradient of the loss with respect to the `h` sequence.
        d_final: the gradients with respect to the final states.
        loop: the backward loop, `backward_loop` by default (a backend may
            run its own, with the same results).

    Returns:
        `(d_xs, d_states, d_w)`: the gradients of the input sequences, of the
        initial states and of the weights of `w` (`rmask` excluded).
    """
    state_sequences, saved, projected = residuals
    prepared = spec.math.prepare(spec, w)
    h_prev = PreviousStates(states[0], state_sequences[0])
    d_states, totals, grads = (loop or backward_loop)(
        xp, scan, spec, prepared, projected, states, keep, (state_sequences, saved), d_h, d_final
    )
    d_wx = grads.pop("wx")
    d_projected, d_w = spec.math.finish(
        xp, spec, prepared, projected, h_prev, saved, grads
    )
    d_xs, d_projections = project_backward(
        xp, xs, w, {"wx": d_wx, **d_projected}
    )
    return d_xs, d_states, {**d_w, **totals, **d_projections}


def backward_loop(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final):
    """The loop of `backward_pass`, from the last step to the first.

    `w` is prepared (`CellMath.prepare`), `xs` projected (`project`),
    `residuals` is `(state_sequences, saved_sequences)`. Returns
    `(d_states, totals, grads)`: the gradients of the initial states, those
    of `alpha`,
    `beta1`, `beta2` and `b` (`totals`), and the per-step `grads` stacked
    over time, with the gradient of `W x` as `grads["wx"]`.
    """
    state_sequences, saved = residuals
    in_loop = projects_in_loop(xp, xs)
    # The backward steps multiply by the transposed matrices ("U.T"), made
    # once, before the loop.
    w = {**w, **{f"{name}.T": xp.transpose(w[name]) for name in MATRICES if name in w}}
    previous = tuple(
        xp.concat_time(state, sequence)
        for state, sequence in zip(states, state_sequences)
    )
    elems = _elements(xs, keep)
    elems.update(prev=previous, new=tuple(state_sequences), saved=saved, d_h=d_h)
    totals = {name: xp.zeros_like(w[name]) for name in coefficient_names(spec, w)}

    def body(carry, elem):
        d_new, totals = carry
        d_new = (d_new[0] + elem["d_h"],) + tuple(d_new[1:])
        x, saved_t = elem["x"], elem["saved"]
        if in_loop:
            x = project(xp, x, w)
        d_prev, grads = masked_step_backward(
            xp,
            spec,
            w,
            x,
            elem.get("keep"),
            elem["prev"],
            elem["new"],
            saved_t,
            d_new,
        )
        d_wx, d_coefficients = mi_step_gradients(
            xp, spec, w, x["wx"], saved_t.get("uz"), grads.pop("dz")
        )
        totals = {name: totals[name] + d_coefficients[name] for name in totals}
        return (d_prev, totals), {**grads, "wx": d_wx}

    (d_states, totals), grads = scan(
        body, (tuple(d_final), totals), elems, reverse=True
    )
    return d_states, totals, grads


def coefficient_names(spec, w):
    """The coefficients of Eq. 4 that are weights (have gradients)."""
    names = ("alpha", "beta1", "beta2") if spec.integration == "general" else ()
    return names + (("bias",) if "bias" in w else ())


def _elements(xs, keep):
    elems = {"x": dict(xs)}
    if keep is not None:
        elems["keep"] = keep
    return elems
