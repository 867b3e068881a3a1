"""The lecture's figures: what each draws, where, with which labels, and the errors."""

import matplotlib

matplotlib.use("Agg")

import doctest  # noqa: E402
import json  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from tlcourse import plots  # noqa: E402
from tlcourse.errors import InvalidParameterError  # noqa: E402
from tlcourse.plots import (  # noqa: E402
    STRATEGY_COLORS,
    STRATEGY_LABELS,
    parameter_counts,
    plot_comparison,
    plot_data_efficiency,
    plot_learning_curves,
    plot_learning_rates,
    plot_lr_find,
    plot_parameter_counts,
    plot_trainable_map,
    save_figure,
)

STRATEGIES = list(STRATEGY_LABELS)
EPOCHS = 6
FINE_TUNE_START = 3


def make_results(seeds=3, sizes=(5, 20, None), co2=True) -> pd.DataFrame:
    """One row per run; accuracy depends on strategy and size; full data is 30 per class."""
    rng = np.random.default_rng(0)
    base = {"scratch": 0.4, "feature_extraction": 0.8, "fine_tuning": 0.85, "fine_tuning_dlr": 0.9}
    rows = []
    for strategy, accuracy in base.items():
        for size in sizes:
            for seed in range(seeds):
                per_class = np.nan if size is None else size
                shortfall = 0.0 if size is None else (0.3 if strategy == "scratch" else 0.05)
                fine_tunes = strategy.startswith("fine_tuning")
                curve = np.linspace(0.3, accuracy, EPOCHS)
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
                        "test_accuracy": accuracy - shortfall + 0.01 * seed + rng.normal(0, 1e-3),
                        "test_loss": 1 - accuracy,
                        "trainable_params": 1000,
                        "wall_seconds": wall,
                        "cpu_seconds": 2 * wall,
                        "energy_kwh": wall * 5 / 3.6e6,
                        "co2_kg": wall * 5 / 3.6e6 * 0.4 if co2 else np.nan,
                        "co2_method": "codecarbon offline, CPU power estimated from load",
                        "fine_tune_start": FINE_TUNE_START if fine_tunes else np.nan,
                        "history": json.dumps(history),
                    }
                )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def results():
    return make_results()


def labelled(ax) -> bool:
    return bool(ax.get_xlabel() and ax.get_ylabel() and ax.get_title())


def vertical_dashed_lines(ax) -> list[float]:
    return [
        line.get_xdata()[0]
        for line in ax.get_lines()
        if line.get_linestyle() == "--" and len(set(line.get_xdata())) == 1
    ]


# ------------------------------------------------------------------------------ comparison


def test_comparison_has_three_labelled_panels_one_bar_per_strategy(results):
    fig = plot_comparison(results)
    assert isinstance(fig, Figure)
    accuracy, time, co2 = fig.axes
    for ax in fig.axes:
        assert ax.get_ylabel() and ax.get_title()
        assert len(ax.patches) == len(STRATEGIES)
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert all("(n=3)" in t for t in ticks)
    assert accuracy.get_ylabel() == "test accuracy (%)"
    assert time.get_ylabel() == "wall-clock time (s)"
    assert co2.get_ylabel() == "CO₂ (mg)"  # 10-12 s at 5 W: milligrams, not grams
    assert "codecarbon offline" in fig._supxlabel.get_text()
    # Only the full-data rows: bar = mean accuracy of those, in percent.
    full = results[results["train_per_class"].isna()]
    expected = full.groupby("strategy")["test_accuracy"].mean() * 100
    heights = [p.get_height() for p in accuracy.patches]
    np.testing.assert_allclose(heights, expected[STRATEGIES].to_numpy())
    for patch, strategy in zip(accuracy.patches, STRATEGIES, strict=True):
        assert to_hex(patch.get_facecolor()) == STRATEGY_COLORS[strategy].lower()


