"""The low-high CO2 range of an estimate that rests on a default CPU power."""

import time
from types import SimpleNamespace

import pandas as pd
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.tracking import EmissionsRecord, co2_columns, co2_footnote, track
from tlcourse.tracking.formatting import format_co2_range
from tlcourse.tracking.ranges import CPU_WATTS_PER_THREAD, co2_range


def estimate(tdp_source="default per thread", tdp=8.0, threads=2, cpu_kwh=6e-6, kwh=1e-5, **kw):
    fields = dict(
        measured=True, energy_kwh=kwh, co2_kg=kwh * 0.475, carbon_intensity_g_per_kwh=475.0,
        power_source="CPU load x TDP", cpu_tdp_w=tdp, cpu_tdp_source=tdp_source,
        emissions_data=SimpleNamespace(cpu_energy=cpu_kwh, cpu_count=threads),
    )  # fmt: skip
    return EmissionsRecord("run", **{**fields, **kw})


def test_the_cpu_part_scales_with_the_assumed_power_per_thread():
    low, high, basis = co2_range(estimate())
    # 4 W per thread assumed; 6e-6 kWh of CPU, 4e-6 kWh of RAM kept; 0.475 kg per kWh.
    assert low == pytest.approx((4e-6 + 6e-6 * 2 / 4) * 0.475)
    assert high == pytest.approx((4e-6 + 6e-6 * 8 / 4) * 0.475)
    assert low < estimate().co2_kg < high
    assert basis == (
        "CPU power 2-8 W per thread (codecarbon assumed 4 W: its default for an unknown CPU model)"
    )
    assert CPU_WATTS_PER_THREAD == (2.0, 8.0)


def test_the_generic_85_w_gives_a_range_that_need_not_hold_the_estimate():
    low, high, basis = co2_range(estimate("generic default", tdp=85.0))
    assert high < estimate().co2_kg  # 42.5 W per thread: above any CPU's
    assert "codecarbon assumed 42.5 W: its generic 85 W for an unknown CPU" in basis


@pytest.mark.parametrize(
    "record",
    [
        estimate("CPU table", tdp=65.0),
        estimate("configuration", tdp=10.0),
        estimate(None, tdp=None, power_source="RAPL"),
        estimate(emissions_data=None),  # codecarbon's data missing: no CPU energy known
    ],
)
def test_no_range_without_a_default_cpu_power(record):
    assert co2_range(record) == (record.co2_kg, record.co2_kg, None)


def test_nothing_measured_nothing_stated():
    assert co2_range(EmissionsRecord("run")) == (None, None, None)


def test_a_tracked_block_carries_its_range_and_says_it():
    with track("busy") as record:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            sum(i * i for i in range(1000))
    if not record.measured:
        pytest.skip(f"codecarbon did not measure here: {record.reason}")
    assert record.co2_kg_low <= record.co2_kg <= record.co2_kg_high
    if record.cpu_tdp_source in ("default per thread", "generic default"):
        assert record.co2_kg_low < record.co2_kg_high
        assert "range" in record.summary() and record.co2_range_basis.startswith("CPU power 2-8")
    row = record.to_dict()
    assert row["co2_kg_low"] == record.co2_kg_low and "co2_range_basis" in row


def test_columns_sum_the_ranges_and_the_footnote_states_the_assumption():
    a, b = estimate(), estimate()
    a.co2_kg_low, a.co2_kg_high, a.co2_range_basis = co2_range(a)
    b.co2_kg_low, b.co2_kg_high, b.co2_range_basis = co2_range(b)
    measured = EmissionsRecord("rapl", measured=True, co2_kg=1e-6, energy_kwh=2e-6,
                               power_source="RAPL")  # fmt: skip
    columns = co2_columns(a, b, measured)
    assert columns["co2_kg_low"] == pytest.approx(2 * a.co2_kg_low + 1e-6)
    assert columns["co2_kg_high"] == pytest.approx(2 * a.co2_kg_high + 1e-6)
    assert columns["co2_range_basis"] == a.co2_range_basis
    assert co2_columns(EmissionsRecord("x"))["co2_kg_low"] is None
    footnote = co2_footnote(pd.DataFrame([{"co2_kg": a.co2_kg, **co2_columns(a)}]))
    assert footnote.endswith(f"Range: {a.co2_range_basis}.")


def test_format_co2_range():
    assert format_co2_range(1.6e-6, 5.44e-6) == "1.6-5.4 mg CO2e"
    assert format_co2_range(0.0012, 0.034) == "1.2-34 g CO2e"
    with pytest.raises(InvalidParameterError, match="'high_kg' parameter of format_co2_range"):
        format_co2_range(2e-6, 1e-6)
