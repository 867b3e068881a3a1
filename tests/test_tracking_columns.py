"""Tests of tlcourse.measure.columns and combine_records: results-row columns, footnotes."""

from __future__ import annotations

import io
import types

import pandas as pd
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.measure import (
    CO2_COLUMNS,
    EmissionsRecord,
    co2_columns,
    co2_footnote,
    combine_records,
)


def record(grid="World average", intensity=475.0, gpu=0.0, **fields):
    data = types.SimpleNamespace(duration=1.0, cpu_energy=1e-6, ram_energy=1e-6, gpu_energy=gpu,
                                 ram_power=5.0, cpu_count=2)  # fmt: skip
    defaults = dict(
        label="run",
        measured=True,
        energy_kwh=2e-6 + gpu,
        co2_kg=(2e-6 + gpu) * intensity / 1000,
        tracking_mode="process",
        country=None if grid == "World average" else grid[:3].upper(),
        country_name=grid,
        carbon_intensity_g_per_kwh=intensity,
        cpu_tdp_w=8.0,
        codecarbon_version="3.3.2",
        emissions_data=data,
    )
    return EmissionsRecord(**{**defaults, **fields})


def table(*rows) -> pd.DataFrame:
    return pd.DataFrame([{"co2_kg": r.co2_kg, **co2_columns(r)} for r in rows])


# --------------------------------------------------------------------------------------------
# co2_columns
# --------------------------------------------------------------------------------------------


def test_columns_of_one_record():
    columns = co2_columns(record(co2_kg_low=1e-7, co2_kg_high=2e-6, co2_range_basis="2-8 W"))
    assert tuple(columns) == CO2_COLUMNS
    assert CO2_COLUMNS[:4] == ("co2_mode", "co2_grid", "carbon_intensity_g_per_kwh", "co2_method")
    assert columns["co2_mode"] == "estimated (CPU load x TDP)"
    assert columns["co2_grid"] == "World average"
    assert columns["carbon_intensity_g_per_kwh"] == pytest.approx(475)
    assert columns["co2_method"].startswith("Estimated by codecarbon 3.3.2")
    assert columns["co2_tracking_mode"] == "process"
    assert (columns["co2_kg_low"], columns["co2_kg_high"]) == (1e-7, 2e-6)
    assert columns["co2_range_basis"] == "2-8 W"


def test_columns_of_an_unmeasured_record():
    columns = co2_columns(EmissionsRecord(label="x", reason="no codecarbon"))
    assert columns["co2_mode"] == "not measured" and columns["co2_kg_low"] is None
    assert columns["co2_method"].startswith("Not measured: no codecarbon")
    assert columns["carbon_intensity_g_per_kwh"] is None and columns["co2_grid"] is None


def test_columns_of_summed_records_are_the_columns_of_their_sum():
    features = record(energy_kwh=1e-6, co2_kg=1e-6 * 0.475)
    head = record(energy_kwh=3e-6, co2_kg=3e-6 * 0.475)
    columns = co2_columns(features, head)
    assert columns == co2_columns(combine_records([features, head]))
    assert columns["co2_mode"] == "estimated (CPU load x TDP)"
    assert columns["carbon_intensity_g_per_kwh"] == pytest.approx(475)
    # One piece not measured: the row is not measured (a total without it would understate).
    mixed = co2_columns(record(), record(), EmissionsRecord(label="failed", reason="no luck"))
    assert mixed["co2_mode"] == "not measured" and mixed["co2_kg_low"] is None
    assert "failed not measured (no luck)" in mixed["co2_method"]


# --------------------------------------------------------------------------------------------
# combine_records: the one cost arithmetic
# --------------------------------------------------------------------------------------------


def test_combined_times_energy_co2_and_ranges_add_up():
    a = record(wall_seconds=1.0, cpu_seconds=1.5, co2_kg_low=0.5e-6, co2_kg_high=2e-6)
    b = record(wall_seconds=2.0, cpu_seconds=0.5, co2_kg_low=0.2e-6, co2_kg_high=1e-6)
    total = combine_records([a, b])
    assert (total.wall_seconds, total.cpu_seconds) == (3.0, 2.0)
    assert total.energy_kwh == pytest.approx(a.energy_kwh + b.energy_kwh)
    assert total.co2_kg == pytest.approx(a.co2_kg + b.co2_kg)
    assert (total.co2_kg_low, total.co2_kg_high) == (pytest.approx(0.7e-6), pytest.approx(3e-6))
    assert total.measured and total.mode == a.mode and total.country_name == "World average"
    assert total.carbon_intensity_g_per_kwh == pytest.approx(475)
    assert (a.wall_seconds, a.co2_kg_low) == (1.0, 0.5e-6)  # the pieces are left as they are


def test_a_measured_piece_without_a_range_counts_its_co2_at_both_ends():
    ranged = record(co2_kg=2e-6, co2_kg_low=1e-6, co2_kg_high=4e-6)
    bare = record(co2_kg=3e-6)  # co2_kg_low/high None: no uncertainty stated for it
    total = combine_records([ranged, bare])
    assert total.co2_kg == pytest.approx(5e-6)
    assert (total.co2_kg_low, total.co2_kg_high) == (pytest.approx(4e-6), pytest.approx(7e-6))
    assert total.co2_kg_low <= total.co2_kg <= total.co2_kg_high


