"""The comparison runner: rows, resume after a kill, own folders, CO2, keys, arguments."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from strategy_toys import MAJORITY, make_photo_folder, registered

from tlcourse.comparison import (
    FAST_BUDGET,
    RESULT_COLUMNS,
    Budget,
    compare,
    prediction_accuracy,
    read_predictions,
    read_results,
    summarize,
)
from tlcourse.comparison.results import run_key
from tlcourse.comparison.strategies import STRATEGIES
from tlcourse.errors import InvalidParameterError
from tlcourse.measure import CO2_COLUMNS
from tlcourse.plots import write_figures

TINY = {"budget": FAST_BUDGET, "image_size": 32, "seeds": (0,), "progress": None,
        "deployment": False}  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"))


@pytest.fixture
def majority():
    with registered(MAJORITY):
        yield "majority"


@pytest.fixture(scope="module")
def compared(folder, tmp_path_factory):
    """One comparison of every built-in strategy over two seeds, its deployment measured: the
    rows of seed 0 are checked as a plain comparison's, and every row's deployment columns.
    Returns the folder it ran in, its table and the models whose deployment was measured."""
    import tlcourse.comparison.runner as runner

    calls = []
    real = runner.deployment_columns

    def counting(model, *args, **kwargs):
        calls.append(model.count_params())
        return real(model, *args, **kwargs)

    where = tmp_path_factory.mktemp("compared")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(where)
        patch.setattr(runner, "deployment_columns", counting)
        table = compare(str(folder), out=where / "out", **{**TINY, "deployment": True,
                                                            "seeds": (0, 1)})  # fmt: skip
    return where, table, calls


@pytest.mark.slow
def test_every_strategy_gives_one_complete_row(compared):
    tmp_path, both_seeds, _ = compared
    table = both_seeds[both_seeds["seed"] == 0].reset_index(drop=True)
    assert list(table["strategy"]) == list(STRATEGIES)
    assert set(RESULT_COLUMNS) <= set(table.columns)
    assert table["test_accuracy"].between(0, 1).all()
    assert (table["wall_seconds"] > 0).all()
    assert table["co2_kg"].notna().all() and (table["co2_kg"] > 0).all()
    assert table["co2_method"].str.contains("codecarbon").all()
    # Summed costs (feature pass + head + fine-tuning) keep every CO2 column of a single
    # tracked block (scratch's row): mode, grid, estimated, power source... (None only where
    # a single block has None too, e.g. no GPU). The method's text states each block's
    # measured average power, so it differs from run to run.
    single = table.iloc[0]
    for column in CO2_COLUMNS:
        if column not in ("carbon_intensity_g_per_kwh", "co2_method", "co2_kg_low", "co2_kg_high"):
            expected = single[column]
            assert all(v == expected or (v != v and expected != expected) or
                       (v is None and expected is None) for v in table[column]), column  # fmt: skip
    assert table["co2_mode"].notna().all() and table["co2_grid"].notna().all()
    # The range of the estimate is summed like the CO2 itself, and holds it.
    assert (table["co2_kg_low"] <= table["co2_kg"]).all()
    assert (table["co2_kg"] <= table["co2_kg_high"]).all()
    assert table["co2_mode"].nunique() == 1 and table["co2_grid"].nunique() == 1
    assert "+" not in table["co2_mode"].iloc[0]
    intensity = table["carbon_intensity_g_per_kwh"]
    assert np.allclose(intensity, intensity.median(), rtol=1e-6)
    rows = table.set_index("strategy")
    assert list(rows["backbone"]) == ["small_cnn"] + ["efficientnet_lite0"] * 3
    assert list(rows["trained_on"]) == ["whole model"] + ["cached activations"] * 3
    assert list(rows["depth"]) == [0, 0, FAST_BUDGET.depth, FAST_BUDGET.depth]
    assert list(rows["fine_tune_epochs"]) == [0, 0, 1, 1]
    assert rows.loc["feature_extraction", "trainable_params"] == 1280 * 3 + 3
    fine = rows.loc["fine_tuning"]
    history = json.loads(fine["history"])
    assert len(history["loss"]) == FAST_BUDGET.epochs + FAST_BUDGET.fine_tune_epochs
    assert fine["fine_tune_start"] == FAST_BUDGET.epochs
    assert json.loads(fine["budget"]) == FAST_BUDGET.get_config()
    # Fine-tuning trains a head too, then the last blocks: it costs more than the head alone.
    assert (rows.loc[["fine_tuning", "fine_tuning_dlr"], "wall_seconds"] >
            rows.loc["feature_extraction", "wall_seconds"]).all()  # fmt: skip
    on_disk = pd.read_csv(tmp_path / "out" / "results.csv")
    assert len(on_disk) == 4 * 2  # both seeds
    # predictions.csv reproduces every accuracy exactly, for every built-in strategy.
    predictions = read_predictions(tmp_path / "out")
    predictions = predictions[predictions["seed"] == 0]
    assert len(predictions) == table["test_predictions"].sum() == 4 * 6
    by_run = prediction_accuracy(predictions)
    for row in table.to_dict("records"):
        assert by_run[run_key(row)] == row["test_accuracy"], row["strategy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no emissions.csv in the CWD


@pytest.mark.slow
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


def test_a_resumed_table_has_one_all_data_value_and_gets_its_figures(folder, majority, tmp_path):
    # Bug: rows read back held NaN and new rows None, so write_figures saw a size sweep and
    # plot_data_efficiency refused the table.
    lines = []

    def kill_after_one(line):
        lines.append(line)
        raise KeyboardInterrupt

    args = {"strategies": majority, "out": tmp_path, **TINY, "seeds": "0,1,2"}
    with pytest.raises(KeyboardInterrupt):
        compare(str(folder), **{**args, "progress": kill_after_one})
    table = compare(str(folder), resume=True, **args)
    assert len(table) == 3 and len(lines) == 1
    assert table["train_per_class"].dtype == float and table["train_per_class"].isna().all()
    written = write_figures(table, tmp_path / "figures")
    assert sorted(p.name for p in written) == ["comparison.png", "learning_curves.png"]
    assert list(summarize(table)["train_per_class"]) == ["all"]


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
    ("seeds", "expected"),
    [("0,1", [0, 1]), ([0, np.int64(1)], [0, 1]), (np.arange(2), [0, 1]), (2, [2]), ("1", [1])],
)
def test_seeds_take_a_string_a_list_an_array_or_an_int(folder, majority, seeds, expected):
    # Bug: compare(seeds="0,1") was refused (the string was wrapped before being split).
    table = compare(str(folder), strategies=majority, out=None, **{**TINY, "seeds": seeds})
    assert list(table["seed"]) == expected


@pytest.mark.parametrize(
    ("sizes", "expected"),
    [
        ("2,all", [2, None]),
        (["all", 3], [None, 3]),
        (np.array([2, 3]), [2, 3]),
        (2, [2]),
        ("all", [None]),
        (None, [None]),
        ([2, float("nan")], [2, None]),
    ],
)
def test_train_per_class_takes_all_strings_lists_and_arrays(folder, majority, sizes, expected):
    table = compare(str(folder), strategies=majority, out=None, train_per_class=sizes, **TINY)
    got = [None if np.isnan(v) else int(v) for v in table["train_per_class"]]
    assert got == expected and table["train_per_class"].dtype == float


def test_image_size_takes_an_int_or_a_pair(folder, majority):
    square = compare(str(folder), strategies=majority, out=None, **{**TINY, "image_size": (32, 32)})
    assert list(square["image_size"]) == [32]


_CHANGES = [{"epochs": 4}, {"fine_tune_epochs": 2}, {"depth": 2}, {"head_lr": 2e-3},
            {"fine_tune_lr": 2e-4}, {"factor": 2.0}, {"batch_size": 16}]  # fmt: skip


@pytest.mark.parametrize("change", [*_CHANGES, {"country": "FRA"}], ids=str)
def test_resume_with_another_budget_or_country_computes_a_new_row(folder, majority, tmp_path,
                                                                  change):  # fmt: skip
    # Bug: the key held only strategy, backbone, dataset, seed, size, epochs and image size, so
    # another fine_tune_epochs, depth, learning rate, factor, batch size or country was
    # "skipped" and the old row returned.
    first = compare(str(folder), strategies=majority, out=tmp_path, **TINY)
    lines = []
    budget_change = {k: v for k, v in change.items() if k != "country"}
    again = compare(
        str(folder),
        strategies=majority,
        out=tmp_path,
        resume=True,
        country=change.get("country"),
        **{**TINY, "budget": Budget(**{**FAST_BUDGET.get_config(), **budget_change}),
           "progress": lines.append},
    )  # fmt: skip
    assert not any("skipped" in line for line in lines)
    assert len(again) == 1 and len(read_results(tmp_path / "results.csv")) == 2
    assert again["budget"].iloc[0] != first["budget"].iloc[0] or "country" in change
    # The same comparison again is skipped, and returns the stored row.
    lines.clear()
    compare(str(folder), strategies=majority, out=tmp_path, resume=True, **{**TINY,
            "progress": lines.append})  # fmt: skip
    assert len(lines) == 1 and "skipped" in lines[0]


def test_rows_of_an_older_results_file_are_recomputed_not_reused(folder, majority, tmp_path):
    compare(str(folder), strategies=majority, out=tmp_path, **TINY)
    older = pd.read_csv(tmp_path / "results.csv").drop(columns=["budget", "country", "data"])
    older.to_csv(tmp_path / "results.csv", index=False)
    lines = []
    table = compare(str(folder), strategies=majority, out=tmp_path, resume=True,
                    **{**TINY, "progress": lines.append})  # fmt: skip
    assert not any("skipped" in line for line in lines) and len(table) == 1
    assert len(pd.read_csv(tmp_path / "results.csv")) == 2


def test_the_returned_table_holds_this_comparison_only(folder, majority, tmp_path):
    compare(str(folder), strategies=majority, out=tmp_path, **TINY)
    table = compare(str(folder), strategies=majority, out=tmp_path, resume=True,
                    **{**TINY, "budget": Budget(epochs=1)})  # fmt: skip
    assert len(table) == 1 and json.loads(table["budget"].iloc[0])["epochs"] == 1
    assert len(read_results(tmp_path / "results.csv")) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategies": "finetuning"}, r"Did you mean 'fine_tuning'"),
        ({"strategies": []}, "at least one registered strategy"),
        ({"strategies": 3}, r"'strategies' parameter of compare"),
        ({"seeds": [-1]}, r"'seeds'.*>= 0"),
        ({"seeds": "0,x"}, r"'seeds' parameter of compare.*Got '0,x' instead"),
        ({"seeds": 1.5}, r"'seeds' parameter of compare"),
        ({"image_size": 8}, r"'image_size'.*>= 32"),
        ({"image_size": (96, 8)}, r"'image_size' parameter of compare"),
        ({"train_per_class": [0]}, r"'train_per_class'.*>= 1"),
        ({"train_per_class": "2,some"}, r"'train_per_class' parameter of compare"),
        ({"train_per_class": [2, float("nan"), "some"]}, r"'train_per_class' parameter"),
        (
            {"backbone": "resnet"},
            r"^The 'backbone' parameter of compare must be one of \[.*\]\. Got 'resnet' "
            r"instead\. Did you mean 'resnet50'\?$",
        ),
        ({"distribute": "tpu"}, r"'distribute'.*'mirrored'"),
        ({"country": "France"}, r"^The 'country' parameter of compare"),
        ({"data": "photoz"}, r"'data' parameter of compare.*Did you mean 'photos'"),
        ({"data": 3}, r"'data' parameter of compare"),
        ({"budget": {"epochs": 3}}, r"'budget' parameter of compare"),
        ({"budget": Budget(depth=99)}, r"'budget' parameter of compare.*depth"),
        ({"fast": "yes"}, r"'fast' parameter of compare"),
        ({"resume": 1}, r"'resume' parameter of compare"),
        ({"out": 3}, r"'out' parameter of compare"),
        ({"progress": "print"}, r"'progress' parameter of compare"),
        ({"deployment": "yes"}, r"^The 'deployment' parameter of compare must be a bool"),
    ],
)
def test_bad_arguments_get_clear_errors(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        compare(**{"out": None, "progress": None, **kwargs})


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(folder, tmp_path):
    # Logical devices must be configured before TensorFlow starts: use a fresh interpreter.
    code = f"""
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from tlcourse.comparison import compare, FAST_BUDGET
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
table = compare({str(folder)!r}, strategies="feature_extraction,fine_tuning", seeds=(0,),
                budget=FAST_BUDGET, image_size=32, out=None, progress=None,
                distribute=strategy)
