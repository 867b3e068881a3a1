"""The main job: training from scratch vs feature extraction vs fine-tuning, measured.

Every strategy runs on the same splits (one per seed), under the same budget rules
(:class:`Budget`), and is measured the same way (wall time, CPU time, energy and CO2 through
:func:`tlcourse.track`). Results are a pandas DataFrame, one row per run, written to
``OUT/results.csv`` after every run, so a run killed midway loses nothing and ``resume=True``
finishes it without duplicates.

The strategies:

- ``scratch``: :func:`~tlcourse.models.small_cnn` trained end to end for ``epochs``.
- ``scratch_backbone`` (optional): the backbone's architecture with random weights, trained end
  to end for ``epochs``: what its size costs without pretraining.
- ``feature_extraction``: the frozen backbone runs **once** over every image; a head
  (:func:`~tlcourse.models.classification_head`) trains on the cached features for ``epochs``.
  No augmentation: an augmented image would need a new pass through the backbone every epoch,
  which is exactly the cost feature caching removes.
- ``fine_tuning``: that head, then ``set_trainable(depth)`` on the last blocks and
  ``fine_tune_epochs`` more epochs at a low learning rate (Adam ``fine_tune_lr``), with a random
  horizontal flip.
- ``fine_tuning_dlr``: the same with differential learning rates
  (:func:`tlcourse.layerwise_optimizer`, each earlier block ``factor`` times slower).

Training the fine-tuning head on cached features is the same computation as training it on top
of the frozen base without augmentation (BatchNorm frozen, same dropout), only 20x+ faster; its
time, energy and CO2 are charged to both fine-tuning strategies. The one-time feature pass is
charged to every run that uses the features.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from tlcourse.backbones import get_spec, load_backbone
from tlcourse.data import Dataset, load_dataset
from tlcourse.errors import InvalidParameterError, check_choice
from tlcourse.freezing import set_trainable
from tlcourse.models import classification_head, small_cnn, transfer_classifier
from tlcourse.optimizers import layerwise_optimizer
from tlcourse.tracking import track

STRATEGIES = ("scratch", "feature_extraction", "fine_tuning", "fine_tuning_dlr")
OPTIONAL_STRATEGIES = ("scratch_backbone",)
RESULTS_FILE = "results.csv"
KEY_COLUMNS = ("strategy", "backbone", "dataset", "seed", "train_per_class", "epochs", "image_size")


@dataclass(frozen=True)
class Budget:
    """The training budget every strategy follows.

    Attributes:
        epochs: epochs of training from scratch, and of the head on cached features. Default 30.
        fine_tune_epochs: extra epochs with the last ``depth`` blocks unfrozen. Default 5.
        depth: blocks unfrozen for fine-tuning (counted from the output). Default 3.
        head_lr: Adam learning rate of the scratch CNN and of the head. Default 1e-3.
        fine_tune_lr: learning rate of the head during fine-tuning (the unfrozen blocks train at
            this rate, or slower by ``factor`` per block with differential rates). Default 1e-4.
        factor: ratio between consecutive blocks' learning rates (differential). Default 3.0.
        batch_size: images per step. Default 32.
    """

    epochs: int = 30
    fine_tune_epochs: int = 5
    depth: int = 3
    head_lr: float = 1e-3
    fine_tune_lr: float = 1e-4
    factor: float = 3.0
    batch_size: int = 32


FAST_BUDGET = Budget(epochs=3, fine_tune_epochs=1, depth=1)


# ---------------------------------------------------------------------------------------------
# Measurement helpers


@dataclass
class Cost:
    """Time, energy and CO2 of a piece of work (summable)."""

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    energy_kwh: float = 0.0
    co2_kg: float = 0.0
    method: str = ""

    @classmethod
    def of(cls, record) -> Cost:
        nan = float("nan")
        return cls(
            wall_seconds=record.wall_seconds,
            cpu_seconds=record.cpu_seconds,
            energy_kwh=record.energy_kwh if record.energy_kwh is not None else nan,
            co2_kg=record.co2_kg if record.co2_kg is not None else nan,
            method=record.method,
        )

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.wall_seconds + other.wall_seconds,
            self.cpu_seconds + other.cpu_seconds,
            self.energy_kwh + other.energy_kwh,
            self.co2_kg + other.co2_kg,
            self.method or other.method,
        )


def _measured(label: str, country: str | None, work: Callable):
    with track(label, country=country) as record:
        value = work()
    return value, Cost.of(record)


# ---------------------------------------------------------------------------------------------
# Strategies


def _compile(model: keras.Model, optimizer) -> keras.Model:
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _history(*histories: dict) -> dict:
    joined: dict[str, list] = {}
    for history in histories:
        for key, values in history.items():
            joined.setdefault(key, []).extend(float(v) for v in values)
    return joined


def _evaluate(model: keras.Model, inputs) -> tuple[float, float]:
    loss, accuracy = (
        model.evaluate(*inputs, verbose=0)
        if isinstance(inputs, tuple)
        else model.evaluate(inputs, verbose=0)
    )
    return float(accuracy), float(loss)


def _fit(model, train, val, epochs, initial_epoch=0, batch_size=None) -> dict:
    kwargs = (
        {"x": train[0], "y": train[1], "batch_size": batch_size}
        if isinstance(train, tuple)
        else {"x": train}
    )
    # tf.data pipelines are already shuffled per epoch (seeded); arrays are shuffled by fit.
    history = model.fit(
        **kwargs,
        validation_data=val,
        epochs=initial_epoch + epochs,
        initial_epoch=initial_epoch,
        verbose=0,
        shuffle=isinstance(train, tuple),
    )
    return history.history


def run_scratch(data: Dataset, budget: Budget, backbone: str | None = None) -> dict:
    """Train a network end to end from random weights.

    Args:
        data: the splits (from :func:`tlcourse.load_dataset`).
        budget: epochs and learning rate (``epochs``, ``head_lr``).
        backbone: None for the small CNN; a registry name to train that architecture from random
            weights instead (``scratch_backbone``).

    Returns:
        ``{"model", "history", "test_accuracy", "test_loss"}``.
    """
    if backbone is None:
        model = small_cnn(data.num_classes, data.image_size)
    else:
        model = transfer_classifier(backbone, data.num_classes, data.image_size, weights=None)
        set_trainable(model, "all", train_batchnorm=True)
    _compile(model, keras.optimizers.Adam(budget.head_lr))
    history = _fit(model, data.train, data.val, budget.epochs)
    accuracy, loss = _evaluate(model, data.test)
    return {"model": model, "history": history, "test_accuracy": accuracy, "test_loss": loss}


class FeatureCache:
    """Backbone features of every image, computed once and looked up by file path.

    Args:
        backbone: the frozen backbone (pooled output).
        batch_size: images per prediction batch. Defaults to 64.
    """

    def __init__(self, backbone: keras.Model, batch_size: int = 64):
        self.backbone = backbone
        self.batch_size = batch_size
        self._features: dict[Path, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._features)

    def add(self, data: Dataset) -> None:
        """Compute the features of every image of ``data`` not seen yet."""
        files, images = [], []
        for split in ("train", "val", "test"):
            missing = [i for i, f in enumerate(data.files[split]) if f not in self._features]
            if missing:
                files += [data.files[split][i] for i in missing]
                images.append(data.as_arrays(split)[0][missing])
        if not files:
            return
        # One predict call for all splits: one traced function, not one per split shape.
        features = self.backbone.predict(
            np.concatenate(images), batch_size=self.batch_size, verbose=0
        )
        self._features.update(zip(files, features, strict=True))

    def split(self, data: Dataset, split: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(features, labels)`` of one split, in the split's file order."""
        return np.stack([self._features[f] for f in data.files[split]]), data.labels[split]

    def dataset(
        self, data: Dataset, split: str, batch_size: int = 32, seed: int | None = None
    ) -> tf.data.Dataset | None:
        """Return one split as a batched ``tf.data`` pipeline (None when the split is empty).

        Keras iterates a ``tf.data`` pipeline about 4x faster than NumPy arrays, whose adapter
        costs ~50 ms per epoch: more than the head's whole epoch on a few hundred features.

        Args:
            data: the dataset whose split to take.
            split: ``"train"``, ``"val"`` or ``"test"``.
            batch_size: examples per batch. Defaults to 32.
            seed: reshuffle every epoch with this seed; None keeps the split's order.
        """
        if not data.files[split]:
            return None
        pipeline = tf.data.Dataset.from_tensor_slices(self.split(data, split))
        if seed is not None:
            pipeline = pipeline.shuffle(len(data.files[split]), seed=seed)
        return pipeline.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def run_feature_extraction(
    data: Dataset, features: FeatureCache, budget: Budget, seed: int = 0
) -> dict:
    """Train a new head on cached backbone features.

    Returns:
        ``{"model" (the head), "history", "test_accuracy", "test_loss"}``.
    """
    train = features.dataset(data, "train", budget.batch_size, seed=seed)
    val, test = (features.dataset(data, s, budget.batch_size) for s in ("val", "test"))
    num_features = features.split(data, "train")[0].shape[1]
    head = _compile(
        classification_head(num_features, data.num_classes), keras.optimizers.Adam(budget.head_lr)
    )
    history = _fit(head, train, val, budget.epochs)
    accuracy, loss = _evaluate(head, test)
    return {"model": head, "history": history, "test_accuracy": accuracy, "test_loss": loss}


