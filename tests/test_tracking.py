"""Tests of tlcourse.measure: time and CO2 measurement with codecarbon, offline."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

import codecarbon
import pandas as pd
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.measure import (
    CO2_EQUIVALENT_FACTORS,
    COUNTRY,
    EmissionsRecord,
    co2_equivalents,
    format_co2,
    track,
)
from tlcourse.validation import validate_params


@pytest.fixture(autouse=True)
def empty_cwd(tmp_path, monkeypatch):
    """Run every test in an empty folder and check that nothing was written there."""
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def codecarbon_timers(wait: float = 2.0) -> list[threading.Thread]:
    """Timer threads of codecarbon schedulers still alive after ``wait`` seconds."""
    from codecarbon.external.scheduler import PeriodicScheduler

    deadline = time.monotonic() + wait
    while True:
        alive = [
            t
            for t in threading.enumerate()
            if isinstance(t, threading.Timer)
            and isinstance(getattr(t.function, "__self__", None), PeriodicScheduler)
        ]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.02)


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


# --------------------------------------------------------------------------------------------
# Real codecarbon
# --------------------------------------------------------------------------------------------


def test_busy_block_gets_energy_co2_and_method(empty_cwd, capfd):
    from codecarbon.input import DataSource
    from codecarbon.output_methods.emissions_data import EmissionsData

    with track("busy", country="FRA") as record:
        assert record.finished is False
        busy(1.0)

    assert record.finished and record.error is None
    assert record.measured is True and record.reason is None
    assert record.wall_seconds == pytest.approx(1.0, abs=0.2)
    assert record.cpu_seconds > 0.1
    assert record.energy_kwh > 0 and record.co2_kg > 0
    data = record.emissions_data
    assert record.energy_kwh == pytest.approx(data.cpu_energy + data.ram_energy + data.gpu_energy)
    fra = DataSource().get_global_energy_mix_data()["FRA"]
    assert record.carbon_intensity_g_per_kwh == pytest.approx(fra["carbon_intensity"], rel=1e-6)
    assert record.country == "FRA" and record.country_name == "France"
    assert record.intensity_year == fra["year"]
    assert record.codecarbon_version == codecarbon.__version__
    assert record.tracking_mode == "process"
    assert record.mode == "estimated (CPU load x TDP)"
    assert f"codecarbon {codecarbon.__version__}" in record.method
    assert f"France grid, {fra['year']} energy mix" in record.method and "RAM" in record.method
    # codecarbon honours the CPU power tlcourse states (force_cpu_power, a public argument):
    # in "process" mode the average is that power times the process's share, never above it.
    assert record.cpu_tdp_w == 4.0 * os.cpu_count()
    assert f"CPU power assumed {record.cpu_tdp_w:g} W at full load" in record.method
    assert 0 < data.cpu_energy * 3.6e6 / data.duration <= record.cpu_tdp_w * 1.05
    assert record.co2_kg_low < record.co2_kg < record.co2_kg_high
    # No interval counted twice: codecarbon books the energy once, when the block ends (with
    # a booking every second, RAM energy / time came out at 17 W for a constant 10 W).
    assert data.ram_energy * 3.6e6 <= data.ram_power * data.duration * 1.01
    assert isinstance(data, EmissionsData)  # codecarbon's own, kept whole
    row = record.to_dict()
    assert "emissions_data" not in row and row["cpu_energy_kwh"] == data.cpu_energy
    assert row["method"] == record.method and row["cpu_model"] == data.cpu_model
    # Quiet and clean: no log lines, no lock file, no timers left running.
    captured = capfd.readouterr()
    assert "codecarbon" not in captured.out + captured.err
    assert not (empty_cwd / ".codecarbon.config").exists()
    assert codecarbon_timers() == []


def test_sleep_wall_time_and_world_average(capfd):
    from codecarbon.input import DataSource

    with track("sleep") as record:
        time.sleep(0.4)

    assert record.wall_seconds == pytest.approx(0.4, abs=0.1)
    assert record.cpu_seconds < 0.2
    world = DataSource().get_carbon_intensity_per_source_data()["world_average"]
    assert record.country is None and record.country_name == "World average"
    assert record.carbon_intensity_g_per_kwh == pytest.approx(world, rel=1e-6)
    assert "world average" in record.method
    assert "codecarbon" not in "".join(capfd.readouterr())


def test_logger_is_held_back_then_restored(capfd):
    logger = logging.getLogger("codecarbon")
    logger.setLevel(logging.DEBUG)
    with track("quiet"):
        with track("nested"):
            logger.warning("codecarbon says something")
        logger.error("codecarbon says more")
    assert logger.level == logging.DEBUG and logger.filters == []
    assert "codecarbon says" not in "".join(capfd.readouterr())


def test_output_dir_receives_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("results") / "new"
    with track("csv run", output_dir=folder):
        time.sleep(0.1)
    table = pd.read_csv(folder / "emissions.csv")
    assert table["project_name"].tolist() == ["csv run"]


def test_exception_propagates_and_record_is_complete():
    with pytest.raises(ValueError, match="bad batch"):
        with track("crash") as record:
            time.sleep(0.05)
            raise ValueError("bad batch")

    assert record.finished
    assert record.error == "ValueError: bad batch"
    assert record.wall_seconds >= 0.05
    assert record.measured and record.energy_kwh is not None
    assert codecarbon_timers() == []


def test_decorator_keeps_result_and_collects_records():
    @track("square")
    def square(x):
        """Square a number."""
        return x * x

    assert square(3) == 9 and square(4) == 16
    assert square.__name__ == "square" and square.__doc__ == "Square a number."
    assert [r.label for r in square.records] == ["square", "square"]
    assert all(r.finished and r.measured for r in square.records)
    assert square.tracking.records is square.records


def test_decorator_propagates_exceptions():
    @track("fails")
    def fails():
        raise KeyError("missing")

    with pytest.raises(KeyError):
        fails()
    assert fails.records[0].error == "KeyError: 'missing'"


def test_nested_and_repeated_tracking():
    with track("outer") as outer:
        with track("inner") as inner:
            time.sleep(0.1)
    assert outer.measured and inner.measured
    assert outer.wall_seconds >= inner.wall_seconds

    runs = track("repeat")
    records = []
    for _ in range(5):
        with runs as record:
            time.sleep(0.02)
        records.append(record)
    assert runs.records == records and len({id(r) for r in records}) == 5
    assert all(r.finished and r.measured for r in records)
    assert codecarbon_timers() == []


# --------------------------------------------------------------------------------------------
# codecarbon missing or failing
# --------------------------------------------------------------------------------------------


def test_codecarbon_missing_records_time_only(monkeypatch):
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # makes `import codecarbon` fail
    with track("no codecarbon") as record:
        time.sleep(0.05)

    assert record.finished and record.measured is False
    assert record.mode == "not measured"
    assert "codecarbon is not installed" in record.reason
    assert record.method.startswith("Not measured")
    assert record.wall_seconds >= 0.05 and record.cpu_seconds is not None
    assert record.energy_kwh is None and record.co2_kg is None
    assert record.codecarbon_version is None


def test_stop_returning_none_means_not_measured(monkeypatch):
    stop = codecarbon.OfflineEmissionsTracker.stop
    monkeypatch.setattr(
        codecarbon.OfflineEmissionsTracker, "stop", lambda self: (stop(self), None)[1]
    )
    with track("stop fails") as record:
        time.sleep(0.05)

    assert record.measured is False and record.mode == "not measured"
    assert "stop()" in record.reason
    assert record.wall_seconds >= 0.05 and record.energy_kwh is None


def test_stop_raising_is_reported(monkeypatch):
    stop = codecarbon.OfflineEmissionsTracker.stop

    def broken_stop(self):
        stop(self)
        raise RuntimeError("disk full")

    monkeypatch.setattr(codecarbon.OfflineEmissionsTracker, "stop", broken_stop)
    with track("stop raises") as record:
        pass
    assert record.measured is False and "disk full" in record.reason


def test_init_failure_does_not_stop_user_code(monkeypatch):
    def broken_init(self, *args, **kwargs):
        raise RuntimeError("no hardware")

    monkeypatch.setattr(codecarbon.OfflineEmissionsTracker, "__init__", broken_init)
    ran = []
    with track("init fails") as record:
        ran.append(True)
    assert ran == [True]
    assert record.measured is False and "no hardware" in record.reason
    assert record.wall_seconds is not None


def test_an_error_codecarbon_swallows_is_the_reason(monkeypatch, capfd):
    # codecarbon's __init__, start() and stop() catch their exceptions, log them and go on.
    from codecarbon.emissions_tracker import BaseEmissionsTracker

    def broken_init(self, *args, **kwargs):
        raise RuntimeError("no hardware found")

    monkeypatch.setattr(BaseEmissionsTracker, "__init__", broken_init)
    with track("swallowed") as record:
        pass
    assert record.measured is False
    assert "failed to start (RuntimeError: no hardware found)" in record.reason
    assert "no hardware" not in "".join(capfd.readouterr())
    assert codecarbon_timers() == []


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


def test_country_must_be_an_iso3_code():
    with pytest.raises(InvalidParameterError) as info:
        track("x", country="France")
    message = str(info.value)
    assert "3-letter ISO" in message and "'USA'" in message and "'FRA'" in message
    assert "Got 'France' instead" in message
    assert "Did you mean 'FRA' (France)" in message
    assert isinstance(info.value, ValueError)


def test_unknown_country_code_is_refused():
    with pytest.raises(InvalidParameterError, match="in codecarbon's table.*Got 'XYZ'"):
        track("x", country="XYZ")


def test_country_code_is_case_insensitive():
    assert track("x", country="deu").country == "DEU"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"label": ""}, "'label' parameter of track must be a non-empty string"),
        ({"label": "x", "country": True}, "'country' parameter of track"),
        ({"label": "x", "output_dir": 3}, "'output_dir'"),
        ({"label": "x", "tracking_mode": "proces"}, "Did you mean 'process'"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        track(**kwargs)


def test_decorating_a_non_callable_is_refused():
    with pytest.raises(TypeError, match="decorates a function"):
        track("x")(42)


# --------------------------------------------------------------------------------------------
# Record, equivalents, formatting
# --------------------------------------------------------------------------------------------


def test_to_dict_is_a_results_row():
    rows = [
        EmissionsRecord(label="a", wall_seconds=1.0, energy_kwh=2e-6, co2_kg=1e-6).to_dict(),
        EmissionsRecord(label="b", wall_seconds=2.0).to_dict(),
    ]
    table = pd.DataFrame(rows)
    assert table["label"].tolist() == ["a", "b"]
    assert table["co2_kg"].isna().tolist() == [False, True]
    assert {"measured", "mode", "reason", "method", "carbon_intensity_g_per_kwh"} <= set(table)


def test_co2_equivalents_use_documented_factors():
    table = co2_equivalents(1.0)
    assert list(table.index) == ["car_km", "smartphone_charges", "car_lifetimes"]
    # EPA: 400 g CO2 per mile.
    assert table.loc["car_km", "value"] == pytest.approx(1.609344 / 0.400)
    assert table.loc["car_km", "kg_per_unit"] == pytest.approx(0.2485, abs=1e-4)
    # EPA: 8.22e-6 metric tons CO2 per smartphone charged.
    assert table.loc["smartphone_charges", "value"] == pytest.approx(1 / 8.22e-3)
    # Strubell et al. 2019: 126,000 lbs CO2e for a car's lifetime.
    assert table.loc["car_lifetimes", "kg_per_unit"] == pytest.approx(57_152.64, abs=0.01)
    assert set(table.columns) == {"value", "unit", "kg_per_unit", "source"}
    assert co2_equivalents(0)["value"].eq(0).all()
    assert set(CO2_EQUIVALENT_FACTORS) == set(table.index)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), None, "1 kg"])
def test_co2_equivalents_refuses_bad_amounts(bad):
    with pytest.raises(InvalidParameterError, match="finite number of kg >= 0"):
        co2_equivalents(bad)


@pytest.mark.parametrize(
    ("kg", "text"),
    [
        (0, "0 g CO2e"),
        (2.874e-6, "2.87 mg CO2e"),
        (4.2e-10, "0.00042 mg CO2e"),
        (9.9999e-4, "1 g CO2e"),
        (0.0125, "12.5 g CO2e"),
        (3.0, "3 kg CO2e"),
        (57_152.64, "57.2 t CO2e"),
        (2.5e8, "250,000 t CO2e"),
        (None, "n/a"),
        (float("nan"), "n/a"),
    ],
)
def test_format_co2(kg, text):
    assert format_co2(kg) == text


def test_format_co2_refuses_negative_amounts():
    with pytest.raises(InvalidParameterError):
        format_co2(-1e-3)


def test_unreadable_result_is_not_measured(monkeypatch):
    from tlcourse.measure import tracker

    def broken_fill(record, data, reason):
        if data is not None:
            record.energy_kwh = 1.0
            raise KeyError("cpu_energy")
        original_fill(record, data, reason)

    original_fill = tracker._fill
    monkeypatch.setattr(tracker, "_fill", broken_fill)
    with track("odd codecarbon") as record:
        pass
    assert record.measured is False and record.energy_kwh is None
    assert "could not read codecarbon's result" in record.reason


def test_codecarbons_configuration_cannot_change_the_stated_method(monkeypatch):
    # codecarbon reads CODECARBON_* variables (and .codecarbon.config) for what it is not
    # given; track gives every setting its figures rest on, so the method stays as stated.
    monkeypatch.setenv("CODECARBON_FORCE_CARBON_INTENSITY_G_CO2E_KWH", "300")
    monkeypatch.setenv("CODECARBON_FORCE_CPU_POWER", "1000")
    monkeypatch.setenv("CODECARBON_FORCE_RAM_POWER", "3")
    monkeypatch.setenv("CODECARBON_PUE", "2")
    with track("forced", country="FRA") as record:
        busy(0.3)

    assert record.carbon_intensity_g_per_kwh == pytest.approx(56, abs=1)
    assert record.cpu_tdp_w == 4.0 * os.cpu_count() and record.emissions_data.pue == 1
    assert record.emissions_data.ram_power != pytest.approx(3)
    cpu_watts = record.emissions_data.cpu_energy * 3.6e6 / record.emissions_data.duration
    assert cpu_watts <= record.cpu_tdp_w * 1.05


# --------------------------------------------------------------------------------------------
# Validation: the errors template, numpy scalars accepted, each function names itself
# --------------------------------------------------------------------------------------------


def test_numpy_scalars_are_accepted():
    import numpy as np

    assert track("x", country=np.str_("fra")).country == "FRA"
    assert format_co2(np.float64(1e-3), digits=np.int64(2)) == "1 g CO2e"
    assert co2_equivalents(np.float32(1.0)).loc["car_km", "value"] == pytest.approx(4.0234, 1e-4)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: track(""),
            "The 'label' parameter of track must be a non-empty string. Got '' instead.",
        ),
        (
            lambda: track("x", tracking_mode="all"),
            "The 'tracking_mode' parameter of track must be one of ['process', 'machine']. "
            "Got 'all' instead.",
        ),
        (
            lambda: format_co2(1.0, digits=0),
            "The 'digits' parameter of format_co2 must be an int >= 1. Got 0 instead.",
        ),
        (
            lambda: format_co2("1 kg"),
            "The 'kg' parameter of format_co2 must be a finite number of kg >= 0, or None or "
            "NaN (not measured). Got '1 kg' instead.",
        ),
        (
            lambda: co2_equivalents(None),
            "The 'co2_kg' parameter of co2_equivalents must be a finite number of kg >= 0. "
            "Got None instead. A record that was not measured has co2_kg=None.",
        ),
    ],
)
def test_messages_follow_the_template_and_name_the_function(call, message):
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert str(info.value) == message


def test_the_country_rule_names_the_function_that_was_called():
    @validate_params({"country": [COUNTRY, None]})
    def compare(country=None):
        return country

    with pytest.raises(InvalidParameterError, match=r"^The 'country' parameter of \S*compare must"):
        compare("XYZ")
    assert compare(None) is None and compare("usa") == "USA"
