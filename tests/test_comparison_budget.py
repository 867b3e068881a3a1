"""The Budget: validated on creation, saved whole with each row."""

import numpy as np
import pytest

from tlcourse.comparison import FAST_BUDGET, Budget
from tlcourse.errors import InvalidParameterError


def test_defaults_and_the_fast_budget():
    assert Budget().get_config() == {
        "epochs": 30,
        "fine_tune_epochs": 5,
        "depth": 3,
        "head_lr": 1e-3,
        "fine_tune_lr": 1e-4,
        "factor": 3.0,
        "batch_size": 32,
    }
    assert (FAST_BUDGET.epochs, FAST_BUDGET.fine_tune_epochs, FAST_BUDGET.depth) == (3, 1, 1)


def test_numpy_scalars_are_stored_as_python_numbers():
    budget = Budget(epochs=np.int64(4), head_lr=np.float32(0.5), depth="all")
    assert type(budget.epochs) is int and type(budget.head_lr) is float
    assert budget.depth == "all"
    assert Budget.from_config(budget.get_config()) == budget


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("epochs", 0, "an int >= 1"),
        ("epochs", 3.0, "an int >= 1"),
        ("fine_tune_epochs", -1, "an int >= 0"),
        ("depth", "some", "an int >= 0 or 'all'"),
        ("head_lr", 0, "a float > 0"),
        ("fine_tune_lr", float("nan"), "a float > 0"),
        ("factor", True, "a float > 0"),
        ("batch_size", 0, "an int >= 1"),
    ],
)
def test_bad_fields_name_budget_the_field_and_the_rule(field, value, rule):
    with pytest.raises(InvalidParameterError) as error:
        Budget(**{field: value})
    assert str(error.value) == (
        f"The {field!r} parameter of Budget must be {rule}. Got {value!r} instead."
    )


def test_from_config_refuses_unknown_fields():
    with pytest.raises(InvalidParameterError, match="from_config"):
        Budget.from_config({"epochs": 3, "learning_rate": 1e-3})
