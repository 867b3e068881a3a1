"""Backbones: the registry of pretrained networks, their builders, and their blocks."""

from tlcourse.models.backbones import (
    efficientnet_lite,  # noqa: F401  (registers efficientnet_lite0)
    keras_apps,  # noqa: F401  (registers the keras.applications rows)
)
from tlcourse.models.backbones.registry import (
    BackboneSpec,
    Block,
    backbone_blocks,
    find_backbone,
    get_spec,
    list_backbones,
    load_backbone,
    register_backbone,
    registered_names,
)  # fmt: skip

__all__ = ["BackboneSpec", "Block", "backbone_blocks", "find_backbone", "get_spec",
           "list_backbones", "load_backbone", "register_backbone", "registered_names"]  # fmt: skip
