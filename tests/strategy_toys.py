"""Helpers for the comparison tests: a folder of photos, and two toy strategies.

The toys follow the run contract of :mod:`tlcourse.comparison.strategies` and cost
milliseconds, so tests of the runner (plans, keys, resume) need no real training:

- ``majority``: predicts the most frequent training class; trains nothing. It returns its test
  probabilities (one-hot), so the runner writes its predictions.
- ``linear_probe``: softmax regression on the cached features, by gradient descent in NumPy. It
  returns no probabilities: a strategy without predictions.
"""

from __future__ import annotations

import contextlib

import numpy as np
from PIL import Image

from tlcourse.comparison.strategies import (
    Strategy,
    StrategyResult,
    register_strategy,
    unregister_strategy,
)
from tlcourse.measure import combine_records


def make_photo_folder(root, classes: int = 3, per_class: int = 8, size: int = 40):
    """A folder of photos the project has never seen: classes of coloured noise."""
    rng = np.random.default_rng(0)
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)][:classes]
    for label, colour in enumerate(colours):
        (root / f"class_{label}").mkdir()
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size, size, 3)) + np.array(colour)
            Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(
                root / f"class_{label}" / f"{i}.png"
            )
    return root


def _accuracy(predictions, labels) -> float:
    return float(np.mean(predictions == labels)) if len(labels) else float("nan")


def majority_run(context, data, seed):
    def work():
        majority = int(np.bincount(data.labels["train"]).argmax())
        scores = {
            split: _accuracy(np.full(len(data.labels[split]), majority), data.labels[split])
            for split in ("train", "val", "test")
        }
        return majority, scores

    (majority, scores), cost = context.measure("majority", work)
    history = {
        "loss": [1.0],
        "accuracy": [scores["train"]],
        "val_loss": [1.0],
        "val_accuracy": [scores["val"]],
    }
    probabilities = np.eye(data.num_classes)[np.full(len(data.labels["test"]), majority)]
    return StrategyResult(majority, history, scores["test"], 1.0, trainable_params=0, cost=cost,
                          test_probabilities=probabilities)  # fmt: skip


def _softmax(logits):
    logits = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def _loss(probabilities, labels) -> float:
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))


def linear_probe_run(context, data, seed):
    features, feature_cost = context.features(data)
    (x, y), (xv, yv), (xt, yt) = (features.split(data, s) for s in ("train", "val", "test"))

    def work():
        rng = np.random.default_rng(seed)
        weights = rng.normal(0, 0.01, (x.shape[1], data.num_classes))
        bias = np.zeros(data.num_classes)
        onehot = np.eye(data.num_classes)[y]
        history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
        for _ in range(context.budget.epochs):
            probabilities = _softmax(x @ weights + bias)
            gradient = (probabilities - onehot) / len(y)
            weights -= 0.5 * x.T @ gradient
            bias -= 0.5 * gradient.sum(axis=0)
            for prefix, (inputs, labels) in (("", (x, y)), ("val_", (xv, yv))):
                p = _softmax(inputs @ weights + bias)
                history[f"{prefix}loss"].append(_loss(p, labels))
                history[f"{prefix}accuracy"].append(_accuracy(p.argmax(axis=1), labels))
        test = _softmax(xt @ weights + bias)
        return (weights, bias), history, _accuracy(test.argmax(axis=1), yt), _loss(test, yt)

    (model, history, accuracy, loss), cost = context.measure("linear_probe", work)
    return StrategyResult(
        model=model,
        history=history,
        test_accuracy=accuracy,
        test_loss=loss,
        trainable_params=int(model[0].size + model[1].size),
        cost=combine_records([cost, feature_cost]),
    )


MAJORITY = Strategy(
    name="majority",
    label="Majority class",
    color="#8C564B",
    run=majority_run,
    network="majority_vote",
    default=False,
    description="Predicts the most frequent training class (a floor for every strategy).",
)

LINEAR_PROBE = Strategy(
    name="linear_probe",
    label="Linear probe",
    color="#CC79A7",
    run=linear_probe_run,
    network="backbone",
    uses_features=True,
    default=False,
    order=25,
    description="Softmax regression on the cached features, by gradient descent.",
    budget_fields=("epochs",),
)


@contextlib.contextmanager
def registered(*strategies: Strategy):
    """Register ``strategies`` for the duration of a ``with`` block."""
    for strategy in strategies:
        register_strategy(strategy)
    try:
        yield
    finally:
        for strategy in strategies:
            unregister_strategy(strategy.name)