def run_fine_tuning(
    data: Dataset,
    base: keras.Model,
    head: keras.Model,
    head_history: dict,
    budget: Budget,
    differential: bool,
) -> dict:
    """Fine-tune the last ``budget.depth`` blocks of ``base`` under a head trained on features.

    Returns:
        ``{"model", "history", "fine_tune_start", "test_accuracy", "test_loss"}``.
    """
    head_copy = keras.models.clone_model(head)
    head_copy.set_weights(head.get_weights())
    model = transfer_classifier(base, data.num_classes, head=head_copy)
    set_trainable(model, budget.depth)
    if differential:
        optimizer = layerwise_optimizer(model, budget.fine_tune_lr, factor=budget.factor)
    else:
        optimizer = keras.optimizers.Adam(budget.fine_tune_lr)
    _compile(model, optimizer)
    start = len(head_history["loss"])
    history = _fit(model, data.train, data.val, budget.fine_tune_epochs, initial_epoch=start)
    accuracy, loss = _evaluate(model, data.test)
    return {
        "model": model,
        "history": _history(head_history, history),
        "fine_tune_start": start,
        "test_accuracy": accuracy,
        "test_loss": loss,
    }


# ---------------------------------------------------------------------------------------------
# The runner


def _check_strategies(strategies) -> tuple[str, ...]:
    if isinstance(strategies, str):
        strategies = [s.strip() for s in strategies.split(",") if s.strip()]
    if not strategies:
        raise InvalidParameterError(
            f"The 'strategies' parameter of compare must name at least one of "
            f"{list(STRATEGIES + OPTIONAL_STRATEGIES)}. Got an empty list."
        )
    for name in strategies:
        check_choice("strategies", name, STRATEGIES + OPTIONAL_STRATEGIES, "compare")
    return tuple(dict.fromkeys(strategies))


