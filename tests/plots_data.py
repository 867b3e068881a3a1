"""Shared by the tests of tlcourse.plots: a fake results table and a few figure readers."""

import contextlib
import json

import numpy as np
import pandas as pd
import pytest

from tlcourse.errors import InvalidParameterError

__all__ = [
    "EPOCHS",
    "FINE_TUNE_START",
    "STRATEGIES",
    "grid_of",
    "labelled",
    "linear_probe",
    "make_predictions",
    "make_results",
    "refused_without",
    "summary",
    "vertical_dashed_lines",
    "with_strategy",
]

STRATEGIES = ["scratch", "feature_extraction", "fine_tuning", "fine_tuning_dlr"]
EPOCHS = 6
FINE_TUNE_START = 3
_ACCURACY = {"scratch": 0.4, "feature_extraction": 0.8, "fine_tuning": 0.85, "fine_tuning_dlr": 0.9}


def make_results(seeds=3, sizes=(5, 20, None), co2=True, accuracy=None) -> pd.DataFrame:
    """One row per run; accuracy depends on strategy and size; full data is 30 per class."""
    rng = np.random.default_rng(0)
    rows = []
    for strategy, best in (accuracy or _ACCURACY).items():
        for size in sizes:
            for seed in range(seeds):
                per_class = np.nan if size is None else size
                shortfall = 0.0 if size is None else (0.3 if strategy == "scratch" else 0.05)
                curve = np.linspace(0.3, best, EPOCHS)
                history = {
                    "accuracy": (curve + 0.05).tolist(),
                    "val_accuracy": curve.tolist(),
                    "loss": (2 - curve).tolist(),
                    "val_loss": (2.1 - curve).tolist(),
                }
                wall = 10.0 + seed
                rows.append(
                    {
                        "strategy": strategy,
                        "backbone": "efficientnet_lite0",
                        "dataset": "photos",
                        "train_images": 3 * (30 if size is None else size),
                        "train_per_class": per_class,
                        "seed": seed,
                        "epochs": EPOCHS,
                        "test_accuracy": best - shortfall + 0.01 * seed + rng.normal(0, 1e-3),
                        "test_loss": 1 - best,
                        "trainable_params": 1000,
                        "wall_seconds": wall,
                        "cpu_seconds": 2 * wall,
                        "energy_kwh": wall * 5 / 3.6e6,
                        "co2_kg": wall * 5 / 3.6e6 * 0.4 if co2 else np.nan,
                        "co2_mode": "estimated (CPU load x TDP)" if co2 else "not measured",
                        "co2_grid": "United States" if co2 else None,
                        "carbon_intensity_g_per_kwh": 367.0 if co2 else np.nan,
                        "co2_method": "codecarbon offline, CPU power estimated from load",
                        "fine_tune_start": FINE_TUNE_START
                        if strategy.startswith("fine_tuning")
                        else np.nan,
                        "history": json.dumps(history),
                    }
                )
    return pd.DataFrame(rows)


def labelled(ax) -> bool:
    return bool(ax.get_xlabel() and ax.get_ylabel() and ax.get_title())


def vertical_dashed_lines(ax) -> list[float]:
    return [
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_linestyle() == "--" and len(set(line.get_xdata())) == 1
    ]


def summary(trainable_blocks: int) -> pd.DataFrame:
    """A trainable_summary-like table: stem, 16 blocks, top, head; the last ones train."""
    blocks = ["stem", *(f"block_{i}" for i in range(16)), "top", "head"]
    params = np.arange(1, len(blocks) + 1) * 1000
    trains = np.arange(len(blocks)) >= len(blocks) - 1 - trainable_blocks
    return pd.DataFrame(
        {"block": blocks, "trainable_params": params * trains, "frozen_params": params * ~trains}
    )


def grid_of(fig) -> np.ndarray:
    """The cells of a trainable map, one row per strategy."""
    mesh = fig.axes[1].collections[0]
    rows = len(fig.axes[1].get_yticks())
    return np.asarray(mesh.get_array()).reshape(rows, -1)


@contextlib.contextmanager
def linear_probe():
    """A toy strategy registered for the duration: every figure must show it."""
    from tlcourse.comparison.strategies import Strategy, register_strategy, unregister_strategy

    def run(*args, **kwargs):
        raise NotImplementedError("only drawn in these tests")

    probe = Strategy(
        name="linear_probe",
        label="Linear probe",
        color="#CC79A7",
        run=run,
        network="backbone",
        uses_features=True,
        default=False,
        order=25,  # between feature extraction (20) and fine-tuning (30)
    )
    register_strategy(probe)
    try:
        yield probe
    finally:
        unregister_strategy("linear_probe")


def with_strategy(results: pd.DataFrame, name: str, like: str = "feature_extraction"):
    """``results`` plus a copy of the rows of ``like`` under the strategy ``name``."""
    extra = results[results["strategy"] == like].assign(strategy=name)
    extra = extra.assign(test_accuracy=extra["test_accuracy"] - 0.03)
    return pd.concat([results, extra], ignore_index=True)


def make_predictions(seeds=2, folder=None) -> pd.DataFrame:
    """A predictions table: 3 classes x 4 photos; scratch misses photos transfer gets right.

    Photo ``k`` of each class: scratch is wrong on photos 0-1 in every seed, feature
    extraction wrong on photo 0 only, fine-tuning always right. With ``folder``, the photos
    are written there as small PNGs and ``file`` holds their paths.
    """
    from PIL import Image

    classes = ["birds", "fish", "fruit"]
    wrong = {"scratch": {0, 1}, "feature_extraction": {0}, "fine_tuning": set()}
    rows = []
    for c, name in enumerate(classes):
        for k in range(4):
            file = f"{name}/{name}_{k}.png"
            if folder is not None:
                path = folder / file
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (40, 30), ("red", "green", "blue")[c]).save(path)
                file = str(path)
            for strategy, missed in wrong.items():
                for seed in range(seeds):
                    predicted = classes[(c + 1) % 3] if k in missed else name
                    rows.append(
                        {
                            "strategy": strategy,
                            "backbone": "small_cnn" if strategy == "scratch" else "lite0",
                            "dataset": "photos",
                            "seed": seed,
                            "train_per_class": np.nan,
                            "image_size": 96,
                            "file": file,
                            "true": name,
                            "predicted": predicted,
                            "confidence": 0.5 + 0.1 * k,
                        }
                    )
    return pd.DataFrame(rows)


def refused_without(func, table: pd.DataFrame, column: str) -> str:
    """``func(table without column)`` is refused naming the column it needs and the ones it got."""
    with pytest.raises(InvalidParameterError) as error:
        func(table.drop(columns=column))
    needed, got = str(error.value).split(" Got ", 1)
    assert f"'{column}'" in needed and f"'{column}'" not in got and "with the columns" in got
    return str(error.value)
