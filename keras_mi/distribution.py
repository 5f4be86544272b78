"""keras_mi models on many devices, with Keras' own distribution engines.

Nothing here replaces an engine: `layout_map` gives `keras.distribution`'s
`ModelParallel` the sharding of every keras_mi weight, `for_command` picks
the engine that `keras-mi train --distribute` uses on each backend, and
`describe` says what it is in one line.

The MI layers shard on their unit axis: the last axis of every weight that
has one of width `G * units` (the gate blocks of `kernel`,
`recurrent_kernel`, `bias`, `alpha`, `beta1`, `beta2`, the normalization
gains and population statistics) or `units` (the mLSTM's multiplicative
kernels, the cell-state gain and shift, the interaction layer's outputs). One
mesh axis cuts all of them at the same columns, so each device holds the same
columns of `W x`, `U h` and of the coefficients that multiply them.
"""

import re

# The weights sharded on their last axis, by name, with their rank.
SHARDED_WEIGHTS = {
    # MI cells (MIRNNCell, MILSTMCell, MIGRUCell, MLSTMCell)
    "kernel": 2,
    "recurrent_kernel": 2,
    "multiplicative_kernel": 2,
    "multiplicative_recurrent_kernel": 2,
    "bias": 1,
    "alpha": 1,
    "beta1": 1,
    "beta2": 1,
    "input_gamma": 1,
    "recurrent_gamma": 1,
    "cell_gamma": 1,
    "cell_beta": 1,
    "moving_input_mean": 2,
    "moving_input_variance": 2,
    "moving_recurrent_mean": 2,
    "moving_recurrent_variance": 2,
    "moving_cell_mean": 2,
    "moving_cell_variance": 2,
    # MultiplicativeInteraction (the scalar form's (m, 1) kernel stays whole)
    "context_kernel": 2,
    "interaction_kernel": 3,
}

# The default names of the layers and cells that own those weights.
DEFAULT_SCOPES = (
    r"(mirnn|milstm|migru|mlstm)_cell(_\d+)?",
    r"multiplicative_interaction(_\d+)?",
)


def layout_map(device_mesh, model_axis="model", scopes=DEFAULT_SCOPES):
    """A `keras.distribution.LayoutMap` that shards the keras_mi weights.

    Every weight of `SHARDED_WEIGHTS` inside a layer or cell whose name
    matches one of `scopes` is split on its last axis over the mesh axis
    `model_axis`; everything else (embeddings, Dense layers, seeds) is
    replicated. Pass it to `keras.distribution.ModelParallel`:

        mesh = keras.distribution.DeviceMesh((2, 4), ("batch", "model"))
        keras.distribution.set_distribution(
            keras.distribution.ModelParallel(
                layout_map=keras_mi.distribution.layout_map(mesh),
                batch_dim_name="batch",
            )
        )

    The sharded axis (`G * units`, or `units`) must be divisible by the
    size of `model_axis`.

    Args:
        device_mesh: a `keras.distribution.DeviceMesh` with an axis named
            `model_axis`.
        model_axis: the mesh axis the weights are split over.
        scopes: regular expressions matching a path component (a layer or
            cell name) under which weights are sharded. The defaults match
            keras_mi's default names (`milstm_cell`, `multiplicative_interaction_2`,
            ...); add your own names when you name the cells yourself.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    import keras

    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise TypeError(
            "Expected `device_mesh` to be a keras.distribution.DeviceMesh, "
            f"received: device_mesh={device_mesh!r} of type {type(device_mesh).__name__}."
        )
    if model_axis not in device_mesh.axis_names:
        raise ValueError(
            f"Received: model_axis={model_axis!r}, which is not an axis of the "
            f"mesh; accepted: one of {list(device_mesh.axis_names)}."
        )
    if isinstance(scopes, str) or not scopes:
        raise ValueError(
            "Expected `scopes` to be a non-empty list of regular expressions, "
            f"received: scopes={scopes!r}."
        )
    for scope in scopes:
        try:
            re.compile(scope)
        except re.error as error:
            raise ValueError(
                f"Received: scopes entry {scope!r}, which is not a regular "
                f"expression ({error})."
            ) from None
    layouts = keras.distribution.LayoutMap(device_mesh)
    scope = "|".join(f"(?:{s})" for s in scopes)
    for name, rank in SHARDED_WEIGHTS.items():
        axes = (None,) * (rank - 1) + (model_axis,)
        layouts[rf"(?:.*/)?(?:{scope})/{name}"] = axes
    return layouts


def describe(distribution):
    """One line naming the engine and its devices, as the command prints it."""
    import keras

    if distribution is None:
        return "one device"
    mesh = getattr(distribution, "device_mesh", None)
    if isinstance(mesh, keras.distribution.DeviceMesh):  # keras.distribution
        shape = dict(zip(mesh.axis_names, mesh.shape))
        return (
            f"{type(distribution).__name__} over a mesh {shape} of "
            f"{len(mesh.devices.flatten())} devices"
        )
    devices = list(distribution.extended.worker_devices)
    return f"{type(distribution).__name__} over {len(devices)} devices: {', '.join(devices)}"


def for_command(kind):
    """The distribution `keras-mi train --distribute KIND` uses, on all the
    visible devices: `None` for "none"; on JAX a `keras.distribution`
    `DataParallel` ("data") or `ModelParallel` with `layout_map` on a
    `(1, N)` mesh ("model"); on TensorFlow a `tf.distribute.MirroredStrategy`
    ("data"). Raises `ValueError` for what the backend's engine lacks."""
    from keras_mi.backend import engines

    kinds = ("none", "data", "model")
    if kind not in kinds:
        raise ValueError(f"Received: distribute={kind!r}; accepted: one of {list(kinds)}.")
    if kind == "none":
        return None
    return engines.engine_for(kind, layout_map)