def _check_ints(param: str, values, minimum: int, allow_none: bool = False) -> tuple:
    if values is None or isinstance(values, int | str):
        values = [values]
    if isinstance(values, str):
        values = values.split(",")
    out = []
    for value in values:
        if value is None and allow_none:
            out.append(None)
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
        if number is None or isinstance(value, bool | float) or number < minimum:
            raise InvalidParameterError(
                f"The '{param}' parameter of compare must be ints >= {minimum}. "
                f"Got {value!r} instead."
            )
        out.append(number)
    return tuple(out)


def _distribution(distribute) -> tf.distribute.Strategy:
    if distribute is None or distribute == "default":
        return tf.distribute.get_strategy()
    if isinstance(distribute, tf.distribute.Strategy):
        return distribute
    check_choice("distribute", distribute, ["default", "mirrored"], "compare")
    return tf.distribute.MirroredStrategy()


def _key(row: dict) -> tuple:
    values = []
    for column in KEY_COLUMNS:
        value = row[column]
        if isinstance(value, float) and math.isnan(value):
            value = None
        values.append(value if isinstance(value, str) or value is None else int(value))
    return tuple(values)


def _write_atomically(table: pd.DataFrame, path: Path) -> None:
    # A kill during a write must not corrupt the file holding every finished run.
    tmp = path.with_suffix(".tmp")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)


