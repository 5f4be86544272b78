"""The C++ loops of the fused recurrences on JAX (CPU, float32).

The loops are those of PyTorch (`csrc/mi_core.h`); `csrc/mi_xla.cpp` binds
them as two XLA FFI handlers (`jax.ffi`), with the recurrent products by
OpenBLAS's sgemm from the `scipy-openblas32` wheel. The library is compiled
on first use with the C++ compiler (`$CXX`, else `c++`) against the headers
jaxlib ships (about 15 s, once per environment, announced on stderr, cached
under `~/.cache/keras_mi/xla_extensions`; `native.compiled_library`). Where it cannot be
built or loaded, `load()` returns `None` and the fused recurrence runs its
`lax.scan` loops (same numbers). They run where the device's setting says
(keras_mi.backend.loops: on, on the CPU) and only where the recurrence is
differentiated, a train step: inference, and so every export, keeps the
`lax.scan` loops (jax_recurrence.py). `KERAS_MI_XLA_KERNELS=0` turns them
off, `1` on.

The hand-written backward pass stays `jax.custom_vjp`'s (jax_recurrence.py):
the native forward keeps what the native backward loop needs; the weight
gradients are then products over the whole sequence, in JAX
(`recurrence.backward_pass`).
"""

import ctypes
import os

import jax
import jax.numpy as jnp
import numpy as np

from keras_mi.backend import native, recurrence

FORWARD, BACKWARD = "keras_mi_forward", "keras_mi_backward"
_STATE = {}


def load():
    """The loaded library (its handlers registered with XLA), or `None`
    where it is unavailable."""
    return native.loaded(_STATE, "KERAS_MI_XLA_KERNELS", "JAX", "their lax.scan loops", _build)


def _build():
    import jaxlib
    import scipy_openblas32

    lib_dir = scipy_openblas32.get_lib_dir()
    path = native.compiled_library(
        "xla_extensions", "mi_xla.cpp",
        ["-std=c++17", "-I", jax.ffi.include_dir(), "-L", lib_dir, "-lscipy_openblas",
         f"-Wl,-rpath,{lib_dir}"],
        (jax.__version__, jaxlib.__version__), "JAX")
    library = ctypes.cdll.LoadLibrary(path)
    jax.ffi.register_ffi_target(
        FORWARD, jax.ffi.pycapsule(library.KerasMiForward), platform="cpu")
    jax.ffi.register_ffi_target(
        BACKWARD, jax.ffi.pycapsule(library.KerasMiBackward), platform="cpu")
    return library


def native_loops_cover(spec, dtype):
    """Whether the C++ loops run a recurrence `spec` computing in `dtype`
    on this machine: the cell's activations, float32, JAX on the CPU, the
    device's setting (keras_mi.backend.loops) and the library loaded."""
    from keras_mi.backend import loops

    switch = os.environ.get("KERAS_MI_XLA_KERNELS")
    wanted = switch == "1" or (switch != "0" and loops.setting("native_loops", "jax", "cpu"))
    return (wanted and native.covers(spec) and dtype == "float32"
            and jax.default_backend() == "cpu" and load() is not None)


def covers(spec, xs, states, w):
    """Whether the C++ loops run this call: `native_loops_cover`, the input
    sequence `x` given (not projections), float32 arrays, sizes known when
    traced (an export with a symbolic length or batch runs the `lax.scan`
    loops), and no `keras.distribution` set: XLA partitions the `lax.scan`
    loops over the devices of a distribution, whereas it would run a custom
    call whole on every device, on gathered inputs."""
    import keras

    return (native.float32_call(xs, states, w, jnp.float32)
            and all(isinstance(d, int) for d in xs["x"].shape)
            and keras.distribution.distribution() is None
            and native_loops_cover(spec, "float32"))


_NONE = jax.ShapeDtypeStruct((0,), jnp.float32)


