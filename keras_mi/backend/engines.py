"""Each backend's distribution engine, as `keras-mi train --distribute`
uses it (see `keras_mi.distribution.for_command`)."""

import keras


def engine_for(kind, layout_map):
    """`kind` "data" or "model" on all visible devices; `layout_map(mesh)`
    gives the sharding for "model". Raises `ValueError` where Keras has no
    such engine for the backend."""
    backend = keras.backend.backend()
    if backend == "jax":
        devices = keras.distribution.list_devices()
        if kind == "data":
            return keras.distribution.DataParallel(devices=devices)
        mesh = keras.distribution.DeviceMesh(
            (1, len(devices)), ("batch", "model"), devices=devices
        )
        return keras.distribution.ModelParallel(
            layout_map=layout_map(mesh), batch_dim_name="batch"
        )
    if backend == "tensorflow":
        if kind == "model":
            raise ValueError(
                "Received: distribute='model' on the TensorFlow backend; Keras' "
                "model parallelism (keras.distribution.ModelParallel) runs on JAX. "
                "Accepted here: 'data' (tf.distribute.MirroredStrategy) or 'none'."
            )
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    raise ValueError(
        f"Received: distribute={kind!r} on the {backend} backend, for which Keras "
        "has no distribution engine (keras.distribution supports JAX, "
        "tf.distribute TensorFlow); accepted here: 'none'. Use "
        "KERAS_BACKEND=jax or tensorflow to train on several devices."
    )


def synchronized_batch_moments(values):
    """Mean and variance over the first axis, of the global batch: on
    TensorFlow an all-reduce over the replicas of a `tf.distribute` strategy
    (Keras' `ops.moments(..., synchronized=True)`); elsewhere the batch
    seen is the global one already (JAX's `keras.distribution`) or the only
    one."""
    if keras.backend.backend() == "tensorflow":
        return keras.ops.moments(values, axes=[0], synchronized=True)
    return keras.ops.mean(values, axis=0), keras.ops.var(values, axis=0)
