"""The TensorBoard monitors: numbers, event files, a live TensorBoard."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import keras
import numpy as np
import pytest

from keras_mi import MILSTM, MIRNN
from keras_mi.callbacks import (
    ActivationMonitor,
    GradientNormMonitor,
    ScaleMonitor,
    read_gradient_norms,
)
from tests import reference
from tests.layers import helpers

T, B, D, H = 6, 3, 2, 4


def _model(layer, out=2):
    model = keras.Sequential([keras.Input((T, D)), layer, keras.layers.Dense(out)])
    model.compile(optimizer="adam", loss="mse")
    return model


def _data(rng, out=2):
    return (
        rng.normal(size=(B, T, D)).astype("float32"),
        rng.normal(size=(B, out)).astype("float32"),
    )


def _numpy_loss(x, y, values, dense, perturbation):
    """MI-RNN (tanh) + Dense + per-example MSE summed, with h_t += eps_t."""
    h = np.zeros((x.shape[0], H))
    for t in range(T):
        h = np.tanh(
            reference.mi(
                x[:, t] @ values["kernel"], h @ values["recurrent_kernel"],
                values["alpha"], values["beta1"], values["beta2"], values["bias"],
            )
        ) + perturbation[t]
    prediction = h @ dense["kernel"] + dense["bias"]
    return np.sum(np.mean((prediction - y) ** 2, axis=-1))


def test_gradient_norms_equal_central_differences(rng):
    """Independent check: float64 NumPy forward, central differences in h_t."""
    layer = MIRNN(H)
    model = _model(layer)
    helpers.randomize(model, rng)
    x, y = _data(rng)
    monitor = GradientNormMonitor("unused", (x, y))
    monitor.set_model(model)
    norms = monitor.gradient_norms()
    values = {w.name: helpers.to_numpy(w).astype(np.float64) for w in layer.weights}
    dense = {w.name: helpers.to_numpy(w).astype(np.float64) for w in model.layers[-1].weights}
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    eps = 1e-6  # float64 forward: truncation error O(eps^2), rounding O(1e-16/eps)
    expected = np.zeros(T)
    for t in range(T):
        grads = np.zeros((B, H))
        for b in range(B):
            for j in range(H):
                plus = np.zeros((T, B, H))
                plus[t, b, j] = eps
                grads[b, j] = (
                    _numpy_loss(x64, y64, values, dense, plus)
                    - _numpy_loss(x64, y64, values, dense, -plus)
                ) / (2 * eps)
        expected[t] = np.linalg.norm(grads, axis=-1).mean()
    # The monitor runs the model in float32: 1e-4 relative covers float32
    # rounding through 6 steps; the FD error is ~1e-9.
    np.testing.assert_allclose(norms, expected, rtol=1e-4, atol=1e-7)


def test_linear_rnn_matches_eq6_product_of_jacobians(rng):
    """Linear simple MI-RNN: dC/dh_t = prod_k (U diag(W x_k)) dC/dh_T (Eq. 6)."""
    layer = MIRNN(H, integration="simple", activation=None, use_bias=False)
    model = _model(layer, out=1)
    helpers.randomize(model, rng)
    x, y = _data(rng, out=1)
    monitor = GradientNormMonitor("unused", (x, y))
    monitor.set_model(model)
    norms = monitor.gradient_norms()
    p = {"W": helpers.to_numpy(layer.cell.kernel).astype(np.float64),
         "U": helpers.to_numpy(layer.cell.recurrent_kernel).astype(np.float64)}
    v = helpers.to_numpy(model.layers[-1].kernel).astype(np.float64)[:, 0]
    c = helpers.to_numpy(model.layers[-1].bias).astype(np.float64)
    h = np.zeros((B, H))
    for t in range(T):
        h = (x[:, t] @ p["W"]) * (h @ p["U"])
    # h stays 0 from a zero state in Eq. 2 without bias; start from dC/dh_T.
    grad = (2 * ((h @ v + c) - y[:, 0]))[:, None] * v[None, :]
    expected = [np.linalg.norm(grad, axis=-1).mean()]
    for t in range(T - 1, 0, -1):
        jacobian = reference.linear_mi_rnn_jacobian(x[:, t].astype(np.float64), p)
        grad = np.einsum("bij,bj->bi", jacobian, grad)
        expected.append(np.linalg.norm(grad, axis=-1).mean())
    expected = np.array(expected[::-1])
    np.testing.assert_allclose(np.log(norms), np.log(expected), atol=1e-4)
    assert expected[0] < expected[-1] * 10  # a real product, not a constant


def test_vanishing_norms_are_measured_not_rounded_to_zero(rng):
    """A linear RNN with U = 0.1 I shrinks dC/dh_t tenfold per step: after 24
    steps the gradient's elements are about 1e-24 times dC/dh_T's, well
    within float32, but their squares (1e-48) underflow (a norm taken in
    float32 read exactly 0 here)."""
    steps = 25
    layer = keras.layers.SimpleRNN(
        H, activation=None, use_bias=False,
        recurrent_initializer=keras.initializers.Identity(gain=0.1))
    model = keras.Sequential([keras.Input((steps, D)), layer, keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = rng.normal(size=(B, steps, D)).astype("float32")
    y = rng.normal(size=(B, 1)).astype("float32")
    monitor = GradientNormMonitor("unused", (x, y))
    monitor.set_model(model)
    norms = monitor.gradient_norms()
    assert np.all(norms > 0)
    # Exactly 0.1 per step (U^T is 0.1 I): the log norms fall by log(10) per
    # step. Float32 rounds 0.1 and each product to ~6e-8 relative: over 24
    # steps well within 1e-4 in the log.
    np.testing.assert_allclose(np.diff(np.log(norms)), np.log(10.0), rtol=1e-4)


def test_keras_lstm_and_additive_milstm_give_the_same_norms(rng):
    x, y = _data(rng)
    keras_model = _model(keras.layers.LSTM(H))
    mi_model = _model(MILSTM(H, integration="additive"))
    helpers.randomize(keras_model, rng)
    mi_model.set_weights(keras_model.get_weights())
    norms = []
    for model in (keras_model, mi_model):
        monitor = GradientNormMonitor("unused", (x, y))
        monitor.set_model(model)
        norms.append(monitor.gradient_norms())
    np.testing.assert_allclose(norms[0], norms[1], rtol=1e-5)
    assert norms[0][0] != norms[0][-1]


def _fit_with_monitors(model, log_dir, x, y):
    callbacks = [
        keras.callbacks.TensorBoard(log_dir),
        GradientNormMonitor(log_dir, (x, y)),
        ActivationMonitor(log_dir, (x,), threshold=0.5),
        ScaleMonitor(log_dir, (x,)),
    ]
    model.fit(x, y, epochs=2, batch_size=B, verbose=0, callbacks=callbacks)
    return callbacks


def test_event_files_hold_the_tags_and_values(rng, tmp_path):
    from keras_mi.callbacks import events

    model = _model(MILSTM(H))
    x, y = _data(rng)
    log_dir = str(tmp_path / "logs")
    callbacks = _fit_with_monitors(model, log_dir, x, y)
    assert os.listdir(os.path.join(log_dir, "train"))  # Keras' own logs too
    # The tags docs/monitors.md documents, and the reader's constants.
    assert set(events.TAGS) == {
        "gradient_norm/log_profile",
        "gradient_norm/profile",
        "activations/hidden",
        "activations/cell",
        "activations/saturation",
        "scale/Wx",
        "scale/Uh",
        "scale/ratio_Wx_over_Uh",
        "scale/profile",
    }
    assert set(events.TAGS) <= events.tags(log_dir)

    def last(tag):
        return events.last_value(log_dir, tag)

    # log ||dC/dh_t|| in one run per logged step, by default 0, T/4, T/2,
    # 3T/4 and T-1 (T = 6: 0, 1, 3, 4, 5).
    curves = read_gradient_norms(log_dir)
    assert sorted(curves) == [0, 1, 3, 4, 5]
    assert sorted(n for n in os.listdir(os.path.join(log_dir, "monitors"))
                  if os.path.isdir(os.path.join(log_dir, "monitors", n))) == [
        "gradient_t=000", "gradient_t=001", "gradient_t=003", "gradient_t=004", "gradient_t=005"]
    steps, logged = curves[0]
    assert steps == [0, 1]
    np.testing.assert_allclose(logged[-1], np.log(callbacks[1].gradient_norms()[0]), rtol=1e-5)
    _, saturation = last(events.SATURATION)
    hidden = callbacks[2].measure()["hidden"]
    assert saturation == pytest.approx(np.mean(np.abs(hidden) > 0.5), abs=1e-6)
    _, ratio = last(events.SCALE_RATIO)
    wx, uh = callbacks[3].measure()
    assert ratio == pytest.approx(wx[1:].mean() / uh[1:].mean(), rel=1e-5)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_tensorboard_server_lists_the_tags(rng, tmp_path):
    model = _model(keras.layers.GRU(H))
    x, y = _data(rng)
    log_dir = str(tmp_path / "logs")
    _fit_with_monitors(model, log_dir, x, y)
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", log_dir,
         "--port", str(port), "--host", "127.0.0.1", "--load_fast", "false"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline, tags = time.time() + 120, {}
        while time.time() < deadline:
            try:
                url = f"http://127.0.0.1:{port}/data/plugin/scalars/tags"
                with urllib.request.urlopen(url, timeout=5) as response:
                    tags = json.load(response)
                if "monitors" in tags and tags["monitors"]:
                    break
            except OSError:
                pass
            time.sleep(1)
        assert "gradient_norm/log_dC_dh_t" in tags["monitors/gradient_t=000"]
        assert "activations/saturation" in tags["monitors"]
        assert "train" in tags  # keras.callbacks.TensorBoard's run
        url = f"http://127.0.0.1:{port}/data/plugin/images/tags"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert "scale/profile" in json.load(response)["monitors"]
        # The Custom Scalars dashboard gets the monitors' layout: one chart
        # with every logged t of log ||dC/dh_t|| (one run, so one colour, per
        # t), one with ||Wx|| and ||Uh||.
        url = f"http://127.0.0.1:{port}/data/plugin/custom_scalars/layout"
        with urllib.request.urlopen(url, timeout=5) as response:
            layout = json.load(response)
        charts = {
            chart["title"]: chart["multiline"]["tag"]
            for category in layout["category"]
            for chart in category["chart"]
        }
        gradient_chart = next(t for t in charts if t.startswith("gradient norm"))
        assert charts[gradient_chart] == ["gradient_norm/log_dC_dh_t$"]
        runs = [run for run, run_tags in tags.items()
                if any(re.match(charts[gradient_chart][0], tag) for tag in run_tags)]
        assert sorted(runs) == [f"monitors/gradient_t={t:03d}" for t in (0, 1, 3, 4, 5)]
        scale_chart = next(t for t in charts if t.startswith("input vs recurrent"))
        assert charts[scale_chart] == ["scale/Wx$", "scale/Uh$"]
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_errors(rng, tmp_path):
    x, y = _data(rng)
    dense_only = keras.Sequential([keras.Input((T, D)), keras.layers.Flatten(), keras.layers.Dense(2)])
    dense_only.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match="no recurrent layer"):
        dense_only.fit(x, y, verbose=0, callbacks=[ScaleMonitor(str(tmp_path), (x,))])
    model = _model(MIRNN(H))
    with pytest.raises(ValueError, match="no layer 'lstm'"):
        model.fit(x, y, verbose=0, callbacks=[ScaleMonitor(str(tmp_path), (x,), layer_name="lstm")])
    with pytest.raises(ValueError, match="not a recurrent layer"):
        model.fit(x, y, verbose=0, callbacks=[
            ScaleMonitor(str(tmp_path), (x,), layer_name=model.layers[-1].name)])
    with pytest.raises(ValueError, match="probe data does not fit"):
        model.fit(x, y, verbose=0, callbacks=[ScaleMonitor(str(tmp_path), (x[:, :, :1],))])
    with pytest.raises(ValueError, match="needs targets"):
        GradientNormMonitor(str(tmp_path), (x,))
    with pytest.raises(ValueError, match="loss_over"):
        GradientNormMonitor(str(tmp_path), (x, y), loss_over="middle")
    # Before: ['a'] failed in int(), and steps beyond the probe were dropped.
    with pytest.raises(ValueError, match=r"`timesteps`: \['a'\]"):
        GradientNormMonitor(str(tmp_path), (x, y), timesteps=["a"])
    with pytest.raises(ValueError, match=rf"`timesteps`: \[{T}\] are beyond the probe's {T}"):
        model.fit(x, y, verbose=0, callbacks=[
            GradientNormMonitor(str(tmp_path), (x, y), timesteps=[0, T])])
    # A log folder that cannot be created (under a file), named before any
    # training step; before, TensorFlow's summary writer failed after the
    # first epoch with "is not a directory [Op:CreateSummaryFileWriter]".
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for monitor in (GradientNormMonitor(str(blocker / "logs"), (x, y)),
                    ActivationMonitor(str(blocker / "logs"), (x,))):
        with pytest.raises(ValueError, match=r"`log_dir`: cannot create .*a_file"):
            model.fit(x, y, verbose=0, callbacks=[monitor])


def test_a_nan_gradient_norm_is_warned_about(rng, tmp_path):
    x, y = _data(rng)
    model = _model(MIRNN(H))
    monitor = GradientNormMonitor(str(tmp_path), (np.full_like(x, np.nan), y))
    monitor.set_model(model)
    with pytest.warns(UserWarning, match="not finite at t = \\[0, 1"):
        monitor.record(0)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_probe_of_a_masked_model_carries_states_like_the_layer(rng, go_backwards):
    """With a Masking layer before the recurrent layer, the layer receives
    `[sequences, mask]`; the probe's last state equals the layer's output
    (padding on the left for half the batch, on the right for the rest)."""
    from keras_mi.callbacks.probe import Probe, find_recurrent_layer

    x = rng.normal(size=(4, 7, 3)).astype("float32")
    x[:2, :3] = 0.0
    x[2:, -2:] = 0.0
    model = keras.Sequential(
        [
            keras.Input((7, 3)),
            keras.layers.Masking(0.0),
            MILSTM(5, go_backwards=go_backwards),
            keras.layers.Dense(2),
        ]
    )
    layer = find_recurrent_layer(model)
    expected = keras.Model(model.inputs[0], layer.output)(x)
    probe = Probe(model, layer, x, np.zeros((4, 2), "float32"))
    got = probe.run()[0][-1]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected), atol=1e-5
    )
    norms = GradientNormMonitor(".", (x, np.zeros((4, 2), "float32")))
    norms.set_model(model)
    assert np.all(np.isfinite(norms.gradient_norms()))


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow",
    reason="on TensorFlow `import keras` itself loads TensorFlow and prints its start-up "
    "lines, before any keras_mi code runs (Keras' behaviour)",
)
def test_monitors_load_tensorflow_without_its_start_up_lines(tmp_path):
    """The README's monitor snippet, as a user runs it in a fresh process on
    JAX or PyTorch: the monitors and keras.callbacks.TensorBoard write with
    tf.summary, and loading TensorFlow must not print its CUDA probing and
    CPU-feature lines."""
    code = (
        "import keras, numpy as np\n"
        "from keras_mi.callbacks import GradientNormMonitor\n"
        "x = np.zeros((2, 5, 3), 'float32')\n"
        f"monitor = GradientNormMonitor({str(tmp_path)!r}, (x, x))\n"
        f"board = keras.callbacks.TensorBoard({str(tmp_path)!r})\n"
        "board.summary.create_file_writer('" + str(tmp_path / "w") + "')\n"
        "print('written')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "written"
    for noise in ("cuInit", "cudart_stub", "absl::InitializeLog", "oneDNN"):
        assert noise not in result.stderr, result.stderr[-2000:]
