"""The strategy registry: one record per way of training a classifier, timm-style.

A :class:`Strategy` holds everything the rest of tlcourse needs to know about a strategy: its
name, the label and colour every figure uses, which network it trains, whether it trains on
cached features, and the function that runs it. The comparison runner, the figures, the CLI and
the README's table read this registry; adding a strategy is one module that calls
:func:`register_strategy`, plus its test.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.colors import is_color_like

from tlcourse.errors import (
    check_bool,
    check_choice,
    check_real,
    invalid_parameter,
)

__all__ = [
    "Strategy",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "strategy_color",
    "strategy_label",
    "strategy_names",
    "unregister_strategy",
]

# Colours for strategies registered without one: picked from the name, so a strategy has the
# same colour in every figure and every run (Okabe-Ito hues not used by the built-in four).
_SPARE_COLORS = ("#CC79A7", "#D55E00", "#56B4E9", "#8C564B", "#000000")


@dataclass(frozen=True)
class Strategy:
    """Everything about one strategy.

    Attributes:
        name: registry key, as in ``compare(strategies=...)`` and the ``strategy`` column.
        label: what figures and tables call it ("Feature extraction").
        color: matplotlib colour used for it in every figure.
        run: ``run(context, data, seed) -> StrategyResult``, what the comparison runner calls
            for one run (see :mod:`tlcourse.strategies`).
        network: ``"backbone"`` when it trains (part of) the comparison's backbone, else the
            name of the network it trains (``"small_cnn"``); the ``backbone`` column of the
            results. Defaults to ``"backbone"``.
        uses_features: True when it trains on the backbone's cached features (or starts from
            the head trained on them). Defaults to False.
        default: part of the default comparison (``compare()`` without ``strategies``).
            Defaults to True.
        description: one sentence for ``list_strategies()`` and the README. Defaults to "".
        order: position in tables and legends (smaller first; ties keep registration order).
            Defaults to 100.
        budget_fields: the :class:`~tlcourse.comparison.Budget` fields its runs follow, e.g.
            ``("epochs", "head_lr", "batch_size")``. The results' ``fine_tune_epochs`` and
            ``depth`` columns hold the budget's values for a strategy that lists them, 0
            otherwise. Defaults to ().
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

    def __post_init__(self):
        for param in ("name", "label", "color", "network"):
            value = getattr(self, param)
            if not isinstance(value, str) or not value.strip():
                raise invalid_parameter(param, "Strategy", "a non-empty str", value)
        if not callable(self.run):
            raise invalid_parameter(
                "run", "Strategy", "a function run(context, data, seed) -> StrategyResult",
                self.run,
            )  # fmt: skip
        if not is_color_like(self.color):
            raise invalid_parameter("color", "Strategy", "a matplotlib colour", self.color)
        check_bool("uses_features", self.uses_features, "Strategy")
        check_bool("default", self.default, "Strategy")
        check_real("order", self.order, "Strategy")
        fields = self.budget_fields
        if isinstance(fields, str) or not all(isinstance(f, str) for f in fields):
            raise invalid_parameter(
                "budget_fields", "Strategy", "a tuple of Budget field names", fields
            )
        object.__setattr__(self, "budget_fields", tuple(fields))

    def network_name(self, backbone: str) -> str:
        """The network this strategy trains in a comparison on ``backbone``.

        Example:
            >>> get_strategy("scratch").network_name("efficientnet_lite0")
            'small_cnn'
        """
        return backbone if self.network == "backbone" else self.network


_REGISTRY: dict[str, Strategy] = {}


def register_strategy(strategy: Strategy, *, replace: bool = False) -> Strategy:
    """Add a strategy to the registry.

    Args:
        strategy: the record.
        replace: allow replacing a registered strategy of the same name. Defaults to False.

    Returns:
        ``strategy``, so a module can write ``LINEAR_PROBE = register_strategy(Strategy(...))``.

    Raises:
        InvalidParameterError: not a :class:`Strategy`, or the name is taken.

    Example:
        >>> toy = register_strategy(Strategy("toy", "Toy", "#000000", run=print, default=False))
        >>> get_strategy("toy").label
        'Toy'
        >>> _ = unregister_strategy("toy")
    """
    check_bool("replace", replace, "register_strategy")
    if not isinstance(strategy, Strategy):
        raise invalid_parameter("strategy", "register_strategy", "a tlcourse Strategy", strategy)
    if strategy.name in _REGISTRY and not replace:
        raise invalid_parameter(
            "strategy",
            "register_strategy",
            "a Strategy whose name is not registered yet",
            strategy.name,
            "Pass replace=True to replace it, or choose another name.",
        )
    _REGISTRY[strategy.name] = strategy
    return strategy


