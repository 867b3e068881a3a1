"""The learning-rate range test ("LR finder", Smith 2017; fast.ai's ``lr_find``)."""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from tlcourse.errors import InvalidParameterError
from tlcourse.validation import (
    BATCH_SIZE,
    COMPILED_MODEL,
    LEARNING_RATE,
    TRAINING_DATA,
    Interval,
    StrOptions,
    validate_params,
)

__all__ = ["LRFindResult", "lr_find"]


@dataclass(frozen=True)
class LRFindResult:
    """What :func:`lr_find` measured (one row per batch), and the learning rates it suggests.

    ``steepest_lr``: where the smoothed loss falls fastest against log(lr) before its minimum;
    ``minimum_lr``: a tenth of the rate at the minimum. Without a finite first loss there is no
    suggestion and ``message`` says what to check."""

    history: pd.DataFrame
    suggested_lr: float | None
    steepest_lr: float | None
    minimum_lr: float | None
    diverged: bool
    method: str
    message: str = ""

    def __repr__(self) -> str:
        lr = "None" if self.suggested_lr is None else f"{self.suggested_lr:.3g} ({self.method})"
        steps = len(self.history)
        return f"LRFindResult(suggested_lr={lr}, {steps} steps, diverged={self.diverged})"


def _split(batch) -> tuple:
    if isinstance(batch, tuple | list) and len(batch) in (2, 3):
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def _cycle_arrays(arrays, batch_size: int):
    size = len(arrays[0])
    # Shuffled once, seeded: batches of arrays sorted by class have losses that zigzag.
    order = np.random.default_rng(0).permutation(size)
    arrays = tuple(None if a is None else np.asarray(a)[order] for a in arrays)
    # Whole batches only: a last batch of 2 says more about 2 images than about the rate.
    last = size - size % batch_size if size >= batch_size else size
    for start in itertools.cycle(range(0, last, batch_size)):
        yield tuple(None if a is None else a[start : start + batch_size] for a in arrays)


def _batches(train, batch_size: int):
    """An endless iterator of ``(x, y, sample_weight)`` batches, cycling through ``train``."""
    if isinstance(train, tuple):
        return _cycle_arrays(_split(train), batch_size)
    if isinstance(train, keras.utils.PyDataset):
        return (_split(train[i]) for i in itertools.cycle(range(len(train))))
    return (_split(batch) for batch in train.repeat())


