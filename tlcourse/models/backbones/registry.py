"""The backbone registry: one record per pretrained network, timm-style, and its blocks.

Adding a backbone is adding a :class:`BackboneSpec` with :func:`register_backbone` (see
``keras_apps.py`` and the ``efficientnet_lite`` package). A record says how to build the
network, what size it expects, how it preprocesses, where its weights come from, and how its
layers group into **blocks** (input to output), which freezing and per-block learning rates
key on. A backbone is found again inside a classifier by its name, which survives saving.
"""

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

__all__ = [
    "MODES", "BackboneSpec", "Block", "backbone_blocks", "find_backbone", "get_spec",
    "list_backbones", "load_backbone", "preprocessing", "register_backbone", "registered_names",
]  # fmt: skip

# What each preprocessing mode does to RGB input in 0..255.
MODES = {
    "lite": "(rgb - 127) / 128, the EfficientNet-Lite convention",
    "tf": "rgb / 127.5 - 1, into [-1, 1]",
    "caffe": "RGB -> BGR, minus the ImageNet channel means, 0..255 scale",
}
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocessing(images, mode: str):
    """Apply a backbone's preprocessing to RGB images in 0..255, with stock Keras layers.

    Inside the model, so nobody forgets ``preprocess_input`` or applies it twice, and a saved
    model loads with plain Keras.

    Example:
        >>> import numpy as np
        >>> float(preprocessing(np.full((1, 1, 1, 3), 255.0), "tf")[0, 0, 0, 0])
        1.0
    """
    if mode == "caffe":  # a keras.ops call in a functional model is saved like a layer
        mean, ones = _CAFFE_MEAN_BGR, (1.0, 1.0, 1.0)
        bgr = keras.ops.flip(images, axis=-1)
        return keras.layers.Normalization(mean=mean, variance=ones, name="preprocessing")(bgr)
    scale, offset = (1 / 128, -127 / 128) if mode == "lite" else (1 / 127.5, -1.0)
    return keras.layers.Rescaling(scale, offset, name="preprocessing")(images)


@dataclass(frozen=True)
class BackboneSpec:
    """Everything about one backbone and its weights.

    Attributes:
        name: registry key and the Keras model's name.
        builder: ``builder(input_shape, include_top, weights, pooling) -> keras.Model`` taking
            RGB images in 0..255 and preprocessing inside the model.
        block_rules: ``(regex, block_name)`` pairs tried in order on each layer name with
            ``re.match``; ``block_name`` may use the groups (``"block_{0}"``). A layer that
            matches no rule belongs to the block of the layer before it, or to none before the
            first match (input, preprocessing).
        num_blocks: how many blocks the rules give (a test checks every record).
        weights_available: ``() -> (available offline, where)``, asked by ``tlcourse doctor``.
        head_layers: layer names of the classifier or pooling, never in a block.
        offline: the ImageNet weights ship in a package and work offline.

    Example:
        >>> spec = get_spec("mobilenet_v2")
        >>> spec.num_blocks, spec.default_input_size, spec.block_of("block_3_expand")
        (19, 224, 'block_3')
    """

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
        """The block a layer name matches by rule, or None."""
        for pattern, template in self.block_rules:
            match = re.match(pattern, layer_name)
            if match:
                return template.format(*match.groups())
        return None


_REGISTRY: dict[str, BackboneSpec] = {}