def _f32(*shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


def _empty():
    return jnp.zeros((0,), jnp.float32)


def _arguments(spec, xs, states, w):
    """x, h0, c0, the four matrices (absent ones empty), the coefficients,
    and the width of the slots the products need."""
    x = xs["x"]
    width = w["U"].shape[-1]
    matrices = [w[name] for name in native.matrices(spec)]
    widest = max(max(m.shape) for m in matrices)
    matrices += [jnp.zeros((0, 0), jnp.float32)] * (4 - len(matrices))
    coefficients = [jnp.asarray(c, jnp.float32) for c in native.coefficients(
        spec, w, width, lambda n, v: jnp.full((n,), v, jnp.float32))]
    c0 = states[1] if spec.state_count == 2 else _empty()
    return x, states[0], c0, matrices, coefficients, widest


def _keep(keep):
    return jnp.zeros((0,), jnp.uint8) if keep is None else keep[..., 0].astype(jnp.uint8)


def _attributes(spec):
    return dict(kind=np.int64(native.KINDS[spec.kind]),
                activation=np.int64(native.ACTIVATIONS[spec.activation]),
                reset_after=bool(spec.reset_after))


def forward(spec, xs, states, w, keep, save):
    """`recurrence.forward_pass` by the C++ loop (`keep` boolean or None):
    same results; the projected inputs it returns are the inputs (the
    backward loop computes the projections again)."""
    prepared = spec.math.prepare(spec, w)
    x, h0, c0, matrices, coefficients, widest = _arguments(spec, xs, states, prepared)
    steps, batch = x.shape[0], x.shape[1]
    units, width = h0.shape[-1], coefficients[0].shape[0]
    two = spec.state_count == 2
    extra = save and (spec.kind == "mlstm" or (spec.kind == "gru" and spec.reset_after))
    work = 3 * batch * width + 5 * batch * units + 4 * batch * widest
    results = [
        _f32(steps, batch, units),
        _f32(batch, units),
        _f32(batch, units) if two else _NONE,
        _f32(steps, batch, units) if save and two else _NONE,
        _f32(steps, batch, width) if save and spec.kind != "rnn" else _NONE,
        _f32(steps, batch, width) if save else _NONE,
        _f32(steps, batch, units) if extra else _NONE,
        _f32(work),
    ]
    call = jax.ffi.ffi_call(FORWARD, results, vmap_method="sequential")
    hs, h_final, c_final, cs, gates, uz, extra_seq, _ = call(
        x, h0, c0, *matrices, *coefficients, w.get("b_rec", _empty()),
        w.get("rmask", _empty()), _keep(keep), save=bool(save), **_attributes(spec))
    finals = (h_final, c_final) if two else (h_final,)
    if not save:
        return finals, hs
    saved = {"gates": gates} if spec.kind != "rnn" else {}
    saved["uz"] = uz
    if extra:
        saved["wmh" if spec.kind == "mlstm" else "uh_h"] = extra_seq
    return finals, ((hs, cs) if two else (hs,), saved, dict(xs))


def backward_loop(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final):
    """`recurrence.backward_loop` by the C++ loop: same results. XLA hands
    the saved gates and uz to the loop as its outputs d W x and d uh, which
    it writes over them step by step."""
    state_sequences, saved = residuals
    x, h0, c0, matrices, coefficients, widest = _arguments(spec, xs, states, w)
    steps, batch = x.shape[0], x.shape[1]
    units, width = h0.shape[-1], coefficients[0].shape[0]
    two, mlstm = spec.state_count == 2, spec.kind == "mlstm"
    rh = spec.kind == "gru" and not spec.reset_after
    sequence = _f32(steps, batch, units)
    results = [
        _f32(batch, units),
        _f32(batch, units) if two else _NONE,
        _f32(steps, batch, width) if spec.kind == "rnn" else _NONE,
        _f32(steps, batch, width) if spec.kind != "rnn" else _NONE,
        _f32(steps, batch, width),
        _f32(4, width),
        sequence if mlstm else _NONE,
        sequence if mlstm else _NONE,
        sequence if mlstm else _NONE,
        sequence if rh else _NONE,
        _f32(9 * batch * units + 4 * batch * widest),
    ]
    # Arguments 15 (gates) and 16 (uz) become results 3 (d W x) and 4 (d uh).
    aliases = {16: 4} if spec.kind == "rnn" else {15: 3, 16: 4}
    call = jax.ffi.ffi_call(BACKWARD, results, vmap_method="sequential",
                            input_output_aliases=aliases)
    extra = saved.get("wmh", saved.get("uh_h", _empty()))
    outputs = call(
        x, h0, c0, *matrices, *coefficients, w.get("rmask", _empty()), _keep(keep),
        state_sequences[0], state_sequences[1] if two else _empty(),
        saved.get("gates", _empty()), saved["uz"], extra, d_h, d_final[0],
        d_final[1] if two else _empty(), **_attributes(spec))
    d_h0, d_c0, d_wx_rnn, d_wx, duh, totals, m, dwmh, dwmx, rh_seq, _ = outputs
    d_states = (d_h0, d_c0) if two else (d_h0,)
    grads = {"wx": d_wx_rnn if spec.kind == "rnn" else d_wx, "duh": duh}
    sums = dict(zip(("alpha", "beta1", "beta2", "bias"), totals))
    coefficient_totals = {name: sums[name] for name in recurrence.coefficient_names(spec, w)}
    if mlstm:
        grads.update(m=m, dwmh=dwmh, dwmx=dwmx)
    elif rh:
        grads["rh"] = rh_seq
    return d_states, coefficient_totals, grads
