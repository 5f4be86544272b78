"""The C++ loops of the fused recurrences on TensorFlow (CPU, float32).

The loops are those of PyTorch and JAX (`csrc/mi_core.h`); `csrc/mi_tf.cpp`
binds them as two custom ops, with the products by OpenBLAS's sgemm from
the `scipy-openblas32` wheel, spread over TensorFlow's intra-op threads
(`csrc/mi_blas.h`, shared with JAX). The library is compiled on first use with
the C++ compiler (`$CXX`, else `c++`) and `tf.sysconfig`'s flags (about 45
s, once per environment, announced on stderr, cached under
`~/.cache/keras_mi/tf_extensions`; `native.compiled_library`). Where it
cannot be built or loaded, `load()` returns `None` and the fused recurrence
runs its `while_loop`s (same numbers). `KERAS_MI_TF_KERNELS=0` turns it
off.

They run where a gradient tape records (training): the native forward
keeps what the native backward loop needs, under `tf.custom_gradient`
(tensorflow_recurrence.py), and the weight gradients are then products over
the whole sequence, in TensorFlow (`recurrence.backward_pass`). Without a
tape (inference) they run only eagerly or inside the graphs of Keras' own
`predict`, `evaluate` and `fit` steps (`in_keras_step`); any other graph
may be an export (SavedModel, ONNX, LiteRT), which must hold no custom op,
and keeps the `while_loop`s.
"""


import tensorflow as tf

from keras_mi.backend import native, recurrence

_STATE = {}


def load():
    """The loaded op library, or `None` where it is unavailable."""
    return native.loaded(_STATE, "KERAS_MI_TF_KERNELS", "TensorFlow", "their while_loops",
                         _build)


def _build():
    import scipy_openblas32

    lib_dir = scipy_openblas32.get_lib_dir()
    # Eigen's half-precision AVX-512 code does not build with GCC 12: nothing
    # here computes in it.
    path = native.compiled_library(
        "tf_extensions", "mi_tf.cpp",
        ["-mno-avx512fp16", *tf.sysconfig.get_compile_flags(), *tf.sysconfig.get_link_flags(),
         "-L", lib_dir, "-lscipy_openblas", f"-Wl,-rpath,{lib_dir}"],
        (tf.__version__,), "TensorFlow")
    return tf.load_op_library(path)


def native_loops_cover(spec, dtype):
    """Whether the C++ loops run a recurrence `spec` computing in `dtype`
    on this machine: the cell's activations, float32, no GPU, the device's
    setting (keras_mi.backend.loops) and the library loaded."""
    from keras_mi.backend import loops

    return (native.covers(spec) and dtype == "float32"
            and loops.setting("native_loops", "tensorflow", loops.device_kind())
            and load() is not None)


def _in_xla_context():
    """Whether the graph being built is compiled by XLA (`jit_compile=True`),
    which runs no custom op."""
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # pragma: no cover - another TensorFlow layout
        return False
    if tf.executing_eagerly():
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


# The names of the tf.functions that Keras' TensorFlow trainer traces for
# its train, test and predict steps (keras/src/backend/tensorflow/
# trainer.py); TensorFlow names a traced graph after its Python function.
KERAS_STEP_FUNCTIONS = frozenset({
    "one_step_on_data", "one_step_on_data_distributed", "one_step_on_iterator",
    "multi_step_on_data", "multi_step_on_iterator",
})


def in_keras_step():
    """Whether this call runs eagerly or is traced into a graph of Keras'
    own train, test or predict step (`KERAS_STEP_FUNCTIONS`, in the graph
    or one it is nested in): no export can hold it. A graph of any other
    name (an export's, a user's `tf.function`) is not."""
    if tf.executing_eagerly():
        return True
    graph = tf.compat.v1.get_default_graph()
    while graph is not None:
        if getattr(graph, "name", None) in KERAS_STEP_FUNCTIONS:
            return True
        graph = getattr(graph, "outer_graph", None)
    return False


def covers(spec, xs, states, w):
    """Whether the C++ loops run this call: `native_loops_cover`, the input
    sequence `x` given (not projections), float32 arrays, and a graph that
    XLA does not compile."""
    return (native.float32_call(xs, states, w, tf.float32)
            and native_loops_cover(spec, "float32") and not _in_xla_context())


def _empty():
    return tf.zeros((0,), tf.float32)