@validate_params({"spec": [BackboneSpec]})
def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a record to the registry (replacing one of the same name) and return it."""
    _REGISTRY[spec.name] = spec
    return spec


def registered_names() -> list[str]:
    """The names of the registered backbones, in registration order.

    Example:
        >>> registered_names()[:2]
        ['efficientnet_lite0', 'mobilenet_v2']
    """
    return list(_REGISTRY)


# The one rule for a backbone name (with close-name suggestions), read from the registry.
BACKBONE = StrOptions(registered_names)


@validate_params({"name": [BACKBONE]})
def get_spec(name: str) -> BackboneSpec:
    """The registry record of ``name`` (an unknown name gets the close ones suggested).

    Example:
        >>> get_spec("efficientnet_lite0").default_input_size
        224
    """
    return _REGISTRY[name]


def list_backbones() -> pd.DataFrame:
    """The registered backbones, one row each (``offline``: ImageNet weights work offline).

    Example:
        >>> row = list_backbones().loc["efficientnet_lite0"]
        >>> int(row["blocks"]), bool(row["offline"])
        (18, True)
    """
    columns = ["input_size", "blocks", "preprocessing", "weights_source", "licence", "offline"]
    fields = ["default_input_size", "num_blocks", "preprocessing", "weights_source", "licence"]
    rows = [[getattr(s, f) for f in fields] + [s.offline] for s in _REGISTRY.values()]
    return pd.DataFrame(rows, columns=columns, index=pd.Index(list(_REGISTRY), name="name"))


def input_shape_rule(low: int) -> Rule:
    """``(height, width, 3)`` with sides >= ``low``, converted to a tuple of ints."""
    side = Interval(int, low, None)

    def ok(shape) -> bool:
        triple = isinstance(shape, tuple | list) and len(shape) == 3 and shape[2] == 3
        return triple and side.accepts(shape[0]) and side.accepts(shape[1])

    rule = f"(height, width, 3) with height and width ints >= {low} (RGB images)"
    return Rule(ok, rule, lambda shape: tuple(int(d) for d in shape))


_WEIGHTS = Rule(
    lambda w: isinstance(w, str | os.PathLike) and Path(w).expanduser().is_file(),
    "the path of an existing weights file",
    lambda w: str(Path(w).expanduser()),
)
POOLING = [StrOptions(["avg", "max"]), None]


@validate_params(
    {
        "name": [BACKBONE],
        "input_shape": lambda a: [input_shape_rule(_REGISTRY[a["name"]].min_input_size), None],
        "weights": [StrOptions({"imagenet"}), None, _WEIGHTS],
        "include_top": ["boolean"],
        "pooling": POOLING,
    }
)
def load_backbone(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    weights: str | None = "imagenet",
    include_top: bool = False,
    pooling: str | None = "avg",
) -> keras.Model:
    """Build a registered backbone taking RGB images in 0..255, its preprocessing inside.

    Args:
        name: a name from :func:`list_backbones`; ``"efficientnet_lite0"``'s ImageNet weights
            work offline.
        input_shape: ``(height, width, 3)``. Defaults to the backbone's own size.
        weights: ``"imagenet"``, None (random) or the path of a weights file.
        include_top: keep the 1000-class ImageNet classifier (outputs probabilities).
        pooling: ``"avg"``, ``"max"`` or None (the 4-D feature map) without the top.

    Raises:
        WeightsUnavailableError: ImageNet weights neither cached nor downloadable (offline).

    Example:
        >>> load_backbone("efficientnet_lite0", input_shape=(96, 96, 3)).output_shape
        (None, 1280)
    """
    spec = _REGISTRY[name]
    size = spec.default_input_size
    shape = input_shape or (size, size, 3)
    return spec.builder(
        input_shape=shape, include_top=include_top, weights=weights, pooling=pooling
    )


@dataclass(frozen=True)
class Block:
    """A named group of consecutive backbone layers (input to output order)."""

    name: str
    layers: tuple[keras.layers.Layer, ...]

    @property
    def weights(self) -> list:
        return [w for layer in self.layers for w in layer.weights]


_MODEL = [keras.Model]


@validate_params({"model": _MODEL})
def find_backbone(model: keras.Model) -> tuple[keras.Model, BackboneSpec]:
    """``(backbone, record)`` for a backbone or the model holding one, found by its name.

    Example:
        >>> base = load_backbone("mobilenet_v2", weights=None, input_shape=(96, 96, 3))
        >>> find_backbone(keras.Sequential([base, keras.layers.Dense(3)]))[1].name
        'mobilenet_v2'
    """
    for layer in (model, *model.layers):
        if isinstance(layer, keras.Model) and layer.name in _REGISTRY:
            return layer, _REGISTRY[layer.name]
    raise InvalidParameterError(
        f"No tlcourse backbone found in model {model.name!r}: none of its layers is named one of "
        f"{sorted(_REGISTRY)}. Build the base with tlcourse.load_backbone(...) and use it as a "
        "layer of your classifier (e.g. x = base(inputs))."
    )


@validate_params({"model": _MODEL})
def backbone_blocks(model: keras.Model) -> list[Block]:
    """The backbone's named blocks, input to output (preprocessing and head layers in none).

    Example:
        >>> base = load_backbone("vgg16", weights=None, input_shape=(64, 64, 3))
        >>> [b.name for b in backbone_blocks(base)]
        ['block1', 'block2', 'block3', 'block4', 'block5']
    """
    backbone, spec = find_backbone(model)
    groups: dict[str, list] = {}
    current = None
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
