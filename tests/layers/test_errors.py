"""Bad arguments raise errors that name the argument, the value and what is
accepted."""

import keras
import numpy as np
import pytest

from keras_mi import MIGRU, MILSTM, MIRNN, MIGRUCell, MILSTMCell, MIRNNCell
from tests.layers import helpers

CLASSES = [MIRNN, MILSTM, MIGRU, MIRNNCell, MILSTMCell, MIGRUCell]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize(
    "kwargs, error, pattern",
    [
        ({"units": 0}, ValueError, r"`units`.*positive integer.*units=0"),
        ({"units": -3}, ValueError, r"`units`.*units=-3"),
        ({"units": 2.5}, TypeError, r"`units`.*positive integer.*units=2.5"),
        ({"units": "8"}, TypeError, r"`units`.*units='8'"),
        ({"integration": "mult"}, ValueError, r"`integration`.*'general', 'simple', 'additive'.*'mult'"),
        ({"activation": "swishy"}, ValueError, r"`activation`.*activation='swishy'"),
        ({"dropout": 1.0}, ValueError, r"`dropout`.*\[0, 1\).*dropout=1.0"),
        ({"dropout": -0.1}, ValueError, r"`dropout`.*dropout=-0.1"),
        ({"recurrent_dropout": 2}, ValueError, r"`recurrent_dropout`.*recurrent_dropout=2"),
        ({"dropout": "0.5"}, TypeError, r"`dropout`.*float in \[0, 1\)"),
        ({"seed": -3}, ValueError, r"`seed`.*\[0, 2147483648\).*seed=-3"),
        ({"seed": 2**70}, ValueError, r"`seed`.*seed=1180591620717411303424"),
        ({"seed": "7"}, TypeError, r"`seed`.*seed='7'"),
        ({"seed": True}, TypeError, r"`seed`.*seed=True"),
    ],
)
def test_invalid_arguments(cls, kwargs, error, pattern):
    kwargs = {"units": 3, **kwargs}
    with pytest.raises(error, match=pattern):
        cls(**kwargs)


@pytest.mark.parametrize("cls", [MIRNN, MILSTM, MIGRU], ids=lambda c: c.__name__)
def test_the_largest_accepted_seed_works_on_this_backend(cls):
    """The seed range accepted is one that every backend's dropout can use."""
    x = np.ones((2, 3, 4), "float32")
    out = helpers.to_numpy(cls(3, dropout=0.5, seed=2**31 - 1)(x, training=True))
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("cls", [MILSTM, MIGRU, MILSTMCell, MIGRUCell], ids=lambda c: c.__name__)
def test_invalid_recurrent_activation(cls):
    with pytest.raises(ValueError, match=r"`recurrent_activation`.*'nope'"):
        cls(3, recurrent_activation="nope")


def test_unknown_keyword_is_rejected_as_keras_does():
    with pytest.raises(ValueError, match="Unrecognized keyword.*bogus"):
        MILSTM(3, bogus=1)


@pytest.mark.parametrize("cls", [MIRNN, MILSTM, MIGRU], ids=lambda c: c.__name__)
def test_wrong_input_rank(cls):
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        cls(3)(np.zeros((2, 4), dtype="float32"))


@pytest.mark.parametrize(
    "cls, states",
    [
        (MILSTM, [np.zeros((2, 3)), np.zeros((2, 4))]),  # c has the wrong width
        (MILSTM, [np.zeros((2, 3))]),  # c is missing
        (MIGRU, [np.zeros((2, 5))]),
        (MIRNN, [np.zeros((3, 3))]),  # wrong batch size
    ],
)
def test_initial_state_of_wrong_shape(cls, states):
    x = np.zeros((2, 4, 2), dtype="float32")
    states = [s.astype("float32") for s in states]
    with pytest.raises(ValueError, match=r"`initial_state`.*\(batch, units\)"):
        cls(3)(x, initial_state=states)


def test_input_without_feature_dimension():
    with pytest.raises(ValueError, match="last dimension"):
        MILSTMCell(3).build((None, None))


def test_keras_style_message_for_units_matches_keras():
    """Keras' own LSTMCell words the same error the same way."""
    with pytest.raises(ValueError) as keras_error:
        keras.layers.LSTMCell(0)
    with pytest.raises(ValueError) as our_error:
        MILSTMCell(0)
    assert str(keras_error.value).split(",")[0] == str(our_error.value).split(",")[0]


