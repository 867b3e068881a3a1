"""The record of one tracked block: codecarbon's own ``EmissionsData`` plus what it lacks.

codecarbon's ``EmissionsData`` already holds the energy (CPU, RAM, GPU), the emissions, the CPU
model, the tracking mode and codecarbon's version; the record keeps it whole
(:attr:`EmissionsRecord.emissions_data`) and exposes its numbers under the names tlcourse's
results tables use. What codecarbon does not say, the record adds as plain structured fields:
the clocks of the block itself, whether anything was measured and why not, *where* the CPU
power came from (a hardware counter or an estimate, and the TDP assumed), and where the grid's
carbon intensity came from. :attr:`~EmissionsRecord.mode`, :attr:`~EmissionsRecord.method` and
:meth:`~EmissionsRecord.summary` are formatted from those fields (see
:mod:`tlcourse.tracking.method`); nothing is parsed back from a sentence.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
from typing import Any

from tlcourse.tracking.formatting import format_co2, format_co2_range
from tlcourse.tracking.method import CPU_POWER_SOURCES, describe_method, describe_mode

__all__ = ["EmissionsRecord", "combine_records"]

# Fields that hold a measurement: cleared together when codecarbon's result cannot be used.
MEASUREMENT_FIELDS = (
    "energy_kwh",
    "co2_kg",
    "country_name",
    "carbon_intensity_g_per_kwh",
    "intensity_source",
    "intensity_year",
    "power_source",
    "cpu_tdp_w",
    "cpu_tdp_source",
    "gpu_power_source",
    "ram_power_source",
    "co2_kg_low",
    "co2_kg_high",
    "co2_range_basis",
    "emissions_data",
)


@dataclasses.dataclass
class EmissionsRecord:
    """Time, energy and CO2 of one tracked block, filled in when the block exits.

    Attributes:
        label: the name given to :func:`~tlcourse.tracking.track`.
        wall_seconds: elapsed time (``time.perf_counter``), without codecarbon's own start/stop.
        cpu_seconds: CPU time of this process over the block, all threads together
            (``time.process_time``); above ``wall_seconds`` when several cores were busy.
        energy_kwh: electricity used (CPU + RAM + GPU), in kWh; ``None`` when not measured.
        co2_kg: emissions in kg CO2-equivalent; ``None`` when not measured.
        measured: True when codecarbon produced the energy and CO2 figures, whether read from a
            hardware counter or estimated (see ``estimated``). False means only time was
            recorded.
        reason: why nothing was measured (``None`` when ``measured``).
        country: ISO 3166-1 alpha-3 code asked for; ``None`` means codecarbon's world average.
        country_name: the grid whose carbon intensity was applied (``"World average"``...).
        carbon_intensity_g_per_kwh: grams CO2e per kWh applied.
        intensity_source: where that intensity came from, one of
            :data:`~tlcourse.tracking.grid.INTENSITY_SOURCES` (``"energy mix"``: codecarbon's
            per-country table; ``"world average"``; ``"configuration"``; ``"cloud region"``).
        intensity_year: year of the energy-mix data, when codecarbon's table gives one.
        tracking_mode: ``"process"`` or ``"machine"`` (see :func:`~tlcourse.tracking.track`).
        power_source: where the CPU power came from, one of
            :data:`~tlcourse.tracking.method.CPU_POWER_SOURCES` (``"RAPL"``, ``"powermetrics"``,
            ``"CPU load x TDP"``...); ``None`` when not measured or not recognised.
        cpu_tdp_w: the full-load CPU power codecarbon assumed, in W, for an estimate.
        cpu_tdp_source: where ``cpu_tdp_w`` came from, one of
            :data:`~tlcourse.tracking.method.TDP_SOURCES` (``"CPU table"``,
            ``"default per thread"``, ``"generic default"``, ``"configuration"``).
        gpu_power_source: ``"NVML"``, ``"AMD SMI"`` or ``"powermetrics"`` when a GPU was
            measured, else ``None``.
        ram_power_source: ``"memory size estimate"``, ``"configuration"`` or
            ``"Raspberry Pi power monitor"``.
        co2_kg_low: the low end of the CO2 range, in kg; when the estimate rests on a default
            CPU power (:mod:`tlcourse.tracking.ranges`) the CO2 with 2 W per CPU thread, else
            equal to ``co2_kg``; ``None`` when not measured.
        co2_kg_high: the high end, with 8 W per CPU thread (else ``co2_kg``).
        co2_range_basis: the assumption behind the range, e.g. ``"CPU power 2-8 W per
            thread (codecarbon assumed 4 W: its default for an unknown CPU model)"``; ``None``
            when no range is stated (power read from a counter, or the CPU's own TDP).
        codecarbon_version: version of codecarbon used, ``None`` if it could not be imported.
        error: ``"ExceptionType: message"`` if an exception left the block, else ``None``.
        started_at: local start time, ISO 8601.
        finished: False while the block runs, True once the record is complete.
        emissions_data: codecarbon's own ``EmissionsData`` for the block (its
            ``final_emissions_data``), or ``None`` when not measured.
    """

    label: str
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    energy_kwh: float | None = None
    co2_kg: float | None = None
    measured: bool = False
    reason: str | None = None
    country: str | None = None
    country_name: str | None = None
    carbon_intensity_g_per_kwh: float | None = None
    intensity_source: str | None = None
    intensity_year: int | None = None
    tracking_mode: str | None = None
    power_source: str | None = None
    cpu_tdp_w: float | None = None
    cpu_tdp_source: str | None = None
    gpu_power_source: str | None = None
    ram_power_source: str | None = None
    co2_kg_low: float | None = None
    co2_kg_high: float | None = None
    co2_range_basis: str | None = None
    codecarbon_version: str | None = None
    error: str | None = None
    started_at: str | None = None
    finished: bool = False
    emissions_data: Any = dataclasses.field(default=None, repr=False, compare=False)

    # ----------------------------------------------------------------------------------------
    # Formatted from the fields

    @property
    def estimated(self) -> bool | None:
        """True when the CPU power was estimated, False when read from a hardware counter,
        None when not measured or the source is not recognised."""
        return CPU_POWER_SOURCES.get(self.power_source) if self.measured else None

    @property
    def mode(self) -> str:
        """How the energy was obtained, e.g. ``"measured (RAPL)"``,
        ``"estimated (CPU load x TDP)"`` or ``"not measured"``."""
        return describe_mode(self)

    @property
    def method(self) -> str:
        """One sentence a student can read, with the assumptions and the numbers used."""
        return describe_method(self)

    # ----------------------------------------------------------------------------------------
    # codecarbon's EmissionsData, under tlcourse's names

    def _data(self, name: str) -> float | None:
        value = getattr(self.emissions_data, name, None)
        return None if value is None else float(value)

    @property
    def cpu_energy_kwh(self) -> float | None:
        """The CPU part of ``energy_kwh`` (codecarbon's ``cpu_energy``)."""
        return self._data("cpu_energy")

    @property
    def ram_energy_kwh(self) -> float | None:
        """The RAM part of ``energy_kwh`` (codecarbon's ``ram_energy``)."""
        return self._data("ram_energy")

    @property
    def gpu_energy_kwh(self) -> float | None:
        """The GPU part of ``energy_kwh`` (codecarbon's ``gpu_energy``)."""
        return self._data("gpu_energy")

    @property
    def ram_power_w(self) -> float | None:
        """RAM power codecarbon assumed (a constant unless read from hardware)."""
        return self._data("ram_power")

    @property
    def cpu_power_w(self) -> float | None:
        """Average CPU power over the block: CPU energy / duration."""
        return self._average_watts(self.cpu_energy_kwh)

    @property
    def gpu_power_w(self) -> float | None:
        """Average GPU power over the block: GPU energy / duration."""
        return self._average_watts(self.gpu_energy_kwh)

    @property
    def cpu_model(self) -> str | None:
        """CPU model as codecarbon detected it."""
        return getattr(self.emissions_data, "cpu_model", None)

    def _average_watts(self, energy_kwh: float | None) -> float | None:
        # codecarbon's own cpu_power and gpu_power are unweighted means of their samples,
        # including the ~0 W one taken at start(); energy / duration is the honest average.
        if energy_kwh is None:
            return None
        seconds = self._data("duration") or self.wall_seconds or 0.0
        return energy_kwh * 3.6e6 / seconds if seconds > 0 else 0.0

    # ----------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dict, ready to be one row of a results table.

        Every field but ``emissions_data`` (its numbers appear under tlcourse's names), plus
        ``mode``, ``method``, ``estimated`` and the energy and power of each component.

        Returns:
            ``{name: value}``; unmeasured numbers are ``None`` (NaN once in a DataFrame).

        Example:
            >>> row = EmissionsRecord(label="demo", wall_seconds=1.5).to_dict()
            >>> row["wall_seconds"], row["mode"], "emissions_data" in row
            (1.5, 'not measured', False)
        """
        row = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.name != "emissions_data"
        }
        for name in (
            "mode",
            "method",
            "estimated",
            "cpu_energy_kwh",
            "ram_energy_kwh",
            "gpu_energy_kwh",
            "cpu_power_w",
            "ram_power_w",
            "gpu_power_w",
            "cpu_model",
        ):
            row[name] = getattr(self, name)
        return row

    def summary(self) -> str:
        """Return a one-line human summary: time, energy, CO2 and how they were obtained.

        Returns:
            A string such as ``"fine-tuning: 2.00 s (CPU 1.98 s), 0.00778 Wh, 2.87 mg CO2e
            (range 1.6-5.4 mg), estimated (CPU load x TDP)"``; the range only when one is
            stated (``co2_range_basis``).

        Example:
            >>> EmissionsRecord(label="demo", wall_seconds=1.5, cpu_seconds=1.2).summary()
            'demo: 1.50 s (CPU 1.20 s), energy n/a, CO2 n/a, not measured'
        """
        wall = "n/a" if self.wall_seconds is None else f"{self.wall_seconds:.2f} s"
        cpu = "n/a" if self.cpu_seconds is None else f"{self.cpu_seconds:.2f} s"
        energy = "energy n/a" if self.energy_kwh is None else f"{self.energy_kwh * 1000:.3g} Wh"
        co2 = "CO2 n/a" if self.co2_kg is None else format_co2(self.co2_kg)
        if self.co2_range_basis and self.co2_kg_low is not None and self.co2_kg_high is not None:
            co2 += f" (range {format_co2_range(self.co2_kg_low, self.co2_kg_high)})"
        return f"{self.label}: {wall} (CPU {cpu}), {energy}, {co2}, {self.mode}"


# Fields combine_records computes itself; every other field keeps the value the pieces share.
_SUMMED = ("wall_seconds", "cpu_seconds", "energy_kwh", "co2_kg", "co2_kg_low", "co2_kg_high")
_ENERGY_DATA = ("duration", "emissions", "energy_consumed", "cpu_energy", "gpu_energy",
                "ram_energy")  # fmt: skip


def combine_records(records) -> EmissionsRecord:
    """One record for work measured in several pieces (a feature pass, then a head, say).

    Times, energy and CO2 add up, and so do the two ends of the CO2 range. The rules:

    * **A piece that was not measured leaves the total not measured** (``measured=False``,
      energy, CO2 and range None, ``reason`` naming the piece): a total without it would
      understate. The times still add up.
    * **A measured piece without a stated range** (``co2_kg_low``/``co2_kg_high`` None) counts
      its ``co2_kg`` at both ends: no uncertainty is known for it, none is invented.
    * The carbon intensity is the total CO2 over the total energy. Other fields keep the value
      the pieces share; text that differs is joined with " + ", numbers that differ are None.

    Args:
        records: one or more :class:`EmissionsRecord` (finished).

    Returns:
        A new record; the pieces are left as they are.

    Example:
        >>> a = EmissionsRecord("pass", wall_seconds=1.0, measured=True, energy_kwh=2e-6,
        ...     co2_kg=1e-6, co2_kg_low=0.5e-6, co2_kg_high=2e-6, country_name="France")
        >>> b = EmissionsRecord("head", wall_seconds=2.0, measured=True, energy_kwh=2e-6,
        ...     co2_kg=1e-6, country_name="France")
        >>> total = combine_records([a, b])
        >>> total.label, total.wall_seconds, total.co2_kg, total.co2_kg_low, total.co2_kg_high
        ('pass + head', 3.0, 2e-06, 1.5e-06, 3e-06)
        >>> total.country_name, total.carbon_intensity_g_per_kwh
        ('France', 500.0)
        >>> combine_records([a, EmissionsRecord("lost", reason="no codecarbon")]).co2_kg is None
        True
    """
    records = list(records) if not isinstance(records, EmissionsRecord) else [records]
    if not records or not all(isinstance(r, EmissionsRecord) for r in records):
        from tlcourse.errors import invalid_parameter

        rule = "a non-empty list of EmissionsRecord (what `with track(...)` gives)"
        raise invalid_parameter("records", "combine_records", rule, records)
    return combine(records)


def combine(records: list[EmissionsRecord]) -> EmissionsRecord:
    """:func:`combine_records` without the check of its argument (for internal callers)."""
    if len(records) == 1:
        return dataclasses.replace(records[0])
    total = EmissionsRecord(label=_shared([r.label for r in records]))
    for field in dataclasses.fields(EmissionsRecord):
        if field.name not in (*_SUMMED, "label", "emissions_data"):
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
    total.reason = None
    total.energy_kwh = _sum(r.energy_kwh for r in records)
    total.co2_kg = _sum(r.co2_kg for r in records)
    total.co2_kg_low = _sum(r.co2_kg if r.co2_kg_low is None else r.co2_kg_low for r in records)
    total.co2_kg_high = _sum(r.co2_kg if r.co2_kg_high is None else r.co2_kg_high for r in records)
    if total.energy_kwh and total.co2_kg is not None:
        total.carbon_intensity_g_per_kwh = total.co2_kg / total.energy_kwh * 1000
    total.emissions_data = _combined_data([r.emissions_data for r in records])
    return total


def _sum(values) -> float | None:
    values = list(values)
    return None if any(v is None for v in values) else float(sum(values))


def _shared(values):
    """The value every piece has; differing text joined with " + "; else None."""
    distinct = list(dict.fromkeys(v for v in values if v is not None))
    if len(distinct) <= 1:
        return distinct[0] if distinct else None
    return " + ".join(distinct) if all(isinstance(v, str) for v in distinct) else None


def _combined_data(data: list):
    # codecarbon's EmissionsData of the whole: its energies and duration summed, the rest
    # (CPU model and count, RAM power, PUE...) taken from the first piece.
    if any(d is None for d in data):
        return None
    combined = copy.copy(data[0])
    for name in _ENERGY_DATA:
        values = [getattr(d, name, None) for d in data]
        if all(isinstance(v, numbers.Real) for v in values):
            setattr(combined, name, float(sum(values)))
    return combined
