""":func:`track`: time, energy and CO2 of a block of code, as a context manager or decorator."""

from __future__ import annotations

import datetime
import functools
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tlcourse.errors import check_choice, check_real, invalid_parameter
from tlcourse.tracking import codecarbon_adapter as adapter
from tlcourse.tracking.grid import check_country
from tlcourse.tracking.record import MEASUREMENT_FIELDS, EmissionsRecord

__all__ = ["TRACKING_MODES", "Tracking", "track"]

#: ``"process"``: this Python process and its children; ``"machine"``: the whole computer.
TRACKING_MODES = ("process", "machine")


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
        :class:`~tlcourse.tracking.record.EmissionsRecord`; ``@track(...)`` leaves the
        function's return value unchanged and appends one record per call to
        ``function.records``.

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
        raise invalid_parameter("label", "track", "a non-empty string", label)
    country = check_country("country", country, "track")
    measure_power_secs = check_real(
        "measure_power_secs", measure_power_secs, "track", low=0, low_open=True
    )
    if output_dir is not None and not isinstance(output_dir, str | os.PathLike):
        raise invalid_parameter(
            "output_dir", "track", "a folder path (str or Path) or None", output_dir
        )
    check_choice("tracking_mode", tracking_mode, TRACKING_MODES, "track")
    return Tracking(
        label=label,
        country=country,
        measure_power_secs=measure_power_secs,
        output_dir=None if output_dir is None else Path(output_dir),
        tracking_mode=tracking_mode,
    )


class Tracking:
    """What :func:`track` returns: a reusable context manager and decorator.

    Each ``with`` block or decorated call starts a fresh codecarbon tracker and produces a new
    :class:`~tlcourse.tracking.record.EmissionsRecord`, also appended to :attr:`records`. The
    same object can be entered again, nested or from several threads.

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
        self.record = EmissionsRecord(
            label=tracking.label,
            country=tracking.country,
            tracking_mode=tracking.tracking_mode,
            started_at=datetime.datetime.now().isoformat(timespec="seconds"),
        )
        if tracking.output_dir is not None:
            tracking.output_dir.mkdir(parents=True, exist_ok=True)
        adapter.quiet_codecarbon_logger()
        try:
            self.tracker, self.reason = adapter.start_tracker(
                tracking.label,
                tracking.country,
                tracking.measure_power_secs,
                tracking.output_dir,
                tracking.tracking_mode,
            )
        except BaseException:
            adapter.restore_codecarbon_logger()
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
                data, reason = adapter.stop_tracker(self.tracker)
            try:
                adapter.fill_record(record, self.tracker, data, reason)
            except Exception as error:  # a codecarbon change must not break the user's run
                for name in MEASUREMENT_FIELDS:
                    setattr(record, name, None)
                adapter.fill_record(
                    record,
                    None,
                    None,
                    f"tlcourse could not read codecarbon's result "
                    f"({type(error).__name__}: {error})",
                )
        finally:
            self.tracker = None
            record.finished = True
            adapter.restore_codecarbon_logger()
