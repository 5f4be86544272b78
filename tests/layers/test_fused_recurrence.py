"""The fused recurrence of the sequence layers equals their step loop.

Each layer runs once with the fused recurrence (`use_fused="auto"`, the
default) and once with Keras' step loop (`use_fused=False`), with the same
weights, on every backend: outputs, final states, and the gradients with
respect to the inputs, the initial states and every weight must agree, for
each cell kind and integration mode, with and without masks (right and left
padding, holes), forwards and backwards, and with dropout under a fixed
seed. Both compute the same float32 operations in a different order (the
hand-written backward pass sums the weight gradients over all timesteps in
one product instead of step by step), so they agree to rounding:
ATOL = RTOL = 1e-5 for values; 1e-4 for gradients, which sum T * B terms.
"""

import shutil
import sys

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MLSTM
from keras_mi.backend import value_and_gradients
from tests.layers import helpers

ATOL = RTOL = 1e-5
GRAD_TOLERANCE = dict(atol=1e-4, rtol=1e-4)
BATCH, TIMESTEPS, FEATURES, UNITS = 3, 6, 4, 5

# Each layer as (class, options), made with UNITS units.
_LAYERS = {
    "MIRNN": (MIRNN, {}),
    "MIRNN-linear-simple": (MIRNN, dict(activation=None, integration="simple")),
    "MIRNN-relu-additive": (MIRNN, dict(activation="relu", integration="additive")),
    "MILSTM": (MILSTM, {}),
    "MILSTM-simple": (MILSTM, dict(integration="simple")),
    "MILSTM-additive-no-bias": (MILSTM, dict(integration="additive", use_bias=False)),
    "MIGRU": (MIGRU, {}),
    "MIGRU-reset_after": (MIGRU, dict(reset_after=True)),
    "MIGRU-reset_after-additive": (MIGRU, dict(reset_after=True, integration="additive")),
    "MIGRU-simple-sigmoid": (MIGRU, dict(integration="simple", activation="sigmoid")),
    "MLSTM": (MLSTM, {}),
    "MLSTM-general": (MLSTM, dict(integration="general")),
}
LAYERS = {
    name: (lambda cls=cls, options=options, **kw: cls(UNITS, **options, **kw))
    for name, (cls, options) in _LAYERS.items()
}

MASKS = ("none", "right-padded", "left-padded", "holes")
# Every mask and direction for each cell kind; the other settings (modes,
# activations, no bias) unmasked forwards and with holes backwards.
KINDS = ("MIRNN", "MILSTM", "MIGRU", "MIGRU-reset_after", "MLSTM")
CASES = [
    (name, mask, backwards)
    for name in KINDS
    for mask in MASKS
    for backwards in (False, True)
] + [
    (name, mask, backwards)
    for name in LAYERS
    if name not in KINDS
    for mask, backwards in (("none", False), ("holes", True))
]


def make_mask(kind, rng):
    if kind == "none":
        return None
    lengths = np.array([TIMESTEPS, 2, 4])
    steps = np.arange(TIMESTEPS)[None, :]
    if kind == "right-padded":
        return steps < lengths[:, None]
    if kind == "left-padded":
        return steps >= TIMESTEPS - lengths[:, None]
    return helpers.random_mask(rng, BATCH, TIMESTEPS)


def _pair(name, rng, **kwargs):
    """A fused layer and a step-loop layer with the same random weights."""
    layers = []
    for use_fused in ("auto", False):
        layer = LAYERS[name](
            return_sequences=True, return_state=True, use_fused=use_fused, **kwargs
        )
        layer.build((BATCH, TIMESTEPS, FEATURES))
        layers.append(layer)
    helpers.randomize(layers[0], rng)
    layers[1].set_weights(layers[0].get_weights())
    # "fused", or on PyTorch "fused (eager PyTorch loops)" where the C++
    # loops do not apply: the same fused op either way.
    assert layers[0].recurrence_path.startswith("fused")
    assert not layers[1].recurrence_path.startswith("fused")
    return layers


def _loss_and_gradients(layer, x, states, mask, training, rng_readout):
    """A loss of every output and final state, and its gradients with
    respect to `x`, the initial states and every trainable weight."""
    non_trainable = [v.value for v in layer.non_trainable_variables]
    mask = None if mask is None else keras.ops.convert_to_tensor(mask)
    readouts = [keras.ops.convert_to_tensor(r) for r in rng_readout]
    count = len(states)

    def loss(x_value, *tensors):
        outputs, _ = layer.stateless_call(
            list(tensors[count:]),
            non_trainable,
            x_value,
            initial_state=list(tensors[:count]),
            mask=mask,
            training=training,
        )
        outputs = keras.tree.flatten(outputs)
        return sum(keras.ops.sum(o * r) for o, r in zip(outputs, readouts))

    arrays = [x, *states] + [helpers.to_numpy(v) for v in layer.trainable_variables]
    return value_and_gradients(loss, arrays)


