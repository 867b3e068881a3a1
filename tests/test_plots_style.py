"""What every figure shares: no pyplot, no backend chosen, saving, the registry's labels."""

import ast
import errno
import os
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.figure import Figure
from plots_data import make_results, refused_without

import tlcourse
from tlcourse.errors import InvalidParameterError, TLCourseError
from tlcourse.plots import (
    lecture,
    plot_comparison,
    plot_data_efficiency,
    plot_learning_curves,
    plot_learning_rates,
    plot_lr_find,
    save_figure,
)

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


RESULTS_FUNCTIONS = [
    (plot_comparison, "co2_kg"),
    (plot_data_efficiency, "train_images"),
    (plot_learning_curves, "history"),
]


@pytest.mark.parametrize(("func", "column"), RESULTS_FUNCTIONS)
def test_missing_columns_and_empty_frames_are_named(results, func, column):
    refused_without(func, results, column)
    with pytest.raises(InvalidParameterError, match="Got a DataFrame of 0 rows"):
        func(results.iloc[:0])
    with pytest.raises(InvalidParameterError, match="must be a non-empty pandas DataFrame"):
        (plot_comparison if func is plot_learning_curves else func)(results.to_dict())


@pytest.mark.parametrize(
    ("func", "columns"),
    [
        (plot_learning_rates, ["block", "learning_rate"]),
        (plot_lr_find, ["lr", "loss", "smoothed_loss"]),
    ],
)
def test_tables_missing_columns_are_named(func, columns):
    refused_without(func, pd.DataFrame({c: [1.0] for c in columns}), columns[-1])
    with pytest.raises(InvalidParameterError, match="Got a DataFrame of 0 rows"):
        func(pd.DataFrame(columns=columns))


def test_slide_style_is_restored_after_each_figure(results):
    before = matplotlib.rcParams["font.size"]
    plot_comparison(results)
    assert matplotlib.rcParams["font.size"] == before
    assert np.isclose(plot_comparison(results).axes[0].title.get_fontsize(), 14)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES])
def test_a_full_disk_while_saving_is_one_line_and_keeps_the_old_figure(
    tmp_path, monkeypatch, error
):
    path = save_figure(Figure(), tmp_path / "comparison.png")
    before = path.read_bytes()

    def full(self, target, **kwargs):
        Path(target).write_bytes(b"\x89PNG half")  # what a full disk leaves
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(TLCourseError) as raised:
        save_figure(Figure(), path)
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and os.strerror(error) in message
    assert path.read_bytes() == before and sorted(tmp_path.iterdir()) == [path]


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("mount"), reason="needs root")
def test_a_really_full_disk_while_saving(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20k", "tmpfs", str(disk)]).returncode:
        pytest.skip("no tmpfs here")
    try:
        fig = Figure(figsize=(8, 6))
        fig.subplots().plot(range(100))
        with pytest.raises(TLCourseError, match="No space left on device"):
            save_figure(fig, disk / "figures" / "big.png")
        assert list((disk / "figures").iterdir()) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_tlcourse_figures_on_a_full_disk_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    from tlcourse.cli import main

    def full(self, target, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(Figure, "savefig", full)
    results = tmp_path / "results.csv"
    make_results(seeds=1, sizes=(None,)).to_csv(results, index=False)
    out = tmp_path / "figures"
    argv = ["figures", "--out", str(out), "--results", str(results)]
    monkeypatch.setattr("tlcourse.plots.lecture.LECTURE_FIGURES", tuple(
        f for f in lecture.LECTURE_FIGURES if f.needs_results))  # fmt: skip
    assert main(argv) == 2
    printed = capsys.readouterr()
    (line,) = printed.err.strip().splitlines()
    assert line.startswith("tlcourse figures: error: Could not write the figure ")
    assert str(out / "comparison.png") in line and "Traceback" not in printed.err


def test_the_shared_wording_of_blocks_counts_strategies_and_titles():
    from tlcourse.plots import style

    assert [style.short_block(n) for n in ["block_3", "block3a", "conv4_block2", "stem"]] == [
        "3", "3a", "4.2", "stem",
    ]  # fmt: skip
    assert (style.count_text(2560), style.count_text(3_330_000), style.count_text(0)) == (
        "2.56 k", "3.33 M", "0",
    )  # fmt: skip
    assert style.ordered_strategies(["fine_tuning", "my_idea", "scratch"]) == [
        "scratch", "fine_tuning", "my_idea",
    ]  # fmt: skip
    text = style.wrap_to_width("CO2 estimated by codecarbon; grid: World average", 2, 11)
    assert text.splitlines() == ["CO2 estimated by", "codecarbon; grid:", "World average"]
    runs = pd.DataFrame({"strategy": ["scratch", "fine_tuning"],
                         "backbone": ["small_cnn", "vgg16"], "dataset": "photos"})  # fmt: skip
    assert style.context(runs, "plot_comparison") == "vgg16 (from scratch: small_cnn) on photos"


def test_spread_is_one_sd_from_three_values_and_min_max_from_two():
    from tlcourse.plots import style

    runs = pd.DataFrame({"s": ["a", "a", "b", "b", "b"], "v": [1.0, 3.0, 1.0, 2.0, 3.0]})
    assert style.spread(runs, "v", ["s"])[["low", "high"]].values.tolist() == [[1, 3], [1, 3]]


def test_the_full_training_set_is_placed_at_its_images_per_class():
    from tlcourse.plots.data_efficiency import with_per_class

    runs = pd.DataFrame({"train_per_class": [5, None], "train_images": [15, 90],
                         "test_accuracy": [0.5, 0.75]})  # fmt: skip
    assert with_per_class(runs)[["per_class", "accuracy"]].values.tolist() == [[5, 50], [30, 75]]