def _load_previous(path: Path, resume: bool, overwrite: bool) -> pd.DataFrame:
    if not path.exists():
        return pd.DataFrame()
    if resume:
        return pd.read_csv(path)
    if overwrite:
        return pd.DataFrame()
    raise InvalidParameterError(
        f"{path} already exists. Pass resume=True (--resume) to finish that comparison, or "
        "overwrite=True (--overwrite) to start again, or choose another output folder (--out)."
    )


def _print(message: str) -> None:
    print(message, flush=True)


def compare(
    data: str | os.PathLike = "photos",
    backbone: str = "efficientnet_lite0",
    strategies: Sequence[str] | str = STRATEGIES,
    seeds: Sequence[int] | int = (0, 1, 2),
    budget: Budget | None = None,
    image_size: int | None = 160,
    train_per_class: Sequence[int | None] | int | None = None,
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
        strategies: names from ``STRATEGIES`` (plus ``"scratch_backbone"``), a list or a
            comma-separated string. Defaults to the four of ``STRATEGIES``.
        seeds: the seeds; each gives its own split, initialisation and shuffling. Default
            ``(0, 1, 2)``: always look at the spread, never at one run.
        budget: epochs and learning rates (:class:`Budget`); ``FAST_BUDGET`` when ``fast``.
        image_size: side in pixels the images are resized to. Default 160.
        train_per_class: None for all training images, or ints (training images per class) to
            measure accuracy against data size; a list may mix both.
        out: folder for ``results.csv`` (written after every run); None keeps results in
            memory only. Default ``"results"``.
        resume: skip the runs already in ``out/results.csv``. Default False.
        overwrite: start again even if ``out/results.csv`` exists. Default False.
        fast: a smoke run: ``FAST_BUDGET``, one seed, 64-pixel images, unless given.
        country: ISO-3 code for the CO2 estimate (see :func:`tlcourse.track`); None = world mix.
        distribute: None/"default" (one device, the GPU when present), "mirrored"
            (``tf.distribute.MirroredStrategy`` over all local devices) or a strategy object.
        progress: called with one line per finished run; None for silence. Default ``print``.

    Returns:
        The results DataFrame, one row per run (see :data:`RESULT_COLUMNS`).

    Raises:
        InvalidParameterError: bad arguments, or ``out/results.csv`` exists without
            ``resume``/``overwrite``.

    Example:
        >>> table = compare(strategies="feature_extraction", fast=True, out=None,
        ...                 progress=None)  # doctest: +SKIP
    """
    strategies = _check_strategies(strategies)
    get_spec(backbone)
    if fast:
        budget = budget or FAST_BUDGET
        seeds = seeds if seeds != (0, 1, 2) else (0,)
        image_size = image_size if image_size != 160 else 64
    budget = budget or Budget()
    seeds = _check_ints("seeds", seeds, 0)
    sizes = _check_ints("train_per_class", train_per_class, 1, allow_none=True)
    (image_size,) = _check_ints("image_size", image_size, 32)
    dist = _distribution(distribute)
    say = progress or (lambda _: None)

    path = Path(out) / RESULTS_FILE if out is not None else None
    table = _load_previous(path, resume, overwrite) if path else pd.DataFrame()
    done = {_key(row) for row in table.to_dict("records")}

    plan = [(seed, size, strategy) for size in sizes for seed in seeds for strategy in strategies]
    context = _RunContext(data, backbone, image_size, budget, country, dist, say)
    for index, (seed, size, strategy) in enumerate(plan, start=1):
        row_key = _key(
            {
                "strategy": strategy,
                "backbone": _network(strategy, backbone),
                "dataset": context.dataset_name,
                "seed": seed,
                "train_per_class": size,
                "epochs": budget.epochs,
                "image_size": image_size,
            }
        )
        if row_key in done:
            say(f"[{index}/{len(plan)}] {strategy} seed={seed}: already in {path}, skipped")
            continue
        row = context.run(strategy, seed, size)
        table = pd.concat([table, pd.DataFrame([row])], ignore_index=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)  # only once there is a result
            _write_atomically(table, path)
        say(f"[{index}/{len(plan)}] {_describe(row)}")
    return table


def _network(strategy: str, backbone: str) -> str:
    return "small_cnn" if strategy == "scratch" else backbone


def _describe(row: dict) -> str:
    size = "" if row["train_per_class"] is None else f" n/class={row['train_per_class']}"
    co2 = row["co2_kg"]
    co2_text = "CO2 not measured" if co2 != co2 else f"{co2 * 1000:.3f} g CO2"
    return (
        f"{row['strategy']:<18} seed={row['seed']}{size}: test accuracy "
        f"{row['test_accuracy']:.1%}, {row['wall_seconds']:.1f} s, {co2_text}"
    )


class _RunContext:
    """What the runs of one comparison share: data, backbone, features, head per split."""

    def __init__(self, data, backbone, image_size, budget, country, dist, say):
        self.data, self.backbone, self.image_size = data, backbone, image_size
        self.budget, self.country, self.dist, self.say = budget, country, dist, say
        self.dataset_name = (
            data if isinstance(data, str) and os.sep not in data else Path(data).name
        )
        self._base = None
        self._base_weights = None
        self._features = None
        self._feature_cost = Cost()
        self._heads: dict[tuple, tuple] = {}

    def dataset(self, seed: int, size: int | None) -> Dataset:
        return load_dataset(
            self.data,
            image_size=self.image_size,
            seed=seed,
            batch_size=self.budget.batch_size,
            train_per_class=size,
        )

    def base(self) -> keras.Model:
        if self._base is None:
            with self.dist.scope():
                self._base = load_backbone(
                    self.backbone, input_shape=(self.image_size, self.image_size, 3)
                )
            self._base_weights = self._base.get_weights()
        # Fine-tuning changes the backbone: every run starts from the pretrained weights.
        self._base.set_weights(self._base_weights)
        return self._base

    def features(self, data: Dataset) -> tuple[FeatureCache, Cost]:
        if self._features is None:
            self._features = FeatureCache(self.base())
        before = len(self._features)
        _, cost = _measured("feature pass", self.country, lambda: self._features.add(data))
        if len(self._features) > before:
            self._feature_cost = self._feature_cost + cost
        return self._features, self._feature_cost

    def head(self, data: Dataset, seed: int, size) -> tuple[dict, Cost]:
        key = (seed, size)
        if key not in self._heads:
            features, feature_cost = self.features(data)
            keras.utils.set_random_seed(seed)
            with self.dist.scope():
                result, cost = _measured(
                    "feature_extraction",
                    self.country,
                    lambda: run_feature_extraction(data, features, self.budget, seed),
                )
            self._heads[key] = (result, cost + feature_cost)
        return self._heads[key]

    def run(self, strategy: str, seed: int, size) -> dict:
        data = self.dataset(seed, size)
        if strategy == "feature_extraction":
            result, cost = self.head(data, seed, size)
        elif strategy.startswith("fine_tuning"):
            head, head_cost = self.head(data, seed, size)
            base = self.base()
            keras.utils.set_random_seed(seed)
            with self.dist.scope():
                result, cost = _measured(
                    strategy,
                    self.country,
                    lambda: run_fine_tuning(
                        data,
                        base,
                        head["model"],
                        head["history"],
                        self.budget,
                        differential=strategy == "fine_tuning_dlr",
                    ),
                )
            cost = cost + head_cost
        else:
            keras.utils.set_random_seed(seed)
            architecture = self.backbone if strategy == "scratch_backbone" else None
            with self.dist.scope():
                result, cost = _measured(
                    strategy, self.country, lambda: run_scratch(data, self.budget, architecture)
                )
        return self._row(strategy, seed, size, data, result, cost)

    def _row(self, strategy, seed, size, data, result, cost) -> dict:
        model = result["model"]
        if strategy == "feature_extraction":
            trainable = model.count_params()
        else:
            trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        return {
            "strategy": strategy,
            "backbone": _network(strategy, self.backbone),
            "dataset": self.dataset_name,
            "image_size": self.image_size,
            "train_images": int(len(data.files["train"])),
            "train_per_class": size,
            "seed": seed,
            "epochs": self.budget.epochs,
            "fine_tune_epochs": self.budget.fine_tune_epochs if "fine" in strategy else 0,
            "depth": self.budget.depth if "fine" in strategy else 0,
            "test_accuracy": result["test_accuracy"],
            "test_loss": result["test_loss"],
            "trainable_params": trainable,
            **{k: v for k, v in asdict(cost).items() if k != "method"},
            "co2_method": cost.method,
            "fine_tune_start": result.get("fine_tune_start", float("nan")),
            "history": json.dumps(result["history"]),
        }


RESULT_COLUMNS = (
    "strategy",
    "backbone",
    "dataset",
    "image_size",
    "train_images",
    "train_per_class",
    "seed",
    "epochs",
    "fine_tune_epochs",
    "depth",
    "test_accuracy",
    "test_loss",
    "trainable_params",
    "wall_seconds",
    "cpu_seconds",
    "energy_kwh",
    "co2_kg",
    "co2_method",
    "fine_tune_start",
    "history",
)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds, one row per strategy (and training-set size).

    Args:
        results: the DataFrame :func:`compare` returns (or ``results.csv`` read back).

    Returns:
        DataFrame with ``runs``, ``accuracy_mean``, ``accuracy_std``, ``accuracy_min``,
        ``accuracy_max``, ``seconds_mean``, ``co2_g_mean`` and ``trainable_params``.

    Example:
        >>> summarize(pd.read_csv("results/results.csv"))  # doctest: +SKIP
    """
    frame = results.copy()
    frame["train_per_class"] = frame["train_per_class"].fillna(-1)
    grouped = frame.groupby(["train_per_class", "strategy"], sort=False)
    table = grouped.agg(
        runs=("seed", "count"),
        accuracy_mean=("test_accuracy", "mean"),
        accuracy_std=("test_accuracy", "std"),
        accuracy_min=("test_accuracy", "min"),
        accuracy_max=("test_accuracy", "max"),
        seconds_mean=("wall_seconds", "mean"),
        co2_g_mean=("co2_kg", lambda s: s.mean() * 1000),
        trainable_params=("trainable_params", "median"),
    ).reset_index()
    table["train_per_class"] = table["train_per_class"].replace(-1, "all")
    return table


def write_figures(results: pd.DataFrame, out: str | os.PathLike) -> list[Path]:
    """Save the comparison's figures as PNG files in ``out``.

    Args:
        results: the DataFrame :func:`compare` returns.
        out: output folder (created if missing).

    Returns:
        The paths written: ``comparison.png``, ``learning_curves.png`` and, when several
        training-set sizes were run, ``data_efficiency.png``.
    """
    import matplotlib

    matplotlib.use("Agg")  # the CLI writes files; never open a window
    import matplotlib.pyplot as plt

    from tlcourse import plots

    figures = {
        "comparison.png": plots.plot_comparison(results),
        "learning_curves.png": plots.plot_learning_curves(results),
    }
    if results["train_per_class"].nunique(dropna=False) > 1:
        figures["data_efficiency.png"] = plots.plot_data_efficiency(results)
    paths = []
    for name, figure in figures.items():
        paths.append(Path(out) / name)
        plots.save_figure(figure, paths[-1])
        plt.close(figure)
    return paths