def _compare(name, rng, mask_kind="none", training=False, **kwargs):
    fused, loop = _pair(name, rng, **kwargs)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    mask = make_mask(mask_kind, rng)
    sizes = fused.cell.state_size
    state_count = len(sizes) if isinstance(sizes, (list, tuple)) else 1
    states = [
        rng.normal(size=(BATCH, UNITS)).astype("float32") for _ in range(state_count)
    ]
    got = keras.tree.flatten(
        fused(x, initial_state=states, mask=mask, training=training)
    )
    want = keras.tree.flatten(
        loop(x, initial_state=states, mask=mask, training=training)
    )
    assert len(got) == len(want) == 1 + state_count
    for g, w in zip(got, want):
        np.testing.assert_allclose(
            helpers.to_numpy(g), helpers.to_numpy(w), atol=ATOL, rtol=RTOL
        )
    readout = [rng.normal(size=tuple(g.shape)).astype("float32") for g in got]
    value, grads = _loss_and_gradients(fused, x, states, mask, training, readout)
    want_value, want_grads = _loss_and_gradients(
        loop, x, states, mask, training, readout
    )
    np.testing.assert_allclose(value, want_value, atol=1e-4, rtol=1e-5)
    names = ["x"] + [f"state {i}" for i in range(state_count)]
    names += [v.path for v in fused.trainable_variables]
    assert len(grads) == len(names)
    for label, g, w in zip(names, grads, want_grads):
        assert np.abs(w).max() > 0, f"gradient of {label} is zero in the loop"
        np.testing.assert_allclose(g, w, err_msg=label, **GRAD_TOLERANCE)


@pytest.mark.parametrize(
    "name, mask_kind, go_backwards",
    CASES,
    ids=[f"{n}-{m}-{'backward' if b else 'forward'}" for n, m, b in CASES],
)
def test_fused_equals_step_loop(name, mask_kind, go_backwards, rng):
    _compare(name, rng, mask_kind, go_backwards=go_backwards)


@pytest.mark.parametrize("name", KINDS)
def test_fused_equals_step_loop_with_dropout(name, rng):
    """Same seed, same dropout masks: the fused training pass and its
    gradients equal the step loop's, and differ from inference."""
    _compare(
        name,
        rng,
        "holes",
        training=True,
        dropout=0.3,
        recurrent_dropout=0.4,
        seed=11,
    )
    layer = LAYERS[name](dropout=0.3, recurrent_dropout=0.4, seed=11)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    training = helpers.to_numpy(layer(x, training=True))
    inference = helpers.to_numpy(layer(x, training=False))
    assert not np.allclose(training, inference)


@pytest.mark.parametrize("name", ["MILSTM", "MIGRU-reset_after"])
def test_zero_output_for_mask(name, rng):
    """Masked steps output zeros when asked (Bidirectional asks for it)."""
    fused, loop = _pair(name, rng, zero_output_for_mask=True)
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    mask = make_mask("holes", rng)
    outputs = helpers.to_numpy(fused(x, mask=mask)[0])
    np.testing.assert_allclose(
        outputs, helpers.to_numpy(loop(x, mask=mask)[0]), atol=ATOL, rtol=RTOL
    )
    assert np.all(outputs[~mask] == 0)


@pytest.mark.parametrize("name", ["MILSTM", "MIGRU", "MLSTM"])
def test_bidirectional_equals_step_loop(name, rng):
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    mask = make_mask("right-padded", rng)
    results = []
    for use_fused in ("auto", False):
        layer = keras.layers.Bidirectional(
            LAYERS[name](return_sequences=True, use_fused=use_fused)
        )
        layer.build(x.shape)
        results.append(layer)
    helpers.randomize(results[0], rng)
    results[1].set_weights(results[0].get_weights())
    got, want = (helpers.to_numpy(layer(x, mask=mask)) for layer in results)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", ["MILSTM", "MIGRU", "MLSTM"])
