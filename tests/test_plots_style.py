"""What every figure shares: no pyplot, no backend chosen, saving, the registry's labels."""

import ast
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from plots_data import linear_probe, make_results

import tlcourse
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import (
    STRATEGY_COLORS,
    STRATEGY_LABELS,
    plot_comparison,
    plot_data_efficiency,
    plot_learning_curves,
    plot_learning_rates,
    plot_lr_find,
    save_figure,
)
from tlcourse.strategies import strategy_color, strategy_label, strategy_names

PLOTS = Path(tlcourse.__file__).parent / "plots"


@pytest.fixture(scope="module")
def results():
    return make_results()


def test_save_figure_writes_a_png_creating_folders(tmp_path, results):
    path = save_figure(plot_comparison(results), tmp_path / "deep" / "folder" / "comparison")
    assert path == tmp_path / "deep" / "folder" / "comparison.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000
    assert save_figure(Figure(), str(tmp_path / "plain.pdf")).read_bytes()[:4] == b"%PDF"
    with pytest.raises(InvalidParameterError, match="Figure"):
        save_figure("not a figure", tmp_path / "x.png")
    with pytest.raises(InvalidParameterError, match="'path' parameter of save_figure"):
        save_figure(Figure(), 3)


def test_figures_stay_out_of_pyplot_show_in_notebooks_and_take_an_axes(results):
    plt.close("all")
    comparison = plot_comparison(results)
    plot_learning_curves(results)
    assert plt.get_fignums() == []  # notebooks show the returned figure once; no leak
    # ...and Jupyter can draw it before pyplot (and its inline backend) is ever loaded.
    assert comparison._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    fig, ax = plt.subplots()
    assert plot_data_efficiency(results, ax=ax) is fig
    plt.close(fig)


def test_no_module_of_the_figures_imports_pyplot_or_chooses_a_backend():
    # Only the command line chooses a backend (tlcourse.cli.main); a notebook keeps its own.
    for path in sorted(PLOTS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any("pyplot" in n for n in names), path.name
            if isinstance(node, ast.Attribute) and node.attr == "use":
                assert getattr(node.value, "id", "") != "matplotlib", path.name


def test_strategy_labels_and_colours_are_views_of_the_registry():
    assert list(STRATEGY_LABELS) == list(STRATEGY_COLORS) == list(strategy_names())
    assert list(STRATEGY_LABELS)[:4] == [
        "scratch",
        "feature_extraction",
        "fine_tuning",
        "fine_tuning_dlr",
    ]
    assert STRATEGY_LABELS["fine_tuning_dlr"] == "Fine-tuning (differential LRs)"
    assert len(set(STRATEGY_COLORS.values())) == len(STRATEGY_COLORS)
    with linear_probe():
        assert STRATEGY_LABELS["linear_probe"] == "Linear probe"
        assert STRATEGY_COLORS["linear_probe"] == strategy_color("linear_probe")
    assert "linear_probe" not in STRATEGY_LABELS
    with pytest.raises(TypeError):
        STRATEGY_LABELS["scratch"] = "Scratch"  # read-only: register a strategy instead
    # An unregistered name (a table from an older version) is drawn under its own name.
    assert strategy_label("old_name") == "old_name"


RESULTS_FUNCTIONS = [
    (plot_comparison, "co2_kg"),
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


def test_slide_style_is_restored_after_each_figure(results):
    before = matplotlib.rcParams["font.size"]
    plot_comparison(results)
    assert matplotlib.rcParams["font.size"] == before
    assert np.isclose(plot_comparison(results).axes[0].title.get_fontsize(), 14)