@pytest.mark.parametrize(
    "cls, argument",
    [
        (MIRNN, "use_bias"),
        (MILSTM, "use_bias"),
        (MILSTM, "unit_forget_bias"),
        (MIGRU, "reset_after"),
        (MIGRUCell, "reset_after"),
        (MILSTMCell, "unit_forget_bias"),
        (MIRNN, "return_sequences"),
        (MILSTM, "return_state"),
        (MIGRU, "go_backwards"),
        (MILSTM, "stateful"),
        (MIRNN, "unroll"),
        (MIGRU, "zero_output_for_mask"),
    ],
)
@pytest.mark.parametrize("value", ["no", 0, None])
def test_boolean_arguments_must_be_booleans(cls, argument, value):
    """'no' would otherwise count as True: a boolean argument takes a bool."""
    with pytest.raises(TypeError, match=rf"`{argument}`.*boolean.*{argument}={value!r}"):
        cls(3, **{argument: value})
    assert getattr(cls(3, **{argument: np.bool_(False)}), argument) is False


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0.0, -1e-3])
def test_normalization_epsilon_must_be_finite_and_positive(value):
    with pytest.raises(ValueError, match=r"`normalization_epsilon`.*finite positive float"):
        MILSTM(3, normalization="layer", normalization_epsilon=value)


def test_interaction_and_embedding_booleans():
    from keras_mi import MultiplicativeInteraction, TiedEmbedding

    with pytest.raises(TypeError, match=r"`use_bias`.*use_bias='yes'"):
        MultiplicativeInteraction(4, use_bias="yes")
    with pytest.raises(TypeError, match=r"`use_output_bias`.*use_output_bias=1"):
        TiedEmbedding(10, 4, use_output_bias=1)


def test_tied_embedding_ids_outside_the_vocabulary_give_nan_on_every_backend():
    """Before: id -1 returned the last row, 1.7 was read as 1, and an id
    beyond the vocabulary gave an error, NaN or a clipped row by backend."""
    from keras_mi import TiedEmbedding

    layer = TiedEmbedding(5, 2)
    vectors = helpers.to_numpy(layer(np.array([[0, 4, -1, 5]])))
    table = helpers.to_numpy(layer.embeddings)
    np.testing.assert_array_equal(vectors[0, :2], table[[0, 4]])
    assert np.isnan(vectors[0, 2:]).all()
    floats = helpers.to_numpy(layer(np.array([[1.0, 1.7]], "float32")))
    np.testing.assert_array_equal(floats[0, 0], table[1])  # a whole float is an id
    assert np.isnan(floats[0, 1]).all()
    with pytest.raises(TypeError, match="integer ids.*bool"):
        layer(np.array([[True, False]]))


SEQUENCES = np.zeros((2, 5, 3), "float32")


@pytest.mark.parametrize("cls", [MIRNN, MILSTM, MIGRU])
@pytest.mark.parametrize("call, error, message", [
    # Before: `cannot compute MatMul as input #1` and the like, per backend.
    (lambda layer: layer(np.zeros((2, 5, 3), "int32")), TypeError,
     r"floating-point sequences.*received dtype int32.*embedding"),
    (lambda layer: layer(np.zeros((2, 5, 3), bool)), TypeError, r"received dtype bool"),
    (lambda layer: layer(np.zeros((2, 0, 3), "float32")), ValueError, r"0 timesteps"),
    # Before: `Tried to read from index 5` (TensorFlow), silently wrong elsewhere.
    (lambda layer: layer(SEQUENCES, mask=np.ones((2, 7), bool)), ValueError,
     r"`mask`.*expected shape \(batch, timesteps\) = \(2, 5\), received shape \(2, 7\)"),
])
def test_bad_sequences_are_named_before_the_framework_fails(cls, call, error, message):
    with pytest.raises(error, match=message):
        call(cls(4))


@pytest.mark.parametrize("cell, states, message", [
    # Before: `list index out of range` deep in the step.
    (lambda: MILSTMCell(4), [np.zeros((2, 4), "float32")],
     r"expects 2 state\(s\) of width\(s\) \[4, 4\], received 1 of width\(s\) \[4\]"),
    (lambda: MIRNNCell(4), [np.zeros((2, 5), "float32")],
     r"expects 1 state\(s\) of width\(s\) \[4\], received 1 of width\(s\) \[5\]"),
    (lambda: MIGRUCell(4), [np.zeros((2, 4), "float32")] * 2, r"expects 1 state"),
])
def test_a_cell_given_the_wrong_states_says_what_it_expects(cell, states, message):
    with pytest.raises(ValueError, match=message):
        cell()(SEQUENCES[:, 0], states)
