"""What a trained model costs to use: its size, its CPU latency and its CO2 per prediction.

Measured as a small service runs a model, one image at a time on a CPU, through a traced function.
Size and time do not depend on the weights."""

from __future__ import annotations

import numbers
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.errors import invalid_parameter
from tlcourse.measure import COUNTRY, co2_columns, track
from tlcourse.validation import IMAGE_SIZE, SEED, Interval, Rule, validate_params

__all__ = ["DEPLOYMENT_COLUMNS", "DEPLOYMENT_NETWORKS", "deployment_columns", "deployment_table",
           "model_size_mb"]  # fmt: skip

#: The columns :func:`deployment_columns` returns, for a results row.
DEPLOYMENT_COLUMNS = (
    "model_mb", "latency_ms", "co2_per_1000_predictions_kg", "co2_per_1000_predictions_kg_low",
    "co2_per_1000_predictions_kg_high")  # fmt: skip

#: The networks :func:`deployment_table` compares by default.
DEPLOYMENT_NETWORKS = ("vgg16", "efficientnet_lite0", "small_cnn")

_CALLS = Interval(int, 1, None)
_TIMING = {"warmup": [_CALLS], "repeats": [_CALLS], "seconds": [Interval(numbers.Real, 0, None)]}


@validate_params({"model": [keras.Model], "saved": ["boolean"]})
def model_size_mb(model: keras.Model, *, saved: bool = True) -> float:
    """The size of a model in MB (10**6 bytes): its ``.keras`` file, or its weights alone."""
    weights = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    if not saved:
        return weights / 1e6
    with tempfile.TemporaryDirectory(prefix="tlcourse-size-") as folder:
        path = Path(folder) / "model.keras"
        try:
            model.save(path)
        except Exception as error:  # e.g. a custom layer without get_config
            why = f"({type(error).__name__}: {error}); its size is that of its weights."
            warnings.warn(f"model_size_mb: {model.name!r} could not be saved {why}", stacklevel=2)
            return weights / 1e6
        return path.stat().st_size / 1e6


def _input_size(model: keras.Model, image_size, func: str) -> tuple[int, int]:
    shape = tuple(model.input_shape[1:])
    if len(shape) != 3:
        rule, hint = "a model taking images (batch, height, width, channels)", "Its input shape"
        raise invalid_parameter("model", func, rule, model.name, f"{hint} is {model.input_shape}.")
    fixed = shape[:2]
    if image_size is None and None not in fixed:
        return fixed
    if image_size is not None and all(s in (None, i) for s, i in zip(fixed, image_size)):  # noqa: B905
        return image_size
    rule = f"an image size the model takes (its input size is {fixed})"
    raise invalid_parameter("image_size", func, rule, image_size)


def _measure(model, size, warmup, repeats, seconds, country, seed):
    """``(columns, calls, record)``: timed batch-1 calls on the CPU inside one ``track``."""
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
    co2 = [None if v is None else v * 1000 / len(times)
           for v in (record.co2_kg, record.co2_kg_low, record.co2_kg_high)]  # fmt: skip
    values = [model_size_mb(model), float(np.median(times)) * 1000, *co2]
    return dict(zip(DEPLOYMENT_COLUMNS, values, strict=True)), len(times), record


@validate_params({"model": [keras.Model], "image_size": [IMAGE_SIZE, None],
                  "country": [COUNTRY, None], **_TIMING, "seed": [SEED]})  # fmt: skip
def deployment_columns(model: keras.Model, image_size=None, *, country: str | None = None,
                       warmup: int = 3, repeats: int = 20, seconds: float = 2.0,
                       seed: int = 0) -> dict:  # fmt: skip
    """Size, CPU latency and CO2 per 1,000 predictions of a model: :data:`DEPLOYMENT_COLUMNS`.

    ``warmup`` untimed calls, then at least ``repeats`` timed calls for at least ``seconds``; the
    latency is their median."""
    size = _input_size(model, image_size, "deployment_columns")
    return _measure(model, size, warmup, repeats, seconds, country, seed)[0]


def _network(name: str, num_classes: int, size: tuple[int, int]) -> tuple[keras.Model, str]:
    from tlcourse.models.classifiers import small_cnn, transfer_classifier

    if name == "small_cnn":
        return small_cnn(num_classes, image_size=size), "small_cnn (the model trained from scratch)"
    model = transfer_classifier(name, num_classes, image_size=size, weights=None)
    return model, f"transfer_classifier({name!r}, weights=None): backbone, average pool, dense"


_MODELS = Rule(
    lambda v: isinstance(v, Mapping) and v and all(isinstance(m, keras.Model) for m in v.values()),
    "a non-empty {name: keras.Model}")  # fmt: skip


@validate_params({"models": [None, _MODELS], "image_size": [IMAGE_SIZE],
                  "num_classes": [Interval(int, 2, None)], "country": [COUNTRY, None],
                  **_TIMING})  # fmt: skip
def deployment_table(models: Mapping[str, keras.Model] | None = None, image_size=160, *,
                     num_classes: int = 6, country: str | None = None, warmup: int = 3,
                     repeats: int = 20, seconds: float = 2.0) -> pd.DataFrame:  # fmt: skip
    """Deployment cost of several networks side by side; the table of the deployment figure.

    By default the :data:`DEPLOYMENT_NETWORKS` with random weights, else ``{name: model}``.

    Example:
        >>> from tlcourse.models.classifiers import small_cnn
        >>> table = deployment_table({"cnn": small_cnn(3, 32)}, repeats=2, seconds=0)
        >>> table[["name", "parameters"]].values.tolist()
        [['cnn', 98547]]
    """
    if models is None:
        models = {name: _network(name, num_classes, image_size) for name in DEPLOYMENT_NETWORKS}
    else:
        models = {name: (model, f"given ({model.name})") for name, model in models.items()}
    rows = []
    for name, (model, how) in models.items():
        fixed = None not in model.input_shape[1:3]
        size = _input_size(model, None if fixed else image_size, "deployment_table")
        columns, calls, record = _measure(model, size, warmup, repeats, seconds, country, 0)
        rows.append(
            {"name": str(name), "parameters": int(model.count_params()), **columns,
             "built_with": how, "calls": calls, **co2_columns(record)})  # fmt: skip
    return pd.DataFrame(rows)
