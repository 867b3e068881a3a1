"""The main job: training from scratch vs feature extraction vs fine-tuning, measured.

:func:`compare` runs every strategy of the registry it is asked for (:mod:`tlcourse.strategies`)
on the same splits (one per seed and training-set size), under the same budget
(:class:`~tlcourse.comparison.Budget`), and measures each run the same way (wall time, CPU time,
energy and CO2 through :func:`tlcourse.track`). Results are a pandas DataFrame, one row per run,
written to ``OUT/results.csv`` after every run, so a run killed midway loses nothing and
``resume=True`` finishes it without duplicates.

The budget rules, as the built-in strategies apply them:

- ``scratch`` (and the optional ``scratch_backbone``): ``epochs`` epochs end to end, Adam at
  ``head_lr``.
- ``feature_extraction``: the frozen backbone runs once over every image, with its pristine
  pretrained weights; a head trains on the cached features for ``epochs`` epochs at ``head_lr``.
- ``fine_tuning`` / ``fine_tuning_dlr``: that same head (trained once per split), then the last
  ``depth`` blocks unfrozen for ``fine_tune_epochs`` epochs at ``fine_tune_lr`` (with
  differential rates, each earlier block ``factor`` times slower).

What is charged to which run: each run carries its own training and evaluation; the one-time
feature pass (every pass of the comparison so far) is charged to every run that uses the
features, and the shared head's training to feature extraction and to both fine-tuning runs.

A run is identified by its strategy, network, data, seed, training-set size, image size, whole
budget, country and distribution (:data:`~tlcourse.comparison.results.KEY_COLUMNS`): ``resume``
skips a run only when ``results.csv`` holds that exact run.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.backbones import backbone_blocks, list_backbones
from tlcourse.comparison.budget import FAST_BUDGET, Budget
from tlcourse.comparison.context import ComparisonContext
from tlcourse.comparison.results import (
    RESULTS_FILE,
    image_size_value,
    normalize_results,
    read_results,
    run_key,
    write_results,
)
from tlcourse.data import list_datasets
from tlcourse.errors import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_image_size,
    check_int_list,
    invalid_parameter,
)
from tlcourse.strategies import Strategy, StrategyResult, get_strategy, strategy_names
from tlcourse.tracking import track

__all__ = ["compare"]

_FUNC = "compare"


def _print(message: str) -> None:
    print(message, flush=True)


def compare(
    data: str | os.PathLike = "photos",
    backbone: str = "efficientnet_lite0",
    strategies: Sequence[str] | str | None = None,
    seeds: Sequence[int] | int | str | None = None,
    budget: Budget | None = None,
    image_size: int | tuple[int, int] | None = None,
    train_per_class: Sequence[int | str | None] | int | str | None = None,
    out: str | os.PathLike | None = "results",
    resume: bool = False,
    overwrite: bool = False,
    fast: bool = False,
    country: str | None = None,
    distribute: str | tf.distribute.Strategy | None = None,
    progress: Callable[[str], None] | None = _print,
) -> pd.DataFrame:
    """Run every strategy on every seed (and training-set size) and measure each run.

    Args:
        data: ``"photos"`` (shipped, offline), a dataset name from
            :func:`tlcourse.list_datasets`, or a folder of class subfolders. Default "photos".
        backbone: registry name of the pretrained network. Default ``"efficientnet_lite0"``.
        strategies: registered names (:func:`tlcourse.strategies.strategy_names`), a list or a
            comma-separated string. Default None: the default ones (``tlcourse.STRATEGIES``).
        seeds: the seeds, as ints, a list, a numpy array or a string ``"0,1,2"``; each gives
            its own split, initialisation and shuffling. Default None: ``(0, 1, 2)``, ``(0,)``
            with ``fast``. Always look at the spread, never at one run.
        budget: epochs and learning rates (:class:`~tlcourse.comparison.Budget`). Default None:
            ``Budget()``, ``FAST_BUDGET`` with ``fast``.
        image_size: an int or ``(height, width)`` in pixels. Default None: 160, 64 with
            ``fast``.
        train_per_class: training images per class, to measure accuracy against data size:
            an int, a list, a numpy array or a string such as ``"2,5,all"``; ``"all"`` or None
            means every training image. Default None (all).
        out: folder for ``results.csv`` (written after every run); None keeps results in
            memory only. Default ``"results"``.
        resume: skip the runs already in ``out/results.csv`` (the same run exactly: same
            budget, country...). Default False.
        overwrite: start again even if ``out/results.csv`` exists. Default False.
        fast: a smoke run: the defaults above become ``FAST_BUDGET``, one seed, 64 pixels.
            Default False.
        country: ISO-3 code for the CO2 estimate (see :func:`tlcourse.track`); None = world mix.
        distribute: None/"default" (one device, the GPU when present), "mirrored"
            (``tf.distribute.MirroredStrategy`` over all local devices) or a strategy object.
        progress: called with one line per run; None for silence. Default ``print``.

    Returns:
        The rows of this comparison, in plan order (training-set size, seed, strategy), one per
        run, with the :data:`~tlcourse.comparison.results.RESULT_COLUMNS`; ``train_per_class``
        is NaN for all training images. ``results.csv`` also keeps any other rows it held.

    Raises:
        InvalidParameterError: bad arguments, or ``out/results.csv`` exists without
            ``resume``/``overwrite``.

    Example:
        >>> table = compare(strategies="scratch,feature_extraction", fast=True, image_size=32,
        ...                 out=None, progress=None)
        >>> table[["strategy", "seed", "backbone"]].values.tolist()
        [['scratch', 0, 'small_cnn'], ['feature_extraction', 0, 'efficientnet_lite0']]
    """
    fast = check_bool("fast", fast, _FUNC)
    names = _check_strategies(strategies)
    backbone = check_choice("backbone", backbone, list_backbones().index, _FUNC)
    data_id, dataset_name = _check_data(data)
    if seeds is None:
        seeds = (0,) if fast else (0, 1, 2)
    seeds = tuple(dict.fromkeys(check_int_list("seeds", seeds, _FUNC, low=0)))
    if budget is None:
        budget = FAST_BUDGET if fast else Budget()
    if not isinstance(budget, Budget):
        raise invalid_parameter("budget", _FUNC, "a tlcourse.Budget or None", budget)
    if image_size is None:
        image_size = 64 if fast else 160
    size = check_image_size("image_size", image_size, _FUNC)
    sizes = _check_sizes(train_per_class)
    if out is not None and not isinstance(out, str | os.PathLike):
        raise invalid_parameter("out", _FUNC, "a folder path (str or Path) or None", out)
    resume = check_bool("resume", resume, _FUNC)
    overwrite = check_bool("overwrite", overwrite, _FUNC)
    country = _check_country(country)
    distribution, distribute_name = _distribution(distribute)
    if progress is not None and not callable(progress):
        raise invalid_parameter("progress", _FUNC, "a function of one str, or None", progress)
    say = progress or (lambda _: None)

    records = [get_strategy(name, _FUNC, "strategies") for name in names]
    _check_budget_fields(records)
    context = ComparisonContext(data, backbone, size, budget, country, distribution)
    _check_depth(context, records, budget)

    path = Path(out).expanduser() / RESULTS_FILE if out is not None else None
    previous = _previous(path, resume, overwrite)
    done = {}
    for row in previous.to_dict("records"):
        key = run_key(row)
        if key is not None:
            done[key] = row
    common = {
        "dataset": dataset_name,
        "data": data_id,
        "image_size": image_size_value(size),
        "budget": json.dumps(budget.get_config()),
        "country": country,
        "distribute": distribute_name,
    }
    plan = [(seed, n, record) for n in sizes for seed in seeds for record in records]
    rows, new_rows = [], []
    for index, (seed, n, record) in enumerate(plan, start=1):
        identity = {
            "strategy": record.name,
            "backbone": record.network_name(backbone),
            "train_per_class": float("nan") if n is None else n,
            "seed": seed,
            **common,
        }
        key = run_key(identity)
        if key in done:
            say(f"[{index}/{len(plan)}] {record.name} seed={seed}: already in {path}, skipped")
            rows.append(done[key])
            continue
        data_split = context.dataset(seed, n)
        result = record.run(context, data_split, seed)
        row = _row(identity, record, budget, data_split, result)
        rows.append(row)
        new_rows.append(row)
        done[key] = row
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # only once there is a result
            table = pd.DataFrame(new_rows)
            if not previous.empty:
                table = pd.concat([previous, table], ignore_index=True)
            write_results(table, path)
        say(f"[{index}/{len(plan)}] {_describe(row)}")
    return normalize_results(pd.DataFrame(rows))


def _row(identity: dict, record: Strategy, budget: Budget, data, result) -> dict:
    if not isinstance(result, StrategyResult):
        raise InvalidParameterError(
            f"The run function of strategy {record.name!r} must return a StrategyResult. "
            f"Got {type(result).__name__} instead."
        )
    uses = set(record.budget_fields)  # the columns say what the strategy followed
    return {
        **identity,
        "train_images": int(len(data.files["train"])),
        "epochs": budget.epochs if "epochs" in uses else 0,
        "fine_tune_epochs": budget.fine_tune_epochs if "fine_tune_epochs" in uses else 0,
        "depth": budget.depth if "depth" in uses else 0,
        "test_accuracy": float(result.test_accuracy),
        "test_loss": float(result.test_loss),
        "trainable_params": int(result.trainable_params),
        **result.cost.columns(),
        "fine_tune_start": (
            float("nan") if result.fine_tune_start is None else result.fine_tune_start
        ),
        "history": json.dumps(result.history),
    }


def _describe(row: dict) -> str:
    size = row["train_per_class"]
    size = "" if size is None or math.isnan(size) else f" n/class={int(size)}"
    co2 = row["co2_kg"]
    co2_text = "CO2 not measured" if co2 != co2 else f"{co2 * 1000:.3f} g CO2"
    return (
        f"{row['strategy']:<18} seed={row['seed']}{size}: test accuracy "
        f"{row['test_accuracy']:.1%}, {row['wall_seconds']:.1f} s, {co2_text}"
    )


# ---------------------------------------------------------------------------------------------
# Checking the arguments (each error names compare and the parameter)


def _check_strategies(strategies) -> tuple[str, ...]:
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


def _check_sizes(train_per_class) -> tuple:
    value = train_per_class
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return (None,)
    if isinstance(value, list | tuple | range | np.ndarray | pd.Series):
        # NaN is how the results table writes "all": accept a column of it back.
        value = [None if isinstance(v, float) and math.isnan(v) else v for v in list(value)]
    sizes = check_int_list("train_per_class", value, _FUNC, low=1, extra=("all", None))
    return tuple(dict.fromkeys(None if s == "all" else s for s in sizes))


def _check_data(data) -> tuple[str, str]:
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


def _check_country(country) -> str | None:
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


def _distribution(distribute) -> tuple[tf.distribute.Strategy, str]:
    if isinstance(distribute, tf.distribute.Strategy):
        name = f"{type(distribute).__name__}({distribute.num_replicas_in_sync} replicas)"
        return distribute, name
    if distribute is None:
        distribute = "default"
    check_choice("distribute", distribute, ["default", "mirrored"], _FUNC)
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy(), distribute
    return tf.distribute.get_strategy(), distribute


def _check_budget_fields(records: list[Strategy]) -> None:
    fields = {f.name for f in dataclasses.fields(Budget)}
    for record in records:
        unknown = sorted(set(record.budget_fields) - fields)
        if unknown:
            raise invalid_parameter(
                "strategies", _FUNC, f"strategies whose budget_fields are among {sorted(fields)}",
                record.name, f"Strategy {record.name!r} lists {unknown}.",
            )  # fmt: skip


def _check_depth(context: ComparisonContext, records: list[Strategy], budget: Budget) -> None:
    if budget.depth == "all" or not any("depth" in r.budget_fields for r in records):
        return
    blocks = len(backbone_blocks(context.pretrained_backbone()))
    if budget.depth > blocks:
        raise invalid_parameter(
            "budget", _FUNC, f"a Budget whose depth is in [0, {blocks}] or 'all' for backbone "
            f"{context.backbone!r} ({blocks} blocks)", budget,
        )  # fmt: skip


def _previous(path: Path | None, resume: bool, overwrite: bool) -> pd.DataFrame:
    if path is None or not path.exists() or (overwrite and not resume):
        return pd.DataFrame()
    if resume:
        return read_results(path)
    raise invalid_parameter(
        "out", _FUNC, "a folder without a results.csv, unless resuming or overwriting",
        str(path.parent), f"{path} already exists. Pass resume=True (--resume) to finish that "
        "comparison, or overwrite=True (--overwrite) to start again, or choose another output "
        "folder (--out).",
    )  # fmt: skip
