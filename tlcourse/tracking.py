"""Time, energy and CO2 of a block of code, measured offline with codecarbon.

:func:`track` wraps codecarbon's ``OfflineEmissionsTracker`` as a context manager and as a
decorator. It never uses the network, writes no file unless ``output_dir`` is given, keeps
codecarbon's logging quiet, and never lets codecarbon break the code it measures: if codecarbon
is missing or fails, the record says ``measured=False`` and why, and the time is still recorded.

What codecarbon 3 does, and what this module sets differently (checked against 3.3.2):

* **Energy.** Where a hardware counter is readable (Intel/AMD RAPL on Linux, the Windows Energy
  Meter, Apple powermetrics, NVIDIA NVML for GPUs) codecarbon reads it. Otherwise, as on most
  virtual machines, it *estimates* CPU power as a TDP (from its CPU table, or 4 W per thread for
  a CPU model it does not know) scaled by CPU load. RAM power is always a fixed estimate (5 W
  per assumed memory module). :attr:`EmissionsRecord.mode` and
  :attr:`EmissionsRecord.method` say which case applied.
* **tracking_mode.** codecarbon defaults to ``"machine"``: the load of *every* process on the
  computer. ``track`` defaults to ``"process"``: this Python process and its children, so two
  runs can be compared even while something else uses the machine.
* **Country.** Carbon intensity comes from codecarbon's shipped energy-mix table (no network).
  With ``country=None`` codecarbon's offline tracker applies its world average, 475 g CO2e/kWh
  (IEA 2019), and logs a warning that ``track`` keeps quiet; the record says so.
* **Sampling.** ``measure_power_secs=1`` instead of codecarbon's 15, and ``stop()`` takes a final
  measurement, so a block of a few seconds gets a non-zero figure.
* **Files.** No ``emissions.csv`` (codecarbon writes one into the working directory by default)
  unless ``output_dir`` is given. ``allow_multiple_runs=True`` is passed explicitly, so no lock
  file is created in the temporary folder and codecarbon does not install its own Ctrl+C
  handler; nested and repeated tracking work. codecarbon still *reads* ``.codecarbon.config``
  and ``CODECARBON_*`` variables if a user has them (its documented behaviour), but an Electricity
  Maps token found there is ignored because using it means calling a web API.
"""

from __future__ import annotations

import dataclasses
import datetime
import difflib
import functools
import logging
import math
import numbers
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tlcourse.errors import InvalidParameterError, check_choice, is_real_number

__all__ = [
    "CO2_COLUMNS",
    "CO2_EQUIVALENT_FACTORS",
    "co2_columns",
    "co2_footnote",
    "EmissionsRecord",
    "Tracking",
    "co2_equivalents",
    "format_co2",
    "track",
]

NOT_MEASURED = "not measured"
_UNKNOWN_MODE = "by codecarbon (method not recognised)"
_MEASURED_FIELDS = (
    "energy_kwh",
    "co2_kg",
    "country_name",
    "carbon_intensity_g_per_kwh",
    "cpu_energy_kwh",
    "ram_energy_kwh",
    "gpu_energy_kwh",
    "cpu_power_w",
    "ram_power_w",
    "gpu_power_w",
    "cpu_model",
)
TRACKING_MODES = ("process", "machine")

# codecarbon's names for the CPU back-ends that read a hardware energy counter.
_COUNTER_BACKENDS = {
    "intel_rapl": "RAPL",
    "windows_emi": "Windows Energy Meter",
    "intel_power_gadget": "Intel Power Gadget",
}