def test_comparison_whiskers_are_min_max_with_two_seeds_and_std_with_three():
    two = make_results(seeds=2, sizes=(None,))
    fig = plot_comparison(two)
    segments = fig.axes[1].collections[0].get_segments()  # wall time: seeds 10 s and 11 s
    assert [tuple(np.round(s[:, 1], 6)) for s in segments][0] == (10.0, 11.0)
    three = make_results(seeds=3, sizes=(None,))
    segments = plot_comparison(three).axes[1].collections[0].get_segments()
    low, high = segments[0][:, 1]
    np.testing.assert_allclose([low, high], [11 - 1, 11 + 1])  # 10, 11, 12 s: SD 1


def test_comparison_uses_largest_size_without_full_data_and_says_when_co2_missing():
    runs = make_results(seeds=1, sizes=(5, 20), co2=False)
    fig = plot_comparison(runs)
    assert "20 images per class" in fig._suptitle.get_text()
    assert "not measured" in fig._supxlabel.get_text()
    assert any(t.get_text() == "not measured" for t in fig.axes[2].texts)


def test_comparison_titles_the_backbone_and_the_scratch_cnn_apart(results):
    # The comparison runner trains "from scratch" on its own small CNN: that is not a mix.
    runs = results.assign(
        backbone=results["backbone"].mask(results["strategy"] == "scratch", "small_cnn")
    )
    title = plot_comparison(runs)._suptitle.get_text()
    assert "efficientnet_lite0 (from scratch: small_cnn) on photos" in title


def test_comparison_caption_keeps_the_lead_and_intensity_of_co2_method(results):
    method = (
        "Estimated by codecarbon 3.3.2 (no hardware power counter readable): CPU power "
        "estimated from load (4.6 W average); RAM 5 W (fixed estimate); carbon intensity "
        "367 g CO2e/kWh (United States grid, 2023 energy mix)."
    )
    caption = plot_comparison(results.assign(co2_method=method))._supxlabel.get_text()
    assert caption.endswith(
        "CO₂: Estimated by codecarbon 3.3.2 (no hardware power counter readable); "
        "carbon intensity 367 g CO2e/kWh (United States grid, 2023 energy mix)."
    )


def test_comparison_refuses_mixed_backbones(results):
    mixed = results.assign(backbone=np.where(results.index % 2, "vgg16", "resnet50"))
    with pytest.raises(InvalidParameterError, match="backbone"):
        plot_comparison(mixed)


# ------------------------------------------------------------------------- learning curves


def test_learning_curves_per_strategy_with_fine_tuning_line_at_its_epoch(results):
    fig = plot_learning_curves(results)
    accuracy, loss = fig.axes
    for ax in (accuracy, loss):
        assert labelled(ax)
        assert vertical_dashed_lines(ax) == [FINE_TUNE_START]
        assert any(t.get_text() == "fine-tuning starts" for t in ax.texts)
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) > 2]
        assert len(curves) == 2 * len(STRATEGIES)  # training and validation per strategy
        assert len(ax.collections) == 2 * len(STRATEGIES)  # one band each: 3 seeds
    assert accuracy.get_ylabel() == "accuracy (%)"
    val = [line for line in accuracy.get_lines() if line.get_linestyle() == "-"][0]
    np.testing.assert_array_equal(val.get_xdata(), np.arange(1, EPOCHS + 1))
    assert max(val.get_ydata()) > 1  # percent


def test_learning_curves_of_one_history_dict_json_or_keras_history():
    history = json.loads(make_results(seeds=1, sizes=(None,))["history"].iloc[0])

    class History:  # what model.fit returns, reduced to what is used
        def __init__(self, history):
            self.history = history

    for given in (history, json.dumps(history), History(history)):
        fig = plot_learning_curves(given, fine_tune_start=2, label="fine_tuning")
        assert vertical_dashed_lines(fig.axes[0]) == [2]
        assert len(fig.axes[0].get_lines()) == 3  # training, validation, the line
        assert len(fig.axes[0].collections) == 0  # one run: no band
    without = plot_learning_curves(history)
    assert vertical_dashed_lines(without.axes[0]) == []


