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

from tlcourse.errors import InvalidParameterError, check_choice

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
        run: the function the comparison runner calls for one run (see
            :mod:`tlcourse.strategies` for its signature).
        network: ``"backbone"`` when it trains (part of) the comparison's backbone, else the
            name of the network it trains (``"small_cnn"``); the ``backbone`` column of the
            results.
        uses_features: True when it trains on the backbone's cached features.
        default: part of the default comparison (``compare()`` without ``strategies``).
        description: one sentence for ``list_strategies()`` and the README.
        order: position in tables and legends (smaller first; ties keep registration order).
            Defaults to 100.
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
    """
    if not isinstance(strategy, Strategy):
        raise InvalidParameterError(
            "The 'strategy' parameter of register_strategy must be a tlcourse.Strategy. "
            f"Got {strategy!r} instead."
        )
    if strategy.name in _REGISTRY and not replace:
        raise InvalidParameterError(
            f"A strategy named {strategy.name!r} is already registered; pass replace=True to "
            "replace it, or choose another name."
        )
    _REGISTRY[strategy.name] = strategy
    return strategy


def unregister_strategy(name: str) -> Strategy:
    """Remove a strategy from the registry and return it (for tests and notebooks)."""
    check_choice("name", name, list(_REGISTRY), "unregister_strategy")
    return _REGISTRY.pop(name)


def get_strategy(name: str, func: str = "get_strategy", param: str = "name") -> Strategy:
    """Return the record of ``name``, or raise naming the registered strategies.

    Args:
        name: a registered name.
        func: the public function to name in the error. Defaults to ``"get_strategy"``.
        param: the parameter to name in the error. Defaults to ``"name"``.

    Example:
        >>> get_strategy("feature_extraction").uses_features
        True
    """
    check_choice(param, name, list(_REGISTRY), func)
    return _REGISTRY[name]


def strategy_names(default: bool | None = None) -> tuple[str, ...]:
    """Registered names in registration order; ``default=True`` keeps the default ones only.

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
    """List the registered strategies, one row each.

    Returns:
        DataFrame indexed by name with columns ``label``, ``network``, ``uses_features``,
        ``default`` and ``description``.

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
            "description": s.description,
        }
        for name in strategy_names()
    ]
    columns = ["name", "label", "network", "uses_features", "default", "description"]
    return pd.DataFrame(rows, columns=columns).set_index("name")
