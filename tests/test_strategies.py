"""The strategy registry: built-in records, costs, and a new strategy seen everywhere."""

import dataclasses

import pandas as pd
import pytest
from strategy_toys import LINEAR_PROBE, MAJORITY, make_photo_folder, registered

from tlcourse.cli import main
from tlcourse.comparison import FAST_BUDGET, Budget, compare
from tlcourse.comparison.strategies import (
    STRATEGIES,
    Strategy,
    get_strategy,
    list_strategies,
    register_strategy,
    strategy_color,
    strategy_label,
    strategy_names,
)
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_comparison, plot_learning_curves

BUDGET_FIELDS = {f.name for f in dataclasses.fields(Budget)}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"))


def test_the_built_in_records():
    assert strategy_names(default=True) == STRATEGIES == (
        "scratch", "feature_extraction", "fine_tuning", "fine_tuning_dlr",
    )  # fmt: skip
    assert strategy_names(default=False) == ("scratch_backbone",)
    table = list_strategies()
    assert list(table.index) == [*STRATEGIES, "scratch_backbone"]
    assert table.loc["scratch", "network"] == "small_cnn"
    assert table["uses_features"].tolist() == [False, True, True, True, False]
    for name in strategy_names():
        record = get_strategy(name)
        assert set(record.budget_fields) <= BUDGET_FIELDS
        assert (
            record.run.__module__
            == f"tlcourse.comparison.strategies.{record.run.__module__.split('.')[-1]}"
        )
    assert "factor" in get_strategy("fine_tuning_dlr").budget_fields
    assert "factor" not in get_strategy("fine_tuning").budget_fields


def test_records_are_validated():
    with pytest.raises(InvalidParameterError, match="'color' parameter of Strategy"):
        Strategy("toy", "Toy", "not-a-colour", run=print)
    with pytest.raises(InvalidParameterError, match="'run' parameter of Strategy"):
        Strategy("toy", "Toy", "#000000", run="print")
    with pytest.raises(InvalidParameterError, match="'budget_fields' parameter of Strategy"):
        Strategy("toy", "Toy", "#000000", run=print, budget_fields="epochs")
    with pytest.raises(InvalidParameterError, match="not registered yet.*replace=True"):
        register_strategy(get_strategy("scratch"))
    with pytest.raises(InvalidParameterError, match="get_strategy.*Did you mean 'fine_tuning'"):
        get_strategy("fine_tunning")


def test_a_registered_strategy_runs_in_compare_is_listed_and_drawn(folder):
    with registered(LINEAR_PROBE, MAJORITY):
        assert {"linear_probe", "majority"} <= set(list_strategies().index)
        assert strategy_names()[:3] == ("scratch", "feature_extraction", "linear_probe")
        table = compare(str(folder), strategies="feature_extraction,linear_probe,majority",
                        budget=FAST_BUDGET, image_size=32, seeds=(0,), out=None,
                        progress=None)  # fmt: skip
        rows = table.set_index("strategy")
        assert rows.loc["linear_probe", "backbone"] == "efficientnet_lite0"
        assert rows.loc["majority", "backbone"] == "majority_vote"
        assert rows.loc["linear_probe", "trainable_params"] == 1280 * 3 + 3
        assert rows.loc["linear_probe", ["epochs", "fine_tune_epochs", "depth"]].tolist() == [
            FAST_BUDGET.epochs, 0, 0,
        ]  # fmt: skip
        assert rows.loc["majority", "epochs"] == 0  # lists no budget field
        # Charged the feature pass, as feature extraction is.
        assert rows.loc["linear_probe", "wall_seconds"] > rows.loc["majority", "wall_seconds"]
        assert strategy_label("linear_probe") == "Linear probe"
        figure = plot_comparison(table)
        ticks = " ".join(t.get_text() for ax in figure.axes for t in ax.get_xticklabels())
        ticks = " ".join(ticks.split())  # labels are wrapped over lines
        assert "Linear probe" in ticks and "Majority class" in ticks
        legend = plot_learning_curves(table).legends[0]
        assert "Linear probe" in [t.get_text() for t in legend.get_texts()]
        bars = [p.get_facecolor() for p in figure.axes[0].patches]
        assert len(bars) == 3
    assert "linear_probe" not in strategy_names()
    assert strategy_color("linear_probe") in ("#CC79A7", "#D55E00", "#56B4E9", "#8C564B",
                                              "#000000")  # fmt: skip


def test_a_registered_strategy_is_accepted_by_the_cli(folder, tmp_path, capsys):
    with registered(LINEAR_PROBE):
        argv = ["compare", "--strategies", "linear_probe", "--fast", "--image-size", "32",
                "--data", str(folder), "--out", str(tmp_path)]  # fmt: skip
        assert main(argv) == 0
        assert "linear_probe" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "results.csv")
    assert list(table["strategy"]) == ["linear_probe"]
    assert (tmp_path / "comparison.png").is_file() and (tmp_path / "learning_curves.png").is_file()


def test_the_backbone_from_scratch_trains_every_layer_with_batchnorm_momentum_0_9(folder):
    import keras

    from tlcourse.comparison import Budget, ComparisonContext
    from tlcourse.comparison.strategies import get_strategy

    # The small photo folder: one batch per epoch (the whole network trains all the same).
    context = ComparisonContext(str(folder), image_size=32, budget=Budget(epochs=1, batch_size=32))
    result = get_strategy("scratch_backbone").run(context, context.dataset(seed=0), seed=0)
    batchnorms = [
        layer
        for layer in result.model.get_layer("efficientnet_lite0").layers
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert batchnorms and all(b.momentum == 0.9 and b.trainable for b in batchnorms)
    assert result.trained_on == "whole model"
