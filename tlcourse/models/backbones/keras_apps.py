"""Backbones from ``keras.applications``: weights downloaded by Keras on first use."""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import keras

from tlcourse.errors import WeightsUnavailableError
from tlcourse.models.backbones.registry import MODES, BackboneSpec, preprocessing, register_backbone

__all__ = ["keras_models_dir"]

_KERAS_SOURCE = "keras.applications download (storage.googleapis.com), cached in ~/.keras/models"


def keras_models_dir() -> Path:
    """Where Keras caches downloaded weights: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser() / "models"


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


def _build(name, app, mode, input_shape, include_top, weights, pooling) -> keras.Model:
    """A registry builder: the application on our input, renamed to the registry key."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs if mode is None else preprocessing(inputs, mode)
    try:
        base = app(include_top=include_top, weights=weights, input_tensor=x,
                   input_shape=input_shape, pooling=pooling)  # fmt: skip
    except Exception as error:  # Keras wraps URLError/HTTPError in a bare Exception.
        if weights == "imagenet" and "URL fetch failure" in str(error):
            raise _offline_error(name, error) from None
        raise
    return keras.Model(inputs, base.output, name=name)


def _in_keras_cache(weights_glob: str) -> tuple[bool, str]:
    if files := sorted(keras_models_dir().glob(weights_glob)):
        return True, f"downloaded, in {files[0].parent}"
    return False, "not cached: downloaded by Keras on first use (needs network)"


def _spec(name, app, mode, blocks, glob, rules, text=None):
    """Register an application; ``mode`` None: it preprocesses by itself (``text`` says how)."""
    register_backbone(BackboneSpec(
        name=name, builder=functools.partial(_build, name, app, mode), default_input_size=224,
        preprocessing=text or MODES[mode], weights_source=_KERAS_SOURCE, num_blocks=blocks,
        licence="Apache-2.0 (keras.applications weights; see the Keras docs per model)",
        block_rules=tuple(rules), weights_available=functools.partial(_in_keras_cache, glob),
    ))  # fmt: skip


_spec("mobilenet_v2", keras.applications.MobileNetV2, "tf", 19,  # stem, block_0..16, top
      "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_*",
      [(r"(Conv1|bn_Conv1|Conv1_relu)$", "stem"), (r"expanded_conv_", "block_0"),
       (r"block_(\d+)_", "block_{0}"), (r"(Conv_1|Conv_1_bn|out_relu)$", "top")])  # fmt: skip
_spec("mobilenet_v3_small", keras.applications.MobileNetV3Small, None, 13,  # block_0..10
      "weights_mobilenet_v3_small_224_1.0_float*",
      [(r"(conv|conv_bn)$", "stem"), (r"expanded_conv_(\d+)_", "block_{0}"),
       (r"expanded_conv_", "block_0"), (r"(conv_1|conv_1_bn)$", "top")],
      text="inside keras.applications: rgb / 127.5 - 1 (include_preprocessing)")  # fmt: skip
_spec("efficientnet_b0", keras.applications.EfficientNetB0, None, 18,  # block1a..block7a
      "efficientnetb0*",
      [(r"stem_", "stem"), (r"(block\d+[a-z])_", "{0}"), (r"top_(conv|bn|activation)$", "top")],
      text="inside keras.applications: rescale and ImageNet mean/std normalisation")  # fmt: skip
_spec("resnet50", keras.applications.ResNet50, "caffe", 17,  # stem, 16 bottleneck blocks
      "resnet50_weights_tf_dim_ordering_tf_kernels*",
      [(r"(conv1_|pool1_)", "stem"), (r"(conv\d_block\d+)_", "{0}")])  # fmt: skip
_spec("vgg16", keras.applications.VGG16, "caffe", 5,
      "vgg16_weights_tf_dim_ordering_tf_kernels*", [(r"(block\d)_", "{0}")])  # fmt: skip
