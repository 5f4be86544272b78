"""The fused MI recurrences on TensorFlow: graph `while_loop`s and a
`tf.custom_gradient` whose gradient is the hand-written backpropagation
through time of `keras_mi.backend.recurrence`.

Where no gradient tape is recording (inference, for example Keras'
`predict`), the forward loop runs alone and keeps nothing for a backward
pass; should a gradient of it still be asked for, TensorFlow differentiates
that loop itself (same numbers, slower).
"""

import tensorflow as tf

try:  # Whether a gradient tape records (also while a tf.function traces).
    from tensorflow.python.eager.record import could_possibly_record
except ImportError:  # pragma: no cover - older or newer TensorFlow

    def could_possibly_record():
        return True

from keras_mi.backend import recurrence


class TensorFlowOps:
    """The array namespace `xp` of `keras_mi.backend.recurrence`."""

    # In training, the input projections step by step inside the loops: no
    # (T, B, G) projection is kept for the backward pass.
    projects_in_loop = True

    multiply = staticmethod(tf.multiply)
    add = staticmethod(tf.add)

    tanh = staticmethod(tf.tanh)
    sigmoid = staticmethod(tf.sigmoid)
    relu = staticmethod(tf.nn.relu)
    where = staticmethod(tf.where)
    matmul = staticmethod(tf.matmul)
    cast = staticmethod(tf.cast)

    zeros_like = staticmethod(tf.zeros_like)

    @staticmethod
    def sum_batch(a):
        return tf.reduce_sum(a, axis=0)

    @staticmethod
    def transpose(a):
        return tf.transpose(a)

    @staticmethod
    def concat(tensors):
        return tf.concat(tensors, axis=-1)


    @staticmethod
    def project(x, weight):
        if len(x.shape) == 2:
            return tf.matmul(x, weight)
        return tf.tensordot(x, weight, axes=[[2], [0]])

    @staticmethod
    def project_back(d, weight):
        return tf.tensordot(d, weight, axes=[[2], [1]])

    @staticmethod
    def concat_time(first, sequence):
        return tf.concat([first[None], sequence[:-1]], axis=0)

    @staticmethod
    def tensordot(a, b):
        return tf.tensordot(a, b, axes=[[0, 1], [0, 1]])

    @staticmethod
    def sum_leading(a):
        return tf.reduce_sum(a, axis=[0, 1])


class TensorFlowInferenceOps(TensorFlowOps):
    """Without a backward pass, one product for all steps was faster."""

    projects_in_loop = False


def scan(fn, carry, elems, reverse=False):
    """`jax.lax.scan` as a graph `while_loop` with TensorArrays.

    Every step runs inside the loop, and the output TensorArrays are created
    empty before it and written only in it: the pattern that exporters such
    as tf2onnx turn into a loop over tensors (a first step written before
    the loop leaves TensorList operations that ONNX cannot hold). One step
    is traced before the loop for the structure and dtypes of the outputs
    alone; in a graph nothing uses it and TensorFlow prunes it.
    """
    flat = tf.nest.flatten(elems)
    length = tf.shape(flat[0])[0]
    inputs = [
        tf.TensorArray(e.dtype, size=length, element_shape=e.shape[1:]).unstack(e)
        for e in flat
    ]

    def element(t):
        return tf.nest.pack_sequence_as(elems, [ta.read(t) for ta in inputs])

    first = length - 1 if reverse else 0
    _, y = fn(carry, tf.nest.map_structure(lambda e: e[first], elems))
    outputs = [
        tf.TensorArray(v.dtype, size=length, element_shape=v.shape)
        for v in tf.nest.flatten(y)
    ]

    def body(i, carry, outputs):
        t = length - 1 - i if reverse else i
        carry, y = fn(carry, element(t))
        outputs = [ta.write(t, v) for ta, v in zip(outputs, tf.nest.flatten(y))]
        return i + 1, carry, outputs

    _, carry, outputs = tf.while_loop(
        lambda i, *_: i < length, body, (tf.constant(0), carry, outputs)
    )
    return carry, tf.nest.pack_sequence_as(y, [ta.stack() for ta in outputs])


def fused_recurrence(spec, xs, states, w, keep=None):
    """Runs `spec` over the sequences `xs`; see `keras_mi.backend`. On the
    CPU in float32 the loops are the C++ ones (tf_kernels) where a gradient
    tape records, and in inference where the call runs eagerly or in Keras'
    own predict and evaluate steps (`tf_kernels.in_keras_step`); elsewhere
    graph `while_loop`s: a graph traced without a tape outside those may be
    an export (SavedModel, ONNX), which a custom op would tie to this
    library."""
    from keras_mi.backend import tf_kernels

    if not could_possibly_record():
        if tf_kernels.in_keras_step() and tf_kernels.covers(spec, xs, states, w):
            finals, h_sequence = tf_kernels.forward(spec, xs, states, w, keep, save=False)
        else:
            finals, h_sequence = recurrence.forward_pass(
                TensorFlowInferenceOps, scan, spec, w, xs, states, keep, save=False
            )
        return (h_sequence, *finals)

    native = tf_kernels.covers(spec, xs, states, w)
    x_names, w_names = list(xs), list(w)
    count, state_count = len(x_names), spec.state_count

    @tf.custom_gradient
    def fused(*tensors):
        xs = dict(zip(x_names, tensors[:count]))
        states = tuple(tensors[count : count + state_count])
        w = dict(zip(w_names, tensors[count + state_count :]))
        if native:
            finals, residuals = tf_kernels.forward(spec, xs, states, w, keep, save=True)
        else:
            finals, residuals = recurrence.forward_pass(
                TensorFlowOps, scan, spec, w, xs, states, keep, save=True
            )

        def gradient(d_h, *d_final):
            if d_h is None:
                d_h = tf.zeros_like(residuals[0][0])
            d_final = [
                tf.zeros_like(s) if d is None else d for s, d in zip(finals, d_final)
            ]
            d_xs, d_states, d_w = recurrence.backward_pass(
                TensorFlowOps,
                scan,
                spec,
                w,
                xs,
                states,
                keep,
                residuals,
                d_h,
                d_final,
                loop=tf_kernels.backward_loop if native else None,
            )
            return (
                *[d_xs.get(name) for name in x_names],
                *d_states,
                *[d_w.get(name) for name in w_names],
            )

        return (residuals[0][0], *finals), gradient

    return fused(*xs.values(), *states, *w.values())
