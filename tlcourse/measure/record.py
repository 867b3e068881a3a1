"""The record of a measured block: time, energy, CO2, its range, and how they were obtained.

Without a readable power counter the CPU's power is an assumption: 4 W per thread at full load,
codecarbon's default. Published TDPs per thread span about 2 W (Core i7-8550U 15 W / 8, EPYC 7763
280 W / 128) to 8 W (Core i9-13900K 253 W / 32), so ``co2_kg_low`` and ``co2_kg_high`` are the CO2
with the CPU at 2 and 8 W per thread."""

from __future__ import annotations

import copy
import dataclasses
import numbers
from typing import Any

from tlcourse.measure.formatting import format_co2, format_co2_range
from tlcourse.validation import Rule, validate_params

__all__ = ["CPU_WATTS_PER_THREAD", "EmissionsRecord", "combine_records"]

#: The stated assumption behind every range: (low, high) full-load power of one CPU thread, W.
CPU_WATTS_PER_THREAD = (2.0, 8.0)
#: The full-load power of one CPU thread that ``track`` passes to codecarbon, W.
ASSUMED_WATTS_PER_THREAD = 4.0

# How codecarbon scales the assumed CPU power in each tracking mode.
_SHARE = {"process": "x this process's share of the CPU",
          "machine": "x (0.1 + 0.9 x load^3), load of the whole machine"}  # fmt: skip
# Fields that hold a measurement: all None when nothing (or not everything) was measured.
MEASUREMENT_FIELDS = ("energy_kwh", "co2_kg", "co2_kg_low", "co2_kg_high", "co2_range_basis",
                      "country_name", "carbon_intensity_g_per_kwh", "intensity_year",
                      "cpu_tdp_w", "emissions_data")  # fmt: skip


@dataclasses.dataclass
class EmissionsRecord:
    """Time, energy and CO2 of one tracked block, filled in when the block exits.

    Measurement fields are None when nothing was measured (``measured=False``, ``reason``);
    ``emissions_data`` is codecarbon's ``final_emissions_data``, kept whole."""

    label: str  # the name given to track()
    wall_seconds: float | None = None  # elapsed time of the block
    cpu_seconds: float | None = None  # CPU time of this process, all threads together
    energy_kwh: float | None = None  # electricity used: CPU + RAM + GPU
    co2_kg: float | None = None  # kg CO2-equivalent
    co2_kg_low: float | None = None  # the CO2 with the CPU at 2 W per thread (module docs)
    co2_kg_high: float | None = None  # ... at 8 W per thread (None: no range stated)
    co2_range_basis: str | None = None  # the assumption behind the range, in words
    measured: bool = False  # False: only the time was recorded
    reason: str | None = None  # why nothing was measured
    country: str | None = None  # ISO 3166-1 alpha-3 code asked for; None: world average
    country_name: str | None = None  # the grid whose carbon intensity was applied
    carbon_intensity_g_per_kwh: float | None = None  # grams CO2e per kWh applied
    intensity_year: int | None = None  # year of the country's energy-mix data
    tracking_mode: str | None = None  # "process" or "machine" (see track)
    cpu_tdp_w: float | None = None  # full-load power of the whole CPU assumed, W
    codecarbon_version: str | None = None
    error: str | None = None  # "ExceptionType: message" if an exception left the block
    started_at: str | None = None  # local start time, ISO 8601
    finished: bool = False  # False while the block runs
    emissions_data: Any = dataclasses.field(default=None, repr=False, compare=False)  # codecarbon's

    def _data(self, name: str) -> float | None:
        value = getattr(self.emissions_data, name, None)  # codecarbon's EmissionsData field
        return None if value is None else float(value)

    def _watts(self, name: str) -> float:
        # codecarbon's own cpu_power is a mean of its samples; energy / duration is the average.
        seconds = self._data("duration") or self.wall_seconds or 0.0
        return (self._data(name) or 0.0) * 3.6e6 / seconds if seconds > 0 else 0.0

    @property
    def mode(self) -> str:
        """``"estimated (CPU load x TDP[, GPU measured])"`` or ``"not measured"``."""
        if not self.measured:
            return "not measured"
        return f"estimated (CPU load x TDP{', GPU measured' if self._data('gpu_energy') else ''})"

    @property
    def method(self) -> str:
        """One sentence saying how the figures were obtained, with the numbers assumed."""
        if not self.measured:
            return f"Not measured: {self.reason}. Only the time was recorded."
        data = self.emissions_data
        threads = getattr(data, "cpu_count", None) or 1
        tdp = self.cpu_tdp_w or 0.0
        share = _SHARE.get(self.tracking_mode, _SHARE["machine"])
        text = (
            f"Estimated by codecarbon {self.codecarbon_version} (offline): CPU power assumed "
            f"{tdp:g} W at full load ({tdp / threads:.3g} W per thread x {threads:g} threads) "
            f"{share} (average {self._watts('cpu_energy'):.2g} W); RAM "
            f"{self._data('ram_power') or 0:.3g} W (codecarbon's estimate from the memory size)"
        )
        if self._data("gpu_energy"):
            text += (
                f"; GPU energy read from its driver ({getattr(data, 'gpu_model', '') or 'GPU'}, "
                f"whole card, average {self._watts('gpu_energy'):.3g} W)"
            )
        grid = "world average, no country given"
        if self.country is not None:
            grid = f"{self.country_name} grid, {self.intensity_year} energy mix"
        intensity = self.carbon_intensity_g_per_kwh or 0
        return f"{text}; carbon intensity {intensity:.0f} g CO2e/kWh ({grid}, codecarbon's table)."

    def to_dict(self) -> dict[str, Any]:
        """The record as one row of a results table (codecarbon's data under tlcourse's names)."""
        row = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        row |= {f"{p}_energy_kwh": self._data(f"{p}_energy") for p in ("cpu", "ram", "gpu")}
        cpu_model = getattr(row.pop("emissions_data"), "cpu_model", None)
        return row | {"mode": self.mode, "method": self.method, "cpu_model": cpu_model}

    def summary(self) -> str:
        """One line: time, energy, CO2 (with its range) and how they were obtained."""
        wall = "n/a" if self.wall_seconds is None else f"{self.wall_seconds:.2f} s"
        cpu = "n/a" if self.cpu_seconds is None else f"{self.cpu_seconds:.2f} s"
        energy = "energy n/a" if self.energy_kwh is None else f"{self.energy_kwh * 1000:.3g} Wh"
        co2 = "CO2 n/a" if self.co2_kg is None else format_co2(self.co2_kg)
        if self.co2_range_basis and self.co2_kg_low is not None:
            co2 += f" (range {format_co2_range(self.co2_kg_low, self.co2_kg_high)})"
        return f"{self.label}: {wall} (CPU {cpu}), {energy}, {co2}, {self.mode}"


