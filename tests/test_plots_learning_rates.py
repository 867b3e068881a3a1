"""The learning rate per block: log scale, the head last, ratios between groups, frozen blocks."""

import keras
import numpy as np
import pandas as pd
import pytest
from plots_data import labelled

from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import load_backbone
from tlcourse.plots import plot_learning_rates
from tlcourse.transfer.freezing import set_trainable
from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates


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
    with pytest.raises(InvalidParameterError, match="'figsize' parameter of plot_learning_rates"):
        plot_learning_rates(table, figsize=(8,))


def test_learning_rates_of_a_layerwise_optimizer():
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Dense(3, name="classifier")(base(inputs)))
    set_trainable(model, 3)
    model.compile(layerwise_optimizer(model, 1e-3, factor=10), "mse")

    table = learning_rates(model, include_frozen=True)
    ax = plot_learning_rates(table).axes[0]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks[:2] == ["stem", "0"] and ticks[-4:] == ["15", "16", "top", "head"]
    # BatchNorm statistics at rate 0 do not make a trainable block look frozen.
    np.testing.assert_allclose([p.get_height() for p in ax.patches], [1e-6, 1e-5, 1e-4, 1e-3])
    assert [t.get_text() for t in ax.texts if t.get_text().startswith("×")] == ["×10"] * 3
    assert sum(t.get_text() == "frozen" for t in ax.texts) == len(ticks) - 4