def test_learning_curves_bad_history_and_metric_are_explained():
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        plot_learning_curves(pd.DataFrame({"strategy": ["scratch"], "history": ["{oops"]}))
    with pytest.raises(InvalidParameterError, match=r"\['loss', 'val_loss'\]"):
        plot_learning_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    with pytest.raises(InvalidParameterError, match="dict of per-epoch lists"):
        plot_learning_curves([0.1, 0.2])


# ------------------------------------------------------------------------- data efficiency


def test_data_efficiency_one_line_per_strategy_on_log_sizes(results):
    fig = plot_data_efficiency(results)
    (ax,) = fig.axes
    assert labelled(ax) and "log" in ax.get_xlabel()
    assert ax.get_xscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == len(STRATEGIES)
    for line, strategy in zip(lines, STRATEGIES, strict=True):
        assert to_hex(line.get_color()) == STRATEGY_COLORS[strategy].lower()
        np.testing.assert_array_equal(line.get_xdata(), [5, 20, 30])  # full data: 90 / 3 classes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "20", "30\n(full)"]
    assert any("points" in t.get_text() for t in ax.texts)  # the transfer-vs-scratch gap
    assert "From scratch (n=3)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert plot_data_efficiency(results, log_x=False).axes[0].get_xscale() == "linear"


def test_data_efficiency_needs_sizes():
    with pytest.raises(InvalidParameterError, match="train_per_class"):
        plot_data_efficiency(make_results(seeds=1, sizes=(None,)))


# -------------------------------------------------------------------------- trainable map


def summary(trainable_blocks: int) -> pd.DataFrame:
    blocks = ["stem", *(f"block_{i}" for i in range(16)), "top", "head"]
    params = np.arange(1, len(blocks) + 1) * 1000
    trains = np.arange(len(blocks)) >= len(blocks) - 1 - trainable_blocks
    return pd.DataFrame(
        {"block": blocks, "trainable_params": params * trains, "frozen_params": params * ~trains}
    )


def grid_of(fig) -> np.ndarray:
    mesh = fig.axes[1].collections[0]
    rows = len(fig.axes[1].get_yticks())
    return np.asarray(mesh.get_array()).reshape(rows, -1)


def test_trainable_map_from_summaries_is_legible_for_18_blocks():
    tables = {"feature_extraction": summary(0), "fine_tuning": summary(4), "scratch": summary(18)}
    fig = plot_trainable_map(tables)
    bars, grid = fig.axes[:2]
    assert grid.get_xlabel() and grid.get_title() and bars.get_ylabel()
    ticks = [t.get_text() for t in grid.get_xticklabels()]
    assert ticks[0] == "stem" and ticks[1:3] == ["0", "1"] and ticks[-2:] == ["top", "head"]
    assert [t.get_text() for t in grid.get_yticklabels()] == [
        "Feature extraction",
        "Fine-tuning",
        "From scratch",
    ]
    assert len(bars.patches) == 19
    cells = grid_of(fig)
    assert cells.shape == (3, 19)
    np.testing.assert_array_equal(cells[0], [0] * 18 + [1])
    np.testing.assert_array_equal(cells[1], [0] * 14 + [1] * 5)
    np.testing.assert_array_equal(cells[2], [1] * 19)


def test_trainable_map_builds_a_backbone_for_depths():
    fig = plot_trainable_map("vgg16", {"feature_extraction": 0, "fine_tuning": 2, "scratch": "all"})
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == [
        "1",
        "2",
        "3",
        "4",
        "5",
        "head",
    ]
    rows = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert rows == [
        "Feature extraction\nhead only",
        "Fine-tuning\nlast 2 blocks",
        "From scratch\nall blocks",
    ]
    cells = grid_of(fig)
    np.testing.assert_array_equal(cells > 0.5, [[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1], [1] * 6])


def test_trainable_map_names_missing_columns():
    with pytest.raises(InvalidParameterError, match="frozen_params"):
        plot_trainable_map({"fine_tuning": summary(2).drop(columns="frozen_params")})
    with pytest.raises(InvalidParameterError, match="depths"):
        plot_trainable_map("vgg16")


