"""The main job: training from scratch vs feature extraction vs fine-tuning, measured.

:func:`compare` runs the registered strategies on the same splits (one per seed and training-set
size), under the same budget, and measures each run the same way (:func:`tlcourse.track`). Each run
is charged its own training and evaluation, plus the pass of the pretrained backbone over the images
(:class:`~tlcourse.transfer.boundary.ActivationCache`) when it relies on it. A run is identified by
:data:`~tlcourse.comparison.results.KEY_COLUMNS`."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.comparison.budget import FAST_BUDGET, Budget
from tlcourse.comparison.context import ComparisonContext
from tlcourse.comparison.predictions import PREDICTION_COLUMNS, prediction_rows
from tlcourse.comparison.progress import PlanProgress
from tlcourse.comparison.results import ResultsStore, _missing, image_size_value, normalize_results
from tlcourse.comparison.strategies import Strategy, StrategyResult, get_strategy, strategy_names
from tlcourse.data.sources import DATASET
from tlcourse.errors import invalid_parameter
from tlcourse.measure import COUNTRY, co2_columns
from tlcourse.measure.deployment import deployment_columns
from tlcourse.models.backbones import backbone_blocks
from tlcourse.models.backbones.registry import BACKBONE
from tlcourse.validation import IMAGE_SIZE, Rule, StrOptions, int_list, validate_params

__all__ = ["compare"]


def _print(message: str) -> None:
    print(message, flush=True)


def _names(value) -> list:
    return [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value


def _close_strategy(value) -> str:
    names = _names(value) if isinstance(value, str | list | tuple) else []
    unknown = [n for n in names if isinstance(n, str) and n not in strategy_names()]
    return StrOptions(strategy_names).hint(unknown[0]) if unknown else ""


_STRATEGIES = Rule(
    lambda v: isinstance(v, str | list | tuple) and bool(_names(v))
    and all(isinstance(n, str) and n in strategy_names() for n in _names(v)),
    "at least one registered strategy name, as a list or a comma-separated string",
    lambda v: tuple(dict.fromkeys(_names(v))), hint=_close_strategy)  # fmt: skip


def _folder(value) -> bool:
    return isinstance(value, str | os.PathLike) and Path(value).expanduser().is_dir()


def _sizes(value):
    """Sizes as a list: NaN (how results.csv writes "all") read back as "all"."""
    if isinstance(value, np.ndarray | pd.Series):
        value = list(value)
    if isinstance(value, list | tuple):
        return ["all" if _missing(v) else v for v in value]
    return value


_SIZE_LIST = int_list(1, ["all"])
_SIZES = Rule(lambda v: _SIZE_LIST.accepts(_sizes(v)), str(_SIZE_LIST), lambda v: tuple(
    dict.fromkeys(None if s == "all" else s for s in _SIZE_LIST.convert(_sizes(v)))))  # fmt: skip
_BUDGETS = Rule(
    lambda v: isinstance(v, list | tuple) and bool(v) and all(isinstance(b, Budget) for b in v),
    "a non-empty list of them (a sweep)",
)


@validate_params({
    "data": [DATASET, Rule(_folder, "an existing folder of class subfolders")],
    "backbone": [BACKBONE], "strategies": [None, _STRATEGIES], "seeds": [None, int_list(0)],
    "budget": [None, Budget, _BUDGETS], "image_size": [None, IMAGE_SIZE],
    "train_per_class": [None, _SIZES], "out": [None, str, os.PathLike], "resume": ["boolean"],
    "overwrite": ["boolean"], "fast": ["boolean"], "country": [None, COUNTRY],
    "distribute": [None, StrOptions(["default", "mirrored"]), tf.distribute.Strategy],
    "progress": [None, "callable"], "live": [None, "boolean"], "return_predictions": ["boolean"],
    "deployment": ["boolean"]})  # fmt: skip
def compare(data: str | os.PathLike = "photos", backbone: str = "efficientnet_lite0",
            strategies: Sequence[str] | str | None = None,
            seeds: Sequence[int] | int | str | None = None,
            budget: Budget | Sequence[Budget] | None = None,
            image_size: int | tuple[int, int] | None = None,
            train_per_class: Sequence[int | str | None] | int | str | None = None,
            out: str | os.PathLike | None = "results", resume: bool = False,
            overwrite: bool = False, fast: bool = False, country: str | None = None,
            distribute: str | tf.distribute.Strategy | None = None,
            progress: Callable[[str], None] | None = _print, live: bool | None = None,
            return_predictions: bool = False, deployment: bool = True):  # fmt: skip
    """Run every strategy on every seed (and training-set size) and measure each run.

    Args:
        data: ``"photos"`` (shipped, offline), a name from :func:`tlcourse.list_datasets`, or
            a folder of class subfolders.
        backbone: registry name of the pretrained network.
        strategies: registered names, a list or ``"a,b"``; None: ``tlcourse.STRATEGIES``.
        seeds: ints, a list or ``"0,1,2"``; each gives its own split, initialisation and
            shuffling. None: ``(0, 1, 2)``, ``(0,)`` with ``fast``.
        budget: a :class:`~tlcourse.comparison.Budget`, or a list of them (a sweep, e.g. over
            ``depth``). None: ``Budget()``, ``FAST_BUDGET`` with ``fast``.
        image_size: an int or ``(height, width)``. None: 160, 64 with ``fast``.
        train_per_class: training images per class (an int, a list or ``"2,5,all"``); None: all.
        out: folder for ``results.csv`` and ``predictions.csv``, written after every run (a
            killed comparison loses no finished run); None keeps results in memory.
        resume: skip the runs already in ``out`` (the same run exactly: budget, country...).
        overwrite: start again even if ``out/results.csv`` exists.
        fast: a smoke run: ``FAST_BUDGET``, one seed, 64 pixels.
        country: ISO-3 code for the CO2 estimate (see :func:`tlcourse.track`); None: world mix.
        distribute: None/"default" (one device), "mirrored" or a ``tf.distribute.Strategy``.
        progress: called with one line per run; None for silence.
        live: a live progress bar; None: when ``progress`` is the default, on a terminal.
        return_predictions: also return the predictions table (one row per test image per run).
        deployment: measure what each run's model costs to use (``model_mb``, ``latency_ms``,
            ``co2_per_1000_predictions_kg``), once per architecture.

    Returns:
        The rows of this comparison (one per run, in plan order: training-set size, seed,
        budget, strategy); ``results.csv`` also keeps the other rows it held. With
        ``return_predictions``: ``(results, predictions)``.

    Example:
        >>> table = compare(strategies="scratch,feature_extraction", fast=True, image_size=32,
        ...                 out=None, progress=None)
        >>> table[["strategy", "seed", "backbone"]].values.tolist()
        [['scratch', 0, 'small_cnn'], ['feature_extraction', 0, 'efficientnet_lite0']]
        >>> table, predictions = compare(strategies="feature_extraction", fast=True,
        ...     image_size=32, out=None, progress=None, return_predictions=True)
        >>> accuracy = (predictions["true"] == predictions["predicted"]).mean()
        >>> bool(accuracy == table["test_accuracy"].item()), len(predictions)
        (True, 46)
    """
    records = [get_strategy(name) for name in strategies or strategy_names(default=True)]
    seeds = tuple(dict.fromkeys(seeds or ((0,) if fast else (0, 1, 2))))
    budgets = (budget,) if isinstance(budget, Budget) else tuple(dict.fromkeys(budget or ()))
    budgets = budgets or (FAST_BUDGET if fast else Budget(),)
    size = image_size or ((64, 64) if fast else (160, 160))
    sizes = train_per_class or (None,)
    if live is None and progress is not _print:
        live = False  # the caller's own progress function gets the lines, no bar
    if isinstance(distribute, tf.distribute.Strategy):
        name = f"{type(distribute).__name__}({distribute.num_replicas_in_sync} replicas)"
    else:
        name = distribute or "default"
        distribute = tf.distribute.MirroredStrategy() if name == "mirrored" else None
    depths = [b.depth for b in budgets if any("depth" in r.budget_fields for r in records)]
    context = ComparisonContext(data, backbone, size, budgets[0], country, distribute,
                                depths=depths)  # fmt: skip
    if depths:
        blocks = len(backbone_blocks(context.pretrained_backbone()))
        for each in budgets:
            if each.depth != "all" and each.depth > blocks:
                rule = f"a Budget whose depth is in [0, {blocks}] or 'all' for backbone "
                rule += f"{backbone!r} ({blocks} blocks)"
                raise invalid_parameter("budget", "compare", rule, each)
    # A known dataset by its name; a folder by its absolute path (its name for display).
    folder = None if DATASET.accepts(data) else Path(data).expanduser().resolve()
    common = {"dataset": folder.name if folder else data, "data": str(folder) if folder else data,
              "image_size": image_size_value(size), "country": country,
              "distribute": name}  # fmt: skip
    store = ResultsStore(None if out is None else Path(out).expanduser(), resume, overwrite)
    plan = [(seed, n, b, r) for n in sizes for seed in seeds for b in budgets for r in records]
    rows, predictions, deployed = [], [], {}
    runs = [(r.name, _expected_epochs(r, b)) for _, _, b, r in plan]
    with PlanProgress(runs, progress, live) as bar:
        context.callbacks = bar.callbacks
        for index, (seed, n, each, record) in enumerate(plan):
            identity = {"strategy": record.name, "backbone": record.network_name(backbone),
                        "train_per_class": float("nan") if n is None else n, "seed": seed,
                        **common, "budget": json.dumps(each.get_config())}  # fmt: skip
            where = f"[{index + 1}/{len(plan)}]"
            bar.start(index, f"{record.name} seed={seed}")
            found = store.find(identity)
            if found is not None:
                bar.skip(f"{where} {record.name} seed={seed}: already in {store.results}, skipped")
                rows.append(found[0])
                predictions.append(found[1])
                continue
            context.budget = each
            data_split = context.dataset(seed, n)
            result = record.run(context, data_split, seed)
            row, run_predictions = _row(identity, record, each, data_split, result)
            if deployment:
                row.update(_deployment_columns(result, data_split, identity, deployed))
            store.add(row, run_predictions)
            rows.append(row)
            predictions.append(run_predictions)
            bar.finish(f"{where} {_describe(row)}")
    store.close()
    table = normalize_results(pd.DataFrame(rows))
    return (table, _joined(predictions)) if return_predictions else table


def _joined(tables) -> pd.DataFrame:
    """The predictions tables of several runs as one (with its columns even when empty)."""
    frames = [t for t in tables if len(t)]
    empty = pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    return pd.concat(frames, ignore_index=True) if frames else empty


def _expected_epochs(record: Strategy, budget: Budget) -> int:
    fields = record.budget_fields
    epochs = budget.epochs if "epochs" in fields else 0
    return epochs + (budget.fine_tune_epochs if "fine_tune_epochs" in fields else 0)


def _deployment_columns(result: StrategyResult, data, identity: dict, measured: dict) -> dict:
    """Model size, CPU latency and CO2 per prediction of the model the run would deploy,
    measured once per architecture (``measured``: per network, image size, classes)."""
    if result.deployable is None:
        return {}
    key = (identity["backbone"], identity["image_size"], data.num_classes, identity["country"])
    if key not in measured:
        model = result.deployable()
        size, country = model.input_shape[1:3], identity["country"]
        measured[key] = deployment_columns(model, size, country=country, seconds=0.25)
    return dict(measured[key])


def _row(identity: dict, record: Strategy, budget: Budget, data, result) -> tuple[dict, object]:
    """The results row of a run and its predictions table."""
    accuracy, nan = float(result.test_accuracy), float("nan")
    predictions = pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    if result.test_probabilities is not None:
        predictions = prediction_rows(identity, data, result.test_probabilities)
        if len(predictions):
            # The row's accuracy IS the mean of its predictions: the two files always agree.
            accuracy = float((predictions["true"] == predictions["predicted"]).mean())
    fields = ("epochs", "fine_tune_epochs", "depth")  # the columns say what the strategy followed
    followed = {f: getattr(budget, f) if f in record.budget_fields else 0 for f in fields}
    cost = result.cost
    row = {**identity, "train_images": int(len(data.files["train"])), **followed,
           "test_accuracy": accuracy, "test_loss": float(result.test_loss),
           "test_predictions": len(predictions), "trainable_params": int(result.trainable_params),
           "wall_seconds": cost.wall_seconds or 0.0, "cpu_seconds": cost.cpu_seconds or 0.0,
           "energy_kwh": nan if cost.energy_kwh is None else cost.energy_kwh,
           "co2_kg": nan if cost.co2_kg is None else cost.co2_kg, **co2_columns(cost),
           "fine_tune_start": nan if result.fine_tune_start is None else result.fine_tune_start,
           "history": json.dumps(result.history), "trained_on": result.trained_on}  # fmt: skip
    return row, predictions


def _describe(row: dict) -> str:
    size = row["train_per_class"]
    size = "" if size is None or math.isnan(size) else f" n/class={int(size)}"
    co2 = row["co2_kg"]
    co2_text = "CO2 not measured" if co2 != co2 else f"{co2 * 1000:.3f} g CO2"
    return (
        f"{row['strategy']:<18} seed={row['seed']}{size}: test accuracy "
        f"{row['test_accuracy']:.1%}, {row['wall_seconds']:.1f} s, {co2_text}"
    )
