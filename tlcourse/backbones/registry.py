"""The backbone registry: one record per pretrained network, timm-style.

Adding a backbone is adding a :class:`BackboneSpec` with :func:`register_backbone` (see
``keras_apps.py`` and the ``efficientnet_lite`` package for the builders). Every record says how
to build the network, what size it expects, how it preprocesses, where its weights come from and
how to tell whether they are available offline, and how its layers group into **blocks** (input
to output): freezing, unfreezing and per-block learning rates key on those.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from tlcourse.errors import check_bool, check_choice, invalid_parameter, is_int

__all__ = [
    "POOLINGS",
    "BackboneSpec",
    "check_input_shape",
    "check_pooling",
    "get_spec",
    "list_backbones",
    "load_backbone",
    "register_backbone",
    "registered_names",
]

# builder(input_shape, include_top, weights, pooling) -> keras.Model named after the record.
Builder = Callable[..., keras.Model]
# weights_available() -> (True if weights="imagenet" works without network, where they are).
Availability = Callable[[], tuple[bool, str]]

POOLINGS = ("avg", "max", None)


def _not_stated() -> tuple[bool, str]:
    return False, "unknown (the registry record does not say)"


@dataclass(frozen=True)
class BackboneSpec:
    """Everything about one backbone and its weights.

    Attributes:
        name: registry key; also the Keras model's name, which is how a backbone is found again
            inside a classifier (and after ``keras.models.load_model``).
        builder: ``builder(input_shape, include_top, weights, pooling) -> keras.Model``, taking
            RGB images in 0..255 and preprocessing inside the model.
        default_input_size: side in pixels used when ``input_shape`` is not given.
        preprocessing: what the model does to 0..255 RGB input, in words.
        weights_source: where ``weights="imagenet"`` comes from.
        licence: licence of those weights.
        block_rules: ``(regex, block_name)`` pairs tried in order against each layer name with
            ``re.match``; ``block_name`` may use the regex groups (``"block_{0}"``). A layer that
            matches no rule belongs to the block of the layer before it (auto-named activations,
            adds, multiplies), or to no block before the first match (input, preprocessing).
        num_blocks: how many blocks ``block_rules`` give, input to output (what
            :func:`~tlcourse.backbones.backbone_blocks` returns; a test checks every record).
        weights_available: ``weights_available() -> (available, where)``: whether
            ``weights="imagenet"`` works without network right now, and where the weights are
            (or what is missing). ``tlcourse doctor`` asks every record.
        head_layers: layer names that belong to the classifier/pooling, never to a block.
        offline: True when the ImageNet weights ship in a package (work offline once installed).
        min_input_size: smallest accepted height/width in pixels.

    Raises:
        InvalidParameterError: a field of the wrong type.

    Example:
        >>> spec = get_spec("mobilenet_v2")
        >>> spec.num_blocks, spec.default_input_size
        (19, 224)
    """

    name: str
    builder: Builder
    default_input_size: int
    preprocessing: str
    weights_source: str
    licence: str
    block_rules: tuple[tuple[str, str], ...]
    num_blocks: int
    weights_available: Availability = _not_stated
    head_layers: tuple[str, ...] = ("avg_pool", "max_pool", "predictions", "top_dropout")
    offline: bool = False
    min_input_size: int = 32

    def __post_init__(self):
        func = "BackboneSpec"
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise invalid_parameter("name", func, "a non-empty str without '/'", self.name)
        for param in ("builder", "weights_available"):
            if not callable(getattr(self, param)):
                raise invalid_parameter(param, func, "a callable", getattr(self, param))
        for param in ("default_input_size", "num_blocks", "min_input_size"):
            value = getattr(self, param)
            if not is_int(value) or value < 1:
                raise invalid_parameter(param, func, "an int >= 1", value)
        rules_ok = isinstance(self.block_rules, tuple) and all(
            isinstance(rule, tuple) and len(rule) == 2 and all(isinstance(r, str) for r in rule)
            for rule in self.block_rules
        )
        if not rules_ok:
            raise invalid_parameter(
                "block_rules", func, "a tuple of (regex, block name) pairs of str", self.block_rules
            )

    def block_of(self, layer_name: str) -> str | None:
        """Return the block a layer name matches by rule, or None if no rule matches.

        Args:
            layer_name: a Keras layer name.

        Returns:
            The block's name, or None.

        Raises:
            InvalidParameterError: ``layer_name`` is not a str.

        Example:
            >>> get_spec("mobilenet_v2").block_of("block_3_expand")
            'block_3'
        """
        if not isinstance(layer_name, str):
            raise invalid_parameter("layer_name", "BackboneSpec.block_of", "a str", layer_name)
        for pattern, template in self.block_rules:
            match = re.match(pattern, layer_name)
            if match:
                return template.format(*match.groups()) if match.groups() else template
        return None


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a record to the registry, replacing one of the same name.

    Args:
        spec: the record.

    Returns:
        ``spec``, so that a module can write ``MY_NET = register_backbone(BackboneSpec(...))``.

    Raises:
        InvalidParameterError: ``spec`` is not a :class:`BackboneSpec`.

    Example:
        >>> register_backbone(get_spec("vgg16")).name
        'vgg16'
    """
    if not isinstance(spec, BackboneSpec):
        raise invalid_parameter("spec", "register_backbone", "a BackboneSpec", spec)
    _REGISTRY[spec.name] = spec
    return spec


def registered_names() -> list[str]:
    """Return the names of the registered backbones, in registration order.

    Example:
        >>> registered_names()[:2]
        ['efficientnet_lite0', 'mobilenet_v2']
    """
    return list(_REGISTRY)


