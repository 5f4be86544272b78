"""Trains small keras_mi models on one device and under Keras' distribution
engines, on virtual CPU devices, and prints what tests/test_distribution.py
compares, as one JSON object on the last line of stdout.

    KERAS_BACKEND=jax python tests/distributed_run.py OUTPUT_DIR
    KERAS_BACKEND=tensorflow python tests/distributed_run.py OUTPUT_DIR

Run in its own process: the virtual devices must be configured before the
backend starts (4 on JAX through XLA_FLAGS, 2 logical CPUs on TensorFlow).
"""

import contextlib
import json
import os
import sys

BACKEND = os.environ.get("KERAS_BACKEND", "jax")
DEVICES = 4 if BACKEND == "jax" else 2
if BACKEND == "jax":
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={DEVICES}"
    )

import numpy as np  # noqa: E402

if BACKEND == "tensorflow":
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * DEVICES
    )

import keras  # noqa: E402

import keras_mi  # noqa: E402
from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM, MultiplicativeInteraction  # noqa: E402
from keras_mi.callbacks import GradientNormMonitor  # noqa: E402

BATCH, T, D, UNITS, EPOCHS = 8, 6, 3, 8, 2


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4 * BATCH, T, D)).astype("float32")
    # Padding on both sides, so the mask matters: the first quarter padded
    # on the left, the second on the right (zeros are masked).
    x[: BATCH, :2] = 0.0
    x[BATCH : 2 * BATCH, -3:] = 0.0
    z = rng.normal(size=(4 * BATCH, 5)).astype("float32")
    y = rng.normal(size=(4 * BATCH, 1)).astype("float32")
    return x, z, y


def recurrent_model(layer, masking=True):
    masks = [keras.layers.Masking(0.0)] if masking else []
    return keras.Sequential([keras.Input((T, D)), *masks, layer, keras.layers.Dense(1)])


def interaction_model(rate):
    x_in, z_in = keras.Input((D,)), keras.Input((5,))
    h = MultiplicativeInteraction(UNITS, mode="hypernetwork")([x_in, z_in])
    h = keras.layers.Dropout(rate, seed=1)(h)
    diagonal = MultiplicativeInteraction(UNITS, mode="diagonal")([h, z_in])
    return keras.Model([x_in, z_in], keras.layers.Dense(1)(diagonal))


# name -> builder(dropout rate)
MODELS = {
    "MIRNN": lambda r: recurrent_model(MIRNN(UNITS, dropout=r, recurrent_dropout=r, seed=3)),
    "MILSTM": lambda r: recurrent_model(MILSTM(UNITS, dropout=r, seed=3)),
    "MIGRU": lambda r: recurrent_model(MIGRU(UNITS, recurrent_dropout=r, seed=3)),
    "MLSTM": lambda r: recurrent_model(MLSTM(UNITS, dropout=r, seed=3, normalization="layer")),
    # Batch normalization does not train on masked batches (it says so).
    "MILSTM-batchnorm": lambda r: recurrent_model(
        MILSTM(UNITS, normalization="batch"), masking=False
    ),
    # Synchronized statistics need an unrolled loop on TensorFlow (an
    # all-reduce cannot run inside a graph while_loop).
    "MILSTM-batchnorm-synchronized": lambda r: recurrent_model(
        MILSTM(UNITS, normalization="batch", normalization_synchronized=True, unroll=True),
        masking=False,
    ),
    "interaction": interaction_model,
}


DATA_PARALLEL_ON_JAX = {"MILSTM", "MILSTM-batchnorm"}
# Saved under a distribution and loaded on one device: a recurrent layer,
# one with batch-norm statistics (non-trainable weights), the interaction
# layer. Saving goes through the same Keras code for every layer, so the
# others would repeat the check (each save, load and predict costs seconds).
SAVED = {"MILSTM", "MILSTM-batchnorm", "interaction"}


def inputs_of(name, x, z):
    return [x[:, 0, :], z] if name == "interaction" else x


