"""The one walker of nested layers and the one reader of a model's graph as a chain."""

import keras
import pytest

from tlcourse.models.graph import layer_chain, nested_layers


def _nested():
    inner = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2, name="a"), keras.layers.Dense(2, name="b")],
        name="inner",
    )
    inputs = keras.Input((3,), name="x")
    outputs = keras.layers.Dense(1, name="c")(inner(inputs, training=False))
    return keras.Model(inputs, outputs, name="outer")


def test_nested_layers_are_depth_first_paths_from_the_model_itself():
    paths = [[layer.name for layer in path] for path in nested_layers(_nested())]
    assert paths == [
        ["outer"], ["outer", "x"], ["outer", "inner"], ["outer", "inner", "a"],
        ["outer", "inner", "b"], ["outer", "c"],
    ]  # fmt: skip
    dense = keras.layers.Dense(1)
    assert list(nested_layers(dense)) == [(dense,)]  # a plain layer: itself, nothing inside


def test_a_chain_gives_each_layer_with_its_call_arguments():
    model = _nested()
    chain = layer_chain(model)
    assert [layer.name for layer, _ in chain] == ["inner", "c"]
    assert chain[0][1] == {"training": False} and chain[1][1] == {}
    sequential = model.get_layer("inner")
    assert [layer.name for layer, _ in layer_chain(sequential)] == ["a", "b"]


def test_a_graph_that_is_not_a_chain_says_why():
    inputs = keras.Input((3,))
    first = keras.layers.Dense(2, name="first")(inputs)
    skip = keras.layers.Add(name="add")([first, keras.layers.Dense(2, name="second")(first)])
    with pytest.raises(ValueError, match="'add' does not take the previous layer's output alone"):
        layer_chain(keras.Model(inputs, skip))
    shared = keras.layers.Dense(3, name="shared")
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="'shared' is used more than once"):
        layer_chain(twice)
    with pytest.raises(ValueError, match="its output is not its last layer's"):
        layer_chain(keras.Model(inputs, [first, keras.layers.Dense(1)(first)]))