def test_stateful_fused_carries_state(name, rng):
    batches = [
        rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
        for _ in range(2)
    ]
    fused, loop = _pair(name, rng, stateful=True)
    for x in batches:
        for g, w in zip(keras.tree.flatten(fused(x)), keras.tree.flatten(loop(x))):
            np.testing.assert_allclose(
                helpers.to_numpy(g), helpers.to_numpy(w), atol=ATOL, rtol=RTOL
            )
    fresh = LAYERS[name](return_sequences=True, return_state=True)
    fresh.build(batches[1].shape)
    fresh.set_weights(fused.get_weights())
    assert not np.allclose(
        helpers.to_numpy(fresh(batches[1])[0]), helpers.to_numpy(fused(batches[1])[0])
    )


def test_fused_recurrence_flushes_subnormal_values_to_zero():
    """The fused recurrence flushes subnormal floats to zero on every
    backend, as XLA and TensorFlow run their own kernels (on PyTorch the C++
    loops do it themselves; a gradient fading into subnormal values made a
    train step 28x slower there). A linear additive MI-RNN with zero inputs
    and bias and a 1x1 recurrent matrix u computes h_t = u**t h_0: with
    u = 1e-10 and h_0 = 1, h_4 = 1e-40 lies below float32's smallest normal
    (1.18e-38), so from there on the states are exactly 0, and the normal
    ones are u**t to float32 rounding."""
    layer = MIRNN(1, activation=None, integration="additive", return_sequences=True)
    layer.build((1, TIMESTEPS, 1))
    assert layer.recurrence_path == "fused"
    for variable in layer.weights:
        name = variable.path.split("/")[-1]
        variable.assign(np.full(variable.shape, 1e-10 if name == "recurrent_kernel" else 0.0))
    x = np.zeros((1, TIMESTEPS, 1), "float32")
    got = helpers.to_numpy(layer(x, initial_state=[np.ones((1, 1), "float32")])).ravel()
    exact = 1e-10 ** np.arange(1, TIMESTEPS + 1)  # float64: 1e-10, ..., 1e-60
    want = np.where(exact < np.finfo("float32").tiny, 0.0, exact)
    assert np.all(got[3:] == 0.0), got
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)


def test_recurrence_path_and_fallbacks():
    """Which loop runs, and why the fused recurrence does not apply."""
    assert MILSTM(4).recurrence_path == "fused"
    assert MILSTM(4).fused_fallback_reason is None
    cases = {
        "use_fused=False": MILSTM(4, use_fused=False),
        "unroll=True": MILSTM(4, unroll=True),
        "normalization='layer'": MILSTM(4, normalization="layer"),
        "normalization='batch'": MLSTM(4, normalization="batch"),
        "recurrent_activation": MIGRU(4, recurrent_activation="hard_sigmoid"),
        "activation": MIRNN(4, activation="softplus"),
    }
    for expected, layer in cases.items():
        assert layer.recurrence_path in ("hoisted loop", "cell loop")
        assert expected in layer.fused_fallback_reason, layer.fused_fallback_reason


def test_recurrence_path_tells_the_cpp_loops_from_the_framework_ones():
    """On the CPU the fused recurrence runs C++ loops (float32) or, where
    they do not apply, the framework's own loops: the path says which."""
    import keras

    assert MILSTM(4).recurrence_path == "fused"
    wide = MILSTM(4, dtype="float64")
    backend = keras.backend.backend()
    if backend == "jax":  # float64 computes in float32 unless x64 is on
        assert wide.recurrence_path in ("fused", "fused (lax.scan loops)")
    else:
        assert wide.recurrence_path == {"torch": "fused (eager PyTorch loops)",
                                        "tensorflow": "fused (while_loops)"}[backend]


def test_use_fused_true_raises_where_it_cannot_run(rng):
    layer = MILSTM(4, normalization="layer", use_fused=True)
    x = rng.normal(size=(2, 3, 2)).astype("float32")
    with pytest.raises(ValueError, match="use_fused=True.*normalization='layer'"):
        layer(x)
    with pytest.raises(ValueError, match="use_fused.*got use_fused='yes'"):
        MILSTM(4, use_fused="yes")


def test_fallback_layer_gives_the_same_numbers(rng):
    """A layer the fused recurrence does not cover still runs (step loop)."""
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    layer = MIGRU(UNITS, recurrent_activation="hard_sigmoid")
    layer.build(x.shape)
    helpers.randomize(layer, rng)
    twin = MIGRU(UNITS, recurrent_activation="hard_sigmoid", use_fused=False)
    twin.build(x.shape)
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        helpers.to_numpy(layer(x)), helpers.to_numpy(twin(x)), atol=ATOL, rtol=RTOL
    )


