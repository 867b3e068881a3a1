"""A Keras model's structure: the layers nested in it, and its graph read as a chain of layers."""

from __future__ import annotations

from collections.abc import Iterator

import keras

__all__ = ["layer_chain", "nested_layers"]


def nested_layers(layer) -> Iterator[tuple]:
    """``layer`` and the layers nested in it, depth first, each as its path ``(layer, ..., sub)``.

    Example:
        >>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")], name="i")
        >>> outer = keras.Sequential([inner], name="out")
        >>> [[layer.name for layer in path] for path in nested_layers(outer)]
        [['out'], ['out', 'i'], ['out', 'i', 'd']]
    """
    yield (layer,)
    for child in layer.layers if isinstance(layer, keras.Model) else []:
        yield from ((layer, *path) for path in nested_layers(child))


def _sources(value) -> list[str]:
    """Names of the layers whose outputs a node's serialised arguments take."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value["config"]["keras_history"][0]]
    if isinstance(value, dict):
        value = list(value.values())
    return [name for v in value for name in _sources(v)] if isinstance(value, list | tuple) else []


def _names(entries) -> list[str]:
    # One input (or output) is ``[name, node, index]``, several a list of those.
    return [entries[0]] if isinstance(entries[0], str) else [entry[0] for entry in entries]


def layer_chain(model: keras.Model) -> list[tuple]:
    """``(layer, call keyword arguments)`` in call order, read from the public ``get_config()``.

    Raises ValueError, saying why, unless each layer takes the previous one's output alone and the
    last layer's output is the model's."""
    if isinstance(model, keras.Sequential):
        return [(layer, {}) for layer in model.layers]
    config = model.get_config()
    previous, chain = _names(config["input_layers"]), []
    for entry, layer in zip(config["layers"], model.layers, strict=True):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        nodes = entry["inbound_nodes"]
        if len(nodes) != 1:
            raise ValueError(f"layer {layer.name!r} is used more than once")
        if _sources(nodes[0]) != previous:
            raise ValueError(f"{layer.name!r} does not take the previous layer's output alone")
        kwargs = {k: v for k, v in nodes[0]["kwargs"].items() if k != "mask" or v is not None}
        chain.append((layer, kwargs))
        previous = [layer.name]
    if _names(config["output_layers"]) != previous:
        raise ValueError("its output is not its last layer's")
    return chain
