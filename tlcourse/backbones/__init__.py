"""Backbones: the registry, its builders, and block grouping."""

from tlcourse.backbones import (
    efficientnet_lite,  # noqa: F401  (registers efficientnet_lite0)
    keras_apps,  # noqa: F401  (registers the keras.applications rows)
)
from tlcourse.backbones.blocks import Block, backbone_blocks, find_backbone
from tlcourse.backbones.preprocessing import ImagePreprocessing
from tlcourse.backbones.registry import (
    BackboneSpec,
    get_spec,
    list_backbones,
    load_backbone,
    register_backbone,
    registered_names,
)

__all__ = [
    "BackboneSpec",
    "Block",
    "ImagePreprocessing",
    "backbone_blocks",
    "find_backbone",
    "get_spec",
    "list_backbones",
    "load_backbone",
    "register_backbone",
    "registered_names",
]