def test_use_fused_is_serialized():
    layer = MILSTM(4, use_fused=False)
    config = layer.get_config()
    assert config["use_fused"] is False
    assert MILSTM.from_config(config).use_fused is False
    assert MILSTM.from_config(MILSTM(4).get_config()).use_fused == "auto"


TORCH = keras.backend.backend() == "torch"


@pytest.mark.skipif(not TORCH, reason="the C++ loops are PyTorch's")
def test_torch_cpp_loops_are_built():
    """On PyTorch the float32 CPU path runs the C++ loops (the tests above
    compare them with the step loop); building them must work here."""
    from keras_mi.backend import torch_kernels

    assert torch_kernels.load() is not None


@pytest.mark.skipif(not TORCH, reason="the C++ loops are PyTorch's")
def test_torch_build_leaves_path_as_it_was(monkeypatch, tmp_path):
    """The build puts the environment's ninja on PATH only while it runs."""
    import os

    from keras_mi.backend import torch_kernels

    monkeypatch.setenv("PATH", os.pathsep.join([str(tmp_path), "/usr/bin", "/bin"]))
    before = os.environ["PATH"]
    with torch_kernels._ninja_on_path():
        inside = os.environ["PATH"]
    assert os.environ["PATH"] == before
    ninja = os.path.join(os.path.dirname(sys.executable), "ninja")
    if os.path.exists(ninja) and shutil.which("ninja", path=before) is None:
        assert inside.startswith(os.path.dirname(sys.executable))


@pytest.mark.skipif(not TORCH, reason="the C++ loops' buffers are PyTorch tensors")
def test_torch_buffer_pool_is_bounded_and_clearable():
    import torch

    from keras_mi.backend import clear_buffers, torch_kernels

    pool = torch_kernels.BufferPool(per_shape=2, max_bytes=10 * 4096)
    like = torch.zeros(1)
    tensors = [torch.zeros(1024) for _ in range(3)]  # 4096 bytes each
    pool.give(*tensors)
    assert pool.bytes == 2 * 4096  # at most two of one shape
    later = [torch.zeros(512 * k) for k in range(3, 12)]  # 6 KB ... 22 KB, 126 KB in all
    pool.give(*later)
    assert 0 < pool.bytes <= pool.max_bytes
    # The shape used least recently went first; the newest stayed.
    assert all(pool.take((1024,), like) is not t for t in tensors)
    assert pool.take((11 * 512,), like) is later[-1]
    before = pool.bytes
    pool.give(torch.zeros(100_000))  # larger than the whole budget: not kept
    assert pool.bytes == before
    pool.give(later[-1])
    pool.clear()
    assert pool.bytes == 0 and pool.take((11 * 512,), like) is not later[-1]
    # The recurrences' own pool holds what a training step left, until cleared.
    layer = MILSTM(UNITS)
    x = torch.ones((BATCH, TIMESTEPS, FEATURES))
    layer(x).sum().backward()
    held = torch_kernels.POOL.bytes
    assert clear_buffers() == held and torch_kernels.POOL.bytes == 0


@pytest.mark.skipif(not TORCH, reason="PyTorch's oneDNN operations")
def test_torch_onednn_packing_is_checked_before_use(monkeypatch):
    """The private oneDNN operations are used only where a probe product
    matched `a @ w`; without them, `pack` declines and the loops multiply
    with at::mm."""
    import torch

    from keras_mi.backend import torch_kernels

    w, a = torch.ones(3, 4), torch.ones(2, 3)
    if torch_kernels.ONEDNN_PACKING:
        assert torch_kernels.pack(w, a) is not None
    monkeypatch.setattr(torch_kernels, "ONEDNN_PACKING", False)
    assert torch_kernels.pack(w, a) is None


@pytest.mark.skipif(not TORCH, reason="PyTorch's eager fallback of the C++ loops")
@pytest.mark.parametrize("name", KINDS)
def test_torch_eager_loops_equal_step_loop(name, rng, monkeypatch):
    """Without the C++ loops (no compiler), the eager PyTorch loops of the
    fused recurrence give the same numbers."""
    from keras_mi.backend import torch_kernels

    monkeypatch.setitem(torch_kernels._STATE, "module", None)
    _compare(
        name,
        rng,
        "holes",
        training=True,
        go_backwards=True,
        dropout=0.2,
        recurrent_dropout=0.3,
        seed=5,
    )


