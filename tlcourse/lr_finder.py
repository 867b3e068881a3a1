"""The learning-rate range test ("LR finder", Smith 2017; fast.ai's ``lr_find``).

Train for a few dozen batches while the learning rate grows exponentially from tiny to huge,
record the loss after each batch, and read a good learning rate off the curve: the loss first
stays flat (too small to matter), then falls (useful), then explodes (too large). The model's
weights, optimizer and every other variable are restored afterwards: the test leaves no trace.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from tlcourse.errors import (
    InvalidParameterError,
    check_choice,
    check_int,
    check_real,
    invalid_parameter,
)

__all__ = ["LRFindResult", "lr_find"]

_SUGGESTIONS = ("steepest", "minimum")


@dataclass(frozen=True)
class LRFindResult:
    """What :func:`lr_find` measured, and the learning rates it suggests.

    Attributes:
        history: one row per batch: ``lr`` (the base learning rate used for that batch; the
            head's rate with a layer-wise optimizer), ``loss`` (that batch's training loss)
            and ``smoothed_loss`` (exponential moving average, bias-corrected).
        suggested_lr: the suggestion chosen by the ``suggestion`` argument; None when the loss
            was not finite at the very first step (see ``message``).
        steepest_lr: where the smoothed loss falls fastest against log(lr), before its minimum.
            None when the loss never fell.
        minimum_lr: a tenth of the learning rate at the lowest smoothed loss, never below the
            first rate tried (fast.ai's "minimum / 10" rule, safely below the divergence). None
            when no loss was finite.
        diverged: True if the test stopped early because the loss exploded.
        method: how ``suggested_lr`` was chosen (``"steepest"`` or ``"minimum"``; ``"none"``
            without a suggestion).
        message: why there is no suggestion and what to check; empty when there is one.
    """

    history: pd.DataFrame
    suggested_lr: float | None
    steepest_lr: float | None
    minimum_lr: float | None
    diverged: bool
    method: str
    message: str = ""

    def __repr__(self) -> str:
        suggestion = (
            "None" if self.suggested_lr is None else f"{self.suggested_lr:.3g} ({self.method})"
        )
        return (
            f"LRFindResult(suggested_lr={suggestion}, {len(self.history)} steps, "
            f"diverged={self.diverged})"
        )


_FUNC = "lr_find"


def _check_arguments(model, start_lr, end_lr, num_steps, beta, diverge, batch_size):
    if not isinstance(model, keras.Model):
        raise invalid_parameter("model", _FUNC, "a compiled keras.Model", model)
    if not getattr(model, "compiled", False) or getattr(model, "loss", None) is None:
        raise invalid_parameter(
            "model", _FUNC, "a compiled keras.Model with a loss", model,
            f"Compile model {model.name!r} first, e.g. model.compile(optimizer='adam', "
            "loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)). Its optimizer "
            "(class and settings) is the one tested.",
        )  # fmt: skip
    start_lr = check_real("start_lr", start_lr, _FUNC, low=0, low_open=True)
    end_lr = check_real("end_lr", end_lr, _FUNC, low=0, low_open=True)
    if start_lr >= end_lr:
        raise invalid_parameter(
            "end_lr", _FUNC, f"a float > start_lr ({start_lr!r})", end_lr,
            "lr_find needs start_lr < end_lr: the rate grows from one to the other.",
        )  # fmt: skip
    num_steps = check_int("num_steps", num_steps, _FUNC, low=2)
    batch_size = check_int("batch_size", batch_size, _FUNC, low=1)
    beta = check_real("beta", beta, _FUNC, low=0, high=1, high_open=True)
    diverge = check_real("diverge", diverge, _FUNC, low=1, low_open=True)
    return start_lr, end_lr, num_steps, beta, diverge, batch_size


def _split(batch) -> tuple:
    """``(x, y, sample_weight)`` from one element of a dataset."""
    if isinstance(batch, tuple | list) and len(batch) in (2, 3):
        return tuple(batch) + (None,) * (3 - len(batch))
    return batch, None, None


def _cycle_arrays(arrays, batch_size: int):
    size = len(arrays[0])
    # Mixed once, with a fixed seed: arrays often come sorted by class (Dataset.as_arrays), and
    # batches of one or two classes have losses far apart, a zigzag that hides the rate's effect.
    order = np.random.default_rng(0).permutation(size)
    arrays = tuple(None if a is None else np.asarray(a)[order] for a in arrays)
    # Whole batches only: 98 images in batches of 32 would end every pass with a batch of 2,
    # whose loss says more about those 2 images than about the learning rate.
    last = size - size % batch_size if size >= batch_size else size
    for start in itertools.cycle(range(0, last, batch_size)):
        part = slice(start, start + batch_size)
        yield tuple(None if a is None else a[part] for a in arrays)


def _cycle_pydataset(dataset):
    for index in itertools.cycle(range(len(dataset))):
        yield _split(dataset[index])


def _cycle_tf_data(dataset):
    for batch in dataset.repeat():
        yield _split(batch)


def _batches(train, batch_size: int):
    """An endless iterator of ``(x, y, sample_weight)`` batches, cycling through ``train``."""
    if isinstance(train, tuple) and len(train) in (2, 3):
        return _cycle_arrays(tuple(train) + (None,) * (3 - len(train)), batch_size)
    if isinstance(train, keras.utils.PyDataset):
        return _cycle_pydataset(train)
    if hasattr(train, "repeat") and hasattr(train, "element_spec"):  # a tf.data.Dataset
        return _cycle_tf_data(train)
    what = f"a tuple of {len(train)} items" if isinstance(train, tuple) else type(train).__name__
    raise InvalidParameterError(
        "The 'train' parameter of lr_find must be a tf.data.Dataset of (images, labels) "
        "batches, a keras.utils.PyDataset, or a tuple (images, labels) of arrays. Got "
        f"{what} instead."
    )


def _suggest(table: pd.DataFrame) -> tuple[float | None, float | None]:
    """``(steepest_lr, minimum_lr)`` from the measured curve; both None without a finite loss."""
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
    """A fresh copy of ``optimizer`` whose learning rate is a plain, settable float.

    The range test sets the rate at every step, which Keras refuses for an optimizer made with
    a learning-rate schedule; the compiled optimizer, schedule included, is left untouched.
    """
    config = optimizer.get_config()
    inner = config.get("inner_optimizer")
    if isinstance(inner, dict) and isinstance(inner.get("config"), dict):  # LossScaleOptimizer
        inner_config = {**inner["config"], "learning_rate": start_lr}
        config["inner_optimizer"] = {**inner, "config": inner_config}
    elif "learning_rate" in config:
        config["learning_rate"] = start_lr
    return optimizer.__class__.from_config(config)


def _not_finite_message(history: pd.DataFrame) -> str:
    first = history.iloc[0]
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


def lr_find(
    model: keras.Model,
    train,
    start_lr: float = 1e-7,
    end_lr: float = 1.0,
    num_steps: int = 100,
    *,
    beta: float = 0.98,
    diverge: float = 4.0,
    suggestion: str = "steepest",
    batch_size: int = 32,
) -> LRFindResult:
    """Run a learning-rate range test and suggest a learning rate.

    For ``num_steps`` batches (cycling through ``train``), the learning rate grows
    exponentially from ``start_lr`` to ``end_lr``; the loss of each batch is recorded and
    smoothed. The test stops early when the smoothed loss exceeds ``diverge`` times its best
    value. It trains what is trainable now, with a fresh copy of the model's compiled optimizer
    (a layer-wise optimizer keeps its per-block ratios; ``lr`` is then the head's rate): run it
    after :func:`~tlcourse.freezing.set_trainable` to choose the rate of that stage. The copy
    has a plain learning rate that the test sets itself, so an optimizer compiled with a
    learning-rate schedule works too (its schedule is untouched).

    Afterwards every variable of the model (weights, BatchNorm statistics, metrics, random
    seeds) is restored and its compiled optimizer is untouched, even if the test is interrupted.

    Suggestions: ``"steepest"`` is the learning rate where the smoothed loss falls fastest
    (against log(lr)) before its minimum; ``"minimum"`` is a tenth of the learning rate at the
    lowest smoothed loss. Both are returned; if the loss never falls, ``"steepest"`` falls
    back to ``"minimum"``. Read the curve too: a suggestion is a starting point. When the
    loss is not finite at the very first step (NaN in the data, a broken model), no rate can
    be read off: the result has no suggestion and a ``message`` saying what to check, also
    issued as a warning.

    Args:
        model: a compiled model (its loss and optimizer are used).
        train: a ``tf.data.Dataset`` or ``keras.utils.PyDataset`` of ``(images, labels)``
            batches, or a tuple ``(images, labels)`` of arrays (shuffled once with a fixed
            seed, then cut into whole batches of ``batch_size`` and cycled: the images left
            over are not used, unless there are fewer than ``batch_size`` of them in all).
        start_lr: first learning rate. Defaults to 1e-7.
        end_lr: last learning rate. Defaults to 1.0.
        num_steps: number of batches (the learning rate is multiplied by the same ratio at
            each). Defaults to 100.
        beta: smoothing of the loss (exponential moving average). Defaults to 0.98.
        diverge: stop when the smoothed loss exceeds ``diverge`` times its best value.
            Defaults to 4.0.
        suggestion: ``"steepest"`` or ``"minimum"`` (see above). Defaults to ``"steepest"``.
        batch_size: batch size for array input. Defaults to 32.

    Returns:
        An :class:`LRFindResult`: ``.history`` (DataFrame with ``lr``, ``loss``,
        ``smoothed_loss``, what ``tlcourse.plots.plot_lr_find`` draws), ``.suggested_lr``,
        ``.steepest_lr``, ``.minimum_lr``, ``.diverged`` and ``.message``.

    Raises:
        InvalidParameterError: ``model`` is not a Keras model compiled with a loss, or a bad
            argument.

    Example:
        >>> import keras, numpy as np
        >>> from tlcourse.lr_finder import lr_find
        >>> keras.utils.set_random_seed(0)
        >>> x = np.random.default_rng(0).normal(size=(64, 4))
        >>> y = x @ np.array([1.0, -2.0, 0.5, 3.0])
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> result = lr_find(model, (x, y), start_lr=1e-4, end_lr=10.0, num_steps=50,
        ...                  batch_size=16)
        >>> list(result.history.columns), result.diverged
        (['lr', 'loss', 'smoothed_loss'], True)
        >>> 1e-3 < result.suggested_lr < 1.0
        True
    """
    start_lr, end_lr, num_steps, beta, diverge, batch_size = _check_arguments(
        model, start_lr, end_lr, num_steps, beta, diverge, batch_size
    )
    check_choice("suggestion", suggestion, _SUGGESTIONS, _FUNC)
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
        message = _not_finite_message(history)
        warnings.warn(message, UserWarning, stacklevel=2)  # lr_find is called by the user
        return LRFindResult(history, None, None, None, diverged, "none", message)
    method = "steepest" if suggestion == "steepest" and steepest_lr is not None else "minimum"
    return LRFindResult(
        history=history,
        suggested_lr=steepest_lr if method == "steepest" else minimum_lr,
        steepest_lr=steepest_lr,
        minimum_lr=minimum_lr,
        diverged=diverged,
        method=method,
    )