def unregister_strategy(name: str) -> Strategy:
    """Remove a strategy from the registry and return it (for tests and notebooks).

    Args:
        name: a registered name.

    Returns:
        The removed :class:`Strategy`.

    Raises:
        InvalidParameterError: ``name`` is not registered.

    Example:
        >>> toy = register_strategy(Strategy("toy", "Toy", "#000000", run=print, default=False))
        >>> unregister_strategy("toy") is toy, "toy" in strategy_names()
        (True, False)
    """
    check_choice("name", name, list(_REGISTRY), "unregister_strategy")
    return _REGISTRY.pop(name)


def get_strategy(name: str, func: str = "get_strategy", param: str = "name") -> Strategy:
    """Return the record of ``name``, or raise naming the registered strategies.

    Args:
        name: a registered name.
        func: the public function to name in the error. Defaults to ``"get_strategy"``.
        param: the parameter to name in the error. Defaults to ``"name"``.

    Returns:
        The :class:`Strategy`.

    Raises:
        InvalidParameterError: ``name`` is not registered (close names are suggested).

    Example:
        >>> get_strategy("feature_extraction").uses_features
        True
    """
    check_choice(param, name, list(_REGISTRY), func)
    return _REGISTRY[name]


def strategy_names(default: bool | None = None) -> tuple[str, ...]:
    """Registered names in table order; ``default=True`` keeps the default ones only.

    Args:
        default: True for the default strategies, False for the optional ones, None for all.
            Defaults to None.

    Returns:
        The names, sorted by ``Strategy.order`` (ties keep registration order).

    Example:
        >>> strategy_names(default=True)
        ('scratch', 'feature_extraction', 'fine_tuning', 'fine_tuning_dlr')
    """
    ordered = sorted(_REGISTRY.values(), key=lambda s: s.order)  # stable: ties keep insertion
    return tuple(s.name for s in ordered if default is None or s.default == default)


def strategy_label(name: str) -> str:
    """The label of a strategy; an unregistered name (an old results file) is shown as is.

    Example:
        >>> strategy_label("fine_tuning"), strategy_label("no_such_strategy")
        ('Fine-tuning', 'no_such_strategy')
    """
    strategy = _REGISTRY.get(name)
    return strategy.label if strategy else str(name)


def strategy_color(name: str) -> str:
    """The colour of a strategy; an unregistered name gets a stable colour from its name.

    Example:
        >>> strategy_color("scratch"), strategy_color("x") == strategy_color("x")
        ('#7F7F7F', True)
    """
    strategy = _REGISTRY.get(name)
    if strategy is not None:
        return strategy.color
    return _SPARE_COLORS[zlib.crc32(str(name).encode()) % len(_SPARE_COLORS)]


def list_strategies() -> pd.DataFrame:
    """List the registered strategies, one row each.

    Returns:
        DataFrame indexed by name with columns ``label``, ``network``, ``uses_features``,
        ``default``, ``budget_fields`` (comma-separated) and ``description``.

    Example:
        >>> "fine_tuning_dlr" in list_strategies().index
        True
    """
    rows = [
        {
            "name": (s := _REGISTRY[name]).name,
            "label": s.label,
            "network": s.network,
            "uses_features": s.uses_features,
            "default": s.default,
            "budget_fields": ", ".join(s.budget_fields),
            "description": s.description,
        }
        for name in strategy_names()
    ]
    columns = ["name", "label", "network", "uses_features", "default", "budget_fields"]
    columns.append("description")
    return pd.DataFrame(rows, columns=columns).set_index("name")