@pytest.mark.skipif(not TORCH, reason="PyTorch's autograd")
def test_torch_second_backward_pass_is_a_clear_error(rng):
    """The backward pass reuses what the forward pass saved: a second one
    through the same graph (retain_graph=True) raises, naming the way out."""
    import torch

    layer = MILSTM(UNITS)
    x = torch.tensor(rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32"))
    loss = layer(x).sum()
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="use_fused=False"):
        loss.backward()
    twin = MILSTM(UNITS, use_fused=False)
    twin.build(x.shape)
    loss = twin(x).sum()
    loss.backward(retain_graph=True)
    loss.backward()



# The C++ loops' binding on JAX and TensorFlow (PyTorch's is tested above),
# and what the fused recurrence runs without them.
BINDINGS = {"jax": ("xla_kernels", "fused (lax.scan loops)", "JAX"),
            "tensorflow": ("tf_kernels", "fused (while_loops)", "TensorFlow")}
BOUND = BINDINGS.get(keras.backend.backend())
needs_binding = pytest.mark.skipif(BOUND is None, reason="PyTorch's C++ loops are tested above")


def _binding():
    import importlib

    return importlib.import_module(f"keras_mi.backend.{BOUND[0]}")


@needs_binding
def test_cpp_loops_are_built():
    """On the CPU the fused recurrence runs the C++ loops in training:
    every comparison of gradients in this file runs them."""
    assert _binding().load() is not None
    assert MILSTM(4).recurrence_path == "fused"


def _count_binding_calls(monkeypatch):
    """The list that gets one entry per call of the binding's `forward`."""
    binding = _binding()
    calls = []
    forward = binding.forward
    monkeypatch.setattr(binding, "forward",
                        lambda *args, **kwargs: calls.append(1) or forward(*args, **kwargs))
    return calls


@needs_binding
def test_cpp_loops_run_where_the_recurrence_is_differentiated(rng, monkeypatch):
    """The C++ loops run a train step; inference on JAX keeps the
    framework's loops (so that an exported function holds no custom call;
    TensorFlow's inference is tested below), and so does a train step under
    a `keras.distribution` on JAX (XLA partitions its own loops over the
    devices; a custom call would run whole on each)."""
    calls = _count_binding_calls(monkeypatch)
    layer = MIGRU(UNITS)
    layer.build((BATCH, TIMESTEPS, FEATURES))
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    readout = [rng.normal(size=(BATCH, UNITS)).astype("float32")]
    if keras.backend.backend() == "jax":
        layer(x)
        assert calls == []
    _loss_and_gradients(layer, x, [np.zeros((BATCH, UNITS), "float32")], None, True, readout)
    assert calls
    if keras.backend.backend() == "jax":
        calls.clear()
        with keras.distribution.DataParallel().scope():
            _loss_and_gradients(layer, x, [np.zeros((BATCH, UNITS), "float32")], None, True,
                                readout)
        assert calls == []


@needs_binding
@pytest.mark.parametrize("cls", [MILSTM, MIGRU])
def test_cpp_loops_spread_over_threads_equal_step_loop(cls, rng):
    """Widths at which the C++ loops split each product by columns over the
    framework's threads (32 x 1024 x 4096 multiply-adds for the LSTM's `U`,
    above mi_blas.h's 2**20) and, for the LSTM, spread its elementwise work
    over them too (B * 4H = 131072 values per step, mi_core.h's
    `over_units`): the same outputs and gradients as the step loop, to the
    tolerances of this file (float32 on both sides, sums in another order).
    On a one-core machine the split has one block."""
    batch, steps, features, units = 32, 3, 8, 1024
    layers = []
    for use_fused in ("auto", False):
        layer = cls(units, return_sequences=True, return_state=True, use_fused=use_fused)
        layer.build((batch, steps, features))
        layers.append(layer)
    helpers.randomize(layers[0], rng)
    layers[1].set_weights(layers[0].get_weights())
    assert layers[0].recurrence_path == "fused"
    x = rng.normal(size=(batch, steps, features)).astype("float32")
    count = 2 if cls is MILSTM else 1
    states = [rng.normal(size=(batch, units)).astype("float32") for _ in range(count)]
    readout = [rng.normal(size=(batch, steps, units)).astype("float32")]
    readout += [rng.normal(size=(batch, units)).astype("float32") for _ in range(count)]
    got, want = (_loss_and_gradients(layer, x, states, None, True, readout) for layer in layers)
    np.testing.assert_allclose(got[0], want[0], atol=1e-4, rtol=1e-5)
    for g, w in zip(got[1], want[1]):
        np.testing.assert_allclose(g, w, **GRAD_TOLERANCE)


