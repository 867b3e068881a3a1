"""Time, energy and CO2 of a block of code, measured offline with codecarbon.

:func:`track` wraps codecarbon's ``OfflineEmissionsTracker`` as a context manager and as a
decorator. It never uses the network, writes no file unless ``output_dir`` is given, keeps
codecarbon's logging quiet, and never lets codecarbon break the code it measures: if codecarbon
is missing or fails, the record says ``measured=False`` and why, and the time is still recorded.

What codecarbon 3 does, and what this package sets differently (checked against 3.3.2):

* **Energy.** Where a hardware counter is readable (Intel/AMD RAPL on Linux, the Windows Energy
  Meter, Apple powermetrics, NVIDIA NVML for GPUs) codecarbon reads it. Otherwise, as on most
  virtual machines, it *estimates* CPU power as a TDP (from its CPU table, or 4 W per thread for
  a CPU model it does not know) scaled by CPU load. RAM power is always a fixed estimate (5 W
  per assumed memory module on x86). The record says which case applied as structured fields
  (``power_source``, ``estimated``, ``cpu_tdp_w``, ``cpu_tdp_source``...), from which its
  ``mode`` and ``method`` sentence are formatted.
* **Range.** When the estimate rests on a default CPU power (codecarbon's 4 W per thread for
  a CPU it does not know, or its generic 85 W), the record also holds ``co2_kg_low`` and
  ``co2_kg_high``: the CO2 with 2 and 8 W per CPU thread, the stated assumption
  (``co2_range_basis``; see :mod:`~tlcourse.tracking.ranges` for its sources).
* **tracking_mode.** codecarbon defaults to ``"machine"``: the load of *every* process on the
  computer. ``track`` defaults to ``"process"``: this Python process and its children, so two
  runs can be compared even while something else uses the machine.
* **Country.** Carbon intensity comes from codecarbon's shipped energy-mix table (no network).
  With ``country=None`` codecarbon's offline tracker applies its world average, 475 g CO2e/kWh
  (IEA 2019), and logs a warning that ``track`` keeps quiet; the record says so
  (``intensity_source="world average"``).
* **Sampling.** ``measure_power_secs=1`` instead of codecarbon's 15, and ``stop()`` takes a final
  measurement, so a block of a few seconds gets a non-zero figure.
* **Files.** No ``emissions.csv`` (codecarbon writes one into the working directory by default)
  unless ``output_dir`` is given. ``allow_multiple_runs=True`` is passed explicitly, so no lock
  file is created in the temporary folder and codecarbon does not install its own Ctrl+C
  handler; nested and repeated tracking work. codecarbon still *reads* ``.codecarbon.config``
  and ``CODECARBON_*`` variables if a user has them (its documented behaviour), but an Electricity
  Maps token found there is ignored because using it means calling a web API.

Modules: :mod:`~tlcourse.tracking.tracker` (``track``), :mod:`~tlcourse.tracking.record` (the
record), :mod:`~tlcourse.tracking.codecarbon_adapter` (codecarbon start/stop/read),
:mod:`~tlcourse.tracking.method` (the words), :mod:`~tlcourse.tracking.grid` (countries and
carbon intensity), :mod:`~tlcourse.tracking.ranges` (the low-high range of an estimate that
rests on a default CPU power, and its stated assumption), :mod:`~tlcourse.tracking.columns`
(results-table columns and figure footnotes), :mod:`~tlcourse.tracking.equivalents` and
:mod:`~tlcourse.tracking.formatting`.
"""

from tlcourse.tracking.columns import CO2_COLUMNS, co2_columns, co2_footnote
from tlcourse.tracking.equivalents import CO2_EQUIVALENT_FACTORS, co2_equivalents
from tlcourse.tracking.formatting import format_co2, format_co2_range
from tlcourse.tracking.grid import INTENSITY_SOURCES, check_country
from tlcourse.tracking.method import (
    CPU_POWER_SOURCES,
    GPU_POWER_SOURCES,
    NOT_MEASURED,
    RAM_POWER_SOURCES,
    TDP_SOURCES,
)
from tlcourse.tracking.ranges import CPU_WATTS_PER_THREAD, co2_range
from tlcourse.tracking.record import EmissionsRecord, combine_records
from tlcourse.tracking.tracker import TRACKING_MODES, Tracking, track

__all__ = [
    "CO2_COLUMNS",
    "CO2_EQUIVALENT_FACTORS",
    "CPU_WATTS_PER_THREAD",
    "CPU_POWER_SOURCES",
    "GPU_POWER_SOURCES",
    "INTENSITY_SOURCES",
    "NOT_MEASURED",
    "RAM_POWER_SOURCES",
    "TDP_SOURCES",
    "TRACKING_MODES",
    "EmissionsRecord",
    "Tracking",
    "check_country",
    "co2_columns",
    "combine_records",
    "co2_equivalents",
    "co2_footnote",
    "co2_range",
    "format_co2",
    "format_co2_range",
    "track",
]