# ------------------------------------------------------------------------- learning rates


def test_learning_rates_one_bar_per_block_head_last_with_ratios():
    blocks = ["stem", "block_1", "block_2", "block_3"]
    multipliers = [0.01, 0.1, 0.1, 1.0]
    table = pd.DataFrame(
        {
            # head first and two variables per block: aggregation and ordering are checked
            "path": ["classifier/kernel"]
            + [f"{b}/{v}" for b in blocks for v in ("kernel", "bias")],
            "block": ["head"] + [b for b in blocks for _ in range(2)],
            "multiplier": [1.0] + [m for m in multipliers for _ in range(2)],
            "learning_rate": [1e-3] + [1e-3 * m for m in multipliers for _ in range(2)],
        }
    )
    fig = plot_learning_rates(table)
    (ax,) = fig.axes
    assert labelled(ax) and ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["stem", "1", "2", "3", "head"]
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [1e-5, 1e-4, 1e-4, 1e-3, 1e-3])
    ratios = [t.get_text() for t in ax.texts if t.get_text().startswith("×")]
    assert ratios == ["×10", "×10"]  # stem -> block_1, block_2 -> block_3; block_3 = head


def test_learning_rates_frozen_blocks_have_no_bar():
    table = pd.DataFrame(
        {"block": ["block_1", "block_2", None], "learning_rate": [0.0, 1e-4, 1e-3]}
    )
    ax = plot_learning_rates(table).axes[0]
    assert len(ax.patches) == 2
    assert any(t.get_text() == "frozen" for t in ax.texts)


# ------------------------------------------------------------------------------ lr finder


def test_lr_find_log_x_with_suggestion_marked():
    lr = np.logspace(-6, 0, 50)
    loss = 2.3 - np.tanh(np.log10(lr) + 4) + np.where(lr > 0.05, 50.0, 0.0)
    table = pd.DataFrame({"lr": lr, "loss": loss, "smoothed_loss": loss})
    ax = plot_lr_find(table, suggestion=3e-4).axes[0]
    assert labelled(ax) and ax.get_xscale() == "log"
    assert vertical_dashed_lines(ax) == [3e-4]
    assert ax.get_ylim()[1] < 10  # the diverged tail does not flatten the curve
    with pytest.raises(InvalidParameterError, match="suggestion"):
        plot_lr_find(table, suggestion=-1)


# ------------------------------------------------------------------------ parameter counts


@pytest.mark.slow
def test_vgg16_with_a_small_head_is_about_134_million():
    import keras

    counts = parameter_counts(["vgg16"])
    vgg = counts.set_index("name").loc["vgg16"]
    assert abs(vgg["parameters"] - 134e6) / 134e6 < 0.01
    reference = keras.applications.VGG16(weights=None, include_top=True, classes=2)
    assert vgg["parameters"] == reference.count_params() == 134_268_738
    assert vgg["millions"] == pytest.approx(134.27, abs=0.01)
    assert "4096" in vgg["built_with"]


def test_parameter_counts_table_and_figure():
    counts = parameter_counts(["mobilenet_v2", "efficientnet_lite0"], with_head_classes=None)
    assert list(counts.columns) == ["name", "parameters", "millions", "built_with"]
    assert counts.set_index("name").loc["efficientnet_lite0", "parameters"] == 3_413_024
    fig = plot_parameter_counts(counts=counts)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "parameters (millions)" and ax.get_title()
    assert len(ax.patches) == 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mobilenet_v2", "efficientnet_lite0"]
    assert any(t.get_text().endswith(" M") for t in ax.texts)
    with pytest.raises(InvalidParameterError, match="with_head_classes"):
        parameter_counts(["vgg16"], with_head_classes=0)


# ---------------------------------------------------------------------------- common rules