def co2_range(record: EmissionsRecord) -> tuple[float, float, str]:
    """``(co2_kg_low, co2_kg_high, basis)`` of a measured record (see the module)."""
    cpu_kwh, energy = record._data("cpu_energy") or 0.0, record.energy_kwh
    if not energy or not record.cpu_tdp_w:
        return record.co2_kg, record.co2_kg, None
    assumed = record.cpu_tdp_w / (getattr(record.emissions_data, "cpu_count", None) or 1)
    kg_per_kwh = record.co2_kg / energy
    low_w, high_w = CPU_WATTS_PER_THREAD
    low = (energy - cpu_kwh + cpu_kwh * low_w / assumed) * kg_per_kwh
    high = (energy - cpu_kwh + cpu_kwh * high_w / assumed) * kg_per_kwh
    return low, high, f"CPU power {low_w:g}-{high_w:g} W per thread ({assumed:.3g} W assumed)"


# Summed by combine_records; every other field keeps the value the pieces share.
_SUMMED = ("wall_seconds", "cpu_seconds", "energy_kwh", "co2_kg", "co2_kg_low", "co2_kg_high")
_DATA_SUMMED = ("duration", "emissions", "energy_consumed", "cpu_energy", "gpu_energy",
                "ram_energy")  # fmt: skip
_RECORDS = Rule(
    lambda v: isinstance(v, list | tuple) and v and all(isinstance(r, EmissionsRecord) for r in v),
    "a non-empty list of EmissionsRecord (what `with track(...)` gives)", list)  # fmt: skip


@validate_params({"records": [_RECORDS]})
def combine_records(records: list[EmissionsRecord]) -> EmissionsRecord:
    """One record for work measured in pieces (a feature pass, then a head, say).

    Times, energy, CO2 and both ends of its range add up. A piece not measured leaves the total not
    measured (without it the total would understate); a measured piece without a range counts its
    ``co2_kg`` at both ends. Other fields keep the value the pieces share; differing text is joined
    with " + ", differing numbers are None.

    Example:
        >>> a = EmissionsRecord("pass", wall_seconds=1.0, measured=True, energy_kwh=2e-6,
        ...     co2_kg=1e-6, co2_kg_low=0.5e-6, co2_kg_high=2e-6, country_name="France")
        >>> b = EmissionsRecord("head", wall_seconds=2.0, measured=True, energy_kwh=2e-6,
        ...     co2_kg=1e-6, country_name="France")
        >>> total = combine_records([a, b])
        >>> total.label, total.wall_seconds, total.co2_kg, total.co2_kg_low, total.co2_kg_high
        ('pass + head', 3.0, 2e-06, 1.5e-06, 3e-06)
    """
    if len(records) == 1:
        return dataclasses.replace(records[0])
    total = EmissionsRecord(label="")
    for field in dataclasses.fields(EmissionsRecord):
        if field.name not in (*_SUMMED, "emissions_data"):
            setattr(total, field.name, _shared([getattr(r, field.name) for r in records]))
    total.finished = all(r.finished for r in records)
    total.wall_seconds = _sum(r.wall_seconds for r in records)
    total.cpu_seconds = _sum(r.cpu_seconds for r in records)
    missing = [r for r in records if not r.measured]
    if missing:
        for name in MEASUREMENT_FIELDS:
            setattr(total, name, None)
        total.measured = False
        total.reason = "; ".join(f"{r.label} not measured ({r.reason})" for r in missing)
        return total
    total.energy_kwh = _sum(r.energy_kwh for r in records)
    total.co2_kg = _sum(r.co2_kg for r in records)
    total.co2_kg_low = _sum(r.co2_kg if r.co2_kg_low is None else r.co2_kg_low for r in records)
    total.co2_kg_high = _sum(r.co2_kg if r.co2_kg_high is None else r.co2_kg_high for r in records)
    if total.energy_kwh and total.co2_kg is not None:
        total.carbon_intensity_g_per_kwh = total.co2_kg / total.energy_kwh * 1000
    data = [r.emissions_data for r in records]
    if all(d is not None for d in data):
        # Energies and duration summed, the rest (CPU model, RAM power...) from the first piece.
        total.emissions_data = copy.copy(data[0])
        for name in _DATA_SUMMED:
            values = [getattr(d, name, None) for d in data]
            if all(isinstance(v, numbers.Real) for v in values):
                setattr(total.emissions_data, name, float(sum(values)))
    return total


def _sum(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else float(sum(values))


def _shared(values):
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if len(distinct) <= 1:
        return distinct[0] if distinct else None
    return " + ".join(distinct) if all(isinstance(v, str) for v in distinct) else None