def _arguments(spec, xs, states, w):
    """x, h0, c0, the four matrices (absent ones empty), the coefficients."""
    width = tf.shape(w["U"])[-1]
    matrices = [w[name] for name in native.matrices(spec)]
    matrices += [tf.zeros((0, 0), tf.float32)] * (4 - len(matrices))
    coefficients = [tf.convert_to_tensor(c, tf.float32) for c in native.coefficients(
        spec, w, width, lambda n, v: tf.fill([n], tf.constant(v, tf.float32)))]
    c0 = states[1] if spec.state_count == 2 else _empty()
    return xs["x"], states[0], c0, matrices, coefficients


def _keep(keep):
    if keep is None:
        return tf.zeros((0,), tf.uint8)
    return tf.cast(keep[..., 0], tf.uint8)


def _attributes(spec):
    return dict(kind=native.KINDS[spec.kind], activation=native.ACTIVATIONS[spec.activation],
                reset_after=bool(spec.reset_after))


def _shaped(tensor, *shape):
    """`tensor` with its static shape (the ops leave it unknown)."""
    tensor.set_shape(shape)
    return tensor


def forward(spec, xs, states, w, keep, save):
    """`recurrence.forward_pass` by the C++ loop: same results; the
    projected inputs it returns are the inputs (the backward loop computes
    the projections again)."""
    prepared = spec.math.prepare(spec, w)
    x, h0, c0, matrices, coefficients = _arguments(spec, xs, states, prepared)
    hs, h_final, c_final, cs, gates, uz, extra = load().keras_mi_forward(
        x, h0, c0, *matrices, *coefficients, w.get("b_rec", _empty()),
        w.get("rmask", _empty()), _keep(keep), save=bool(save), **_attributes(spec))
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
    width = w["U"].shape[-1]
    hs, h_final = _shaped(hs, steps, batch, units), _shaped(h_final, batch, units)
    two = spec.state_count == 2
    finals = (h_final, _shaped(c_final, batch, units)) if two else (h_final,)
    if not save:
        return finals, hs
    saved = {"gates": _shaped(gates, steps, batch, width)} if spec.kind != "rnn" else {}
    saved["uz"] = _shaped(uz, steps, batch, width)
    if spec.kind == "mlstm" or (spec.kind == "gru" and spec.reset_after):
        saved["wmh" if spec.kind == "mlstm" else "uh_h"] = _shaped(extra, steps, batch, units)
    sequences = (hs, _shaped(cs, steps, batch, units)) if two else (hs,)
    return finals, (sequences, saved, dict(xs))


def backward_loop(xp, scan, spec, w, xs, states, keep, residuals, d_h, d_final):
    """`recurrence.backward_loop` by the C++ loop: same results."""
    state_sequences, saved = residuals
    x, h0, c0, matrices, coefficients = _arguments(spec, xs, states, w)
    two = spec.state_count == 2
    outputs = load().keras_mi_backward(
        x, h0, c0, *matrices, *coefficients, w.get("rmask", _empty()), _keep(keep),
        state_sequences[0], state_sequences[1] if two else _empty(),
        saved.get("gates", _empty()), saved["uz"],
        saved.get("wmh", saved.get("uh_h", _empty())), d_h, d_final[0],
        d_final[1] if two else _empty(), **_attributes(spec))
    d_h0, d_c0, d_wx_rnn, d_wx, duh, totals, m, dwmh, dwmx, rh = outputs
    steps, batch, units = x.shape[0], x.shape[1], h0.shape[-1]
    width = w["U"].shape[-1]
    d_states = (_shaped(d_h0, batch, units),)
    if two:
        d_states += (_shaped(d_c0, batch, units),)
    d_wx = d_wx_rnn if spec.kind == "rnn" else d_wx
    grads = {"wx": _shaped(d_wx, steps, batch, width), "duh": _shaped(duh, steps, batch, width)}
    totals = _shaped(totals, 4, width)
    sums = dict(zip(("alpha", "beta1", "beta2", "bias"), tf.unstack(totals)))
    coefficient_totals = {name: sums[name] for name in recurrence.coefficient_names(spec, w)}
    if spec.kind == "mlstm":
        grads.update(m=_shaped(m, steps, batch, units), dwmh=_shaped(dwmh, steps, batch, units),
                     dwmx=_shaped(dwmx, steps, batch, units))
    elif spec.kind == "gru" and not spec.reset_after:
        grads["rh"] = _shaped(rh, steps, batch, units)
    return d_states, coefficient_totals, grads