@pytest.mark.skipif(BOUND is None or keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's inference by the C++ loops")
def test_tensorflow_inference_runs_cpp_loops_only_eagerly_and_in_keras_steps(rng, monkeypatch):
    """Without a gradient tape, TensorFlow runs the C++ loops in an eager
    call and in the graphs of Keras' own predict and evaluate steps (with
    the same outputs as the while_loops), and nowhere else: the graph of
    any other tf.function (an export traces one) holds no custom op."""
    import tensorflow as tf

    from keras_mi.backend import loops

    calls = _count_binding_calls(monkeypatch)
    model = keras.Sequential([keras.Input((TIMESTEPS, FEATURES)), MILSTM(UNITS)])
    model.compile(loss="mse")
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    eager = model(x)
    assert len(calls) == 1
    predicted = model.predict(x, verbose=0)
    assert len(calls) == 2
    model.evaluate(x, np.zeros((BATCH, UNITS), "float32"), verbose=0)
    assert len(calls) == 3

    def op_types(concrete):
        """The op types of a traced function, those of the functions it
        calls (loop bodies, nested calls) included."""
        graph_def = concrete.graph.as_graph_def()
        types = {node.op for node in graph_def.node}
        for function in graph_def.library.function:
            types.update(node.op for node in function.node_def)
        return types

    user = tf.function(lambda inputs: model(inputs)).get_concrete_function(
        tf.TensorSpec((None, TIMESTEPS, FEATURES), tf.float32))
    assert len(calls) == 3
    assert {"While", "StatelessWhile"} & op_types(user)
    assert "KerasMiForward" not in op_types(user)
    predict_graphs = model.predict_function._list_all_concrete_functions()
    assert predict_graphs and all("KerasMiForward" in op_types(g) for g in predict_graphs)

    # The while_loops give the same outputs (float32 sums in another order).
    key = ("tensorflow", "cpu")
    monkeypatch.setitem(loops.TUNED, key, {**loops.TUNED[key], "native_loops": False})
    np.testing.assert_allclose(model(x), eager, rtol=1e-5, atol=1e-6)
    model.predict_function = None
    np.testing.assert_allclose(model.predict(x, verbose=0), predicted, rtol=1e-5, atol=1e-6)
    assert len(calls) == 3


@needs_binding
@pytest.mark.parametrize("name", KINDS)
def test_framework_loops_equal_step_loop(name, rng, monkeypatch):
    """With the C++ loops switched off (the device's `native_loops`
    setting), the framework's loops of the fused recurrence give the same
    numbers."""
    from keras_mi.backend import loops

    key = (keras.backend.backend(), "cpu")
    monkeypatch.setitem(loops.TUNED, key, {**loops.TUNED[key], "native_loops": False})
    assert MILSTM(4).recurrence_path == BOUND[1]
    _compare(name, rng, "holes", training=True, go_backwards=True, dropout=0.2,
             recurrent_dropout=0.3, seed=5)


@needs_binding
def test_cpp_loops_fall_back_when_they_cannot_build(rng, monkeypatch, tmp_path):
    """No compiler (and no cached build): a warning, then the framework's
    loops, with the same numbers."""
    binding = _binding()
    monkeypatch.setattr(binding, "_STATE", {})
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.warns(RuntimeWarning, match=f"could not build its C.. recurrence loops for "
                                            f"{BOUND[2]}"):
        assert binding.load() is None
    assert MILSTM(4).recurrence_path == BOUND[1]
    _compare("MILSTM", rng, "right-padded")


@needs_binding
def test_cpp_loops_jit_equals_eager(rng):
    """A train step compiled with XLA (jit_compile=True; on TensorFlow XLA
    runs no custom op: the while_loops) and run eagerly, op by op, from the
    same weights: the same loss and the same weights after the update."""
    x = rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")
    y = rng.normal(size=(BATCH, UNITS)).astype("float32")
    models = []
    for jit in (True, False):
        model = keras.Sequential([keras.Input((TIMESTEPS, FEATURES)), MIGRU(UNITS)])
        model.compile(optimizer="sgd", loss="mse", jit_compile=jit, run_eagerly=not jit)
        models.append(model)
    helpers.randomize(models[0], rng)
    models[1].set_weights(models[0].get_weights())
    assert models[0].layers[0].recurrence_path == "fused"
    losses = [model.train_on_batch(x, y) for model in models]
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
