"""The codecarbon side of :func:`~tlcourse.tracking.track`: start, stop, and read the result.

Almost everything is read through codecarbon's public interface: its ``EmissionsData``
(``final_emissions_data``), its public ``force_carbon_intensity_g_co2e_kwh`` attribute and its
shipped data tables. codecarbon has no public interface for three things tlcourse needs, so
each is isolated in one small function below, with what it falls back to:

* which CPU/GPU/RAM back-end it chose, and the TDP behind an estimate
  (:func:`_hardware_sources`; falls back to "not recognised");
* its timer threads, to avoid double-counting the last interval and to leave no timer running
  after a failure (:func:`_wait_for_scheduled_measurement`, :func:`_halt`; fall back to
  codecarbon's own ``stop()``);
* a deprecated web-API token read from a configuration file (:func:`_drop_web_token`).
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tlcourse.tracking.grid import grid_intensity
from tlcourse.tracking.ranges import co2_range

__all__ = [
    "codecarbon_version",
    "fill_record",
    "prepare_codecarbon",
    "quiet_codecarbon_logger",
    "restore_codecarbon_logger",
    "start_tracker",
    "stop_tracker",
]

_log_lock = threading.Lock()
_log_users = 0
_log_saved_level = logging.NOTSET
_preparation: threading.Thread | None = None
_preparation_lock = threading.Lock()


def quiet_codecarbon_logger() -> None:
    """Silence codecarbon's logger below ERROR until the matching restore call.

    Set before the tracker exists: codecarbon logs a warning in ``__init__`` before it applies
    its own ``log_level``. Calls nest (tracked blocks can be nested or run in threads); the
    user's level comes back when the last one is restored.

    Example:
        >>> import logging
        >>> before = logging.getLogger("codecarbon").level
        >>> quiet_codecarbon_logger()
        >>> logging.getLogger("codecarbon").level == logging.ERROR
        True
        >>> restore_codecarbon_logger()
        >>> logging.getLogger("codecarbon").level == before
        True
    """
    global _log_users, _log_saved_level
    try:
        import codecarbon  # noqa: F401  (its import resets the logger level to INFO)
    except Exception:
        pass  # reported by start_tracker
    logger = logging.getLogger("codecarbon")
    with _log_lock:
        if _log_users == 0:
            _log_saved_level = logger.level
        _log_users += 1
        logger.setLevel(logging.ERROR)


def restore_codecarbon_logger() -> None:
    """Undo one :func:`quiet_codecarbon_logger`; the last one restores the user's level.

    Example:
        >>> quiet_codecarbon_logger(); restore_codecarbon_logger()
    """
    global _log_users
    with _log_lock:
        _log_users = max(_log_users - 1, 0)
        if _log_users == 0:
            logging.getLogger("codecarbon").setLevel(_log_saved_level)


def prepare_codecarbon() -> None:
    """Start codecarbon's one-time hardware detection in a background thread (once a process).

    The first tracker of a process waits about 1.2 s for codecarbon to find the CPU's power:
    py-cpuinfo reads the CPU model in a subprocess, which is then looked up in codecarbon's
    table. Started before the first tracked block (``compare`` does, while it loads the data),
    that wait overlaps other work; :func:`start_tracker` waits for it to end, so nothing is
    detected twice. A failure here is ignored: the tracker meets it again and reports it.

    Example:
        >>> prepare_codecarbon(); prepare_codecarbon()  # the second call does nothing
    """
    global _preparation
    with _preparation_lock:
        if _preparation is None:
            _preparation = threading.Thread(
                target=_detect_hardware, name="tlcourse-codecarbon-setup", daemon=True
            )
            _preparation.start()


def _detect_hardware() -> None:
    # codecarbon keeps the result process-wide (hardware_cache.get_cached_tdp, not public):
    # with another codecarbon this does nothing, and the first tracker detects as before.
    quiet_codecarbon_logger()
    try:
        from codecarbon.core import cpu
        from codecarbon.core.hardware_cache import get_cached_tdp

        get_cached_tdp(cpu)
    except Exception:
        pass
    finally:
        restore_codecarbon_logger()


def _wait_for_preparation() -> None:
    with _preparation_lock:
        preparation = _preparation
    if preparation is not None:
        preparation.join()


def codecarbon_version() -> str | None:
    """The installed codecarbon's version, or None if it cannot be imported.

    Example:
        >>> codecarbon_version().count(".") >= 1
        True
    """
    try:
        from codecarbon import __version__
    except Exception:
        return None
    return __version__


def _unsuppressed(function: Callable) -> Callable:
    # codecarbon decorates __init__, start() and stop() with a `suppress(Exception)` that logs
    # the error at WARNING and returns None. The undecorated function (kept by functools.wraps
    # as __wrapped__) raises instead, which lets the record say *why* it failed.
    return getattr(function, "__wrapped__", function)


def start_tracker(
    label: str,
    country: str | None,
    measure_power_secs: float,
    output_dir: Path | None,
    tracking_mode: str,
) -> tuple[Any | None, str | None]:
    """Create and start an offline tracker, with every setting :func:`track` promises.

    Args:
        label: project and experiment name (codecarbon's CSV).
        country: ISO 3166-1 alpha-3 code, already checked, or None for the world average.
        measure_power_secs: seconds between two power readings.
        output_dir: folder for ``emissions.csv``, or None for no file.
        tracking_mode: ``"process"`` or ``"machine"``.

    Returns:
        ``(tracker, None)``, or ``(None, reason)`` when codecarbon is missing or fails; never
        raises for codecarbon's sake.

    Example:
        >>> quiet_codecarbon_logger()
        >>> tracker, reason = start_tracker("demo", None, 1.0, None, "process")
        >>> data, reason = stop_tracker(tracker)
        >>> restore_codecarbon_logger()
        >>> data.energy_consumed >= 0, reason
        (True, None)
    """
    try:
        import codecarbon
        from codecarbon import OfflineEmissionsTracker, OutputMethod
    except ImportError as error:
        return None, f"codecarbon is not installed ({error}); `pip install codecarbon`"
    except Exception as error:
        return None, f"codecarbon could not be imported ({type(error).__name__}: {error})"

    to_file = output_dir is not None
    # Every setting is passed explicitly: codecarbon lets a keyword argument override its
    # configuration files, so no file can turn the network or a lock file back on.
    settings = dict(
        project_name=label,
        experiment_name=label,
        country_iso_code=country,
        measure_power_secs=measure_power_secs,
        tracking_mode=tracking_mode,
        output_methods=[OutputMethod.CSV] if to_file else [],
        output_dir=str(output_dir) if to_file else ".",
        output_file="emissions.csv",
        emissions_endpoint=None,
        electricitymaps_api_token=None,
        allow_multiple_runs=True,
        log_level="error",
    )
    tracker = None
    _wait_for_preparation()
    try:
        tracker = OfflineEmissionsTracker.__new__(OfflineEmissionsTracker)
        _unsuppressed(OfflineEmissionsTracker.__init__)(tracker, **settings)
        _drop_web_token(tracker)
        _unsuppressed(type(tracker).start)(tracker)
    except Exception as error:
        _halt(tracker)
        version = getattr(codecarbon, "__version__", "?")
        return None, f"codecarbon {version} failed to start ({type(error).__name__}: {error})"
    return tracker, None


def stop_tracker(tracker) -> tuple[Any | None, str | None]:
    """Stop a tracker from :func:`start_tracker`, without double-counting its last interval.

    Args:
        tracker: a started ``OfflineEmissionsTracker``.

    Returns:
        ``(its final EmissionsData, None)``, or ``(None, reason)`` when ``stop()`` failed or
        returned figures that are not finite numbers >= 0. Its timers are stopped either way.
    """
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


def fill_record(record, tracker, data, reason: str | None) -> None:
    """Fill a record's measurement fields from codecarbon's ``EmissionsData`` (or the reason).

    Args:
        record: the :class:`~tlcourse.tracking.record.EmissionsRecord` to fill.
        tracker: the stopped tracker, or None.
        data: its ``final_emissions_data``, or None when nothing was measured.
        reason: why nothing was measured (used when ``data`` is None).

    Example:
        >>> from tlcourse.tracking.record import EmissionsRecord
        >>> record = EmissionsRecord(label="demo")
        >>> fill_record(record, None, None, "codecarbon is not installed")
        >>> record.measured, record.mode
        (False, 'not measured')
    """
    record.codecarbon_version = codecarbon_version()
    if data is None:
        record.measured = False
        record.reason = reason
        return
    record.measured = True
    record.reason = None
    record.emissions_data = data
    record.energy_kwh = float(data.energy_consumed)
    record.co2_kg = float(data.emissions)
    record.tracking_mode = data.tracking_mode or record.tracking_mode
    record.codecarbon_version = data.codecarbon_version or record.codecarbon_version
    for name, value in _hardware_sources(tracker).items():
        setattr(record, name, value)

    forced = getattr(tracker, "force_carbon_intensity_g_co2e_kwh", None)  # public attribute
    intensity, grid_name, year = grid_intensity(record.country)
    if forced is not None:
        intensity = float(forced)
    if record.energy_kwh > 0:
        intensity = record.co2_kg / record.energy_kwh * 1000  # what codecarbon applied
    record.carbon_intensity_g_per_kwh = intensity
    record.country_name = data.country_name or grid_name
    if forced is not None:
        record.intensity_source = "configuration"
    elif getattr(data, "on_cloud", "N") == "Y":
        record.intensity_source = "cloud region"
    elif record.country is None:
        record.intensity_source = "world average"
    else:
        record.intensity_source, record.intensity_year = "energy mix", year
    record.co2_kg_low, record.co2_kg_high, record.co2_range_basis = co2_range(record)


# --------------------------------------------------------------------------------------------
# The private codecarbon attributes tlcourse reads, each for want of a public interface
# --------------------------------------------------------------------------------------------

_CPU_MODES = {  # codecarbon's CPU `_mode` -> tlcourse's power_source
    "intel_rapl": "RAPL",
    "windows_emi": "Windows Energy Meter",
    "intel_power_gadget": "Intel Power Gadget",
    "cpu_load": "CPU load x TDP",
    "constant": "constant share of TDP",
}
_GPU_DEVICES = {"NvidiaGPUDevice": "NVML", "AMDGPUDevice": "AMD SMI"}


def _hardware_sources(tracker) -> dict[str, Any]:
    """Which back-ends codecarbon measured with, as record fields.

    codecarbon says which back-end it chose only in log lines and in its private hardware list
    (``tracker._hardware``, objects whose ``_mode``, ``_tdp``, ``_is_generic_tdp`` tell it). If
    that list or those attributes change, every field is None: the record is then still
    measured, with ``mode`` "by codecarbon (method not recognised)".
    """
    sources = dict.fromkeys(
        ("power_source", "cpu_tdp_w", "cpu_tdp_source", "gpu_power_source", "ram_power_source")
    )
    try:
        for item in getattr(tracker, "_hardware", None) or []:
            kind, part = type(item).__name__, getattr(item, "chip_part", None)
            if kind == "CPU":
                sources["power_source"] = _CPU_MODES.get(getattr(item, "_mode", None))
                if sources["power_source"] in ("CPU load x TDP", "constant share of TDP"):
                    sources["cpu_tdp_w"] = float(item._tdp)
                    sources["cpu_tdp_source"] = _tdp_source(tracker, item)
            elif kind == "RAM":
                forced = getattr(tracker, "_force_ram_power", None) is not None
                sources["ram_power_source"] = "configuration" if forced else "memory size estimate"
            elif kind == "GPU":
                devices = getattr(getattr(item, "devices", None), "devices", None) or []
                names = {type(device).__name__ for device in devices}
                sources["gpu_power_source"] = next(
                    (_GPU_DEVICES[n] for n in sorted(names) if n in _GPU_DEVICES), "GPU driver"
                )
            elif kind == "AppleSiliconChip":
                key = "gpu_power_source" if part == "GPU" else "power_source"
                sources[key] = "powermetrics"
            elif kind == "Raspberry":
                key = "ram_power_source" if part == "RAM" else "power_source"
                sources[key] = "Raspberry Pi power monitor"
    except Exception:
        return dict.fromkeys(sources)
    return sources


def _tdp_source(tracker, cpu) -> str:
    if getattr(tracker, "_force_cpu_power", None) is not None:
        return "configuration"
    return _tdp_origin(getattr(cpu, "_model", None))


def _tdp_origin(model: str | None) -> str:
    """Whether codecarbon's CPU table, its per-thread default or its generic value gave the TDP.

    codecarbon's process-wide ``TDP`` object (public ``tdp`` attribute) is None when neither
    its table nor its per-thread default applied, which is when it falls back to a generic
    85 W. (The CPU's own ``_is_generic_tdp`` flag says the same but is lost when codecarbon
    rebuilds the hardware from its cache for the second tracker of a process.) Which of the
    table and the default gave a value is told only by its private table look-up; if that
    cannot be called, the per-thread default, the common case, is reported.
    """
    try:
        from codecarbon.core import cpu
        from codecarbon.core.hardware_cache import get_cached_tdp

        tdp = get_cached_tdp(cpu)
        if tdp.tdp is None:
            return "generic default"
    except Exception:
        return "default per thread"
    return "CPU table" if _cpu_in_table(model) else "default per thread"


@functools.lru_cache(maxsize=8)
def _cpu_in_table(model: str | None) -> bool:
    try:
        from codecarbon.core import cpu
        from codecarbon.core.hardware_cache import get_cached_tdp

        return bool(model) and bool(get_cached_tdp(cpu)._get_cpu_power_from_registry(model))
    except Exception:
        return False


def _drop_web_token(tracker) -> None:
    # electricitymaps_api_token=None is passed explicitly, but codecarbon still copies a
    # deprecated `co2_signal_api_token` from a configuration file into this attribute, and
    # using it means calling a web API. Without the attribute, nothing is left to drop.
    if getattr(tracker, "_electricitymaps_api_token", None) is not None:
        tracker._electricitymaps_api_token = None


def _wait_for_scheduled_measurement(tracker) -> None:
    # codecarbon's PeriodicScheduler.stop() cancels the next timer but does not wait for a
    # measurement already running in the timer thread. When that one overlaps the final
    # measurement taken by stop(), the same interval is counted twice: +50 % energy was seen
    # on 2 s runs with measure_power_secs=1 (codecarbon 3.3.2). Stopping the scheduler and
    # joining its timer threads first serialises the two. Without `_scheduler`, codecarbon's
    # stop() runs as it is.
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
    # After a failed start() or stop(), timers left running would keep measuring every second
    # for the rest of the session; codecarbon stops them only in a successful stop().
    for name in ("_scheduler", "_scheduler_monitor_power"):
        scheduler = getattr(tracker, name, None)
        if scheduler is not None:
            try:
                scheduler.stop()
            except Exception:
                pass
