"""Tests of the record's structured fields and of the words formatted from them.

codecarbon's back-ends other than the CPU-load estimate (RAPL, powermetrics, a Raspberry Pi's
power monitor, NVML) cannot be reached on the test machines: their hardware objects are faked
here by class name, which is all tlcourse reads of them.
"""

from __future__ import annotations

import types

import pytest

from tlcourse.tracking import CPU_POWER_SOURCES, EmissionsRecord
from tlcourse.tracking.codecarbon_adapter import _hardware_sources
from tlcourse.tracking.method import NOT_MEASURED, UNKNOWN_MODE, describe_method


def hardware(kind: str, **attributes):
    """An object whose class is named like one of codecarbon's hardware classes."""
    return type(kind, (), attributes)()


def tracker(*items, **attributes):
    return types.SimpleNamespace(_hardware=list(items), **attributes)


RAM = hardware("RAM")
RAPL = hardware("CPU", _mode="intel_rapl", _tdp=None, _model="Xeon")
NVIDIA = hardware("GPU", devices=types.SimpleNamespace(devices=[hardware("NvidiaGPUDevice")] * 2))


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        (tracker(RAM, RAPL), {"power_source": "RAPL", "ram_power_source": "memory size estimate"}),
        (
            tracker(RAM, hardware("CPU", _mode="windows_emi", _tdp=None)),
            {"power_source": "Windows Energy Meter"},
        ),
        (
            tracker(
                RAM,
                hardware("AppleSiliconChip", chip_part="CPU"),
                hardware("AppleSiliconChip", chip_part="GPU"),
            ),
            {"power_source": "powermetrics", "gpu_power_source": "powermetrics"},
        ),
        (
            tracker(hardware("Raspberry", chip_part="RAM"), hardware("Raspberry", chip_part="CPU")),
            {
                "power_source": "Raspberry Pi power monitor",
                "ram_power_source": "Raspberry Pi power monitor",
            },
        ),
        (tracker(RAM, RAPL, NVIDIA), {"power_source": "RAPL", "gpu_power_source": "NVML"}),
        (
            tracker(
                RAM,
                hardware("CPU", _mode="cpu_load", _tdp=20, _model="Xeon"),
                _force_cpu_power=20.0,
                _force_ram_power=4.0,
            ),
            {
                "power_source": "CPU load x TDP",
                "cpu_tdp_w": 20.0,
                "cpu_tdp_source": "configuration",
                "ram_power_source": "configuration",
            },
        ),
        (
            tracker(RAM, hardware("CPU", _mode="constant", _tdp=85, _is_generic_tdp=True)),
            {"power_source": "constant share of TDP", "cpu_tdp_w": 85.0},
        ),
        (tracker(RAM, hardware("CPU", _mode="quantum", _tdp=1)), {"power_source": None}),
    ],
)
def test_hardware_sources_from_codecarbons_hardware(machine, expected):
    sources = _hardware_sources(machine)
    for name, value in expected.items():
        assert sources[name] == value, name
    if sources["power_source"] in (None, "RAPL", "powermetrics", "Windows Energy Meter"):
        assert sources["cpu_tdp_w"] is None and sources["cpu_tdp_source"] is None


def test_hardware_sources_fall_back_to_none_when_codecarbon_changes():
    def renamed(self):
        raise AttributeError("_tdp")

    changed = hardware("CPU", _mode="cpu_load", _tdp=property(renamed))
    assert set(_hardware_sources(tracker(RAM, changed)).values()) == {None}
    assert set(_hardware_sources(types.SimpleNamespace()).values()) == {None}


# --------------------------------------------------------------------------------------------
# Sentences formatted from the fields
# --------------------------------------------------------------------------------------------


def measured(**fields) -> EmissionsRecord:
    """A measured record as fill_record would leave it, with a stand-in EmissionsData."""
    data = types.SimpleNamespace(
        duration=2.0,
        cpu_energy=2.0 * 10 / 3.6e6,  # 10 W for 2 s
        ram_energy=2.0 * 5 / 3.6e6,
        gpu_energy=fields.pop("gpu_energy", 0.0),
        ram_power=5.0,
        cpu_count=4,
        cpu_model="Xeon",
        gpu_model="1 x H100",
        pue=fields.pop("pue", 1.0),
    )
    defaults = dict(
        label="run",
        measured=True,
        wall_seconds=2.0,
        energy_kwh=1e-5,
        co2_kg=1e-6,
        tracking_mode="process",
        country="FRA",
        country_name="France",
        carbon_intensity_g_per_kwh=56.0,
        intensity_source="energy mix",
        intensity_year=2023,
        ram_power_source="memory size estimate",
        codecarbon_version="3.3.2",
        emissions_data=data,
    )
    return EmissionsRecord(**{**defaults, **fields})


def test_measured_by_a_counter():
    record = measured(power_source="RAPL")
    assert record.mode == "measured (RAPL)" and record.estimated is False
    assert record.method == (
        "Measured by codecarbon 3.3.2: CPU energy read from the RAPL counters of the whole CPU "
        "(average 10 W); RAM 5 W (fixed estimate: codecarbon's power per memory module, 5 W on "
        "x86, times the modules it assumes from this process's memory size); carbon intensity "
        "56 g CO2e/kWh (France grid, 2023 energy mix)."
    )
    assert "estimated" not in record.method.lower()  # what notebook 05's question reads


