""":func:`track`: time, energy and CO2 of a block of code, with codecarbon's public interface only.

The assumptions go in as codecarbon's arguments, so how a figure was obtained is known from what was
asked: 4 W per CPU thread at full load times the load, on every machine (a RAPL counter, where
readable, counts other programs too); the grid's intensity from codecarbon's shipped table."""

from __future__ import annotations

import datetime
import difflib
import functools
import importlib.resources
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tlcourse.measure.record import (
    ASSUMED_WATTS_PER_THREAD,
    MEASUREMENT_FIELDS,
    EmissionsRecord,
    co2_range,
)
from tlcourse.validation import Rule, StrOptions, validate_params

__all__ = ["COUNTRY", "TRACKING_MODES", "Tracking", "track"]

#: ``"process"``: this Python process and its children; ``"machine"``: the whole computer.
TRACKING_MODES = ("process", "machine")


@functools.lru_cache(maxsize=2)
def _table(name: str) -> dict | None:
    """A JSON table codecarbon ships with its package, or None without codecarbon."""
    try:
        folder = importlib.resources.files("codecarbon") / "data" / "private_infra"
        return json.loads((folder / name).read_text())
    except Exception:
        return None


def _grid(country: str | None) -> tuple[float | None, str | None, int | None]:
    """``(g CO2e per kWh, grid name, year of the data)`` from codecarbon's shipped tables."""
    if country is None:
        world = (_table("carbon_intensity_per_source.json") or {}).get("world_average")
        return world, "World average", None
    entry = (_table("global_energy_mix.json") or {}).get(country, {})
    return entry.get("carbon_intensity"), entry.get("country_name"), entry.get("year")


def _is_country(value) -> bool:
    mix = _table("global_energy_mix.json")
    shape = isinstance(value, str) and len(value) == 3 and value.isalpha()
    return shape and (mix is None or value.upper() in mix)  # without codecarbon: the shape


def _suggest(value) -> str:
    mix = _table("global_energy_mix.json")
    if not isinstance(value, str) or not mix:
        return ""
    by_name = {str(entry.get("country_name", "")).lower(): code for code, entry in mix.items()}
    codes = [by_name[n] for n in difflib.get_close_matches(value.lower(), by_name, n=3)]
    codes = list(dict.fromkeys(codes + difflib.get_close_matches(value.upper(), mix, n=3)))[:3]
    named = " or ".join(f"{code!r} ({mix[code].get('country_name', '?')})" for code in codes)
    return f"Did you mean {named}?" if codes else ""


#: A 3-letter code in codecarbon's energy-mix table, any case; close names are suggested.
COUNTRY = Rule(_is_country, "a 3-letter ISO 3166-1 alpha-3 code in codecarbon's table, such as "
               "'USA', 'FRA' or 'DEU'", str.upper, hint=_suggest)  # fmt: skip


@validate_params({"label": [Rule(lambda v: isinstance(v, str) and v.strip(), "a non-empty string")],
                  "country": [COUNTRY, None], "output_dir": [str, os.PathLike, None],
                  "tracking_mode": [StrOptions(TRACKING_MODES)]})  # fmt: skip
