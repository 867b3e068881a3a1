"""The deployment figure: size, latency and CO2 per 1,000 predictions, per network or strategy."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from plots_data import make_results, refused_without

from tlcourse.comparison.strategies import strategy_color
from tlcourse.errors import InvalidParameterError
from tlcourse.plots import plot_deployment


def networks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["vgg16", "efficientnet_lite0", "small_cnn"],
            "model_mb": [58.97, 14.24, 0.47],
            "latency_ms": [640.0, 26.5, 2.74],
            "co2_per_1000_predictions_kg": [9.4e-4, 7.4e-5, 8.9e-6],
            "co2_per_1000_predictions_kg_low": [8.7e-4, 6.7e-5, 8.0e-6],
            "co2_per_1000_predictions_kg_high": [1.07e-3, 8.8e-5, 1.0e-5],
            "built_with": "transfer_classifier(..., weights=None)",
            "co2_estimated": True,
            "co2_power_source": "CPU load x TDP",
            "co2_grid": "World average",
            "carbon_intensity_g_per_kwh": 475.0,
            "co2_range_basis": "CPU power 2-8 W per thread",
        }
    )


def test_networks_side_by_side_values_printed_log_axes_and_the_range():
    fig = plot_deployment(networks())
    size, latency, co2 = fig.axes
    assert [t.get_text() for t in size.get_xticklabels()] == [
        "vgg16", "efficientnet_lite0", "small_cnn",
    ]  # fmt: skip
    assert [ax.get_yscale() for ax in fig.axes] == ["log"] * 3  # 59 MB against 0.47 MB
    assert [t.get_text() for t in size.texts] == ["59 MB", "14 MB", "0.47 MB"]
    assert [t.get_text() for t in latency.texts] == ["640 ms", "26.5 ms", "2.74 ms"]
    assert co2.get_ylabel() == "CO₂ (mg)" and [t.get_text() for t in co2.texts][0] == "940"
    bands = [c for c in co2.collections if c.get_hatch()]
    assert len(bands) == 3
    np.testing.assert_allclose(sorted(set(bands[0].get_paths()[0].vertices[:, 1])), [870, 1070])
    caption = fig._supxlabel.get_text().replace("\n", " ")
    assert "Random weights" in caption and "Range: CPU power 2-8 W per thread" in caption
    assert "batch 1" in caption


def test_strategies_from_results_median_over_runs_in_registry_colours():
    results = make_results(seeds=3, sizes=(5, None))
    scratch = results["strategy"] == "scratch"
    results = results.assign(
        model_mb=np.where(scratch, 0.47, 14.2),
        latency_ms=np.where(scratch, 2.0, 20.0) + results["seed"],  # median: seed 1
        co2_per_1000_predictions_kg=np.where(scratch, 9e-6, 7e-5),
    )
    fig = plot_deployment(results)
    latency = fig.axes[1]
    assert [p.get_height() for p in latency.patches] == [3.0, 21.0, 21.0, 21.0]
    ticks = [t.get_text() for t in latency.get_xticklabels()]
    assert ticks[0] == "From scratch\n(efficientnet_lite0)"
    assert to_hex(latency.patches[0].get_facecolor()) == strategy_color("scratch").lower()
    # 14.2 MB against 0.47 MB: over 30x, a log axis; 21 ms against 3 ms: linear.
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "linear", "linear"]
    assert not [c for c in fig.axes[2].collections if c.get_hatch()]


def test_bad_tables_are_explained():
    refused_without(plot_deployment, networks(), "latency_ms")
    with pytest.raises(InvalidParameterError, match="'strategy' column.*or a 'name' column"):
        plot_deployment(networks().drop(columns="name"))
    with pytest.raises(InvalidParameterError, match="'figsize' parameter of plot_deployment"):
        plot_deployment(networks(), figsize=(1,))
