"""The strategy registry: one record per way of training a classifier, timm-style.

A :class:`Strategy` holds everything the rest of tlcourse needs to know about a strategy: its name,
the label and colour every figure uses, which network it trains, and the function that runs it;
:class:`StrategyResult` is what that function returns."""

from __future__ import annotations

import dataclasses
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib.colors import is_color_like

from tlcourse.errors import invalid_parameter
from tlcourse.measure import EmissionsRecord
from tlcourse.validation import Rule, StrOptions, validate_params

__all__ = [
    "Strategy", "StrategyResult", "get_strategy", "list_strategies", "register_strategy",
    "strategy_color", "strategy_label", "strategy_names", "unregister_strategy"
]  # fmt: skip

# Colours for strategies registered without a known one: picked from the name, so a strategy
# has the same colour in every figure (Okabe-Ito hues not used by the built-in four).
_SPARE_COLORS = ("#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#000000")
_TEXT = Rule(lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty str")


@dataclass(frozen=True)
class Strategy:
    """Everything about one strategy.

    Attributes:
        name: registry key, as in ``compare(strategies=...)`` and the ``strategy`` column.
        label, color: what figures and tables call it, and its colour in every figure.
        run: ``run(context, data, seed) -> StrategyResult`` (see
        :mod:`tlcourse.comparison.strategies`).
        network: ``"backbone"`` when it trains (part of) the comparison's backbone, else the
            name of the network it trains (``"small_cnn"``): the ``backbone`` column.
        uses_features: True when it trains on the backbone's cached activations.
        default: part of the default comparison (``compare()`` without ``strategies``).
        description: one sentence for ``list_strategies()``.
        order: position in tables and legends (smaller first).
        budget_fields: the :class:`~tlcourse.comparison.Budget` fields its runs follow (the
            ``epochs``, ``fine_tune_epochs`` and ``depth`` columns are 0 for the others).
    """

    name: str
    label: str
    color: str
    run: Callable
    network: str = "backbone"
    uses_features: bool = False
    default: bool = True
    description: str = ""
    order: float = 100.0
    budget_fields: tuple[str, ...] = ()

    @validate_params({
        "name": [_TEXT], "label": [_TEXT], "network": [_TEXT],
        "color": [Rule(is_color_like, "a matplotlib colour")],
        "run": [Rule(callable, "a function run(context, data, seed) -> StrategyResult")],
        "uses_features": ["boolean"], "default": ["boolean"],
        "budget_fields": [Rule(
            lambda v: isinstance(v, tuple | list) and all(isinstance(f, str) for f in v),
            "a tuple of Budget field names", tuple,
        )],
    })  # fmt: skip
    def __init__(self, name, label, color, run, network="backbone", uses_features=False,
                 default=True, description="", order=100.0, budget_fields=()):  # fmt: skip
        values = dict(locals())
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, values[field.name])

    def network_name(self, backbone: str) -> str:
        """The network this strategy trains in a comparison on ``backbone``."""
        return backbone if self.network == "backbone" else self.network


@dataclass
class StrategyResult:
    """What one run of a strategy returns to the runner.

    Attributes:
        model: the trained model (the head alone for feature extraction).
        history: per-epoch lists (``loss``, ``accuracy``, ``val_loss``...), every stage in order.
        test_accuracy: accuracy on the test split.
        test_loss: loss on the test split.
        trainable_params: parameters the run trained.
        cost: the :class:`~tlcourse.measure.EmissionsRecord` of everything charged to the run,
            shared work (the pass over the images) included
            (:func:`~tlcourse.measure.combine_records` sums several).
        fine_tune_start: index in ``history`` of the first fine-tuning epoch, or None.
        test_probabilities: ``(n_test, num_classes)`` in ``data.files["test"]`` order, or None.
            The runner writes them to ``predictions.csv`` and takes the row's accuracy from them.
        deployable: ``deployable() -> keras.Model``, the model a user would deploy (images in,
            probabilities out), called right after the run; None when there is none.
        trained_on: ``"cached activations"`` or ``"whole model"``: how the run trained.
    """

    model: Any
    history: dict[str, list[float]]
    test_accuracy: float
    test_loss: float
    trainable_params: int
    cost: EmissionsRecord
    fine_tune_start: int | None = None
    test_probabilities: Any = None
    deployable: Callable[[], Any] | None = None
    trained_on: str = ""


_REGISTRY: dict[str, Strategy] = {}
_NAME = [StrOptions(lambda: list(_REGISTRY))]


@validate_params({"strategy": [Strategy], "replace": ["boolean"]})
def register_strategy(strategy: Strategy, *, replace: bool = False) -> Strategy:
    """Add a strategy to the registry and return it (a taken name needs ``replace=True``).

    Example:
        >>> toy = register_strategy(Strategy("toy", "Toy", "#000000", run=print, default=False))
        >>> get_strategy("toy").label
        'Toy'
        >>> _ = unregister_strategy("toy")
    """
    if strategy.name in _REGISTRY and not replace:
        raise invalid_parameter(
            "strategy", "register_strategy", "a Strategy whose name is not registered yet",
            strategy.name, "Pass replace=True to replace it, or choose another name.",
        )  # fmt: skip
    _REGISTRY[strategy.name] = strategy
    return strategy


@validate_params({"name": _NAME})
def unregister_strategy(name: str) -> Strategy:
    """Remove a strategy from the registry and return it (for tests and notebooks)."""
    return _REGISTRY.pop(name)


@validate_params({"name": _NAME})
def get_strategy(name: str) -> Strategy:
    """The record of a registered strategy."""
    return _REGISTRY[name]


def strategy_names(default: bool | None = None) -> tuple[str, ...]:
    """Registered names in table order; ``default=True`` (False) keeps the default (optional)
    ones only.

    Example:
        >>> strategy_names(default=True)
        ('scratch', 'feature_extraction', 'fine_tuning', 'fine_tuning_dlr')
    """
    ordered = sorted(_REGISTRY.values(), key=lambda s: s.order)  # stable: ties keep insertion
    return tuple(s.name for s in ordered if default is None or s.default == default)


def strategy_label(name: str) -> str:
    """The label of a strategy; an unregistered name (an old results file) is shown as is."""
    strategy = _REGISTRY.get(name)
    return strategy.label if strategy else str(name)


def strategy_color(name: str) -> str:
    """The colour of a strategy; an unregistered name gets a stable colour from its name."""
    strategy = _REGISTRY.get(name)
    if strategy is not None:
        return strategy.color
    return _SPARE_COLORS[zlib.crc32(str(name).encode()) % len(_SPARE_COLORS)]


def list_strategies() -> pd.DataFrame:
    """The registered strategies, one row each (indexed by name).

    Example:
        >>> "fine_tuning_dlr" in list_strategies().index
        True
    """
    columns = ["label", "network", "uses_features", "default", "budget_fields", "description"]
    rows = {name: [getattr(_REGISTRY[name], c) for c in columns] for name in strategy_names()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    table["budget_fields"] = table["budget_fields"].map(", ".join)
    return table.rename_axis("name")
