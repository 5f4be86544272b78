"""Tests every MI cell family must pass (MIRNN, MILSTM, MIGRU).

Each tests/layers/test_mi_*.py module imports these tests and defines a
`family` fixture describing its cell, its layer, its Keras twin and its NumPy
reference. Float32 layers are compared with float64 references at
ATOL = RTOL = 1e-5: outputs are O(1) and pass through a few dozen float32
roundings per step over at most 7 steps, so errors stay near 1e-6; 1e-5 leaves
headroom while still catching any wrong term (a coefficient or gate error
moves outputs by 1e-2 or more with weights of scale 0.5).
"""

import dataclasses
from typing import Callable

import keras
import numpy as np
import pytest

from tests.layers import helpers

ATOL = RTOL = 1e-5
BATCH, TIMESTEPS, FEATURES, UNITS = 3, 7, 4, 5
MODES = ("general", "simple", "additive")


@dataclasses.dataclass
class Family:
    cell: type
    layer: type
    keras_cell: type
    keras_layer: type
    # reference(x, values, mode, units, variant, mask, go_backwards, states)
    # -> (outputs, final_states), from tests/reference.py.
    reference: Callable
    variants: tuple = ({},)
    state_count: int = 1
    # The paper's initial (alpha, beta1, beta2) for this model.
    paper_coefficients: tuple = (1.0, 1.0, 1.0)
    gate_count: int = 1


def run_reference(function, x, params, states, mask, backwards, state_names=("h0",),
                  **options):
    """`function(x, params, ...)` of tests/reference.py with the initial
    `states` by their names (none: zeros), the mask and the direction."""
    initial = {} if states is None else dict(zip(state_names, states))
    return function(x, params, mask=mask, go_backwards=backwards, **initial, **options)


def variant_id(variant):
    return ",".join(f"{k}={v}" for k, v in variant.items()) or "default"


def _inputs(rng):
    return rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")


def _outputs(result):
    return [helpers.to_numpy(t) for t in keras.tree.flatten(result)]


def _assert_matches_reference(result, expected_outputs, expected_states):
    outputs, *states = _outputs(result)
    np.testing.assert_allclose(outputs, expected_outputs, atol=ATOL, rtol=RTOL)
    assert len(states) == len(expected_states)
    for got, want in zip(states, expected_states):
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("wrapper", ["rnn_of_cell", "sequence_layer"])
def test_matches_numpy_reference(family, mode, masked, wrapper, rng):
    for variant in family.variants:
        kwargs = dict(integration=mode, **variant)
        if wrapper == "rnn_of_cell":
            layer = keras.layers.RNN(
                family.cell(UNITS, **kwargs),
                return_sequences=True,
                return_state=True,
            )
        else:
            layer = family.layer(
                UNITS, return_sequences=True, return_state=True, **kwargs
            )
        x = _inputs(rng)
        mask = helpers.random_mask(rng, BATCH, TIMESTEPS) if masked else None
        layer.build(x.shape)
        values = helpers.randomize(layer, rng)
        expected = family.reference(x, values, mode, UNITS, variant, mask)
        _assert_matches_reference(layer(x, mask=mask), *expected)


@pytest.mark.parametrize("mode", ["general", "simple"])
def test_go_backwards_and_initial_state(family, mode, rng):
    for variant in family.variants:
        layer = family.layer(
            UNITS,
            integration=mode,
            go_backwards=True,
            return_sequences=True,
            return_state=True,
            **variant,
        )
        x = _inputs(rng)
        layer.build(x.shape)
        values = helpers.randomize(layer, rng)
        states = [
            rng.normal(size=(BATCH, UNITS)).astype("float32")
            for _ in range(family.state_count)
        ]
        expected = family.reference(
            x, values, mode, UNITS, variant, None, True, states
        )
        _assert_matches_reference(layer(x, initial_state=states), *expected)


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
def test_additive_mode_equals_keras(family, masked, rng):
    for variant in family.variants:
        keras_layer = family.keras_layer(
            UNITS, return_sequences=True, return_state=True, **variant
        )
        mi_layer = family.layer(
            UNITS,
            integration="additive",
            return_sequences=True,
            return_state=True,
            **variant,
        )
        x = _inputs(rng)
        mask = helpers.random_mask(rng, BATCH, TIMESTEPS) if masked else None
        keras_layer.build(x.shape)
        mi_layer.build(x.shape)
        helpers.randomize(keras_layer, rng)
        assert [w.name for w in mi_layer.weights] == [
            w.name for w in keras_layer.weights
        ]
        mi_layer.set_weights(keras_layer.get_weights())
        for got, want in zip(
            _outputs(mi_layer(x, mask=mask)), _outputs(keras_layer(x, mask=mask))
        ):
            np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)


def test_additive_cell_equals_keras_cell(family, rng):
    for variant in family.variants:
        keras_cell = family.keras_cell(UNITS, **variant)
        mi_cell = family.cell(UNITS, integration="additive", **variant)
        keras_cell.build((BATCH, FEATURES))
        mi_cell.build((BATCH, FEATURES))
        helpers.randomize(keras_cell, rng)
        mi_cell.set_weights(keras_cell.get_weights())
        x = rng.normal(size=(BATCH, FEATURES)).astype("float32")
        states = [
            rng.normal(size=(BATCH, UNITS)).astype("float32")
            for _ in range(family.state_count)
        ]
        got = _outputs(mi_cell(x, states))
        want = _outputs(keras_cell(x, states))
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL)