def _lookup(name: str, func: str) -> BackboneSpec:
    """Return the record for ``name``, or raise naming the 'name' parameter of ``func``."""
    check_choice("name", name, sorted(_REGISTRY), func)
    return _REGISTRY[name]


def get_spec(name: str) -> BackboneSpec:
    """Return the registry record for ``name``, or raise with the valid names.

    Args:
        name: a name from :func:`list_backbones`.

    Returns:
        The :class:`BackboneSpec`.

    Raises:
        InvalidParameterError: unknown name (close names are suggested).

    Example:
        >>> get_spec("efficientnet_lite0").default_input_size
        224
    """
    return _lookup(name, "get_spec")


def list_backbones() -> pd.DataFrame:
    """List the registered backbones, one row each.

    Returns:
        DataFrame indexed by name with columns ``input_size``, ``blocks``, ``preprocessing``,
        ``weights_source``, ``licence`` and ``offline`` (True when ImageNet weights ship in a
        package and work without network).

    Example:
        >>> "efficientnet_lite0" in list_backbones().index
        True
    """
    rows = [
        {
            "name": s.name,
            "input_size": s.default_input_size,
            "blocks": s.num_blocks,
            "preprocessing": s.preprocessing,
            "weights_source": s.weights_source,
            "licence": s.licence,
            "offline": s.offline,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(rows).set_index("name")


def check_input_shape(
    param: str, value, func: str, *, low: int = 32, default: int | None = None, backbone: str = ""
) -> tuple[int, int, int]:
    """Return ``(height, width, 3)`` as Python ints, or raise in the errors template.

    Args:
        param: the parameter's name (``"input_shape"``).
        value: what the user passed; None gives ``(default, default, 3)`` when ``default`` is set.
        func: the public function's name, for the message.
        low: smallest height and width. Defaults to 32.
        default: side used for None, or None to refuse None. Defaults to None.
        backbone: the backbone's name, for the message. Defaults to "".

    Returns:
        ``(height, width, 3)``.

    Raises:
        InvalidParameterError: not three ints, not 3 channels, or a side below ``low``.

    Example:
        >>> check_input_shape("input_shape", (96, 128, 3), "load_backbone")
        (96, 128, 3)
    """
    if value is None and default is not None:
        return (default, default, 3)
    shape = tuple(value) if isinstance(value, tuple | list) else None
    ok = (
        shape is not None
        and len(shape) == 3
        and all(is_int(d) for d in shape)
        and shape[2] == 3
        and min(shape[:2]) >= low
    )
    if not ok:
        which = f" for {backbone!r}" if backbone else ""
        rule = f"(height, width, 3) with height and width ints >= {low}{which} (RGB images)"
        raise invalid_parameter(param, func, rule, value)
    return tuple(int(d) for d in shape)


def check_pooling(value, func: str) -> str | None:
    """Return ``value`` if it is one of ``POOLINGS`` (``"avg"``, ``"max"``, None), else raise.

    Example:
        >>> check_pooling(None, "load_backbone") is None
        True
    """
    if value is None or (isinstance(value, str) and value in POOLINGS):
        return value
    raise invalid_parameter("pooling", func, f"one of {list(POOLINGS)}", value)


def _weights_argument(weights, func: str):
    # Domain-specific: "imagenet", None, or the path of a file that exists.
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return weights
    rule = "'imagenet', None or the path of an existing weights file"
    if isinstance(weights, str | Path):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise invalid_parameter(
                "weights", func, rule, str(weights), hint="That file does not exist."
            )
        return str(path)
    raise invalid_parameter("weights", func, rule, weights)


def load_backbone(
    name: str,
    input_shape: tuple[int, int, int] | None = None,
    weights: str | None = "imagenet",
    include_top: bool = False,
    pooling: str | None = "avg",
) -> keras.Model:
    """Build a registered backbone, with its preprocessing inside the model.

    Every backbone takes RGB images with values in 0..255 (uint8 or float) and applies its own
    preprocessing, so nobody applies the wrong ``preprocess_input``, or one twice.

    Args:
        name: a name from :func:`list_backbones`, e.g. ``"efficientnet_lite0"`` (the one whose
            ImageNet weights work offline).
        input_shape: ``(height, width, 3)``; defaults to the backbone's own size.
        weights: ``"imagenet"``, ``None`` (random initialisation) or a path to a weights file.
            Defaults to ``"imagenet"``.
        include_top: keep the 1000-class ImageNet classifier (outputs probabilities). Defaults to
            False.
        pooling: ``"avg"``, ``"max"`` or None (4-D feature map) when ``include_top`` is False.
            Defaults to ``"avg"``.

    Returns:
        A ``keras.Model`` named ``name``.

    Raises:
        InvalidParameterError: unknown name, bad shape, pooling or weights argument.
        WeightsUnavailableError: ImageNet weights neither cached nor downloadable (offline).

    Example:
        >>> base = load_backbone("efficientnet_lite0", input_shape=(96, 96, 3))
        >>> base.output_shape
        (None, 1280)
    """
    func = "load_backbone"
    spec = _lookup(name, func)
    shape = check_input_shape(
        "input_shape",
        input_shape,
        func,
        low=spec.min_input_size,
        default=spec.default_input_size,
        backbone=spec.name,
    )
    weights = _weights_argument(weights, func)
    include_top = check_bool("include_top", include_top, func)
    pooling = check_pooling(pooling, func)
    return spec.builder(
        input_shape=shape, include_top=include_top, weights=weights, pooling=pooling
    )