def track(label: str, country: str | None = None, output_dir: str | os.PathLike | None = None,
          *, tracking_mode: str = "process") -> Tracking:  # fmt: skip
    """Measure the time, energy and CO2 of a block of code (context manager or decorator).

    The record is filled when the block exits, also when it raises. If codecarbon is missing or
    fails, ``record.measured`` is False, ``record.reason`` says why and the times are still
    recorded. ``country``: an ISO 3166-1 alpha-3 code (None: world average); ``output_dir``: where
    codecarbon appends to ``emissions.csv``; ``tracking_mode="machine"`` counts other programs too.

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
    return Tracking(label, country, None if output_dir is None else Path(output_dir), tracking_mode)


class Tracking:
    """What :func:`track` returns: a reusable context manager and decorator, thread-safe."""

    def __init__(self, label, country, output_dir, tracking_mode):
        self.label, self.country, self.output_dir = label, country, output_dir
        self.tracking_mode = tracking_mode
        self.records: list[EmissionsRecord] = []
        self._local = threading.local()  # with-blocks exit in reverse order per thread

    def __enter__(self) -> EmissionsRecord:
        now = datetime.datetime.now().isoformat(timespec="seconds")
        record = EmissionsRecord(self.label, country=self.country, started_at=now,
                                 tracking_mode=self.tracking_mode)  # fmt: skip
        if self.output_dir is not None:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        started = _start(self)
        # The clocks start after codecarbon's start-up, so its hardware probe is not counted.
        run = (record, started, time.perf_counter(), time.process_time())
        self._local.__dict__.setdefault("runs", []).append(run)
        self.records.append(record)
        return record

    def __exit__(self, exc_type, exc, tb) -> bool:
        record, started, wall, cpu = self._local.runs.pop()
        record.wall_seconds = time.perf_counter() - wall
        record.cpu_seconds = time.process_time() - cpu
        if exc_type is not None:
            record.error = f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__
        try:
            _fill(record, *_stop(*started))
        except Exception as error:  # a codecarbon change must not break the user's run
            for name in MEASUREMENT_FIELDS:
                setattr(record, name, None)
            reason = f"tlcourse could not read codecarbon's result ({type(error).__name__}: "
            _fill(record, None, f"{reason}{error})")
        record.finished = True
        return False  # never swallow the user's exception

    def __call__(self, func: Callable) -> Callable:
        if not callable(func):
            why = "To measure a block of code, use `with track(...) as record:`."
            raise TypeError(f"track(...) decorates a function; got {func!r}. {why}")

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self:
                return func(*args, **kwargs)

        wrapper.records, wrapper.tracking = self.records, self
        return wrapper


_lock = threading.Lock()
_holders = 0
_saved_level = logging.NOTSET
_swallowed = threading.local()


def _keep_error(record: logging.LogRecord) -> bool:
    # codecarbon logs the exceptions it swallows: keep the first per thread as the reason.
    if record.exc_info and getattr(_swallowed, "error", None) is None:
        _swallowed.error = record.exc_info[1]
    return False


def _hold(hold: bool) -> None:
    global _holders, _saved_level
    logger = logging.getLogger("codecarbon")
    with _lock:
        if hold and _holders == 0:
            _saved_level = logger.level  # the user's, given back by the last release
        _holders += 1 if hold else -1
        logger.setLevel(logging.WARNING if _holders else _saved_level)
        (logger.addFilter if _holders else logger.removeFilter)(_keep_error)


# How often codecarbon books energy: once, at stop(), since a booking that meets stop() counts
# twice (codecarbon 3.3.2). It samples the power every second whatever this is.
_BOOK_ONCE = 1e8


def cpu_watts() -> float:
    """The full-load power of the whole CPU that ``track`` assumes, W."""
    return ASSUMED_WATTS_PER_THREAD * (os.cpu_count() or 1)


def _start(tracking: Tracking) -> tuple[object | None, str | None]:
    """``(tracker, None)`` or ``(None, reason)``; never raises for codecarbon's sake."""
    try:
        import codecarbon
        from codecarbon import OfflineEmissionsTracker, OutputMethod
    except ImportError as error:
        return None, f"codecarbon is not installed ({error}); `pip install codecarbon`"
    except Exception as error:
        return None, f"codecarbon could not be imported ({type(error).__name__}: {error})"
    _hold(True)  # after codecarbon's import, which sets its logger's level
    _swallowed.error = tracker = None
    folder = tracking.output_dir
    try:
        # Every setting is explicit: an argument wins over codecarbon's configuration files.
        tracker = OfflineEmissionsTracker(
            project_name=tracking.label, experiment_name=tracking.label,
            country_iso_code=tracking.country, region=None, cloud_provider=None,
            cloud_region=None, measure_power_secs=_BOOK_ONCE,
            tracking_mode=tracking.tracking_mode, output_dir=str(folder or "."),
            output_methods=[OutputMethod.CSV] if folder else [], output_file="emissions.csv",
            allow_multiple_runs=True, log_level="warning", force_cpu_power=cpu_watts(),
            force_ram_power=None, force_carbon_intensity_g_co2e_kwh=_grid(tracking.country)[0],
            electricitymaps_api_token=None, pue=1.0)  # fmt: skip
        tracker.start()
    except Exception as error:
        _swallowed.error = _swallowed.error or error
    except BaseException:
        _hold(False)
        raise
    error = _swallowed.error
    if error is None:
        return tracker, None
    if tracker is None:
        _hold(False)
    else:
        _stop(tracker, None)  # no timer left measuring for the rest of the session
    why = f"({type(error).__name__}: {error})"
    return None, f"codecarbon {codecarbon.__version__} failed to start {why}"


def _stop(tracker, reason: str | None) -> tuple[object | None, str | None]:
    """``(final_emissions_data, None)`` or ``(None, reason)``; gives the logger back."""
    if tracker is None:
        return None, reason
    _swallowed.error = None
    try:
        result = tracker.stop()
    except Exception as error:
        _swallowed.error = error
    finally:
        _hold(False)
    data, error = getattr(tracker, "final_emissions_data", None), _swallowed.error
    if error is not None:
        return None, f"codecarbon's stop() failed ({type(error).__name__}: {error})"
    if result is None or data is None:
        return None, "codecarbon's stop() returned no result"
    for name in ("energy_consumed", "emissions"):
        value = getattr(data, name, None)
        if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            return None, f"codecarbon returned an invalid {name} figure: {value!r}"
    return data, None


def _fill(record: EmissionsRecord, data, reason: str | None) -> None:
    if data is None:
        record.measured, record.reason = False, reason
        return
    record.measured, record.reason, record.emissions_data = True, None, data
    record.energy_kwh, record.co2_kg = float(data.energy_consumed), float(data.emissions)
    record.codecarbon_version = data.codecarbon_version
    record.tracking_mode = data.tracking_mode or record.tracking_mode
    record.cpu_tdp_w = cpu_watts()
    intensity, record.country_name, record.intensity_year = _grid(record.country)
    if record.energy_kwh > 0:
        intensity = record.co2_kg / record.energy_kwh * 1000  # what codecarbon applied
    record.carbon_intensity_g_per_kwh = intensity
    record.co2_kg_low, record.co2_kg_high, record.co2_range_basis = co2_range(record)
    record.method  # noqa: B018  (if codecarbon's data changed shape, fail here, not in a table)