def test_estimated_from_load_says_the_tdp_and_where_it_came_from():
    record = measured(
        power_source="CPU load x TDP", cpu_tdp_w=16.0, cpu_tdp_source="default per thread"
    )
    assert record.mode == "estimated (CPU load x TDP)" and record.estimated is True
    assert record.method.startswith(
        "Estimated by codecarbon 3.3.2 (no hardware power counter readable): CPU power "
        "assumed 16 W x this process's share of the 4 CPU threads (average 10 W); 16 W is "
        "codecarbon's default of 4 W per thread x 4 threads, CPU model 'Xeon' not being in "
        "its table; RAM 5 W"
    )
    table = measured(power_source="CPU load x TDP", cpu_tdp_w=65.0, cpu_tdp_source="CPU table")
    assert "65 W is the TDP of 'Xeon' in codecarbon's CPU table" in table.method
    machine = measured(
        power_source="CPU load x TDP",
        cpu_tdp_w=85.0,
        cpu_tdp_source="generic default",
        tracking_mode="machine",
    )
    assert "85 W x (0.1 + 0.9 x load^3), load of the whole machine" in machine.method
    assert "85 W is codecarbon's generic value for an unknown CPU" in machine.method
    assert "from the machine's memory size" in machine.method


def test_gpu_read_from_its_driver_and_pue():
    record = measured(
        power_source="CPU load x TDP",
        cpu_tdp_w=16.0,
        cpu_tdp_source="CPU table",
        gpu_power_source="NVML",
        gpu_energy=2.0 * 300 / 3.6e6,
        pue=1.5,
    )
    assert record.mode == "estimated (CPU load x TDP); GPU measured"
    assert record.method.startswith("Partly estimated by codecarbon 3.3.2 (no CPU power")
    assert "GPU energy read from its driver (NVML), whole card whatever the process " in (
        record.method
    )
    assert "(1 x H100, average 300 W)" in record.method
    assert "; all powers x PUE 1.5;" in record.method
    assert measured(power_source="RAPL", gpu_power_source="NVML").method.startswith("Measured")


@pytest.mark.parametrize(
    ("fields", "text"),
    [
        (
            {"intensity_source": "world average", "country": None, "intensity_year": None},
            "(world average, applied by codecarbon when no country is given)",
        ),
        ({"intensity_source": "configuration"}, "(set in codecarbon's configuration)"),
        ({"intensity_source": "cloud region"}, "(France, codecarbon's table of cloud regions)"),
        ({"intensity_year": None}, "56 g CO2e/kWh (France grid)."),
    ],
)
def test_grid_sentence_from_the_intensity_source(fields, text):
    assert text in measured(power_source="RAPL", **fields).method


def test_unrecognised_source_is_said_not_guessed():
    record = measured(power_source=None)
    assert record.mode == UNKNOWN_MODE and record.estimated is None
    assert record.method.startswith("Obtained by codecarbon 3.3.2 (by a method tlcourse does")
    assert "Estimated" not in record.method


def test_method_never_raises():
    record = measured(power_source="RAPL", carbon_intensity_g_per_kwh="high")  # not a number
    assert record.method.startswith("By codecarbon 3.3.2; tlcourse could not describe its")


def test_not_measured_record():
    record = EmissionsRecord(label="x", reason="codecarbon is not installed")
    assert record.mode == NOT_MEASURED and record.estimated is None
    assert describe_method(record) == (
        "Not measured: codecarbon is not installed. Only the time was recorded."
    )
    assert record.cpu_energy_kwh is None and record.cpu_power_w is None
    assert record.cpu_model is None


def test_average_powers_are_energy_over_duration():
    record = measured(power_source="RAPL")
    assert record.cpu_power_w == pytest.approx(10) and record.gpu_power_w == 0
    assert record.ram_power_w == 5 and record.ram_energy_kwh == pytest.approx(10 / 3.6e6)


def test_to_dict_keeps_every_column_it_had():
    before = {  # the keys of the single-module record, read by tables and notebooks
        "label", "wall_seconds", "cpu_seconds", "energy_kwh", "co2_kg", "measured", "mode",
        "reason", "method", "country", "country_name", "carbon_intensity_g_per_kwh",
        "cpu_energy_kwh", "ram_energy_kwh", "gpu_energy_kwh", "cpu_power_w", "ram_power_w",
        "gpu_power_w", "cpu_model", "tracking_mode", "codecarbon_version", "error",
        "started_at", "finished",
    }  # fmt: skip
    row = measured(power_source="RAPL").to_dict()
    assert before <= set(row)
    assert {"power_source", "estimated", "cpu_tdp_w", "intensity_source"} <= set(row)
    assert "emissions_data" not in row


def test_every_cpu_power_source_has_words():
    for source in CPU_POWER_SOURCES:
        record = measured(power_source=source, cpu_tdp_w=10.0, cpu_tdp_source="CPU table")
        assert "does not recognise" not in record.method and "could not" not in record.method


def test_public_helpers_name_themselves():
    from tlcourse.errors import InvalidParameterError
    from tlcourse.tracking.grid import grid_intensity
    from tlcourse.tracking.method import describe_mode

    with pytest.raises(InvalidParameterError, match="'record' parameter of describe_mode"):
        describe_mode({"measured": True})
    with pytest.raises(InvalidParameterError, match="'record' parameter of describe_method"):
        describe_method("run")
    with pytest.raises(InvalidParameterError, match="'country' parameter of grid_intensity"):
        grid_intensity(250)
    assert grid_intensity("XYZ") == (None, None, None)