def test_a_piece_not_measured_leaves_the_total_not_measured():
    lost = EmissionsRecord("head", wall_seconds=2.0, cpu_seconds=2.0, reason="no codecarbon")
    total = combine_records([record(wall_seconds=1.0, cpu_seconds=1.0), lost])
    assert not total.measured and total.wall_seconds == 3.0 and total.cpu_seconds == 3.0
    assert total.energy_kwh is total.co2_kg is total.co2_kg_low is total.co2_kg_high is None
    assert total.reason == "head not measured (no codecarbon)" and total.mode == "not measured"


def test_combined_pieces_from_different_grids():
    france = record(grid="France", intensity=56.0, energy_kwh=1e-6, co2_kg=56e-9)
    world = record(energy_kwh=1e-6, co2_kg=475e-9)
    total = combine_records([france, world])
    assert total.carbon_intensity_g_per_kwh == pytest.approx(265.5)
    assert total.country_name == "France + World average"
    assert combine_records([france]) == france and combine_records([france]) is not france


def test_combine_records_refuses_nothing_and_what_is_not_a_record():
    with pytest.raises(InvalidParameterError, match="'records' parameter of combine_records"):
        combine_records([])
    with pytest.raises(InvalidParameterError, match="'records' parameter of combine_records"):
        combine_records([record(), {"co2_kg": 1}])


def test_columns_refuse_what_is_not_a_record():
    with pytest.raises(InvalidParameterError, match="'record' parameter of co2_columns"):
        co2_columns({"co2_kg": 1})
    with pytest.raises(InvalidParameterError, match="'more' parameter of co2_columns"):
        co2_columns(record(), None)
    with pytest.raises(InvalidParameterError, match="'results' parameter of co2_footnote"):
        co2_footnote([{"co2_kg": 1e-6}])


# --------------------------------------------------------------------------------------------
# co2_footnote
# --------------------------------------------------------------------------------------------


def test_footnote_one_mode():
    assert co2_footnote(table(record(), record())) == (
        "CO2 estimated (CPU load x TDP) by codecarbon; grid: World average, 475 g CO2e/kWh."
    )
    assert co2_footnote(table(record(gpu=1e-6, grid="France", intensity=56.0))) == (
        "CO2 estimated (CPU load x TDP, GPU measured) by codecarbon; grid: France, 56 g CO2e/kWh."
    )


def test_footnote_two_modes_and_two_grids():
    runs = table(record(), record(), record()).assign(co2_mode=["a", "a", "measured (RAPL)"])
    assert co2_footnote(runs) == (
        "CO2 by codecarbon: a for 2 runs, measured (RAPL) for 1 run; "
        "grid: World average, 475 g CO2e/kWh."
    )
    grids = table(record(), record(grid="France", intensity=56.0), record(grid="France"))
    assert co2_footnote(grids) == (
        "CO2 estimated (CPU load x TDP) by codecarbon; grids: World average, 475 g CO2e/kWh "
        "(1 run); France, 266 g CO2e/kWh (2 runs)."
    )


def test_footnote_counts_unmeasured_rows():
    runs = table(record(), record(), EmissionsRecord(label="failed", reason="stop() failed"))
    assert co2_footnote(runs) == (
        "CO2 estimated (CPU load x TDP) by codecarbon; grid: World average, 475 g CO2e/kWh. "
        "Not measured for 1 of 3 runs."
    )
    nothing = table(EmissionsRecord(label="a"), EmissionsRecord(label="b"))
    assert co2_footnote(nothing) == "CO2 not measured for these runs."
    assert co2_footnote(pd.DataFrame({"seed": [0]})) == "CO2 not measured for these runs."


def test_footnote_of_an_old_table_without_the_new_columns():
    old = pd.DataFrame(
        {
            "co2_kg": [1e-6, 2e-6],
            "co2_mode": "estimated (CPU load x TDP)",
            "co2_grid": "World average",
            "carbon_intensity_g_per_kwh": 475.0,
            "co2_method": "Estimated by codecarbon 3.3.2 (...)",
        }
    )
    assert co2_footnote(old) == (
        "CO2 estimated (CPU load x TDP) by codecarbon; grid: World average, 475 g CO2e/kWh."
    )


def test_footnote_of_a_table_with_only_the_sentence_does_not_guess():
    oldest = pd.DataFrame({"co2_kg": [1e-6], "co2_method": ["Measured by codecarbon 3.3.2: ..."]})
    footnote = co2_footnote(oldest)
    assert footnote == "CO2 by codecarbon (method not recorded); grid: not recorded."


def test_footnote_is_the_same_after_a_csv_round_trip():
    runs = table(record(), record(grid="France", intensity=56.0), EmissionsRecord(label="failed"))
    back = pd.read_csv(io.StringIO(runs.to_csv(index=False)))
    assert co2_footnote(back) == co2_footnote(runs)
    assert co2_footnote(runs).endswith("Not measured for 1 of 3 runs.")
