"""Find a registered backbone inside a model and group its layers into blocks."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tlcourse.backbones.registry import _REGISTRY, BackboneSpec
from tlcourse.errors import InvalidParameterError, invalid_parameter

__all__ = ["Block", "backbone_blocks", "find_backbone"]


@dataclass(frozen=True)
class Block:
    """A named group of consecutive backbone layers (input to output order)."""

    name: str
    layers: tuple[keras.layers.Layer, ...]

    @property
    def weights(self) -> list:
        """All weights (trainable or not) of the block's layers."""
        return [w for layer in self.layers for w in layer.weights]


def _find(model, func: str) -> tuple[keras.Model, BackboneSpec]:
    if not isinstance(model, keras.Model):
        raise invalid_parameter(
            "model", func, "a keras.Model containing a tlcourse backbone", type(model).__name__
        )
    if model.name in _REGISTRY:
        return model, _REGISTRY[model.name]
    for layer in model.layers:
        if isinstance(layer, keras.Model) and layer.name in _REGISTRY:
            return layer, _REGISTRY[layer.name]
    raise InvalidParameterError(
        f"No tlcourse backbone found in model {model.name!r}: none of its layers is named one of "
        f"{sorted(_REGISTRY)}. Build the base with tlcourse.load_backbone(...) and use it as a "
        "layer of your classifier (e.g. x = base(inputs))."
    )


def find_backbone(model: keras.Model) -> tuple[keras.Model, BackboneSpec]:
    """Return ``(backbone, spec)`` for ``model`` or the backbone nested inside it.

    The backbone is recognised by its name (a registry key), which survives saving and loading.

    Args:
        model: a backbone from :func:`~tlcourse.backbones.load_backbone`, or a model that
            contains one as a layer.

    Returns:
        The backbone model and its registry record.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model, or no registered backbone is
            found in it.

    Example:
        >>> from tlcourse.backbones import load_backbone
        >>> base = load_backbone("mobilenet_v2", weights=None, input_shape=(96, 96, 3))
        >>> clf = keras.Sequential([base, keras.layers.Dense(3)])
        >>> find_backbone(clf)[1].name
        'mobilenet_v2'
    """
    return _find(model, "find_backbone")


def backbone_blocks(model: keras.Model) -> list[Block]:
    """Group the backbone's layers into its named blocks, input to output.

    Args:
        model: a backbone, or a model containing one (see :func:`find_backbone`).

    Returns:
        List of :class:`Block` (as many as the record's ``num_blocks``); preprocessing and head
        layers (pooling, classifier) are in none.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model, or holds no registered backbone.

    Example:
        >>> from tlcourse.backbones import load_backbone
        >>> base = load_backbone("vgg16", weights=None, input_shape=(64, 64, 3))
        >>> [b.name for b in backbone_blocks(base)]
        ['block1', 'block2', 'block3', 'block4', 'block5']
    """
    backbone, spec = _find(model, "backbone_blocks")
    groups: dict[str, list] = {}
    current = None
    for layer in backbone.layers:
        if layer.name in spec.head_layers:
            current = None
            continue
        named = spec.block_of(layer.name)
        current = named or current
        if current is not None:
            groups.setdefault(current, []).append(layer)
    return [Block(name, tuple(layers)) for name, layers in groups.items()]
