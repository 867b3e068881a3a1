"""The trainable map: blocks by strategy from summaries, models or a backbone and depths."""

import keras
import numpy as np
import pytest
from plots_data import grid_of, summary

from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import load_backbone
from tlcourse.plots import plot_trainable_map
from tlcourse.transfer.freezing import set_trainable, trainable_summary


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


def test_trainable_map_reads_a_model_through_trainable_summary():
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, name="classifier")(base(inputs)))
    set_trainable(model, 3)
    fig = plot_trainable_map({"fine_tuning": model})
    cells = grid_of(fig)[0]
    assert (cells[:-4] == 0).all() and (cells[-4:] > 0.5).all()
    table = trainable_summary(model)
    assert len(cells) == len(table)  # the one grouping: freezing's, block for block


def test_a_depth_beyond_the_blocks_is_refused_by_plot_trainable_map_itself():
    # Regression: the error named set_trainable, a function the caller never called.
    with pytest.raises(InvalidParameterError) as error:
        plot_trainable_map("vgg16", {"fine_tuning": 9})
    assert str(error.value).startswith(
        "The 'depths' parameter of plot_trainable_map must be an int in the range [0, 5] or 'all'."
    )
    with pytest.raises(InvalidParameterError, match="'depths' parameter of plot_trainable_map"):
        plot_trainable_map("vgg16", {"fine_tuning": 1.5})
    with pytest.raises(InvalidParameterError, match="Did you mean 'vgg16'"):
        plot_trainable_map("vgg", {"fine_tuning": 1})


def test_trainable_map_names_missing_columns_and_depths():
    with pytest.raises(InvalidParameterError, match="frozen_params"):
        plot_trainable_map({"fine_tuning": summary(2).drop(columns="frozen_params")})
    with pytest.raises(InvalidParameterError, match="depths"):
        plot_trainable_map("vgg16")
    with pytest.raises(InvalidParameterError, match="'num_classes' parameter"):
        plot_trainable_map({"fine_tuning": summary(2)}, num_classes=1)