print("REPLICAS", strategy.num_replicas_in_sync, "ROWS", len(table), table["distribute"][0])
"""
    env = {
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TLCOURSE_CACHE_DIR": str(tmp_path / "cache"),
        # The package under test, not whatever is installed.
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=tmp_path,
    )
    assert "REPLICAS 2 ROWS 2 MirroredStrategy(2 replicas)" in result.stdout, result.stderr[-3000:]


@pytest.mark.slow
def test_every_row_says_what_its_model_costs_to_deploy(compared):
    from tlcourse.measure.deployment import DEPLOYMENT_COLUMNS

    tmp_path, table, calls = compared
    assert set(DEPLOYMENT_COLUMNS) <= set(table.columns)
    assert (table["model_mb"] > 0).all() and (table["latency_ms"] > 0).all()
    # Measured once per architecture: the small CNN, and Lite0 + head (every transfer run).
    assert len(calls) == 2
    rows = table.set_index(["strategy", "seed"])
    assert rows.loc[("scratch", 0), "model_mb"] < rows.loc[("feature_extraction", 0), "model_mb"]
    assert (
        rows.loc[("feature_extraction", 1), "model_mb"] == rows.loc[("fine_tuning", 0), "model_mb"]
    )
    # The deployed transfer model is the whole network, not the head alone (a few KB).
    assert rows.loc[("feature_extraction", 0), "model_mb"] > 10
    # Written to results.csv, read back by the summary and the figures.
    summary = summarize(read_results(tmp_path / "out" / "results.csv"))
    assert {"model_mb", "latency_ms"} <= set(summary.columns)


@pytest.mark.slow
def test_the_same_seed_gives_the_same_split_and_run(folder):
    first, second = (
        compare(str(folder), strategies="scratch,feature_extraction", out=None,
                return_predictions=True, **{**TINY, "seeds": (1,)})
        for _ in range(2)
    )  # fmt: skip
    columns = ["strategy", "train_images", "test_accuracy", "test_loss", "history"]
    pd.testing.assert_frame_equal(first[0][columns], second[0][columns])
    pd.testing.assert_frame_equal(first[1], second[1])  # the same test files, the same classes


@pytest.mark.slow
def test_a_comparison_killed_with_sigkill_resumes_cleanly(folder, tmp_path, monkeypatch, capsys):
    from tlcourse.cli import main

    out = tmp_path / "out"
    argv = ["compare", "--data", str(folder), "--strategies", "feature_extraction", "--seeds",
            "0,1,2,3", "--fast", "--image-size", "32", "--out", str(out)]  # fmt: skip
    command = [sys.executable, "-m", "tlcourse.cli", *argv]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        while process.poll() is None and not (out / "results.csv").exists():
            time.sleep(0.2)
        process.kill()  # SIGKILL: no clean-up of any kind
    finally:
        process.wait(timeout=60)
    finished = len(read_results(out / "results.csv"))
    assert finished >= 1
    # The kill needs a process of its own; the resume runs here (one TensorFlow start less).
    monkeypatch.chdir(tmp_path)
    code = main([*argv, "--resume"])
    printed = capsys.readouterr()
    assert code == 0, printed.err[-2000:]
    assert printed.out.count("skipped") >= finished
    table = read_results(out / "results.csv")
    assert sorted(table["seed"]) == [0, 1, 2, 3]
    assert len(read_predictions(out)) == table["test_predictions"].sum()
