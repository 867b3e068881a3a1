"""Checking the arguments of :func:`tlcourse.compare`: every error names compare and the parameter.

Each function takes what the user passed and returns it normalised, or raises an
:class:`~tlcourse.errors.InvalidParameterError` in the one message template.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.backbones import backbone_blocks
from tlcourse.comparison.budget import FAST_BUDGET, Budget
from tlcourse.data import list_datasets
from tlcourse.errors import (
    InvalidParameterError,
    check_choice,
    check_int_list,
    invalid_parameter,
)
from tlcourse.strategies import Strategy, strategy_names
from tlcourse.tracking import track

__all__ = [
    "check_budget_fields",
    "check_budgets",
    "check_country",
    "check_data",
    "check_depth",
    "check_sizes",
    "check_strategies",
    "distribution",
]

_FUNC = "compare"


def check_strategies(strategies) -> tuple[str, ...]:
    """Registered names from a list or a comma-separated string; None: the default ones."""
    registered = strategy_names()
    if strategies is None:
        return strategy_names(default=True)
    items = strategies
    if isinstance(strategies, str):
        items = [s.strip() for s in strategies.split(",") if s.strip()]
    elif not isinstance(strategies, Sequence) or not all(isinstance(s, str) for s in strategies):
        items = None
    if not items:
        raise invalid_parameter(
            "strategies", _FUNC,
            f"at least one of {list(registered)}, as a list or a comma-separated string",
            strategies,
        )  # fmt: skip
    for name in items:
        check_choice("strategies", name, registered, _FUNC)
    return tuple(dict.fromkeys(items))


def check_sizes(train_per_class) -> tuple:
    """Training-set sizes per class as ints, None for all (\"all\", None or NaN)."""
    value = train_per_class
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return (None,)
    if isinstance(value, list | tuple | range | np.ndarray | pd.Series):
        # NaN is how the results table writes "all": accept a column of it back.
        value = [None if isinstance(v, float) and math.isnan(v) else v for v in list(value)]
    sizes = check_int_list("train_per_class", value, _FUNC, low=1, extra=("all", None))
    return tuple(dict.fromkeys(None if s == "all" else s for s in sizes))


def check_data(data) -> tuple[str, str]:
    """``(what identifies the data, its display name)``: a known name, or a folder's path."""
    names = list(list_datasets().index)
    if isinstance(data, str) and data in names:
        return data, data
    if isinstance(data, str | os.PathLike):
        folder = Path(data).expanduser()
        if folder.is_dir():
            return str(folder.resolve()), folder.resolve().name
    close = difflib.get_close_matches(data, names, n=1) if isinstance(data, str) else []
    raise invalid_parameter(
        "data", _FUNC, f"one of {names} or an existing folder of class subfolders", data,
        f"Did you mean {close[0]!r}?" if close else "",
    )  # fmt: skip


def check_country(country) -> str | None:
    """An ISO-3 code known to codecarbon (upper case), or None."""
    if country is None:
        return None
    try:
        track(_FUNC, country=country)  # only builds the tracker: validates the code
    except InvalidParameterError:
        raise invalid_parameter(
            "country", _FUNC, "a 3-letter ISO 3166-1 alpha-3 code known to codecarbon, such "
            "as 'USA', 'FRA' or 'DEU', or None for the world-average grid", country,
        ) from None  # fmt: skip
    return country.upper()


def distribution(distribute) -> tuple[tf.distribute.Strategy, str]:
    """``(tf.distribute strategy, its name for the results)``."""
    if isinstance(distribute, tf.distribute.Strategy):
        name = f"{type(distribute).__name__}({distribute.num_replicas_in_sync} replicas)"
        return distribute, name
    if distribute is None:
        distribute = "default"
    check_choice("distribute", distribute, ["default", "mirrored"], _FUNC)
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy(), distribute
    return tf.distribute.get_strategy(), distribute


def check_budget_fields(records: list[Strategy]) -> None:
    """Refuse a strategy whose ``budget_fields`` are not Budget fields."""
    fields = {f.name for f in dataclasses.fields(Budget)}
    for record in records:
        unknown = sorted(set(record.budget_fields) - fields)
        if unknown:
            raise invalid_parameter(
                "strategies", _FUNC, f"strategies whose budget_fields are among {sorted(fields)}",
                record.name, f"Strategy {record.name!r} lists {unknown}.",
            )  # fmt: skip


def check_depth(context, records: list[Strategy], budget: Budget) -> None:
    """Refuse a budget depth over the backbone's number of blocks (for strategies using it)."""
    if budget.depth == "all" or not any("depth" in r.budget_fields for r in records):
        return
    blocks = len(backbone_blocks(context.pretrained_backbone()))
    if budget.depth > blocks:
        raise invalid_parameter(
            "budget", _FUNC, f"a Budget whose depth is in [0, {blocks}] or 'all' for backbone "
            f"{context.backbone!r} ({blocks} blocks)", budget,
        )  # fmt: skip


def check_budgets(budget, fast: bool) -> tuple[Budget, ...]:
    """One budget, or several (a sweep), as a tuple; None: ``Budget()`` (``FAST_BUDGET``)."""
    if budget is None:
        return (FAST_BUDGET if fast else Budget(),)
    budgets = [budget] if isinstance(budget, Budget) else budget
    ok = isinstance(budgets, Sequence) and not isinstance(budgets, str) and len(budgets) > 0
    if not ok or not all(isinstance(b, Budget) for b in budgets):
        raise invalid_parameter(
            "budget", _FUNC, "a tlcourse.Budget, a non-empty list of them (a sweep), or None",
            budget,
        )  # fmt: skip
    return tuple(dict.fromkeys(budgets))
