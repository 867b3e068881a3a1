"""Backbones from ``keras.applications``, registered with their block rules.

Their ImageNet weights are downloaded by Keras on first use and cached under ``~/.keras/models``
(``$KERAS_HOME/models``). Offline, with nothing cached, loading fails with a
:class:`~tlcourse.errors.WeightsUnavailableError` naming the file, where to put it, and the offline
alternative ``efficientnet_lite0``.
"""

from __future__ import annotations

import re
from pathlib import Path

import keras

from tlcourse.backbones.preprocessing import MODES, ImagePreprocessing
from tlcourse.backbones.registry import BackboneSpec, register_backbone
from tlcourse.errors import WeightsUnavailableError, invalid_parameter

__all__ = [
    "EFFICIENTNET_B0",
    "MOBILENET_V2",
    "MOBILENET_V3_SMALL",
    "RESNET50",
    "VGG16",
    "cached_weights",
    "keras_models_dir",
]

_KERAS_SOURCE = "keras.applications download (storage.googleapis.com), cached in ~/.keras/models"


def keras_models_dir() -> Path:
    """Return the folder where Keras caches downloaded application weights.

    Returns:
        ``$KERAS_HOME/models``, else ``~/.keras/models`` (Keras reads ``KERAS_HOME`` once, when
        it is imported).

    Example:
        >>> keras_models_dir().name
        'models'
    """
    # keras.utils.get_file's default cache; Keras has no public accessor for keras_home().
    from keras.src.backend import config

    return Path(config.keras_home()).expanduser() / "models"


def _offline_error(name: str, error: Exception) -> WeightsUnavailableError:
    url = re.search(r"https?://\S+?(?=:? |$)", str(error))
    filename = url.group(0).rsplit("/", 1)[-1] if url else "the weights file"
    return WeightsUnavailableError(
        f"Could not download the ImageNet weights of {name!r} ({filename}); are you offline? "
        f"Either download {url.group(0) if url else 'it'} on a machine with internet and copy "
        f"it to {keras_models_dir() / filename}, or pass weights='/path/to/{filename}', or use "
        "the backbone whose weights ship in a package and work offline: "
        "load_backbone('efficientnet_lite0')."
    )


def _app_builder(name: str, app, preprocessing: str | None, **app_kwargs):
    """Make a registry builder around a ``keras.applications`` constructor.

    The application is built on top of our own input (and preprocessing layer, when the
    application does not rescale by itself), then renamed to the registry key.
    """

    def build(input_shape, include_top, weights, pooling) -> keras.Model:
        inputs = keras.Input(shape=input_shape, name="image")
        x = (
            inputs
            if preprocessing is None
            else ImagePreprocessing(preprocessing, name="preprocessing")(inputs)
        )
        try:
            base = app(
                include_top=include_top,
                weights=weights,
                input_tensor=x,
                input_shape=input_shape,
                pooling=pooling,
                **app_kwargs,
            )
        except Exception as error:  # Keras wraps URLError/HTTPError in a bare Exception.
            if weights == "imagenet" and "URL fetch failure" in str(error):
                raise _offline_error(name, error) from None
            raise
        return keras.Model(inputs, base.output, name=name)

    return build


def cached_weights(weights_glob: str) -> list[Path]:
    """Return the files matching ``weights_glob`` in Keras's download cache, sorted.

    Args:
        weights_glob: a file-name pattern, e.g. ``"vgg16_weights_tf_dim_ordering_tf_kernels*"``.

    Returns:
        The matching files (an empty list when none is cached).

    Raises:
        InvalidParameterError: ``weights_glob`` is not a non-empty str.

    Example:
        >>> cached_weights("no_such_weights_file_*")
        []
    """
    if not isinstance(weights_glob, str) or not weights_glob:
        raise invalid_parameter("weights_glob", "cached_weights", "a non-empty str", weights_glob)
    return sorted(keras_models_dir().glob(weights_glob))


def _in_keras_cache(weights_glob: str):
    """Make a record's ``weights_available``: are the weights in Keras's download cache?"""

    def weights_available() -> tuple[bool, str]:
        files = cached_weights(weights_glob)
        if files:
            return True, f"downloaded, in {files[0].parent}"
        return False, "not cached: downloaded by Keras on first use (needs network)"

    return weights_available


def _spec(name, app, size, preprocessing, rules, blocks, weights_glob, text=None, **kwargs):
    return register_backbone(
        BackboneSpec(
            name=name,
            builder=_app_builder(name, app, preprocessing, **kwargs),
            default_input_size=size,
            preprocessing=text or MODES[preprocessing],
            weights_source=_KERAS_SOURCE,
            licence="Apache-2.0 (keras.applications weights; see the Keras docs per model)",
            block_rules=tuple(rules),
            num_blocks=blocks,
            weights_available=_in_keras_cache(weights_glob),
        )
    )


MOBILENET_V2 = _spec(
    "mobilenet_v2",
    keras.applications.MobileNetV2,
    224,
    "tf",
    [
        (r"(Conv1|bn_Conv1|Conv1_relu)$", "stem"),
        (r"expanded_conv_", "block_0"),
        (r"block_(\d+)_", "block_{0}"),
        (r"(Conv_1|Conv_1_bn|out_relu)$", "top"),
    ],
    19,  # stem, block_0..block_16, top
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_*",
)
MOBILENET_V3_SMALL = _spec(
    "mobilenet_v3_small",
    keras.applications.MobileNetV3Small,
    224,
    None,
    [
        (r"(conv|conv_bn)$", "stem"),
        (r"expanded_conv_(\d+)_", "block_{0}"),
        (r"expanded_conv_", "block_0"),
        (r"(conv_1|conv_1_bn)$", "top"),
    ],
    13,  # stem, block_0..block_10, top
    "weights_mobilenet_v3_small_224_1.0_float*",
    text="inside keras.applications: rgb / 127.5 - 1 (include_preprocessing)",
)
EFFICIENTNET_B0 = _spec(
    "efficientnet_b0",
    keras.applications.EfficientNetB0,
    224,
    None,
    [(r"stem_", "stem"), (r"(block\d+[a-z])_", "{0}"), (r"top_(conv|bn|activation)$", "top")],
    18,  # stem, block1a..block7a (16), top
    "efficientnetb0*",
    text="inside keras.applications: rescale and ImageNet mean/std normalisation",
)
RESNET50 = _spec(
    "resnet50",
    keras.applications.ResNet50,
    224,
    "caffe",
    [(r"(conv1_|pool1_)", "stem"), (r"(conv\d_block\d+)_", "{0}")],
    17,  # stem, 16 bottleneck blocks
    "resnet50_weights_tf_dim_ordering_tf_kernels*",
)
VGG16 = _spec(
    "vgg16",
    keras.applications.VGG16,
    224,
    "caffe",
    [(r"(block\d)_", "{0}")],
    5,
    "vgg16_weights_tf_dim_ordering_tf_kernels*",
)
