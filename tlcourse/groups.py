"""Which part of a transfer-learning model each layer, and so each variable, belongs to.

Freezing by depth, per-block learning rates and the "what trains" tables all need the same
answer to one question: is this layer part of the pretrained backbone's input side, of one of
its blocks, or of the task's head? :func:`variable_groups` gives it, once, for all of them.

The rule (input to output):

1. ``"preprocessing"``: the backbone's layers before its first block (input, rescaling,
   normalisation). They are the pretrained network's input side: frozen with the backbone,
   trained only when every block is (``depth="all"``), at the first block's learning rate.
2. One group per backbone block (:func:`tlcourse.backbones.backbone_blocks`), named after it.
3. ``"head"``: everything else. That is the backbone's own layers outside its blocks (pooling,
   the ImageNet ``predictions``) and every layer of the classifier outside the backbone,
   wherever it sits (a ``Dense`` after it, augmentation before it). These layers are new or
   task-specific: they always train, at the base learning rate.

Layers are matched by identity and blocks by layer name, so the groups are the same for a
``Sequential`` and a functional classifier, and after ``keras.models.load_model``, although
variable paths are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from tlcourse.backbones import BackboneSpec, backbone_blocks, find_backbone
from tlcourse.errors import InvalidParameterError, invalid_parameter

__all__ = [
    "BLOCK",
    "HEAD",
    "PREPROCESSING",
    "UNITS",
    "VariableGroup",
    "require_backbone",
    "variable_groups",
]

PREPROCESSING = "preprocessing"
BLOCK = "block"
HEAD = "head"
# What `depth` and layer-wise learning rates count: whole blocks, or single weighted layers.
UNITS = ("block", "layer")


@dataclass(frozen=True)
class VariableGroup:
    """A part of a model that freezes and learns as one: preprocessing, a block, or the head.

    Attributes:
        name: the block's name (``"block_3"``, ``"conv4_block2"``), ``"preprocessing"`` or
            ``"head"``.
        kind: ``"preprocessing"``, ``"block"`` or ``"head"``.
        layers: the group's top-level layers (of the backbone, or of the classifier for the
            head), input to output within each model.
    """

    name: str
    kind: str
    layers: tuple[keras.layers.Layer, ...]

    @property
    def variables(self) -> list:
        """The weights of the group's layers (trainable or not), each once, in layer order."""
        seen, found = set(), []
        for layer in self.layers:
            for variable in layer.weights:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    found.append(variable)
        return found

    def __repr__(self) -> str:
        return (
            f"VariableGroup({self.name!r}, kind={self.kind!r}, {len(self.layers)} layers, "
            f"{len(self.variables)} variables)"
        )


def require_backbone(model, func: str) -> tuple[keras.Model, BackboneSpec]:
    """Return ``(backbone, spec)`` for ``model``, or raise an error that names ``func``.

    Args:
        model: a classifier containing a tlcourse backbone, or the backbone itself.
        func: the public function the user called, for the message.

    Returns:
        The backbone model and its registry record (see
        :func:`tlcourse.backbones.find_backbone`).

    Raises:
        InvalidParameterError: "The 'model' parameter of FUNC must be a keras.Model containing
            a tlcourse backbone...", saying why and how to build one.

    Example:
        >>> import keras
        >>> plain = keras.Sequential([keras.layers.Dense(2)], name="plain")
        >>> require_backbone(plain, "set_trainable")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'model' parameter of set_trainable must be a \
keras.Model containing a tlcourse backbone. Got <Sequential name=plain, built=False> instead. No \
tlcourse backbone found in model 'plain'...
    """
    rule = "a keras.Model containing a tlcourse backbone"
    if not isinstance(model, keras.Model):
        raise invalid_parameter(
            "model", func, rule, model, "Build one with tlcourse.load_backbone(...)."
        )
    try:
        return find_backbone(model)
    except InvalidParameterError as error:
        raise invalid_parameter("model", func, rule, model, str(error)) from None


def variable_groups(model: keras.Model) -> list[VariableGroup]:
    """Group a transfer model's layers into preprocessing, the backbone's blocks and the head.

    The one grouping that freezing, layer-wise learning rates and the trainable tables share;
    the rule is in this module's docstring.

    Args:
        model: a classifier containing a tlcourse backbone (``Sequential`` or functional), or
            the backbone itself.

    Returns:
        The groups, input to output: ``"preprocessing"`` (only when the backbone has layers
        before its first block), one per block, then ``"head"`` (always last; it has no layer
        for a bare backbone without pooling). Every weight of ``model`` is in exactly one group.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model containing a tlcourse backbone.

    Example:
        >>> import keras
        >>> from tlcourse.backbones import load_backbone
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> model = keras.Sequential([base, keras.layers.Dense(3, name="classifier")])
        >>> [(g.name, g.kind) for g in variable_groups(model)][:2]
        [('preprocessing', 'preprocessing'), ('block1', 'block')]
        >>> [layer.name for layer in variable_groups(model)[-1].layers]
        ['classifier']
    """
    backbone, _ = require_backbone(model, "variable_groups")
    blocks = backbone_blocks(backbone)
    in_block = {id(layer) for block in blocks for layer in block.layers}
    first = blocks[0].layers[0] if blocks else None
    preprocessing, own_head = [], []
    reached_blocks = first is None
    for layer in backbone.layers:
        reached_blocks = reached_blocks or layer is first
        if id(layer) in in_block:
            continue
        # Outside every block: before the first one it feeds the blocks, after it it is the
        # backbone's own pooling or classifier.
        (own_head if reached_blocks else preprocessing).append(layer)
    before, after = [], []
    if model is not backbone:
        position = model.layers.index(backbone)
        before, after = model.layers[:position], model.layers[position + 1 :]
    groups = [VariableGroup(PREPROCESSING, PREPROCESSING, tuple(preprocessing))] * bool(
        preprocessing
    )
    groups += [VariableGroup(block.name, BLOCK, tuple(block.layers)) for block in blocks]
    groups.append(VariableGroup(HEAD, HEAD, (*before, *own_head, *after)))
    return groups
