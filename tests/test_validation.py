"""Declared parameter validation: messages, caller names, numbers, suggestions, conversions."""

import numbers

import numpy as np
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones.registry import BACKBONE
from tlcourse.validation import IMAGE_SIZE, Interval, Rule, StrOptions, int_list, validate_params


@validate_params(
    {
        "depth": [Interval(int, 0, 17), StrOptions({"all"})],
        "rate": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "flag": ["boolean"],
    }
)
def set_trainable(model, depth, rate=None, *, flag=False):
    return depth, rate, flag


class Holder:
    @validate_params({"size": [IMAGE_SIZE]})
    def __init__(self, size=64):
        self.size = size

    @validate_params({"unit": [StrOptions({"block", "layer"})]})
    def freeze(self, unit):
        return unit


def test_message_follows_the_template():
    with pytest.raises(InvalidParameterError) as info:
        set_trainable(None, 20)
    assert str(info.value) == (
        "The 'depth' parameter of set_trainable must be an int in the range [0, 17] or 'all'. "
        "Got 20 instead."
    )
    assert isinstance(info.value, ValueError)


def test_caller_name_comes_from_the_function():
    with pytest.raises(InvalidParameterError, match="parameter of Holder must be"):
        Holder(size=8)
    with pytest.raises(InvalidParameterError, match="parameter of Holder.freeze must be"):
        Holder().freeze("blocks")


def test_unknown_names_get_close_suggestions():
    with pytest.raises(InvalidParameterError, match="Did you mean 'block'"):
        Holder().freeze("blocks")
    with pytest.raises(InvalidParameterError, match="Did you mean 'all'"):
        set_trainable(None, "al")
    with pytest.raises(InvalidParameterError) as info:
        set_trainable(None, "zzzz")
    assert "Did you mean" not in str(info.value)


def test_bool_is_not_an_int_and_numpy_ints_are():
    with pytest.raises(InvalidParameterError, match="Got True instead"):
        set_trainable(None, True)
    with pytest.raises(InvalidParameterError, match=r"Got 3\.0 instead"):
        set_trainable(None, 3.0)
    depth, _, _ = set_trainable(None, np.int64(3))
    assert depth == 3 and type(depth) is int


def test_reals_none_and_booleans():
    assert set_trainable(None, 1, np.float32(0.5))[1] == 0.5
    assert set_trainable(None, 1, None)[1] is None
    for bad in (0, -1.0, float("nan"), float("inf"), True):
        with pytest.raises(InvalidParameterError, match="must be a float > 0 or None"):
            set_trainable(None, 1, bad)
    assert set_trainable(None, 1, flag=np.True_)[2] is True
    with pytest.raises(InvalidParameterError, match=r"a bool \(True or False\). Got 1 instead"):
        set_trainable(None, 1, flag=1)


def test_defaults_are_checked_and_converted():
    assert Holder().size == (64, 64)
    assert Holder((48, np.int64(96))).size == (48, 96)
    for bad in (31, (32, 16), (32, 32, 3), "64", 64.0):
        with pytest.raises(InvalidParameterError, match="an int >= 32 or a pair"):
            Holder(bad)


def test_constraints_computed_from_other_arguments():
    @validate_params(
        {
            "blocks": [Interval(int, 1, None)],
            "depth": lambda args: [Interval(int, 0, args["blocks"]), StrOptions({"all"})],
        }
    )
    def freeze(blocks, depth):
        return depth

    assert freeze(np.int64(4), 4) == 4
    with pytest.raises(InvalidParameterError, match=r"in the range \[0, 4\] or 'all'. Got 5"):
        freeze(4, 5)


def test_types_and_rules():
    @validate_params({"name": [str], "check": [Rule(lambda v: v % 2 == 0, "an even int")]})
    def pick(name, check=2):
        return name

    assert pick("a") == "a"
    with pytest.raises(InvalidParameterError, match="'name' parameter of .*pick must be a str"):
        pick(3)
    with pytest.raises(InvalidParameterError, match="must be an even int. Got 3"):
        pick("a", 3)


def test_int_list():
    seeds = int_list(0)
    assert seeds.convert(np.arange(3)) == (0, 1, 2)
    assert seeds.convert(np.int64(4)) == (4,)
    for bad in ("", [], "0,-1", [0, 1.5], "0,x", None):
        assert not seeds.accepts(bad)
    assert (
        str(int_list(1, ["all"]))
        == "an int >= 1 or 'all', a list of them or a comma-separated string"
    )


def test_backbone_names_come_from_the_registry():
    from tlcourse.models.backbones import list_backbones

    names = list(list_backbones().index)
    assert all(BACKBONE.accepts(name) for name in names)
    assert not BACKBONE.accepts("resnet")
    assert BACKBONE.hint(names[0][:-1] + "x")
