"""The comparison figure: bars per strategy, the spread rule, titles, the CO2 footnote."""

import numpy as np
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from plots_data import STRATEGIES, linear_probe, make_results, with_strategy

from tlcourse.comparison.strategies import strategy_color
from tlcourse.errors import InvalidParameterError
from tlcourse.measure import co2_footnote
from tlcourse.plots import plot_comparison


@pytest.fixture(scope="module")
def results():
    return make_results()


def caption_of(fig) -> str:
    return fig._supxlabel.get_text()


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
    assert "by codecarbon; grid: United States, 367 g CO2e/kWh" in caption_of(fig)
    # Only the full-data rows: bar = mean accuracy of those, in percent.
    full = results[results["train_per_class"].isna()]
    expected = full.groupby("strategy")["test_accuracy"].mean() * 100
    heights = [p.get_height() for p in accuracy.patches]
    np.testing.assert_allclose(heights, expected[STRATEGIES].to_numpy())
    for patch, strategy in zip(accuracy.patches, STRATEGIES, strict=True):
        assert to_hex(patch.get_facecolor()) == strategy_color(strategy).lower()


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
    assert "not measured" in caption_of(fig)
    assert any(t.get_text() == "not measured" for t in fig.axes[2].texts)


def test_comparison_full_data_written_as_all_or_none_is_the_full_training_set(results):
    # A results.csv read back, or the command line's word: one thing to the figure.
    for full in ("all", None):
        runs = results.astype({"train_per_class": object})
        runs.loc[runs["train_per_class"].isna(), "train_per_class"] = full
        assert "full training set" in plot_comparison(runs)._suptitle.get_text()


def test_comparison_titles_the_backbone_and_the_scratch_cnn_apart(results):
    # The comparison runner trains "from scratch" on its own small CNN: that is not a mix.
    runs = results.assign(
        backbone=results["backbone"].mask(results["strategy"] == "scratch", "small_cnn")
    )
    title = plot_comparison(runs)._suptitle.get_text()
    assert "efficientnet_lite0 (from scratch: small_cnn) on photos" in title


def test_comparison_footnote_is_co2_footnote_of_the_structured_columns_whole(results):
    # Regression: the caption was re-parsed from the co2_method sentence and cut with " …".
    runs = results.assign(co2_method="a sentence the figure must not read")
    half = runs.index % 2 == 0
    runs.loc[half, "co2_mode"] = "measured (RAPL); GPU measured"
    runs.loc[half, "co2_grid"] = "United Kingdom of Great Britain and Northern Ireland"
    runs.loc[half, "carbon_intensity_g_per_kwh"] = 233.0
    fig = plot_comparison(runs)
    caption = caption_of(fig)
    full = runs[runs["train_per_class"].isna()]
    footnote = co2_footnote(full)
    assert len(footnote) > 160  # longer than one line: it must be wrapped, not cut
    assert footnote in caption.split("\n", 1)[1].replace("\n", " ")
    assert "…" not in caption and "..." not in caption and "sentence" not in caption
    # ...and it fits in the slide-size figure (drawn at the figure's own dpi).
    fig.draw_without_rendering()
    extent = fig._supxlabel.get_window_extent()
    assert extent.x0 >= 0 and extent.x1 <= fig.bbox.width


def test_a_registered_strategy_is_drawn_with_its_label_and_colour_without_overlap(results):
    with linear_probe() as probe:
        fig = plot_comparison(with_strategy(results, "linear_probe"))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[2].startswith("Linear\nprobe")  # in registry order, after feature extraction
    assert to_hex(ax.patches[2].get_facecolor()) == probe.color.lower()
    # Five labels at slide size: "Fine-tuning" breaks at its hyphen instead of running into
    # its neighbours; no line of a label overlaps the same line of the next one.
    lines = [line_spans(fig, t) for t in ax.get_xticklabels()]
    for left, right in zip(lines, lines[1:], strict=False):
        assert all(a[1] <= b[0] for a, b in zip(left, right, strict=False)), (left, right)


def line_spans(fig, text) -> list[tuple[float, float]]:
    """(left, right) in pixels of each line of a centred tick label."""
    renderer = fig._get_renderer()
    centre = text.get_window_extent(renderer).intervalx.mean()
    spans = []
    for line in text.get_text().split("\n"):
        width, _, _ = renderer.get_text_width_height_descent(
            line, text.get_fontproperties(), ismath=False
        )
        spans.append((centre - width / 2, centre + width / 2))
    return spans


def test_comparison_refuses_mixed_backbones_and_bad_figsize(results):
    mixed = results.assign(backbone=np.where(results.index % 2, "vgg16", "resnet50"))
    with pytest.raises(InvalidParameterError, match="backbone"):
        plot_comparison(mixed)
    with pytest.raises(InvalidParameterError, match="'figsize' parameter of plot_comparison"):
        plot_comparison(results, figsize=(14, -1))


def with_range(results, basis="CPU power 2-8 W per thread (codecarbon assumed 4 W: its default)"):
    return results.assign(
        co2_kg_low=results["co2_kg"] * 0.6,
        co2_kg_high=results["co2_kg"] * 1.7,
        co2_range_basis=basis,
        co2_estimated=True,
        co2_power_source="CPU load x TDP",
    )


def test_comparison_draws_the_co2_range_and_states_its_assumption(results):
    runs = with_range(results)
    fig = plot_comparison(runs)
    co2 = fig.axes[2]
    full = runs[runs["train_per_class"].isna()]
    bands = [c for c in co2.collections if c.get_hatch()]
    assert len(bands) == len(STRATEGIES)
    for band, strategy in zip(bands, STRATEGIES, strict=True):
        rows = full[full["strategy"] == strategy]
        y = band.get_paths()[0].vertices[:, 1]
        np.testing.assert_allclose(
            [y.min(), y.max()],
            [rows["co2_kg_low"].mean() * 1e6, rows["co2_kg_high"].mean() * 1e6],  # mg
        )
    assert co2.get_ylim()[1] > full["co2_kg_high"].max() * 1e6  # the whole range in view
    caption = caption_of(fig)
    assert "hatched: range of the CO₂ estimate" in caption
    assert "Range: CPU power 2-8 W per thread" in caption.replace("\n", " ")
    # Printed with two digits: the estimate is known within a factor of two, not to 3 digits.
    assert all(len(t.get_text().replace(".", "")) <= 2 for t in co2.texts)
    fig.draw_without_rendering()
    extent = fig._supxlabel.get_window_extent()
    assert extent.x0 >= 0 and extent.x1 <= fig.bbox.width and extent.y0 >= 0


def test_comparison_without_a_stated_range_draws_none(results):
    runs = results.assign(co2_kg_low=results["co2_kg"], co2_kg_high=results["co2_kg"])
    fig = plot_comparison(runs)
    assert not [c for c in fig.axes[2].collections if c.get_hatch()]
    assert "hatched" not in caption_of(fig)
