"""The main job: training from scratch vs feature extraction vs fine-tuning, measured.

:func:`compare` runs every strategy of the registry it is asked for (:mod:`tlcourse.strategies`)
on the same splits (one per seed and training-set size), under the same budget
(:class:`~tlcourse.comparison.Budget`), and measures each run the same way (wall time, CPU time,
energy and CO2 through :func:`tlcourse.track`). Results are a pandas DataFrame, one row per run,
written to ``OUT/results.csv`` after every run, with the class each run predicts for every test
image in ``OUT/predictions.csv``, so a run killed midway loses nothing and ``resume=True``
finishes it without duplicates.

What is charged to which run: each run carries its own training and evaluation; the pass of the
pretrained backbone over the images (the features, and the activations at the freeze boundary,
:class:`~tlcourse.boundary.ActivationCache`) is charged to every run that uses it, in full.

``budget`` may be a list of budgets (a sweep): every run once per budget, sharing the pass over
the images. The depth sweep of notebook 04 is ``compare(strategies="fine_tuning",
budget=[Budget(depth=d) for d in (1, 3, 6)])``; each row's ``depth`` column says which.

A run is identified by its strategy, network, data, seed, training-set size, image size, whole
budget, country and distribution (:data:`~tlcourse.comparison.results.KEY_COLUMNS`): ``resume``
skips a run only when ``results.csv`` holds that exact run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import tensorflow as tf

from tlcourse.backbones import list_backbones
from tlcourse.comparison._arguments import (
    check_budget_fields,
    check_budgets,
    check_country,
    check_data,
    check_depth,
    check_sizes,
    check_strategies,
    distribution,
)
from tlcourse.comparison.budget import Budget
from tlcourse.comparison.context import ComparisonContext
from tlcourse.comparison.predictions import (
    PREDICTION_COLUMNS,
    prediction_rows,
)
from tlcourse.comparison.progress import PlanProgress
from tlcourse.comparison.results import (
    ResultsStore,
    image_size_value,
    normalize_results,
)
from tlcourse.deployment import deployment_columns
from tlcourse.errors import (
    InvalidParameterError,
    check_bool,
    check_choice,
    check_image_size,
    check_int_list,
    invalid_parameter,
)
from tlcourse.strategies import Strategy, StrategyResult, get_strategy

__all__ = ["compare"]

_FUNC = "compare"


def _print(message: str) -> None:
    print(message, flush=True)


def compare(
    data: str | os.PathLike = "photos",
    backbone: str = "efficientnet_lite0",
    strategies: Sequence[str] | str | None = None,
    seeds: Sequence[int] | int | str | None = None,
    budget: Budget | Sequence[Budget] | None = None,
    image_size: int | tuple[int, int] | None = None,
    train_per_class: Sequence[int | str | None] | int | str | None = None,
    out: str | os.PathLike | None = "results",
    resume: bool = False,
    overwrite: bool = False,
    fast: bool = False,
    country: str | None = None,
    distribute: str | tf.distribute.Strategy | None = None,
    progress: Callable[[str], None] | None = _print,
    live: bool | None = None,
    return_predictions: bool = False,
    deployment: bool = True,
):
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
        budget: epochs and learning rates (:class:`~tlcourse.comparison.Budget`), or a list of
            budgets (a sweep, e.g. over ``depth``: each run once per budget). Default None:
            ``Budget()``, ``FAST_BUDGET`` with ``fast``.
        image_size: an int or ``(height, width)`` in pixels. Default None: 160, 64 with
            ``fast``.
        train_per_class: training images per class, to measure accuracy against data size:
            an int, a list, a numpy array or a string such as ``"2,5,all"``; ``"all"`` or None
            means every training image. Default None (all).
        out: folder for ``results.csv`` and ``predictions.csv`` (written after every run);
            None keeps results in memory only. Default ``"results"``.
        resume: skip the runs already in ``out/results.csv`` with all their predictions (the
            same run exactly: same budget, country...). Default False.
        overwrite: start again even if ``out/results.csv`` exists. Default False.
        fast: a smoke run: the defaults above become ``FAST_BUDGET``, one seed, 64 pixels.
            Default False.
        country: ISO-3 code for the CO2 estimate (see :func:`tlcourse.track`); None = world mix.
        distribute: None/"default" (one device, the GPU when present), "mirrored"
            (``tf.distribute.MirroredStrategy`` over all local devices) or a strategy object.
        progress: called with one line per run; None for silence. Default ``print``.
        live: a live progress bar for the whole plan (epochs, time left) while it runs; None:
            when ``progress`` is the default and the output is a terminal. Default None.
        return_predictions: also return the predictions table of this comparison's runs
            (:data:`~tlcourse.comparison.predictions.PREDICTION_COLUMNS`, one row per test image
            per run; :func:`~tlcourse.comparison.predictions.read_predictions` reads the file
            back). Default False.
        deployment: measure what each run's model costs to use (``model_mb``, ``latency_ms``,
            ``co2_per_1000_predictions_kg`` and its range: :mod:`tlcourse.deployment`). Measured
            once per network, image size and number of classes in a comparison (a second or
            two each; the runs of feature extraction and fine-tuning deploy the same
            architecture, backbone plus head, and weights change neither size nor time), and
            copied to the rows of its other runs. Default True.

    Returns:
        The rows of this comparison, in plan order (training-set size, seed, budget, strategy),
        one per run, with the :data:`~tlcourse.comparison.results.RESULT_COLUMNS`;
        ``train_per_class`` is NaN for all training images. ``results.csv`` also keeps any other
        rows it held. With ``return_predictions``: ``(results, predictions)``.

    Raises:
        InvalidParameterError: bad arguments, or ``out/results.csv`` exists without
            ``resume``/``overwrite``.

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
    fast = check_bool("fast", fast, _FUNC)
    names = check_strategies(strategies)
    backbone = check_choice("backbone", backbone, list_backbones().index, _FUNC)
    data_id, dataset_name = check_data(data)
    if seeds is None:
        seeds = (0,) if fast else (0, 1, 2)
    seeds = tuple(dict.fromkeys(check_int_list("seeds", seeds, _FUNC, low=0)))
    budgets = check_budgets(budget, fast)
    if image_size is None:
        image_size = 64 if fast else 160
    size = check_image_size("image_size", image_size, _FUNC)
    sizes = check_sizes(train_per_class)
    if out is not None and not isinstance(out, str | os.PathLike):
        raise invalid_parameter("out", _FUNC, "a folder path (str or Path) or None", out)
    resume = check_bool("resume", resume, _FUNC)
    overwrite = check_bool("overwrite", overwrite, _FUNC)
    country = check_country(country)
    strategy, distribute_name = distribution(distribute)
    if progress is not None and not callable(progress):
        raise invalid_parameter("progress", _FUNC, "a function of one str, or None", progress)
    if live is not None:
        live = check_bool("live", live, _FUNC)
    elif progress is not _print:
        live = False  # the caller's own progress function gets the lines, no bar
    return_predictions = check_bool("return_predictions", return_predictions, _FUNC)
    deployment = check_bool("deployment", deployment, _FUNC)

    records = [get_strategy(name, _FUNC, "strategies") for name in names]
    check_budget_fields(records)
    depths = [b.depth for b in budgets if any("depth" in r.budget_fields for r in records)]
    context = ComparisonContext(data, backbone, size, budgets[0], country, strategy, depths=depths)
    for each in budgets:
        check_depth(context, records, each)

    folder = Path(out).expanduser() if out is not None else None
    store = ResultsStore(folder, resume, overwrite)
    common = {
        "dataset": dataset_name,
        "data": data_id,
        "image_size": image_size_value(size),
        "country": country,
        "distribute": distribute_name,
    }
    plan = [
        (seed, n, each, record)
        for n in sizes
        for seed in seeds
        for each in budgets
        for record in records
    ]
    rows, predictions, deployed = [], [], {}
    runs = [(r.name, _expected_epochs(r, b)) for _, _, b, r in plan]
    with PlanProgress(runs, progress, live) as bar:
        context.callbacks = bar.callbacks
        for index, (seed, n, each, record) in enumerate(plan):
            identity = {
                "strategy": record.name,
                "backbone": record.network_name(backbone),
                "train_per_class": float("nan") if n is None else n,
                "seed": seed,
                **common,
                "budget": json.dumps(each.get_config()),
            }
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
    if not return_predictions:
        return table
    return table, _joined(predictions)


def _joined(tables) -> pd.DataFrame:
    """The predictions tables of several runs as one (with its columns even when empty)."""
    frames = [t for t in tables if len(t)]
    if not frames:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def _expected_epochs(record: Strategy, budget: Budget) -> int:
    fields = record.budget_fields
    epochs = budget.epochs if "epochs" in fields else 0
    return epochs + (budget.fine_tune_epochs if "fine_tune_epochs" in fields else 0)


def _deployment_columns(result: StrategyResult, data, identity: dict, measured: dict) -> dict:
    """The deployment-cost columns of a run: model size, CPU latency, CO2 per prediction.

    ``result.deployable()`` is the model a user would deploy (images in, probabilities out;
    valid until the next run starts). Its architecture, not its weights, sets the three numbers,
    so ``measured`` keeps them per network, image size and number of classes: one measurement
    per architecture and comparison, its timed calls going on for at least a quarter of a second
    and 20 calls (about 20 for the backbone, 150 for the small CNN; the machine's load moves the
    median more than the number of calls does: 12.5-17 ms for the backbone over a dozen default
    comparisons on 2 cores). A strategy without a deployable model gets no columns.
    """
    if result.deployable is None:
        return {}
    key = (identity["backbone"], identity["image_size"], data.num_classes, identity["country"])
    if key not in measured:
        model = result.deployable()
        measured[key] = deployment_columns(
            model, model.input_shape[1:3], country=identity["country"], seconds=0.25
        )
    return dict(measured[key])


def _row(identity: dict, record: Strategy, budget: Budget, data, result) -> tuple[dict, object]:
    """The results row of a run and its predictions table."""
    if not isinstance(result, StrategyResult):
        raise InvalidParameterError(
            f"The run function of strategy {record.name!r} must return a StrategyResult. "
            f"Got {type(result).__name__} instead."
        )
    accuracy = float(result.test_accuracy)
    predictions = pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    if result.test_probabilities is not None:
        predictions = prediction_rows(identity, data, result.test_probabilities)
        if len(predictions):
            # The row's accuracy IS the mean of its predictions: the two files always agree.
            accuracy = float((predictions["true"] == predictions["predicted"]).mean())
    uses = set(record.budget_fields)  # the columns say what the strategy followed
    row = {
        **identity,
        "train_images": int(len(data.files["train"])),
        "epochs": budget.epochs if "epochs" in uses else 0,
        "fine_tune_epochs": budget.fine_tune_epochs if "fine_tune_epochs" in uses else 0,
        "depth": budget.depth if "depth" in uses else 0,
        "test_accuracy": accuracy,
        "test_loss": float(result.test_loss),
        "test_predictions": len(predictions),
        "trainable_params": int(result.trainable_params),
        **result.cost.columns(),
        "fine_tune_start": (
            float("nan") if result.fine_tune_start is None else result.fine_tune_start
        ),
        "history": json.dumps(result.history),
        "trained_on": result.trained_on,
    }
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