def test_save_figure_writes_a_png_creating_folders(tmp_path, results):
    path = save_figure(plot_comparison(results), tmp_path / "deep" / "folder" / "comparison")
    assert path == tmp_path / "deep" / "folder" / "comparison.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    with pytest.raises(InvalidParameterError, match="Figure"):
        save_figure("not a figure", tmp_path / "x.png")


RESULTS_FUNCTIONS = [
    (plot_comparison, "co2_method"),
    (plot_data_efficiency, "train_images"),
    (plot_learning_curves, "history"),
]


@pytest.mark.parametrize(("func", "column"), RESULTS_FUNCTIONS)
def test_missing_columns_and_empty_frames_are_named(results, func, column):
    with pytest.raises(InvalidParameterError, match=rf"missing the column\(s\) \['{column}'\]"):
        func(results.drop(columns=column))
    with pytest.raises(InvalidParameterError, match="empty DataFrame"):
        func(results.iloc[:0])
    with pytest.raises(InvalidParameterError, match="must be a pandas DataFrame"):
        (plot_comparison if func is plot_learning_curves else func)(results.to_dict())


@pytest.mark.parametrize(
    ("func", "columns"),
    [
        (plot_learning_rates, ["block", "learning_rate"]),
        (plot_lr_find, ["lr", "loss", "smoothed_loss"]),
    ],
)
def test_tables_missing_columns_are_named(func, columns):
    with pytest.raises(
        InvalidParameterError, match=rf"missing the column\(s\) \['{columns[-1]}'\]"
    ):
        func(pd.DataFrame({c: [1.0] for c in columns[:-1]}))
    with pytest.raises(InvalidParameterError, match="empty DataFrame"):
        func(pd.DataFrame(columns=columns))


def test_figures_stay_out_of_pyplot_show_in_notebooks_and_take_an_axes(results):
    plt.close("all")
    comparison = plot_comparison(results)
    plot_learning_curves(results)
    assert plt.get_fignums() == []  # notebooks show the returned figure once; no leak
    # ...and Jupyter can draw it before pyplot (and its inline backend) is ever loaded.
    assert comparison._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, ax = plt.subplots()
    assert plot_data_efficiency(results, ax=ax) is fig
    assert ax.get_xlabel()
    plt.close(fig)
    with pytest.raises(InvalidParameterError, match="'ax'"):
        plot_data_efficiency(results, ax="left")


def test_every_strategy_has_a_label_and_a_colour():
    assert (
        list(STRATEGY_LABELS)
        == list(STRATEGY_COLORS)
        == [
            "scratch",
            "feature_extraction",
            "fine_tuning",
            "fine_tuning_dlr",
        ]
    )
    assert STRATEGY_LABELS["fine_tuning_dlr"] == "Fine-tuning (differential LRs)"
    assert len(set(STRATEGY_COLORS.values())) == 4


def test_docstring_examples_run():
    outcome = doctest.testmod(plots, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.failed == 0 and outcome.attempted > 10


def test_figures_from_the_freezing_and_optimizer_helpers():
    keras = pytest.importorskip("keras")
    freezing = pytest.importorskip("tlcourse.freezing")
    optimizers = pytest.importorskip("tlcourse.optimizers")
    from tlcourse.backbones import load_backbone

    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, name="classifier")(base(inputs)))
    freezing.set_trainable(model, 3)
    model.compile(optimizers.layerwise_optimizer(model, 1e-3, factor=10), "mse")

    table = optimizers.learning_rates(model, include_frozen=True)
    ax = plot_learning_rates(table).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == ["stem", "0"] and ticks[-4:] == ["15", "16", "top", "head"]
    # BatchNorm statistics at rate 0 do not make a trainable block look frozen.
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [1e-6, 1e-5, 1e-4, 1e-3])
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("×")] == ["×10"] * 3
    assert sum(t.get_text() == "frozen" for t in ax.texts) == len(ticks) - 4

    fig = plot_trainable_map({"fine_tuning": freezing.trainable_summary(model)})
    cells = grid_of(fig)[0]
    assert (cells[:-4] == 0).all() and (cells[-4:] > 0.5).all()
