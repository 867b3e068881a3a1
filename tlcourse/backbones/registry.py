"""The backbone registry: one record per pretrained network, timm-style.

Adding a backbone is adding a :class:`BackboneSpec` to ``_REGISTRY`` (see ``keras_apps.py`` and
``efficientnet_lite.py`` for the builders). Every record says how to build the network, what size
it expects, how it preprocesses, where its weights come from, and how its layers group into
**blocks** (input to output): freezing, unfreezing and per-block learning rates key on those.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from tlcourse.errors import InvalidParameterError, check_choice

# builder(input_shape, include_top, weights, pooling) -> keras.Model named after the record.
Builder = Callable[..., keras.Model]


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
            ``re.match``; ``block_name`` may use the regex groups (``"block_{1}"``). A layer that
            matches no rule belongs to the block of the layer before it (auto-named activations,
            adds, multiplies), or to no block before the first match (input, preprocessing).
        head_layers: layer names that belong to the classifier/pooling, never to a block.
        offline: True when ``weights="imagenet"`` works without network (shipped in a package).
        min_input_size: smallest accepted height/width in pixels.
        weights_glob: file-name pattern of downloaded weights in Keras's cache, so
            ``tlcourse doctor`` can tell whether they are available offline.
    """

    name: str
    builder: Builder
    default_input_size: int
    preprocessing: str
    weights_source: str
    licence: str
    block_rules: tuple[tuple[str, str], ...]
    head_layers: tuple[str, ...] = ("avg_pool", "max_pool", "predictions", "top_dropout")
    offline: bool = False
    min_input_size: int = 32
    weights_glob: str = ""

    def block_of(self, layer_name: str) -> str | None:
        """Return the block a layer name matches by rule, or None if no rule matches.

        Example:
            >>> get_spec("mobilenet_v2").block_of("block_3_expand")
            'block_3'
        """
        for pattern, template in self.block_rules:
            match = re.match(pattern, layer_name)
            if match:
                return template.format(*match.groups()) if match.groups() else template
        return None


_REGISTRY: dict[str, BackboneSpec] = {}


def register_backbone(spec: BackboneSpec) -> BackboneSpec:
    """Add a record to the registry (used by the builder modules at import)."""
    _REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str) -> BackboneSpec:
    """Return the registry record for ``name``, or raise with the valid names.

    Example:
        >>> get_spec("efficientnet_lite0").default_input_size
        224
    """
    check_choice("name", name, sorted(_REGISTRY), "load_backbone")
    return _REGISTRY[name]


def list_backbones() -> pd.DataFrame:
    """List the registered backbones, one row each.

    Returns:
        DataFrame indexed by name with columns ``input_size``, ``preprocessing``,
        ``weights_source``, ``licence`` and ``offline`` (True when ImageNet weights work without
        network).

    Example:
        >>> "efficientnet_lite0" in list_backbones().index
        True
    """
    rows = [
        {
            "name": s.name,
            "input_size": s.default_input_size,
            "preprocessing": s.preprocessing,
            "weights_source": s.weights_source,
            "licence": s.licence,
            "offline": s.offline,
        }
        for s in _REGISTRY.values()
    ]
    return pd.DataFrame(rows).set_index("name")


def _check_input_shape(spec: BackboneSpec, input_shape) -> tuple[int, int, int]:
    if input_shape is None:
        return (spec.default_input_size, spec.default_input_size, 3)
    shape = tuple(input_shape)
    ok = (
        len(shape) == 3
        and all(isinstance(d, int) for d in shape)
        and shape[2] == 3
        and min(shape[:2]) >= spec.min_input_size
    )
    if not ok:
        raise InvalidParameterError(
            f"The 'input_shape' parameter of load_backbone must be (height, width, 3) with "
            f"height and width ints >= {spec.min_input_size} for {spec.name!r} (RGB images). "
            f"Got {input_shape!r} instead."
        )
    return shape


def _check_weights(weights):
    if weights is None or weights == "imagenet":
        return weights
    if isinstance(weights, str | Path):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise InvalidParameterError(
                f"The 'weights' parameter of load_backbone must be 'imagenet', None or the path "
                f"of an existing weights file. Got {str(weights)!r}, which does not exist."
            )
        return str(path)
    raise InvalidParameterError(
        "The 'weights' parameter of load_backbone must be 'imagenet', None or a path to a "
        f"weights file. Got {weights!r} instead."
    )


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
    spec = get_spec(name)
    shape = _check_input_shape(spec, input_shape)
    weights = _check_weights(weights)
    if pooling not in (None, "avg", "max"):
        raise InvalidParameterError(
            "The 'pooling' parameter of load_backbone must be one of ['avg', 'max', None]. "
            f"Got {pooling!r} instead."
        )
    if not isinstance(include_top, bool):
        raise InvalidParameterError(
            f"The 'include_top' parameter of load_backbone must be a bool. Got {include_top!r}."
        )
    return spec.builder(
        input_shape=shape, include_top=include_top, weights=weights, pooling=pooling
    )
