"""Every case of the bad-input catalogue (tests/bad_inputs.py) ends in a clear
error or a correct result on this backend, except the ones left as Keras'
own behaviour, listed here with the reason."""

import keras
import numpy as np
import pytest

from tests import bad_inputs

CASES = bad_inputs.all_cases()

# Left as Keras' behaviour: Keras converts the inputs before the layer sees
# them, and its own Embedding fails there in the same way.
AS_KERAS = {"embedding: string ids"}


def test_case_names_are_distinct():
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))


GROUPS = sorted({case.group for case in CASES})


@pytest.mark.parametrize("group", GROUPS)
def test_cases_of_group(group):
    """One test per group (not per case: the suite's per-test set-up would
    cost more than the cases)."""
    wrong = []
    for case in CASES:
        if case.group != group:
            continue
        outcome, message = bad_inputs.classify(case)
        expected = {"as_keras"} if case.id in AS_KERAS else {"clear", "correct"}
        if outcome not in expected:
            wrong.append(f"[{outcome}] {case.id}: {message[:300]}")
    assert not wrong, "\n".join(wrong)


# The classifier itself: each outcome is reachable, so the test above can fail.


def _raise(error):
    raise error


@pytest.mark.parametrize(
    "case, outcome",
    [
        (bad_inputs.Case("t", "named", lambda: _raise(ValueError("`units` got units=0")),
                         names=("units", "0")), "clear"),
        (bad_inputs.Case("t", "not named", lambda: _raise(ValueError("bad")),
                         names=("units",)), "unclear"),
        (bad_inputs.Case("t", "other type", lambda: _raise(RuntimeError("units 0")),
                         names=("units",)), "unclear"),
        (bad_inputs.Case("t", "as Keras", lambda: _raise(RuntimeError("x")),
                         names=("units",), keras_run=lambda: _raise(RuntimeError("y"))), "as_keras"),
        (bad_inputs.Case("t", "Keras differs", lambda: _raise(RuntimeError("x")),
                         names=("units",), keras_run=lambda: 1), "unclear"),
        (bad_inputs.Case("t", "accepted", lambda: 1), "silent"),
        (bad_inputs.Case("t", "wrong result", lambda: 1, result=lambda v: v == 2), "silent"),
        (bad_inputs.Case("t", "right result", lambda: 2, result=lambda v: v == 2), "correct"),
    ],
    ids=lambda x: x.name if isinstance(x, bad_inputs.Case) else x,
)
def test_classifier(case, outcome):
    assert bad_inputs.classify(case)[0] == outcome


def test_classifier_stops_a_hang():
    import time

    case = bad_inputs.Case("t", "sleeps", lambda: time.sleep(30))
    assert bad_inputs.classify(case, time_limit=1)[0] == "hang"


def test_command_refusal_carries_its_message():
    with pytest.raises(bad_inputs._CommandExit, match="--epochs"):
        bad_inputs._command("train", "--epochs", "0")


def test_nan_check():
    assert bad_inputs._all_nan(keras.ops.convert_to_tensor(np.full(3, np.nan)))
    assert not bad_inputs._all_nan(np.array([np.nan, 1.0]))
