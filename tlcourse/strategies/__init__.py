"""Strategies: how a classifier is trained (from scratch, feature extraction, fine-tuning...).

One module per strategy, each registering a :class:`~tlcourse.strategies.registry.Strategy`
when imported. Every module of this package is imported here, so adding a strategy is adding a
module (and its test); ``Strategy.order`` places it in tables and legends.
"""

import importlib
import pkgutil

from tlcourse.strategies.registry import (
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_color,
    strategy_label,
    strategy_names,
    unregister_strategy,
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

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "registry" and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
