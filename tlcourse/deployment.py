"""What a trained model costs to use: its size, its CPU latency and its CO2 per prediction.

Training happens once; a deployed model answers every request. Three numbers say what using it
costs, measured here the way a small service would run it, one image at a time on a CPU:

- **Size** (``model_mb``): the size of the ``.keras`` file the model saves to, in MB (10**6
  bytes): what is shipped and loaded to answer. Almost all of it is the weights (trainable
  and not, e.g. BatchNorm statistics); :func:`model_size_mb` gives either.
- **Latency** (``latency_ms``): the median time of one prediction of one image (batch 1),
  after warm-up calls, through a traced inference function (``tf.function``, as TensorFlow
  Serving or a SavedModel runs the graph); ``model.predict`` adds a few ms of Python per call.
  Forced onto the CPU.
- **CO2 per 1,000 predictions** (``co2_per_1000_predictions_kg``): the timed calls run inside
  :func:`tlcourse.track`, the same codecarbon method as training, for at least ``seconds``;
  their CO2 divided by their number, times 1,000. With a default CPU power the low-high range
  of :mod:`tlcourse.tracking.ranges` comes with it (``..._low``, ``..._high``).

Weights do not change the size or the time of a forward pass: networks can be measured with
``weights=None`` (:func:`deployment_table` does), and nothing is downloaded.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.errors import (
    check_bool,
    check_image_size,
    check_int,
    check_real,
    invalid_parameter,
)
from tlcourse.keras_fixes import prime_saving_skipsets
from tlcourse.tracking import co2_columns, track

__all__ = [
    "DEPLOYMENT_COLUMNS",
    "DEPLOYMENT_NETWORKS",
    "deployment_columns",
    "deployment_table",
    "model_size_mb",
]

#: The columns :func:`deployment_columns` returns, for a results row.
DEPLOYMENT_COLUMNS = (
    "model_mb",
    "latency_ms",
    "co2_per_1000_predictions_kg",
    "co2_per_1000_predictions_kg_low",
    "co2_per_1000_predictions_kg_high",
)

#: The networks :func:`deployment_table` compares by default: a VGG16-class network, the
#: course's pretrained backbone and the small CNN trained from scratch.
DEPLOYMENT_NETWORKS = ("vgg16", "efficientnet_lite0", "small_cnn")


def model_size_mb(model: keras.Model, *, saved: bool = True) -> float:
    """The size of a model in MB (10**6 bytes): its ``.keras`` file, or its weights alone.

    Args:
        model: a Keras model.
        saved: True measures the ``.keras`` file the model saves to (written in a temporary
            folder, deleted after): the weights plus the file's own structure (HDF5 keeps
            some metadata per variable: the file is ~7% larger than the weights for a
            MobileNetV2) and the configuration. False counts the bytes of every weight once
            (trainable or not, e.g. BatchNorm statistics). Defaults to True.

    Returns:
        The size in MB. When the model cannot be saved (a custom layer without
        ``get_config``), the size of its weights, with a warning saying why.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model.

    Example:
        >>> from tlcourse.models import classification_head
        >>> round(model_size_mb(classification_head(1280, 6), saved=False), 4)  # 7,686 floats
        0.0307
    """
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", "model_size_mb", "a keras.Model", model)
    saved = check_bool("saved", saved, "model_size_mb")
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    if not saved:
        return weights / 1e6
    prime_saving_skipsets()  # see tlcourse.keras_fixes
    with tempfile.TemporaryDirectory(prefix="tlcourse-size-") as folder:
        path = Path(folder) / "model.keras"
        try:
            model.save(path)
        except Exception as error:  # the weights' size is still a fair figure
            warnings.warn(
                f"model_size_mb: {model.name!r} could not be saved ({type(error).__name__}: "
                f"{error}); its size is that of its weights.",
                stacklevel=2,
            )
            return weights / 1e6
        return path.stat().st_size / 1e6


def _input_size(model: keras.Model, image_size, func: str) -> tuple[int, int]:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3:
        raise invalid_parameter(
            "model", func, "a model taking images (batch, height, width, channels)", model.name,
            f"Its input shape is {model.input_shape}.",
        )  # fmt: skip
    if image_size is None:
        if None in shape[:2]:
            raise invalid_parameter(
                "image_size", func, "an int or (height, width): the model's input size is not "
                "fixed", image_size,
            )  # fmt: skip
        return int(shape[0]), int(shape[1])
    height, width = check_image_size("image_size", image_size, func)
    if shape[0] not in (None, height) or shape[1] not in (None, width):
        raise invalid_parameter(
            "image_size", func, f"the model's input size {shape[:2]} or None", image_size
        )
    return height, width


def _measure(model, size, warmup, repeats, seconds, country, seed):
    """(latency per call in s, CO2 record, calls): timed batch-1 calls inside one track()."""
    image = np.random.default_rng(seed).uniform(0, 255, (1, *size, model.input_shape[-1]))
    with tf.device("/CPU:0"):
        image = tf.constant(image, tf.float32)
        infer = tf.function(lambda x: model(x, training=False))
        for _ in range(warmup):  # the first call traces the graph
            infer(image).numpy()
        times = []
        with track(f"deployment {model.name}", country=country) as record:
            start = time.perf_counter()
            while len(times) < repeats or time.perf_counter() - start < seconds:
                tick = time.perf_counter()
                infer(image).numpy()  # .numpy(): wait for the result, as a caller would
                times.append(time.perf_counter() - tick)
    return float(np.median(times)), record, len(times)


def _columns(latency: float, record, calls: int, size_mb: float) -> dict:
    per_1000 = 1000 / calls
    ends = [record.co2_kg, record.co2_kg_low, record.co2_kg_high]
    co2, low, high = (None if v is None else v * per_1000 for v in ends)
    return {
        "model_mb": size_mb,
        "latency_ms": latency * 1000,
        "co2_per_1000_predictions_kg": co2,
        "co2_per_1000_predictions_kg_low": low,
        "co2_per_1000_predictions_kg_high": high,
    }


def _check_measure_args(warmup, repeats, seconds, func: str):
    return (
        check_int("warmup", warmup, func, low=1),
        check_int("repeats", repeats, func, low=1),
        check_real("seconds", seconds, func, low=0),
    )


def deployment_columns(
    model: keras.Model,
    image_size=None,
    *,
    country: str | None = None,
    warmup: int = 3,
    repeats: int = 20,
    seconds: float = 2.0,
    seed: int = 0,
) -> dict:
    """Size, CPU latency and CO2 per 1,000 predictions of a model, as results-row columns.

    What the comparison runner calls for the model each run would deploy (for feature
    extraction: the backbone and the head together, not the head alone). See the module for
    how each number is measured.

    Args:
        model: a Keras model taking images.
        image_size: an int or ``(height, width)``; None takes the model's input size.
            Defaults to None.
        country: ISO-3 code of the grid for the CO2 estimate (as :func:`tlcourse.track`);
            None for the world average. Defaults to None.
        warmup: untimed calls first (tracing, caches), an int >= 1. Defaults to 3.
        repeats: timed calls at least, an int >= 1. Defaults to 20.
        seconds: the timed calls go on at least this long, so that codecarbon takes a few
            readings (>= 0). Defaults to 2.0.
        seed: seed of the random test image. Defaults to 0.

    Returns:
        ``{column: value}`` for :data:`DEPLOYMENT_COLUMNS`: ``model_mb``, ``latency_ms``
        (median, batch 1), ``co2_per_1000_predictions_kg`` and its ``_low`` / ``_high`` range
        (equal to it when no range is stated; None when CO2 was not measured).

    Raises:
        InvalidParameterError: not a model taking images, an image size it does not take, or
            a bad ``warmup``, ``repeats``, ``seconds`` or ``country``.

    Example:
        >>> from tlcourse.models import small_cnn
        >>> row = deployment_columns(small_cnn(3, image_size=32), repeats=3, seconds=0)
        >>> sorted(row) == sorted(DEPLOYMENT_COLUMNS), row["latency_ms"] > 0
        (True, True)
    """
    func = "deployment_columns"
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", func, "a keras.Model taking images", model)
    size = _input_size(model, image_size, func)
    warmup, repeats, seconds = _check_measure_args(warmup, repeats, seconds, func)
    seed = check_int("seed", seed, func, low=0)
    latency, record, calls = _measure(model, size, warmup, repeats, seconds, country, seed)
    return _columns(latency, record, calls, model_size_mb(model))


def _network(name: str, num_classes: int, size: tuple[int, int]) -> tuple[keras.Model, str]:
    from tlcourse.models import small_cnn, transfer_classifier

    if name == "small_cnn":
        return small_cnn(num_classes, image_size=size), "small_cnn (the model trained from scratch)"
    model = transfer_classifier(name, num_classes, image_size=size, weights=None)
    return model, f"transfer_classifier({name!r}, weights=None): backbone, average pool, dense"


def deployment_table(
    models: Mapping[str, keras.Model] | None = None,
    image_size=160,
    *,
    num_classes: int = 6,
    country: str | None = None,
    warmup: int = 3,
    repeats: int = 20,
    seconds: float = 2.0,
) -> pd.DataFrame:
    """Deployment cost of several networks side by side; the table of the deployment figure.

    By default the networks of :data:`DEPLOYMENT_NETWORKS`, built with random weights (size
    and latency do not depend on them): VGG16 and EfficientNet-Lite0 as
    :func:`tlcourse.transfer_classifier` builds them for this course (backbone, global average
    pooling, a dense head of ``num_classes``), and :func:`tlcourse.small_cnn`. VGG16 with its
    original 4096-unit top would be 134 M parameters instead of 14.7 M (see
    :func:`tlcourse.parameter_counts`). Building VGG16 and timing it take a few seconds.

    Args:
        models: ``{name: model}`` to measure instead (e.g. the models a notebook trained);
            None for the default networks. Defaults to None.
        image_size: an int or ``(height, width)`` for the default networks, and the input of
            models whose size is not fixed. Defaults to 160.
        num_classes: outputs of the default networks (the shipped photos have 6 classes).
            Defaults to 6.
        country: ISO-3 code of the grid for the CO2 estimate; None for the world average.
            Defaults to None.
        warmup: untimed calls first. Defaults to 3.
        repeats: timed calls at least. Defaults to 20.
        seconds: timed calls go on at least this long. Defaults to 2.0.

    Returns:
        One row per network: ``name``, ``parameters``, :data:`DEPLOYMENT_COLUMNS`,
        ``built_with``, ``calls`` and the CO2 columns of :func:`tlcourse.tracking.co2_columns`
        (how the CO2 was obtained), in the order given.

    Raises:
        InvalidParameterError: a bad argument (see :func:`deployment_columns`).

    Example:
        >>> from tlcourse.models import small_cnn
        >>> table = deployment_table({"cnn": small_cnn(3, 32)}, repeats=2, seconds=0)
        >>> table[["name", "parameters"]].values.tolist()
        [['cnn', 98547]]
    """
    func = "deployment_table"
    size = check_image_size("image_size", image_size, func)
    num_classes = check_int("num_classes", num_classes, func, low=2)
    warmup, repeats, seconds = _check_measure_args(warmup, repeats, seconds, func)
    if models is not None and (
        not isinstance(models, Mapping)
        or not models
        or not all(isinstance(m, keras.Model) for m in models.values())
    ):
        raise invalid_parameter("models", func, "None or a non-empty {name: keras.Model}", models)
    rows = []
    for name in DEPLOYMENT_NETWORKS if models is None else list(models):
        if models is None:
            model, how = _network(name, num_classes, size)
        else:
            model, how = models[name], f"given ({models[name].name})"
        model_size = _input_size(model, None if None not in model.input_shape[1:3] else size, func)
        latency, record, calls = _measure(model, model_size, warmup, repeats, seconds, country, 0)
        rows.append(
            {
                "name": str(name),
                "parameters": int(model.count_params()),
                **_columns(latency, record, calls, model_size_mb(model)),
                "built_with": how,
                "calls": calls,
                **co2_columns(record),
            }
        )
    return pd.DataFrame(rows)
