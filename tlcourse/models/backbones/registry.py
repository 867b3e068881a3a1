"""The backbone registry: one record per pretrained network, timm-style, and its blocks.

A backbone is found again inside a classifier by its name, which survives saving."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from tlcourse.errors import InvalidParameterError
from tlcourse.validation import Interval, Rule, StrOptions, validate_params

__all__ = ["MODES", "BackboneSpec", "Block", "backbone_blocks", "find_backbone", "get_spec",
           "list_backbones", "load_backbone", "preprocessing", "register_backbone",
           "registered_names"]  # fmt: skip

# What each preprocessing mode does to RGB input in 0..255.
MODES = {
    "lite": "(rgb - 127) / 128, the EfficientNet-Lite convention",
    "tf": "rgb / 127.5 - 1, into [-1, 1]",
    "caffe": "RGB -> BGR, minus the ImageNet channel means, 0..255 scale",
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocessing(images, mode: str):
    """Apply a backbone's preprocessing to RGB images in 0..255, with stock Keras layers.

    Inside the model, so nobody forgets ``preprocess_input`` or applies it twice."""
    if mode == "caffe":  # a keras.ops call in a functional model is saved like a layer
        mean, ones = _CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
        bgr = keras.ops.flip(images, axis=-1)
        return keras.layers.Normalization(mean=mean, variance=ones, name="preprocessing")(bgr)
    scale, offset = (1 / 128, -127 / 128) if mode == "lite" else (1 / 127.5, -1.0)
    return keras.layers.Rescaling(scale, offset, name="preprocessing")(images)


@dataclass(frozen=True)
class BackboneSpec:
    """Everything about one backbone and its weights; adding a backbone is registering one.

    ``builder(input_shape, include_top, weights, pooling)`` returns a model taking RGB images in
    0..255. ``block_rules`` are ``(regex, block_name)`` pairs tried in order on each layer name;
    ``block_name`` may use the groups (``"block_{0}"``), and a layer matching no rule belongs to the
    block of the layer before it (none before the first match)."""

    name: str
    builder: Callable[..., keras.Model]
    default_input_size: int
    preprocessing: str
    weights_source: str
    licence: str
    block_rules: tuple[tuple[str, str], ...]
    num_blocks: int
    weights_available: Callable[[], tuple[bool, str]] = lambda: (False, "unknown")
    head_layers: tuple[str, ...] = ("avg_pool", "max_pool", "predictions", "top_dropout")
    offline: bool = False
    min_input_size: int = 32

    def block_of(self, layer_name: str) -> str | None:
        for pattern, template in self.block_rules:
            if match := re.match(pattern, layer_name):
                return template.format(*match.groups())
        return None


_REGISTRY: dict[str, BackboneSpec] = {}


@validate_params({"spec": [BackboneSpec]})
def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a record to the registry (replacing one of the same name) and return it."""
    _REGISTRY[spec.name] = spec
    return spec


def registered_names() -> list[str]:
    """The names of the registered backbones, in registration order."""
    return list(_REGISTRY)


# The one rule for a backbone name (with close-name suggestions), read from the registry.
BACKBONE = StrOptions(registered_names)


@validate_params({"name": [BACKBONE]})
def get_spec(name: str) -> BackboneSpec:
    """The registry record of ``name``."""
    return _REGISTRY[name]


def list_backbones() -> pd.DataFrame:
    """The registered backbones, one row each (``offline``: ImageNet weights work offline)."""
    columns = ["input_size", "blocks", "preprocessing", "weights_source", "licence", "offline"]
    fields = ["default_input_size", "num_blocks", "preprocessing", "weights_source", "licence"]
    rows = [[getattr(s, f) for f in fields] + [s.offline] for s in _REGISTRY.values()]
    return pd.DataFrame(rows, columns=columns, index=pd.Index(list(_REGISTRY), name="name"))