def test_weight_names_shapes_and_paper_defaults(family):
    for variant in family.variants:
        cell = family.cell(UNITS, **variant)
        cell.build((None, FEATURES))
        width = family.gate_count * UNITS
        shapes = {w.name: tuple(w.shape) for w in cell.weights}
        expected_bias = (
            (2, width) if variant.get("reset_after") else (width,)
        )
        assert shapes == {
            "kernel": (FEATURES, width),
            "recurrent_kernel": (UNITS, width),
            "bias": expected_bias,
            "alpha": (width,),
            "beta1": (width,),
            "beta2": (width,),
        }
        for name, value in zip(
            ("alpha", "beta1", "beta2"), family.paper_coefficients
        ):
            np.testing.assert_array_equal(
                helpers.to_numpy(getattr(cell, name)), np.full(width, value)
            )
        # The fixed modes have exactly the weights of the Keras cell.
        for mode in ("simple", "additive"):
            fixed = family.cell(UNITS, integration=mode, **variant)
            fixed.build((None, FEATURES))
            assert [w.name for w in fixed.weights] == [
                "kernel",
                "recurrent_kernel",
                "bias",
            ]


def _twins(family, x, rng, **options):
    """Two layers of the family with the same random weights: the second
    made with `options`."""
    first = family.layer(UNITS, return_sequences=True)
    second = family.layer(UNITS, return_sequences=True, **options)
    first.build(x.shape)
    second.build(x.shape)
    helpers.randomize(first, rng)
    second.set_weights(first.get_weights())
    return first, second


def test_unroll_equals_symbolic_loop(family, rng):
    x = _inputs(rng)
    looped, unrolled = _twins(family, x, rng, unroll=True)
    np.testing.assert_allclose(
        _outputs(unrolled(x))[0], _outputs(looped(x))[0], atol=ATOL, rtol=RTOL
    )


def test_stateful_continues_across_batches(family, rng):
    x = _inputs(rng)
    whole, stateful = _twins(family, x, rng, stateful=True)
    first = _outputs(stateful(x[:, :3]))[0]
    second = _outputs(stateful(x[:, 3:]))[0]
    np.testing.assert_allclose(
        np.concatenate([first, second], axis=1),
        _outputs(whole(x))[0],
        atol=ATOL,
        rtol=RTOL,
    )
    stateful.reset_state()
    np.testing.assert_allclose(
        _outputs(stateful(x[:, :3]))[0], first, atol=ATOL, rtol=RTOL
    )


def test_bidirectional_matches_two_references(family, rng):
    x = _inputs(rng)
    mask = helpers.random_mask(rng, BATCH, TIMESTEPS)
    layer = keras.layers.Bidirectional(family.layer(UNITS), merge_mode="concat")
    layer.build(x.shape)
    helpers.randomize(layer, rng)
    forward_values = {
        w.name: helpers.to_numpy(w) for w in layer.forward_layer.weights
    }
    backward_values = {
        w.name: helpers.to_numpy(w) for w in layer.backward_layer.weights
    }
    forward, _ = family.reference(x, forward_values, "general", UNITS, {}, mask)
    backward, _ = family.reference(
        x, backward_values, "general", UNITS, {}, mask, True
    )
    expected = np.concatenate([forward[:, -1], backward[:, -1]], axis=-1)
    got = _outputs(layer(x, mask=mask))[0]
    np.testing.assert_allclose(got, expected, atol=ATOL, rtol=RTOL)


def test_stacked_cells_match_composed_references(family, rng):
    x = _inputs(rng)
    layer = keras.layers.RNN(
        keras.layers.StackedRNNCells([family.cell(UNITS), family.cell(UNITS)]),
        return_sequences=True,
    )
    layer.build(x.shape)
    helpers.randomize(layer, rng)
    first, second = layer.cell.cells
    first_values = {w.name: helpers.to_numpy(w) for w in first.weights}
    second_values = {w.name: helpers.to_numpy(w) for w in second.weights}
    hidden, _ = family.reference(x, first_values, "general", UNITS, {}, None)
    expected, _ = family.reference(
        hidden, second_values, "general", UNITS, {}, None
    )
    np.testing.assert_allclose(
        _outputs(layer(x))[0], expected, atol=ATOL, rtol=RTOL
    )


def test_dropout_only_in_training(family, rng):
    x = _inputs(rng)
    plain, layer = _twins(family, x, rng, dropout=0.5, recurrent_dropout=0.5, seed=3)
    inference = _outputs(layer(x, training=False))[0]
    np.testing.assert_allclose(inference, _outputs(plain(x))[0], atol=ATOL)
    trained = _outputs(layer(x, training=True))[0]
    assert np.abs(trained - inference).max() > 1e-3


def test_fit_reduces_loss(family, rng):
    x = _inputs(rng)
    y = np.sin(np.cumsum(x[..., :1], axis=1))[:, -1]
    model = keras.Sequential(
        [keras.Input((TIMESTEPS, FEATURES)), family.layer(8), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="mse")
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=30, batch_size=BATCH, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert after < 0.5 * before
