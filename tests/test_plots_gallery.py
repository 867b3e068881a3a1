"""The gallery of photos scratch gets wrong and transfer gets right."""

import pytest
from plots_data import make_predictions

from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_gallery
from tlcourse.plots.mistakes import gallery_applies


def test_gallery_shows_rescued_photos_one_class_after_another(tmp_path):
    predictions = make_predictions(seeds=3, folder=tmp_path)
    fig = plot_gallery(predictions, max_images=4)
    shown = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in shown] == ["birds", "fish", "fruit", "birds"]
    assert "(6 photos, 4 shown)" in fig._suptitle.get_text()
    lines = shown[1].get_xlabel().split("\n")
    assert lines[0].startswith("✗ From scratch: fruit (wrong in 3/3)")
    assert lines[1:] == [
        "✗ Feature extraction: fruit (wrong in 3/3)",
        "✓ Fine-tuning: fish (right in 3/3)",
    ]


def test_relative_files_a_missing_photo_and_nothing_to_show(tmp_path):
    make_predictions(folder=tmp_path)  # writes the photos
    relative = make_predictions()  # files relative to tmp_path
    fig = plot_gallery(relative, images_root=tmp_path, max_images=2)
    assert sum(bool(ax.images) for ax in fig.axes) == 2
    missing = plot_gallery(relative, max_images=1)  # read as given: not found here
    assert any("not found" in t.get_text() for t in missing.axes[0].texts)
    empty = plot_gallery(relative.assign(predicted=relative["true"]))  # nobody wrong
    assert "No test photo qualifies" in empty.axes[0].texts[0].get_text()


def test_gallery_needs_a_baseline_and_files():
    predictions = make_predictions()
    assert gallery_applies(predictions)
    assert not gallery_applies(predictions.drop(columns="file"))
    assert not gallery_applies(predictions[predictions["strategy"] != "scratch"])
    with pytest.raises(InvalidParameterError, match="'baseline' parameter of plot_gallery"):
        plot_gallery(predictions[predictions["strategy"] != "scratch"])
    with pytest.raises(InvalidParameterError, match="'max_images' parameter"):
        plot_gallery(predictions, max_images=0)
    with pytest.raises(InvalidParameterError, match="'file'"):
        plot_gallery(predictions.drop(columns="file"))


def test_verdicts_count_the_runs_whose_test_split_held_the_photo(tmp_path):
    # Regression: each seed draws its own split, so a photo can be in the test set of 2 runs
    # out of 3; "right in 2/3" with a cross (one of two right) was both wrong and confusing.
    predictions = make_predictions(seeds=3, folder=tmp_path)
    first = predictions["file"].iloc[0]
    dropped = (predictions["file"] == first) & (predictions["seed"] == 2)
    fig = plot_gallery(predictions[~dropped], max_images=1)
    (shown,) = [ax for ax in fig.axes if ax.images]
    for line in shown.get_xlabel().split("\n"):
        assert line.endswith(("in 2/2)", "in 1/2)")), line
        assert line.startswith("✓") == ("right in" in line), line