def input_shape_rule(low: int) -> Rule:
    side = Interval(int, low, None)

    def ok(shape) -> bool:
        triple = isinstance(shape, tuple | list) and len(shape) == 3 and shape[2] == 3
        return triple and side.accepts(shape[0]) and side.accepts(shape[1])

    rule = f"(height, width, 3) with height and width ints >= {low} (RGB images)"
    return Rule(ok, rule, lambda shape: tuple(int(d) for d in shape))


WEIGHTS_FILE = Rule(
    lambda w: isinstance(w, str | os.PathLike) and Path(w).expanduser().is_file(),
    "the path of an existing weights file", lambda w: str(Path(w).expanduser()),
)  # fmt: skip
POOLING = [StrOptions(["avg", "max"]), None]


@validate_params(
    {"name": [BACKBONE],
     "input_shape": lambda a: [input_shape_rule(_REGISTRY[a["name"]].min_input_size), None],
     "weights": [StrOptions({"imagenet"}), None, WEIGHTS_FILE], "include_top": ["boolean"],
     "pooling": POOLING}
)  # fmt: skip
def load_backbone(
    name: str, input_shape: tuple[int, int, int] | None = None, weights: str | None = "imagenet",
    include_top: bool = False, pooling: str | None = "avg",
) -> keras.Model:  # fmt: skip
    """Build a registered backbone taking RGB images in 0..255, its preprocessing inside.

    ``weights`` is ``"imagenet"`` (``"efficientnet_lite0"``'s work offline), None (random) or the
    path of a weights file; ``input_shape`` None is the backbone's own size; without the ImageNet
    top, ``pooling`` is ``"avg"``, ``"max"`` or None (the 4-D feature map).

    Example:
        >>> load_backbone("efficientnet_lite0", input_shape=(96, 96, 3)).output_shape
        (None, 1280)
    """
    size = _REGISTRY[name].default_input_size
    build = _REGISTRY[name].builder
    shape = input_shape or (size, size, 3)
    return build(input_shape=shape, include_top=include_top, weights=weights, pooling=pooling)


@dataclass(frozen=True)
class Block:
    """A named group of consecutive backbone layers (input to output order)."""

    name: str
    layers: tuple[keras.layers.Layer, ...]

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]


@validate_params({"model": [keras.Model]})
def find_backbone(model: keras.Model) -> tuple[keras.Model, BackboneSpec]:
    """``(backbone, record)`` for a backbone or the model holding one, found by its name."""
    for layer in (model, *model.layers):
        if isinstance(layer, keras.Model) and layer.name in _REGISTRY:
            return layer, _REGISTRY[layer.name]
    raise InvalidParameterError(
        f"No tlcourse backbone found in model {model.name!r}: none of its layers is named one of "
        f"{sorted(_REGISTRY)}. Build the base with tlcourse.load_backbone(...) and use it as a "
        "layer of your classifier (e.g. x = base(inputs))."
    )


@validate_params({"model": [keras.Model]})
def backbone_blocks(model: keras.Model) -> list[Block]:
    """The backbone's named blocks, input to output.

    Example:
        >>> base = load_backbone("vgg16", weights=None, input_shape=(64, 64, 3))
        >>> [b.name for b in backbone_blocks(base)]
        ['block1', 'block2', 'block3', 'block4', 'block5']
    """
    backbone, spec = find_backbone(model)
    groups, current = {}, None
    for layer in backbone.layers:
        current = None if layer.name in spec.head_layers else spec.block_of(layer.name) or current
        if current is not None:
            groups.setdefault(current, []).append(layer)
    return [Block(name, tuple(layers)) for name, layers in groups.items()]


def _holds_backbone(model) -> bool:
    try:
        return isinstance(model, keras.Model) and bool(find_backbone(model))
    except InvalidParameterError:
        return False


MODEL_WITH_BACKBONE = Rule(
    _holds_backbone,
    "a keras.Model containing a tlcourse backbone",
    hint=lambda model: (
        f"None of the layers of {model.name!r} is a registered backbone: "
        if isinstance(model, keras.Model) else ""
    ) + "build the base with tlcourse.load_backbone(...) and use it as a layer of the classifier.",
)  # fmt: skip
