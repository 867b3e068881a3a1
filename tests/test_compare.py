"""The comparison runner: rows, resume after a kill, own folders, CO2, distribution."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tlcourse.compare import FAST_BUDGET, RESULT_COLUMNS, STRATEGIES, compare, summarize
from tlcourse.errors import InvalidParameterError

TINY = {"budget": FAST_BUDGET, "image_size": 32, "seeds": (0,), "progress": None}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder of photos the project has never seen: 3 classes of coloured noise shapes."""
    root = tmp_path_factory.mktemp("own_photos")
    rng = np.random.default_rng(0)
    for label, colour in enumerate([(200, 30, 30), (30, 200, 30), (30, 30, 200)]):
        (root / f"class_{label}").mkdir()
        for i in range(8):
            pixels = rng.integers(0, 60, (40, 40, 3)) + np.array(colour)
            Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(
                root / f"class_{label}" / f"{i}.png"
            )
    return root


def test_every_strategy_gives_one_complete_row(folder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = compare(str(folder), out=tmp_path / "out", **TINY)
    assert list(table["strategy"]) == list(STRATEGIES)
    assert set(RESULT_COLUMNS) <= set(table.columns)
    assert table["test_accuracy"].between(0, 1).all()
    assert (table["wall_seconds"] > 0).all()
    assert table["co2_kg"].notna().all() and (table["co2_kg"] > 0).all()
    assert table["co2_method"].str.contains("codecarbon").all()
    fine = table.set_index("strategy").loc["fine_tuning"]
    history = json.loads(fine["history"])
    assert len(history["loss"]) == FAST_BUDGET.epochs + FAST_BUDGET.fine_tune_epochs
    assert fine["fine_tune_start"] == FAST_BUDGET.epochs
    on_disk = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(on_disk) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no emissions.csv in the CWD


def test_a_killed_run_resumes_without_duplicates(folder, tmp_path):
    finished = []

    def kill_after_two(line):
        finished.append(line)
        if len(finished) == 2:
            raise KeyboardInterrupt

    strategies = ["scratch", "feature_extraction"]
    with pytest.raises(KeyboardInterrupt):
        compare(
            str(folder),
            strategies=strategies,
            out=tmp_path,
            **{**TINY, "seeds": (0, 1), "progress": kill_after_two},
        )
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2
    table = compare(
        str(folder), strategies=strategies, out=tmp_path, resume=True, **{**TINY, "seeds": (0, 1)}
    )
    keys = table[["strategy", "seed"]].apply(tuple, axis=1)
    assert len(table) == 4 and keys.is_unique
    assert len(pd.read_csv(tmp_path / "results.csv")) == 4


def test_existing_results_are_never_silently_overwritten(folder, tmp_path):
    compare(str(folder), strategies="feature_extraction", out=tmp_path, **TINY)
    with pytest.raises(InvalidParameterError, match="--resume.*--overwrite"):
        compare(str(folder), strategies="feature_extraction", out=tmp_path, **TINY)


def test_train_per_class_sizes_and_summary(folder):
    table = compare(
        str(folder), strategies="feature_extraction", out=None, train_per_class=[2, None], **TINY
    )
    assert list(table["train_images"]) == [6, table["train_images"].max()]
    summary = summarize(table)
    assert list(summary["train_per_class"]) == [2, "all"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategies": "finetuning"}, r"Did you mean 'fine_tuning'"),
        ({"strategies": []}, "at least one"),
        ({"seeds": [-1]}, r"'seeds'.*>= 0"),
        ({"image_size": 8}, r"'image_size'.*>= 32"),
        ({"train_per_class": [0]}, r"'train_per_class'.*>= 1"),
        ({"backbone": "resnet"}, r"must be one of"),
        ({"distribute": "tpu"}, r"'distribute'.*'mirrored'"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        compare(out=None, progress=None, **kwargs)


def test_mirrored_strategy_over_two_logical_cpus(folder, tmp_path):
    # Logical devices must be configured before TensorFlow starts: use a fresh interpreter.
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tlcourse.compare import compare, FAST_BUDGET
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
table = compare({str(folder)!r}, strategies="feature_extraction,fine_tuning", seeds=(0,),
                budget=FAST_BUDGET, image_size=32, out=None, progress=None,
                distribute=strategy)
print("REPLICAS", strategy.num_replicas_in_sync, "ROWS", len(table))
"""
    env = {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TLCOURSE_CACHE_DIR": str(tmp_path / "cache"),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert "REPLICAS 2 ROWS 2" in result.stdout, result.stderr[-3000:]
