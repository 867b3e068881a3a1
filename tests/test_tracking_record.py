"""The record: its mode and method in words, its CO2 range, its row, its one-line summary."""

import time
import types

import pandas as pd
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.measure import (
    CPU_WATTS_PER_THREAD,
    EmissionsRecord,
    co2_columns,
    co2_footnote,
    format_co2_range,
    track,
)
from tlcourse.measure.record import co2_range


def measured(**fields) -> EmissionsRecord:
    """A measured record as the adapter leaves it, with a stand-in EmissionsData."""
    data = types.SimpleNamespace(
        duration=2.0,
        cpu_energy=2.0 * 10 / 3.6e6,  # 10 W for 2 s
        ram_energy=2.0 * 5 / 3.6e6,
        gpu_energy=fields.pop("gpu_energy", 0.0),
        ram_power=5.0,
        cpu_count=4,
        cpu_model="Xeon",
        gpu_model="1 x H100",
    )
    energy = data.cpu_energy + data.ram_energy + data.gpu_energy
    defaults = dict(
        label="run",
        measured=True,
        wall_seconds=2.0,
        energy_kwh=energy,
        co2_kg=energy * 0.056,
        tracking_mode="process",
        country="FRA",
        country_name="France",
        carbon_intensity_g_per_kwh=56.0,
        intensity_year=2023,
        cpu_tdp_w=16.0,
        codecarbon_version="3.3.2",
        emissions_data=data,
    )
    return EmissionsRecord(**{**defaults, **fields})


def test_the_method_states_every_assumption_and_number():
    record = measured()
    assert record.mode == "estimated (CPU load x TDP)"
    assert record.method == (
        "Estimated by codecarbon 3.3.2 (offline): CPU power assumed 16 W at full load (4 W per "
        "thread x 4 threads) x this process's share of the CPU (average 10 W); RAM 5 W "
        "(codecarbon's estimate from the memory size); carbon intensity 56 g CO2e/kWh (France "
        "grid, 2023 energy mix, codecarbon's table)."
    )
    machine = measured(tracking_mode="machine", country=None, country_name="World average",
                       carbon_intensity_g_per_kwh=475.0, intensity_year=None)  # fmt: skip
    assert "x (0.1 + 0.9 x load^3), load of the whole machine" in machine.method
    assert "475 g CO2e/kWh (world average, no country given, codecarbon's table)" in (
        machine.method
    )


def test_a_gpu_read_from_its_driver_is_said():
    record = measured(gpu_energy=2.0 * 300 / 3.6e6)
    assert record.mode == "estimated (CPU load x TDP, GPU measured)"
    assert "; GPU energy read from its driver (1 x H100, whole card, average 300 W);" in (
        record.method
    )


def test_not_measured_record():
    record = EmissionsRecord(label="x", reason="codecarbon is not installed")
    assert record.mode == "not measured"
    assert record.method == "Not measured: codecarbon is not installed. Only the time was recorded."
    row = record.to_dict()
    assert row["cpu_energy_kwh"] is None and row["cpu_model"] is None


def test_to_dict_is_a_results_row():
    row = measured().to_dict()
    assert {
        "label", "wall_seconds", "cpu_seconds", "energy_kwh", "co2_kg", "co2_kg_low",
        "co2_kg_high", "co2_range_basis", "measured", "mode", "reason", "method", "country",
        "country_name", "carbon_intensity_g_per_kwh", "intensity_year", "cpu_energy_kwh",
        "ram_energy_kwh", "gpu_energy_kwh", "cpu_model", "cpu_tdp_w", "tracking_mode",
        "codecarbon_version", "error", "started_at", "finished",
    } == set(row)  # fmt: skip
    assert row["cpu_energy_kwh"] == pytest.approx(20 / 3.6e6) and row["cpu_model"] == "Xeon"
    table = pd.DataFrame([row, EmissionsRecord(label="b", wall_seconds=2.0).to_dict()])
    assert table["co2_kg"].isna().tolist() == [False, True]


def test_summary_has_the_range_when_one_is_stated():
    record = measured()
    record.co2_kg_low, record.co2_kg_high, record.co2_range_basis = co2_range(record)
    assert record.summary() == (
        "run: 2.00 s (CPU n/a), 0.00833 Wh, 0.467 mg CO2e (range 0.31-0.78 mg CO2e), "
        "estimated (CPU load x TDP)"
    )


# --------------------------------------------------------------------------------------------
# The range: the CPU part scaled from the assumed 4 W per thread to 2 and 8 W
# --------------------------------------------------------------------------------------------


def test_the_cpu_part_scales_with_the_assumed_power_per_thread():
    record = measured()
    low, high, basis = co2_range(record)
    cpu, rest = record.emissions_data.cpu_energy, record.emissions_data.ram_energy
    assert low == pytest.approx((rest + cpu * 2 / 4) * 0.056)
    assert high == pytest.approx((rest + cpu * 8 / 4) * 0.056)
    assert low < record.co2_kg < high
    assert basis == "CPU power 2-8 W per thread (4 W assumed)"
    assert CPU_WATTS_PER_THREAD == (2.0, 8.0)


def test_no_energy_no_range():
    record = measured(energy_kwh=0.0, co2_kg=0.0)
    assert co2_range(record) == (0.0, 0.0, None)


def test_a_tracked_block_carries_its_range_and_says_it():
    with track("busy") as record:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            sum(i * i for i in range(1000))
    if not record.measured:
        pytest.skip(f"codecarbon did not measure here: {record.reason}")
    assert record.co2_kg_low < record.co2_kg < record.co2_kg_high
    assert "range" in record.summary() and record.co2_range_basis.startswith("CPU power 2-8")
    footnote = co2_footnote(pd.DataFrame([{"co2_kg": record.co2_kg, **co2_columns(record)}]))
    assert footnote.endswith(f"Range: {record.co2_range_basis}.")


def test_format_co2_range():
    assert format_co2_range(1.6e-6, 5.44e-6) == "1.6-5.4 mg CO2e"
    assert format_co2_range(0.0012, 0.034) == "1.2-34 g CO2e"
    with pytest.raises(InvalidParameterError, match="'high_kg' parameter of format_co2_range"):
        format_co2_range(2e-6, 1e-6)