def train(name, scope, output_dir, tag, rate, monitor=False):
    """Builds and trains model `name` inside `scope`; returns its epoch
    losses, predictions and (optionally) the monitor's gradient norms."""
    x, z, y = data()
    keras.utils.set_random_seed(0)
    callbacks = []
    if monitor:
        probe = (x[:BATCH], y[:BATCH])
        callbacks.append(GradientNormMonitor(os.path.join(output_dir, tag), probe))
    with scope():
        model = MODELS[name](rate)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
        history = model.fit(
            inputs_of(name, x, z), y, batch_size=BATCH, epochs=EPOCHS, shuffle=False,
            verbose=0, callbacks=callbacks,
        )
        result = {
            "loss": [float(v) for v in history.history["loss"]],
            "prediction": np.asarray(
                model.predict(inputs_of(name, x, z), verbose=0)
            ).tolist(),
        }
        if monitor:
            result["gradient_norms"] = [float(v) for v in callbacks[0].gradient_norms()]
    return model, result


def one_device():
    return contextlib.nullcontext()


def jax_distributions():
    devices = keras.distribution.list_devices()
    assert len(devices) == DEVICES, devices
    data_parallel = keras.distribution.DataParallel(devices=devices)
    mesh = keras.distribution.DeviceMesh((2, 2), ("batch", "model"), devices=devices)
    model_parallel = keras.distribution.ModelParallel(
        layout_map=keras_mi.distribution.layout_map(mesh), batch_dim_name="batch"
    )
    return {"data": data_parallel, "model": model_parallel}


def shardings(model):
    """{variable path: (sharding spec, number of distinct shards)}."""
    found = {}
    for variable in model.variables:
        sharding = variable.value.sharding
        spec = getattr(sharding, "spec", None)
        shards = {
            tuple((s.start, s.stop) for s in index)
            for index in sharding.devices_indices_map(tuple(variable.shape)).values()
        }
        found[variable.path] = [
            [str(axis) if axis is not None else None for axis in spec] if spec is not None else None,
            len(shards),
        ]
    return found


def main(output_dir):
    os.makedirs(output_dir, exist_ok=True)
    results = {"backend": BACKEND, "devices": DEVICES, "models": {}}
    if BACKEND == "tensorflow":
        # One strategy for the process: TensorFlow's collectives of a second
        # MirroredStrategy in the same process can mix with the first's.
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(DEVICES)])
        assert strategy.num_replicas_in_sync == DEVICES
    names = sys.argv[2].split(",") if len(sys.argv) > 2 else list(MODELS)
    # JAX: every model with dropout (keras.distribution draws the masks of
    # the global batch). TensorFlow: without dropout (each replica draws
    # its own masks), and MILSTM with dropout twice, for reproducibility.
    if BACKEND == "jax":
        # On JAX the statistics are global anyway: nothing to synchronize.
        names = [n for n in names if n != "MILSTM-batchnorm-synchronized"]
    runs = [(name, 0.2 if BACKEND == "jax" else 0.0) for name in names]
    if BACKEND == "tensorflow" and "MILSTM" in names:
        runs.append(("MILSTM", 0.2))
    for name, rate in runs:
        key = f"{name}-dropout" if (rate and BACKEND == "tensorflow") else name
        monitor = name == "MILSTM"
        _, single = train(name, one_device, output_dir, f"{key}-one", rate, monitor)
        entry = {"one": single}
        if BACKEND == "jax":
            engines = jax_distributions()
            # The model-parallel mesh shards the batch too (2 x 2): a
            # data-parallel run of every layer would repeat that check. It
            # runs for the models whose tests read it.
            if name not in DATA_PARALLEL_ON_JAX:
                del engines["data"]
        else:
            engines = {"data": strategy}
            if rate:
                engines["data-again"] = strategy
        for kind, engine in engines.items():
            model, run = train(name, engine.scope, output_dir, f"{key}-{kind}", rate, monitor)
            if kind == "model":
                run["shardings"] = shardings(model)
            if key in SAVED:
                # Saved under the distribution, loaded outside it: one device.
                path = os.path.join(output_dir, f"{key}-{kind}.keras")
                model.save(path)
                x, z, _ = data()
                loaded = keras.saving.load_model(path)
                run["loaded_prediction"] = np.asarray(
                    loaded.predict(inputs_of(name, x, z), verbose=0)
                ).tolist()
            entry[kind] = run
        results["models"][key] = entry
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