# --------------------------------------------------------------------------------------------
# The record
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class EmissionsRecord:
    """Time, energy and CO2 of one tracked block, filled in when the block exits.

    Attributes:
        label: the name given to :func:`track`.
        wall_seconds: elapsed time (``time.perf_counter``), without codecarbon's own start/stop.
        cpu_seconds: CPU time of this process over the block, all threads together
            (``time.process_time``); above ``wall_seconds`` when several cores were busy.
        energy_kwh: electricity used (CPU + RAM + GPU), in kWh; ``None`` when not measured.
        co2_kg: emissions in kg CO2-equivalent; ``None`` when not measured.
        measured: True when codecarbon produced the energy and CO2 figures, whether read from a
            hardware counter or estimated: see ``mode``. False means only time was recorded.
        mode: how the energy was obtained, e.g. ``"measured (RAPL)"``,
            ``"estimated (CPU load x TDP)"`` or ``"not measured"``.
        reason: why nothing was measured (``None`` when ``measured``).
        method: one sentence a student can read, with the assumptions and the numbers used.
        country: ISO 3166-1 alpha-3 code asked for; ``None`` means codecarbon's world average.
        country_name: the grid whose carbon intensity was applied.
        carbon_intensity_g_per_kwh: grams CO2e per kWh applied.
        cpu_energy_kwh: the CPU part of ``energy_kwh``.
        ram_energy_kwh: the RAM part of ``energy_kwh``.
        gpu_energy_kwh: the GPU part of ``energy_kwh``.
        cpu_power_w: average CPU power over the block (CPU energy / duration).
        ram_power_w: RAM power codecarbon assumed (a constant unless read from hardware).
        gpu_power_w: average GPU power over the block.
        cpu_model: CPU model as codecarbon detected it.
        tracking_mode: ``"process"`` or ``"machine"`` (see :func:`track`).
        codecarbon_version: version of codecarbon used, ``None`` if it could not be imported.
        error: ``"ExceptionType: message"`` if an exception left the block, else ``None``.
        started_at: local start time, ISO 8601.
        finished: False while the block runs, True once the record is complete.
    """

    label: str
    wall_seconds: float | None = None
    cpu_seconds: float | None = None
    energy_kwh: float | None = None
    co2_kg: float | None = None
    measured: bool = False
    mode: str = NOT_MEASURED
    reason: str | None = None
    method: str = ""
    country: str | None = None
    country_name: str | None = None
    carbon_intensity_g_per_kwh: float | None = None
    cpu_energy_kwh: float | None = None
    ram_energy_kwh: float | None = None
    gpu_energy_kwh: float | None = None
    cpu_power_w: float | None = None
    ram_power_w: float | None = None
    gpu_power_w: float | None = None
    cpu_model: str | None = None
    tracking_mode: str | None = None
    codecarbon_version: str | None = None
    error: str | None = None
    started_at: str | None = None
    finished: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return every field as a plain dict, ready to be one row of a results table.

        Returns:
            ``{field name: value}``; unmeasured numbers are ``None`` (NaN once in a DataFrame).

        Example:
            >>> EmissionsRecord(label="demo", wall_seconds=1.5).to_dict()["wall_seconds"]
            1.5
        """
        return dataclasses.asdict(self)

    def summary(self) -> str:
        """Return a one-line human summary: time, energy, CO2 and how they were obtained.

        Returns:
            A string such as ``"fine-tuning: 2.00 s (CPU 1.98 s), 0.00778 Wh, 2.87 mg CO2e,
            estimated (CPU load x TDP)"``.

        Example:
            >>> EmissionsRecord(label="demo", wall_seconds=1.5, cpu_seconds=1.2).summary()
            'demo: 1.50 s (CPU 1.20 s), energy n/a, CO2 n/a, not measured'
        """
        wall = "n/a" if self.wall_seconds is None else f"{self.wall_seconds:.2f} s"
        cpu = "n/a" if self.cpu_seconds is None else f"{self.cpu_seconds:.2f} s"
        energy = "energy n/a" if self.energy_kwh is None else f"{self.energy_kwh * 1000:.3g} Wh"
        co2 = "CO2 n/a" if self.co2_kg is None else format_co2(self.co2_kg)
        return f"{self.label}: {wall} (CPU {cpu}), {energy}, {co2}, {self.mode}"


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def track(
    label: str,
    country: str | None = None,
    measure_power_secs: float = 1,
    output_dir: str | os.PathLike | None = None,
    *,
    tracking_mode: str = "process",
) -> Tracking:
    """Measure the time, energy and CO2 of a block of code (context manager or decorator).

    The record is created empty when the block starts and filled when it exits, also when the
    block raises (the exception then propagates unchanged and ``record.error`` names it). If
    codecarbon is not installed or fails, ``record.measured`` is False, ``record.reason`` says
    why, the times are still recorded and your code is not interrupted.

    The first tracked block of a Python process waits about 1.5 s while codecarbon detects the
    hardware; that wait is not counted in ``wall_seconds``.

    Args:
        label: a name for the run, copied into the record (and into codecarbon's CSV).
        country: ISO 3166-1 alpha-3 code of the electricity grid, such as ``"USA"``, ``"FRA"``
            or ``"DEU"`` (case-insensitive). None applies codecarbon's world average,
            475 g CO2e/kWh. Defaults to None.
        measure_power_secs: seconds between two power readings. Defaults to 1 (codecarbon's
            own default, 15, is too coarse for runs of a few seconds).
        output_dir: folder where codecarbon appends a row to ``emissions.csv`` (created if
            missing). None writes no file at all. Defaults to None.
        tracking_mode: ``"process"`` attributes to the block the CPU load and memory of this
            process only; ``"machine"`` uses the whole computer's, other programs included
            (codecarbon's default). Defaults to ``"process"``.

    Returns:
        A :class:`Tracking`. ``with track(...) as record:`` gives the
        :class:`EmissionsRecord`; ``@track(...)`` leaves the function's return value unchanged
        and appends one record per call to ``function.records``.

    Raises:
        InvalidParameterError: for an empty label, a country that is not a known 3-letter
            code, a non-positive ``measure_power_secs`` or an unknown ``tracking_mode``.

    Example:
        >>> with track("sum of squares", country="FRA") as record:
        ...     total = sum(i * i for i in range(100_000))
        >>> record.finished, record.wall_seconds > 0
        (True, True)
        >>> @track("square")
        ... def square(x):
        ...     return x * x
        >>> square(3), len(square.records)
        (9, 1)
    """
    if not isinstance(label, str) or not label.strip():
        raise InvalidParameterError(
            f"The 'label' parameter of track must be a non-empty string. Got {label!r} instead."
        )
    country = _check_country(country)
    if not (is_real_number(measure_power_secs) and measure_power_secs > 0):
        raise InvalidParameterError(
            "The 'measure_power_secs' parameter of track must be a number of seconds > 0, "
            f"such as 1. Got {measure_power_secs!r} instead."
        )
    if output_dir is not None and not isinstance(output_dir, str | os.PathLike):
        raise InvalidParameterError(
            "The 'output_dir' parameter of track must be a folder path (str or Path) or None. "
            f"Got {output_dir!r} instead."
        )
    check_choice("tracking_mode", tracking_mode, TRACKING_MODES, "track")
    return Tracking(
        label=label,
        country=country,
        measure_power_secs=float(measure_power_secs),
        output_dir=None if output_dir is None else Path(output_dir),
        tracking_mode=tracking_mode,
    )


class Tracking:
    """What :func:`track` returns: a reusable context manager and decorator.

    Each ``with`` block or decorated call starts a fresh codecarbon tracker and produces a new
    :class:`EmissionsRecord`, also appended to :attr:`records`. The same object can be
    entered again, nested or from several threads.

    Attributes:
        records: every record produced so far, oldest first.
    """

    def __init__(
        self,
        label: str,
        country: str | None,
        measure_power_secs: float,
        output_dir: Path | None,
        tracking_mode: str,
    ):
        self.label = label
        self.country = country
        self.measure_power_secs = measure_power_secs
        self.output_dir = output_dir
        self.tracking_mode = tracking_mode
        self.records: list[EmissionsRecord] = []
        # One stack per thread: with-blocks exit in reverse order within a thread, not across.
        self._local = threading.local()

    def __repr__(self) -> str:
        return (
            f"Tracking(label={self.label!r}, country={self.country!r}, "
            f"measure_power_secs={self.measure_power_secs:g}, output_dir={self.output_dir!r}, "
            f"tracking_mode={self.tracking_mode!r})"
        )

    @property
    def last_record(self) -> EmissionsRecord | None:
        """The most recent record, or None before the first run."""
        return self.records[-1] if self.records else None

    def __enter__(self) -> EmissionsRecord:
        run = _Run(self)
        self._runs().append(run)
        self.records.append(run.record)
        return run.record

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._runs().pop().finish(exc_type, exc)
        return False  # never swallow the user's exception

    def __call__(self, func: Callable) -> Callable:
        if not callable(func):
            raise TypeError(
                f"track(...) decorates a function; got {type(func).__name__} {func!r}. "
                "To measure a block of code, use `with track(...) as record:`."
            )

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        wrapper.records = self.records
        wrapper.tracking = self
        return wrapper

    def _runs(self) -> list[_Run]:
        runs = getattr(self._local, "runs", None)
        if runs is None:
            runs = self._local.runs = []
        return runs


class _Run:
    """One tracked execution: codecarbon tracker, clocks and the record they fill."""

    def __init__(self, tracking: Tracking):
        self.tracking = tracking
        self.record = EmissionsRecord(
            label=tracking.label,
            country=tracking.country,
            tracking_mode=tracking.tracking_mode,
            started_at=datetime.datetime.now().isoformat(timespec="seconds"),
        )
        if tracking.output_dir is not None:
            tracking.output_dir.mkdir(parents=True, exist_ok=True)
        _quiet_codecarbon_logger()
        try:
            self.tracker, self.reason = _start_codecarbon(tracking)
        except BaseException:
            _restore_codecarbon_logger()
            raise
        # Clocks start after codecarbon's start-up so its hardware probe is not counted.
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()

    def finish(self, exc_type, exc) -> None:
        record = self.record
        record.wall_seconds = time.perf_counter() - self.wall_start
        record.cpu_seconds = time.process_time() - self.cpu_start
        if exc_type is not None:
            record.error = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        try:
            data, reason = (None, self.reason)
            if self.tracker is not None:
                data, reason = _stop_codecarbon(self.tracker)
            try:
                _fill_record(record, self.tracker, data, reason)
            except Exception as error:  # a codecarbon change must not break the user's run
                for name in _MEASURED_FIELDS:
                    setattr(record, name, None)
                _fill_record(
                    record,
                    None,
                    None,
                    f"tlcourse could not read codecarbon's result "
                    f"({type(error).__name__}: {error})",
                )
        finally:
            self.tracker = None
            record.finished = True
            _restore_codecarbon_logger()


# --------------------------------------------------------------------------------------------
# codecarbon: start, stop, read
# --------------------------------------------------------------------------------------------

_log_lock = threading.Lock()
_log_users = 0
_log_saved_level = logging.NOTSET


def _quiet_codecarbon_logger() -> None:
    # Set before the tracker exists: codecarbon logs a warning in __init__ before it applies
    # its own log_level. The user's level comes back when the last tracked block ends.
    global _log_users, _log_saved_level
    try:
        import codecarbon  # noqa: F401  (its import resets the logger level to INFO)
    except Exception:
        pass  # reported by _start_codecarbon
    logger = logging.getLogger("codecarbon")
    with _log_lock:
        if _log_users == 0:
            _log_saved_level = logger.level
        _log_users += 1
        logger.setLevel(logging.ERROR)


def _restore_codecarbon_logger() -> None:
    global _log_users
    with _log_lock:
        _log_users = max(_log_users - 1, 0)
        if _log_users == 0:
            logging.getLogger("codecarbon").setLevel(_log_saved_level)


def _unsuppressed(function: Callable) -> Callable:
    # codecarbon decorates __init__, start() and stop() with a `suppress(Exception)` that logs
    # the error at WARNING and returns None. The undecorated function (kept by functools.wraps
    # as __wrapped__) raises instead, which lets the record say *why* it failed.
    return getattr(function, "__wrapped__", function)


def _start_codecarbon(tracking: Tracking) -> tuple[Any | None, str | None]:
    """Create and start an offline tracker; return (tracker, None) or (None, reason)."""
    try:
        import codecarbon
        from codecarbon import OfflineEmissionsTracker, OutputMethod
    except ImportError as error:
        return None, f"codecarbon is not installed ({error}); `pip install codecarbon`"
    except Exception as error:
        return None, f"codecarbon could not be imported ({type(error).__name__}: {error})"

    to_file = tracking.output_dir is not None
    settings = dict(
        project_name=tracking.label,
        experiment_name=tracking.label,
        country_iso_code=tracking.country,
        measure_power_secs=tracking.measure_power_secs,
        tracking_mode=tracking.tracking_mode,
        output_methods=[OutputMethod.CSV] if to_file else [],
        output_dir=str(tracking.output_dir) if to_file else ".",
        output_file="emissions.csv",
        emissions_endpoint=None,
        electricitymaps_api_token=None,
        allow_multiple_runs=True,
        log_level="error",
    )
    tracker = None
    try:
        tracker = OfflineEmissionsTracker.__new__(OfflineEmissionsTracker)
        _unsuppressed(OfflineEmissionsTracker.__init__)(tracker, **settings)
        if getattr(tracker, "_another_instance_already_running", False):
            lock = getattr(getattr(tracker, "_lock", None), "lockfile_path", "its lock file")
            return None, (
                f"another codecarbon tracker holds {lock}; a codecarbon configuration file "
                "or variable probably sets allow_multiple_runs=False"
            )
        # A deprecated token read from a config file would still reach the web API.
        tracker._electricitymaps_api_token = None
        _unsuppressed(type(tracker).start)(tracker)
        if getattr(tracker, "_start_time", None) is None:
            _halt(tracker)
            return None, "codecarbon's start() returned without starting the tracker"
    except Exception as error:
        _halt(tracker)
        version = getattr(codecarbon, "__version__", "?")
        return None, f"codecarbon {version} failed to start ({type(error).__name__}: {error})"
    return tracker, None


def _stop_codecarbon(tracker) -> tuple[Any | None, str | None]:
    """Stop the tracker; return (final EmissionsData, None) or (None, reason)."""
    try:
        _wait_for_scheduled_measurement(tracker)
        result = _unsuppressed(type(tracker).stop)(tracker)
    except Exception as error:
        return None, f"codecarbon's stop() failed ({type(error).__name__}: {error})"
    finally:
        _halt(tracker)
    data = getattr(tracker, "final_emissions_data", None)
    if result is None or data is None:
        return None, "codecarbon's stop() returned no result (it reports no error of its own)"
    energy, co2 = getattr(data, "energy_consumed", None), getattr(data, "emissions", None)
    for name, value in (("energy", energy), ("emissions", co2)):
        if not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
            return None, f"codecarbon returned an invalid {name} figure: {value!r}"
    return data, None


def _wait_for_scheduled_measurement(tracker) -> None:
    # codecarbon's PeriodicScheduler.stop() cancels the next timer but does not wait for a
    # measurement already running in the timer thread. When that one overlaps the final
    # measurement taken by stop(), the same interval is counted twice: +50 % energy was seen
    # here on 2 s runs with measure_power_secs=1. Stopping the scheduler and joining its
    # timer threads first serialises the two.
    scheduler = getattr(tracker, "_scheduler", None)
    if scheduler is None:
        return
    scheduler.stop()
    current = threading.current_thread()
    for thread in threading.enumerate():
        if (
            isinstance(thread, threading.Timer)
            and thread is not current
            and getattr(getattr(thread, "function", None), "__self__", None) is scheduler
        ):
            thread.join(timeout=10)


def _halt(tracker) -> None:
    # Timers left running would keep measuring every second for the rest of the session.
    for name in ("_scheduler", "_scheduler_monitor_power"):
        scheduler = getattr(tracker, name, None)
        if scheduler is not None:
            try:
                scheduler.stop()
            except Exception:
                pass


def _fill_record(record: EmissionsRecord, tracker, data, reason: str | None) -> None:
    record.codecarbon_version = _codecarbon_version()
    if data is None:
        record.measured = False
        record.mode = NOT_MEASURED
        record.reason = reason
        record.method = f"Not measured: {reason}. Only the time was recorded."
        return

    duration = float(data.duration) if data.duration else record.wall_seconds or 0.0
    record.measured = True
    record.reason = None
    record.energy_kwh = float(data.energy_consumed)
    record.co2_kg = float(data.emissions)
    record.cpu_energy_kwh = float(data.cpu_energy)
    record.ram_energy_kwh = float(data.ram_energy)
    record.gpu_energy_kwh = float(data.gpu_energy)
    # codecarbon's own cpu_power and gpu_power are unweighted means of their samples, including
    # the ~0 W one taken at start(); energy / duration is the honest average over the block.
    record.cpu_power_w = _average_watts(record.cpu_energy_kwh, duration)
    record.ram_power_w = float(data.ram_power)  # a constant estimate: nothing to average
    record.gpu_power_w = _average_watts(record.gpu_energy_kwh, duration)
    record.cpu_model = data.cpu_model
    record.tracking_mode = data.tracking_mode or record.tracking_mode
    record.codecarbon_version = data.codecarbon_version or record.codecarbon_version

    intensity, grid_name, year = _grid_intensity(record.country)
    if record.energy_kwh > 0:
        intensity = record.co2_kg / record.energy_kwh * 1000  # what codecarbon applied
    record.carbon_intensity_g_per_kwh = intensity
    record.country_name = data.country_name or grid_name
    try:
        record.mode, record.method = _describe(record, tracker, data, grid_name, year)
    except Exception as error:  # the numbers are valid even if their story cannot be told
        record.mode = _UNKNOWN_MODE
        record.method = (
            f"By codecarbon {record.codecarbon_version}; tlcourse could not describe its "
            f"method ({type(error).__name__}: {error})."
        )


def _average_watts(energy_kwh: float, seconds: float) -> float:
    return energy_kwh * 3.6e6 / seconds if seconds > 0 else 0.0


def _describe(record: EmissionsRecord, tracker, data, grid_name, year) -> tuple[str, str]:
    """Return (mode, method sentence) from the hardware codecarbon used."""
    hardware = list(getattr(tracker, "_hardware", None) or [])
    kinds = {type(item).__name__: item for item in hardware}
    cpu = kinds.get("CPU")
    backend = getattr(cpu, "_mode", None)
    threads = data.cpu_count or os.cpu_count() or 1
    avg = f"average {record.cpu_power_w:.2g} W"

    if backend in _COUNTER_BACKENDS:
        name = _COUNTER_BACKENDS[backend]
        mode = f"measured ({name})"
        cpu_text = f"CPU energy read from the {name} counters of the whole CPU ({avg})"
    elif "AppleSiliconChip" in kinds:
        mode = "measured (powermetrics)"
        cpu_text = f"CPU energy read from Apple powermetrics ({avg})"
    elif "Raspberry" in kinds:
        mode = "measured (Raspberry Pi power monitor)"
        cpu_text = f"CPU energy read from the Raspberry Pi power monitor ({avg})"
    elif backend == "cpu_load":
        mode = "estimated (CPU load x TDP)"
        tdp = float(cpu._tdp)
        if record.tracking_mode == "process":
            share = f"this process's share of the {threads} CPU threads"
            cpu_text = f"CPU power assumed {tdp:g} W x {share} ({avg})"
        else:
            cpu_text = (
                f"CPU power assumed {tdp:g} W x (0.1 + 0.9 x load^3), load of the whole "
                f"machine ({avg})"
            )
        cpu_text += _tdp_origin(cpu, tdp, threads)
    elif backend == "constant":
        mode = "estimated (constant share of TDP)"
        cpu_text = f"CPU power assumed constant at half of {float(cpu._tdp):g} W ({avg})"
    else:
        mode = _UNKNOWN_MODE
        cpu_text = f"CPU by codecarbon's {backend or 'unknown'} method ({avg})"

    cpu_measured = mode.startswith("measured")
    gpu_text = ""
    if "GPU" in kinds:
        mode += "; GPU measured"
        gpu_text = (
            f"; GPU energy read from its driver, whole card whatever the process "
            f"({data.gpu_model}, average {record.gpu_power_w:.3g} W)"
        )

    forced_ram = getattr(tracker, "_force_ram_power", None)
    if forced_ram is not None:
        ram_text = f"RAM {record.ram_power_w:.3g} W (set in codecarbon's configuration)"
    elif "Raspberry" in kinds:
        ram_text = f"RAM {record.ram_power_w:.3g} W (read from the power monitor)"
    else:
        memory = "this process's" if record.tracking_mode == "process" else "the machine's"
        ram_text = (
            f"RAM {record.ram_power_w:.3g} W (fixed estimate: 5 W per memory module assumed "
            f"from {memory} memory size)"
        )

    forced_intensity = getattr(tracker, "force_carbon_intensity_g_co2e_kwh", None)
    intensity = record.carbon_intensity_g_per_kwh
    if forced_intensity is not None:
        grid = "set in codecarbon's configuration"
    elif record.country is None:
        grid = "world average, applied by codecarbon when no country is given"
    else:
        grid = f"{record.country_name} grid"
        grid += f", {year} energy mix" if year else ""
    pue = getattr(data, "pue", 1.0) or 1.0
    pue_text = f"; all powers x PUE {pue:g}" if pue != 1.0 else ""

    if cpu_measured:
        lead, why = "Measured", ""
    elif gpu_text:
        lead, why = "Partly estimated", " (no CPU power counter readable)"
    else:
        lead, why = "Estimated", " (no hardware power counter readable)"
    method = (
        f"{lead} by codecarbon {record.codecarbon_version}{why}: {cpu_text}{gpu_text}; "
        f"{ram_text}{pue_text}; carbon intensity {intensity:.0f} g CO2e/kWh ({grid})."
    )
    return mode, method


def _tdp_origin(cpu, tdp: float, threads: int) -> str:
    """Say where the CPU's assumed full-load power came from."""
    if getattr(cpu, "_is_generic_tdp", False):
        return f"; {tdp:g} W is codecarbon's generic value for an unknown CPU"
    model = getattr(cpu, "_model", None)
    if _cpu_in_table(model):
        return f"; {tdp:g} W is the TDP of {model!r} in codecarbon's CPU table"
    try:
        from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE
    except Exception:
        return ""
    return (
        f"; {tdp:g} W is codecarbon's default of {DEFAULT_POWER_PER_CORE:g} W per thread, "
        f"CPU model {model!r} not being in its table"
    )


@functools.lru_cache(maxsize=8)
def _cpu_in_table(model: str | None) -> bool:
    if not model:
        return False
    try:
        from codecarbon.core import cpu
        from codecarbon.core.hardware_cache import get_cached_tdp

        return bool(get_cached_tdp(cpu)._get_cpu_power_from_registry(model))
    except Exception:
        return False


def _codecarbon_version() -> str | None:
    try:
        from codecarbon import __version__
    except Exception:
        return None
    return __version__


# --------------------------------------------------------------------------------------------
# Countries and grid carbon intensity (codecarbon's shipped tables, no network)
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _energy_mix() -> dict | None:
    try:
        from codecarbon.input import DataSource

        return DataSource().get_global_energy_mix_data()
    except Exception:
        return None


def _grid_intensity(country: str | None) -> tuple[float | None, str | None, int | None]:
    """Return (g CO2e/kWh, grid name, data year) from codecarbon's tables; Nones if unknown."""
    try:
        if country is None:
            from codecarbon.input import DataSource

            world = DataSource().get_carbon_intensity_per_source_data()["world_average"]
            return float(world), "World average", None
        entry = (_energy_mix() or {}).get(country, {})
        intensity = entry.get("carbon_intensity")
        return (
            None if intensity is None else float(intensity),
            entry.get("country_name"),
            entry.get("year"),
        )
    except Exception:
        return None, None, None


def _check_country(country) -> str | None:
    if country is None:
        return None
    rule = (
        "The 'country' parameter of track must be a 3-letter ISO 3166-1 alpha-3 code such as "
        "'USA', 'FRA' or 'DEU', or None for codecarbon's world-average grid."
    )
    mix = _energy_mix()
    if not isinstance(country, str) or len(country) != 3 or not country.isalpha():
        raise InvalidParameterError(f"{rule} Got {country!r} instead.{_suggest(country, mix)}")
    code = country.upper()
    if mix is not None and code not in mix:
        raise InvalidParameterError(
            f"{rule} Got {country!r}, which is not in codecarbon's table of "
            f"{len(mix)} countries.{_suggest(country, mix)}"
        )
    return code


def _suggest(value, mix: dict | None) -> str:
    if not isinstance(value, str) or not mix:
        return ""
    by_name = {
        str(entry.get("country_name", "")).lower(): code
        for code, entry in mix.items()
        if isinstance(entry, dict)
    }
    codes = [by_name[name] for name in difflib.get_close_matches(value.lower(), by_name, n=3)]
    codes += difflib.get_close_matches(value.upper(), list(mix), n=3)
    codes = list(dict.fromkeys(codes))[:3]
    if not codes:
        return ""
    named = " or ".join(f"{code!r} ({mix[code].get('country_name', '?')})" for code in codes)
    return f" Did you mean {named}?"


# --------------------------------------------------------------------------------------------
# Records as table columns, and the footnote figures print
# --------------------------------------------------------------------------------------------

#: The columns :func:`co2_columns` adds to a results row, from which figures and tables format
#: their captions (nothing parses the ``co2_method`` sentence back).
CO2_COLUMNS = ("co2_mode", "co2_grid", "carbon_intensity_g_per_kwh", "co2_method")


def co2_columns(record: EmissionsRecord) -> dict[str, Any]:
    """How a record's CO2 figure was obtained, as columns of a results table.

    Args:
        record: a finished :class:`EmissionsRecord`.

    Returns:
        ``{"co2_mode": "estimated (CPU load x TDP)", "co2_grid": "World average",
        "carbon_intensity_g_per_kwh": 475.0, "co2_method": "<the full sentence>"}``; the
        numbers are None when nothing was measured.

    Example:
        >>> co2_columns(EmissionsRecord(label="demo"))["co2_mode"]
        'not measured'
    """
    return {
        "co2_mode": record.mode,
        "co2_grid": record.country_name,
        "carbon_intensity_g_per_kwh": record.carbon_intensity_g_per_kwh,
        "co2_method": record.method,
    }


def co2_footnote(results) -> str:
    """One line saying how the CO2 figures of a results table were obtained.

    Args:
        results: a DataFrame with the :data:`CO2_COLUMNS` (and ``co2_kg``), such as
            ``compare``'s results.

    Returns:
        For example ``"CO2 estimated (CPU load x TDP) by codecarbon; grid: World average,
        475 g CO2e/kWh."``; ``"CO2 not measured for these runs."`` when no row has a figure.

    Example:
        >>> import pandas as pd
        >>> co2_footnote(pd.DataFrame({"co2_kg": [None]}))
        'CO2 not measured for these runs.'
    """
    measured = results[results["co2_kg"].notna()] if "co2_kg" in results else results[:0]
    if measured.empty:
        return "CO2 not measured for these runs."
    parts = []
    for column in ("co2_mode", "co2_grid", "carbon_intensity_g_per_kwh"):
        if column not in measured:
            return "CO2 estimated by codecarbon (method not recorded)."
    for (mode, grid), rows in measured.groupby(["co2_mode", "co2_grid"], dropna=False, sort=False):
        intensity = rows["carbon_intensity_g_per_kwh"].dropna()
        grid_text = "grid not recorded" if grid != grid or grid is None else f"grid: {grid}"
        if len(intensity):
            grid_text += f", {intensity.median():.0f} g CO2e/kWh"
        parts.append(f"{mode} by codecarbon; {grid_text}")
    return "CO2 " + " | ".join(parts) + "."


# --------------------------------------------------------------------------------------------
# Putting CO2 in perspective
# --------------------------------------------------------------------------------------------

_KG_PER_LB = 0.45359237
_KM_PER_MILE = 1.609344

#: kg CO2 per unit of each everyday equivalent used by :func:`co2_equivalents`.
CO2_EQUIVALENT_FACTORS: dict[str, dict[str, Any]] = {
    "car_km": {
        "kg_per_unit": 0.400 / _KM_PER_MILE,
        "unit": "km driven by an average passenger car",
        "source": (
            "US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' "
            "(EPA-420-F-23-014, 2023): about 400 g CO2 per mile (8,887 g per gallon of "
            "gasoline / 22.2 mpg), i.e. 248.5 g per km"
        ),
    },
    "smartphone_charges": {
        "kg_per_unit": 8.22e-3,
        "unit": "smartphone full charges",
        "source": (
            "US EPA Greenhouse Gas Equivalencies Calculator, calculations and references: "
            "8.22e-6 metric tons CO2 per smartphone charged (value of the 2020-2023 editions, "
            "from the US marginal grid rate; not re-checked offline against the current page)"
        ),
    },
    "car_lifetimes": {
        "kg_per_unit": 126_000 * _KG_PER_LB,
        "unit": "lifetimes of an average car, fuel included",
        "source": (
            "Strubell, Ganesh & McCallum (2019), 'Energy and Policy Considerations for Deep "
            "Learning in NLP', Table 1: 126,000 lbs CO2e = 57,153 kg"
        ),
    },
}


def co2_equivalents(co2_kg: float):
    """Express an amount of CO2 as everyday equivalents.

    The factors, in :data:`CO2_EQUIVALENT_FACTORS`:

    * **Car kilometres**: US EPA, "Greenhouse Gas Emissions from a Typical Passenger Vehicle"
      (EPA-420-F-23-014, 2023): a typical passenger vehicle emits about 400 g CO2 per mile,
      i.e. 400 / 1.609344 = 248.5 g per km. Chosen over the EEA's figure for new cars
      registered in the EU (about 108 g/km in 2022, WLTP test cycle) because it describes the
      cars actually on the road, with real-world fuel economy, as the two other EPA-based
      rows do. It counts tailpipe CO2 only.
    * **Smartphone charges**: US EPA Greenhouse Gas Equivalencies Calculator: 8.22e-6 metric
      tons CO2 (8.22 g) per smartphone fully charged. Assumption stated plainly: this is the
      value published in the calculator's references between about 2020 and 2023; newer
      editions switched electricity factors and may differ.
    * **Car lifetimes**: Strubell et al. (2019), Table 1, the comparison used in the lecture:
      an average American car over its lifetime, fuel included, 126,000 lbs CO2e = 57,153 kg.

    Args:
        co2_kg: kilograms of CO2-equivalent, e.g. ``record.co2_kg``.

    Returns:
        A pandas DataFrame indexed by ``car_km``, ``smartphone_charges`` and
        ``car_lifetimes``, with columns ``value``, ``unit``, ``kg_per_unit`` and ``source``.

    Raises:
        InvalidParameterError: if ``co2_kg`` is not a finite number >= 0 (``None`` typically
            means the record was not measured).

    Example:
        >>> table = co2_equivalents(1.0)
        >>> car, phone = table.loc["car_km", "value"], table.loc["smartphone_charges", "value"]
        >>> print(f"1 kg CO2 = {car:.2f} km by car = {phone:.0f} smartphone charges")
        1 kg CO2 = 4.02 km by car = 122 smartphone charges
    """
    import pandas as pd

    co2_kg = _check_kg("co2_equivalents", co2_kg)
    rows = {
        name: {
            "value": co2_kg / factor["kg_per_unit"],
            "unit": factor["unit"],
            "kg_per_unit": factor["kg_per_unit"],
            "source": factor["source"],
        }
        for name, factor in CO2_EQUIVALENT_FACTORS.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def format_co2(kg: float | None, digits: int = 3) -> str:
    """Format a mass of CO2e with the unit that suits it: mg, g, kg or t.

    Args:
        kg: kilograms of CO2-equivalent; None or NaN gives ``"n/a"``.
        digits: significant digits kept. Defaults to 3.

    Returns:
        A string such as ``"2.87 mg CO2e"``, ``"12.5 g CO2e"`` or ``"57.2 t CO2e"``.

    Raises:
        InvalidParameterError: for a negative or non-numeric amount, or ``digits`` < 1.

    Example:
        >>> format_co2(2.87e-6), format_co2(0.0125), format_co2(3.0), format_co2(57_153)
        ('2.87 mg CO2e', '12.5 g CO2e', '3 kg CO2e', '57.2 t CO2e')
    """
    if not isinstance(digits, numbers.Integral) or isinstance(digits, bool) or digits < 1:
        raise InvalidParameterError(
            f"The 'digits' parameter of format_co2 must be an int >= 1. Got {digits!r} instead."
        )
    if kg is None or (isinstance(kg, numbers.Real) and math.isnan(kg)):
        return "n/a"
    kg = _check_kg("format_co2", kg)
    if kg == 0:
        return "0 g CO2e"
    # Round first so that 0.99999 g is shown as "1 g", not "1e+03 mg".
    kg = float(f"{kg:.{digits}g}")
    for unit, scale in (("t", 1e-3), ("kg", 1.0), ("g", 1e3)):
        if kg * scale >= 1:
            return f"{_significant(kg * scale, digits)} {unit} CO2e"
    return f"{_significant(kg * 1e6, digits)} mg CO2e"


def _significant(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e+" in text:  # large numbers of tonnes: write them out rather than 1.23e+05
        text = f"{value:,.0f}"
    return text


def _check_kg(func: str, value) -> float:
    if not (is_real_number(value) and value >= 0):
        hint = " (a record that was not measured has co2_kg=None)" if value is None else ""
        raise InvalidParameterError(
            f"The CO2 amount given to {func} must be a finite number of kg >= 0. "
            f"Got {value!r} instead.{hint}"
        )
    return float(value)