def _suggest(table: pd.DataFrame) -> tuple[float | None, float | None]:
    """``(steepest_lr, minimum_lr)``; both None without a finite loss."""
    finite = table[np.isfinite(table["smoothed_loss"])]
    if finite.empty:
        return None, None
    lowest = int(np.argmin(finite["smoothed_loss"].to_numpy()))
    # Never suggest a rate the test did not try: a minimum at the first step would give start/10.
    minimum_lr = max(float(finite["lr"].iloc[lowest]) / 10, float(finite["lr"].iloc[0]))
    # The first steps barely move the weights and the smoothing is still warming up: skip them.
    skip = min(len(finite) // 10, lowest)
    descent = finite.iloc[skip : lowest + 1]
    if len(descent) < 3:
        return None, minimum_lr
    slope = np.gradient(descent["smoothed_loss"].to_numpy(), np.log10(descent["lr"].to_numpy()))
    return float(descent["lr"].iloc[int(np.argmin(slope))]), minimum_lr


def _trial_optimizer(optimizer, start_lr: float):
    """A fresh copy of ``optimizer`` with a plain float learning rate, which Keras lets us set."""
    config = optimizer.get_config()
    inner = config.get("inner_optimizer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):  # LossScaleOptimizer
        inner_config = {**inner["config"], "learning_rate": start_lr}
        config["inner_optimizer"] = {**inner, "config": inner_config}
    elif "learning_rate" in config:
        config["learning_rate"] = start_lr
    return optimizer.__class__.from_config(config)


def _not_finite_message(first: pd.Series) -> str:
    return (
        f"lr_find has no suggestion: the loss was not finite ({first['loss']}) at the first "
        f"step, at lr={first['lr']:.3g}, before the learning rate could matter. The problem "
        "is in the data or the model: check for NaN or inf in the images and labels, labels "
        "outside [0, number of classes) for a sparse cross-entropy, a loss that does not fit "
        "the model's outputs (from_logits), and weights already NaN after an earlier "
        "divergence (rebuild or reload the model)."
    )


def _run(model, batches, lrs, beta: float, diverge: float) -> tuple[list[dict], bool]:
    rows, average, best = [], 0.0, math.inf
    for step, (lr, (x, y, weight)) in enumerate(zip(lrs, batches, strict=False)):
        model.optimizer.learning_rate = lr
        loss = float(model.train_on_batch(x, y, sample_weight=weight, return_dict=True)["loss"])
        average = beta * average + (1 - beta) * loss
        smoothed = average / (1 - beta ** (step + 1))
        rows.append({"lr": float(lr), "loss": loss, "smoothed_loss": smoothed})
        if not math.isfinite(smoothed) or smoothed > diverge * best:
            return rows, True
        best = min(best, smoothed)
    return rows, False


@validate_params(
    {"model": [COMPILED_MODEL], "train": [TRAINING_DATA], "start_lr": [LEARNING_RATE],
     "end_lr": lambda a: [Interval(numbers.Real, a["start_lr"], None, closed="neither")],
     "num_steps": [Interval(int, 2, None)], "beta": [Interval(numbers.Real, 0, 1, closed="left")],
     "diverge": [Interval(numbers.Real, 1, None, closed="neither")],
     "suggestion": [StrOptions({"steepest", "minimum"})], "batch_size": [BATCH_SIZE]}
)  # fmt: skip
def lr_find(
    model: keras.Model, train, start_lr: float = 1e-7, end_lr: float = 1.0, num_steps: int = 100,
    *, beta: float = 0.98, diverge: float = 4.0, suggestion: str = "steepest", batch_size: int = 32,
) -> LRFindResult:  # fmt: skip
    """Run a learning-rate range test and suggest a learning rate.

    The rate grows exponentially from ``start_lr`` to ``end_lr`` over ``num_steps`` batches, and the
    loss is read off the curve: flat (too small to matter), falling (useful), exploding (too
    large). The test stops when the smoothed loss exceeds ``diverge`` times its best. It trains
    what is trainable now with a copy of the compiled optimizer, then restores every variable.
    ``suggestion="steepest"`` falls back to ``"minimum"`` when the loss never falls.

    Example:
        >>> keras.utils.set_random_seed(0)
        >>> x = np.random.default_rng(0).normal(size=(64, 4))
        >>> y = x @ np.array([1.0, -2.0, 0.5, 3.0])
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> result = lr_find(model, (x, y), start_lr=1e-4, end_lr=10.0, num_steps=50,
        ...                  batch_size=16)
        >>> list(result.history.columns), result.diverged, 1e-3 < result.suggested_lr < 1.0
        (['lr', 'loss', 'smoothed_loss'], True, True)
    """
    batches = _batches(train, batch_size)
    lrs = np.geomspace(start_lr, end_lr, num_steps)
    optimizer, train_function = model.optimizer, model.train_function
    saved = [(variable, np.array(variable.numpy(), copy=True)) for variable in model.variables]
    trial = _trial_optimizer(optimizer, start_lr)
    try:
        # A fresh optimizer (the compiled one keeps its state) and a train step traced for it.
        model.optimizer, model.train_function = trial, None
        rows, diverged = _run(model, batches, lrs, beta, diverge)
    finally:
        model.optimizer, model.train_function = optimizer, train_function
        for variable, value in saved:
            variable.assign(value)
    if not rows:
        raise InvalidParameterError(
            "The 'train' parameter of lr_find must hold at least one batch. Got data that "
            "gave no batch instead (an empty dataset?)."
        )
    history = pd.DataFrame(rows, columns=["lr", "loss", "smoothed_loss"])
    steepest_lr, minimum_lr = _suggest(history)
    if minimum_lr is None:
        message = _not_finite_message(history.iloc[0])
        warnings.warn(message, UserWarning, stacklevel=3)  # the caller, past validate_params
        return LRFindResult(history, None, None, None, diverged, "none", message)
    method = "steepest" if suggestion == "steepest" and steepest_lr is not None else "minimum"
    suggested = steepest_lr if method == "steepest" else minimum_lr
    return LRFindResult(history, suggested, steepest_lr, minimum_lr, diverged, method)
