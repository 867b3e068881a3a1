"""Which part of a transfer model each layer, and so each variable, belongs to.

Freezing by depth, per-block learning rates and the "what trains" tables share one answer,
:func:`variable_groups`, input to output: ``"preprocessing"`` (the backbone's layers before its
first block: they train only when every block does), one group per backbone block, and ``"head"``
(the backbone's pooling or top and every layer outside the backbone: always trains). Blocks are
matched by layer name, so a reloaded model groups the same."""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tlcourse.errors import invalid_parameter
from tlcourse.models.backbones import backbone_blocks, find_backbone
from tlcourse.models.backbones.registry import MODEL_WITH_BACKBONE
from tlcourse.validation import validate_params

__all__ = ["BLOCK", "HEAD", "PREPROCESSING", "UNITS", "VariableGroup", "variable_groups"]

PREPROCESSING, BLOCK, HEAD = "preprocessing", "block", "head"
UNITS = ("block", "layer")  # what depth and layer-wise rates count: blocks or weighted layers


@dataclass(frozen=True)
class VariableGroup:
    """A part of a model that freezes and learns as one: preprocessing, a block or the head."""

    name: str
    kind: str
    layers: tuple[keras.layers.Layer, ...]

    @property
    def variables(self) -> list:
        """The weights of the group's layers (trainable or not), each once, in layer order."""
        return list({id(v): v for layer in self.layers for v in layer.weights}.values())

    def __repr__(self) -> str:
        size = f"{len(self.layers)} layers, {len(self.variables)} variables"
        return f"VariableGroup({self.name!r}, kind={self.kind!r}, {size})"


def require_backbone(model, func: str):
    """``(backbone, spec)``, or the template error naming ``func``."""
    if not MODEL_WITH_BACKBONE.accepts(model):
        rule, hint = str(MODEL_WITH_BACKBONE), MODEL_WITH_BACKBONE.hint(model)
        raise invalid_parameter("model", func, rule, model, hint)
    return find_backbone(model)


@validate_params({"model": [MODEL_WITH_BACKBONE]})
def variable_groups(model: keras.Model) -> list[VariableGroup]:
    """Group a transfer model's layers into preprocessing, the backbone's blocks and the head.

    Every weight of ``model`` is in exactly one group; ``"head"`` is always last.

    Example:
        >>> from tlcourse.models.backbones import load_backbone
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> model = keras.Sequential([base, keras.layers.Dense(3, name="classifier")])
        >>> [(g.name, g.kind) for g in variable_groups(model)][:2]
        [('preprocessing', 'preprocessing'), ('block1', 'block')]
        >>> [layer.name for layer in variable_groups(model)[-1].layers]
        ['classifier']
    """
    backbone, _ = find_backbone(model)
    blocks = backbone_blocks(backbone)
    in_block = {id(layer) for block in blocks for layer in block.layers}
    first = blocks[0].layers[0] if blocks else None
    preprocessing, own_head = [], []
    reached_blocks = first is None
    for layer in backbone.layers:
        reached_blocks = reached_blocks or layer is first
        if id(layer) not in in_block:
            # Before the first block a layer feeds the blocks; after, it is pooling or a top.
            (own_head if reached_blocks else preprocessing).append(layer)
    before, after = [], []
    if model is not backbone:
        position = model.layers.index(backbone)
        before, after = model.layers[:position], model.layers[position + 1 :]
    groups = [VariableGroup(block.name, BLOCK, tuple(block.layers)) for block in blocks]
    if preprocessing:
        groups.insert(0, VariableGroup(PREPROCESSING, PREPROCESSING, tuple(preprocessing)))
    return [*groups, VariableGroup(HEAD, HEAD, (*before, *own_head, *after))]
