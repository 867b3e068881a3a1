"""Records as columns of a results table, and the one-line CO2 footnote figures print."""

from __future__ import annotations

import collections
import statistics
from typing import Any

import pandas as pd

from tlcourse.measure.record import EmissionsRecord, combine_records
from tlcourse.validation import Rule, validate_params

__all__ = ["CO2_COLUMNS", "co2_columns", "co2_footnote"]

#: The columns :func:`co2_columns` adds to a results row.
CO2_COLUMNS = ("co2_mode", "co2_grid", "carbon_intensity_g_per_kwh", "co2_method",
               "co2_tracking_mode", "co2_kg_low", "co2_kg_high", "co2_range_basis")  # fmt: skip


@validate_params({"record": [EmissionsRecord], "more": [Rule(
    lambda v: all(isinstance(r, EmissionsRecord) for r in v),
    "EmissionsRecords (what `with track(...)` gives)")]})  # fmt: skip
def co2_columns(record: EmissionsRecord, *more: EmissionsRecord) -> dict[str, Any]:
    """How the CO2 figure of a results row was obtained, as the :data:`CO2_COLUMNS` (several
    records are summed by :func:`~tlcourse.measure.combine_records` first)."""
    t = combine_records([record, *more])
    values = (t.mode, t.country_name, t.carbon_intensity_g_per_kwh, t.method, t.tracking_mode,
              t.co2_kg_low, t.co2_kg_high, t.co2_range_basis)  # fmt: skip
    return dict(zip(CO2_COLUMNS, values, strict=True))


@validate_params({"results": [pd.DataFrame]})
def co2_footnote(results: pd.DataFrame) -> str:
    """One line saying how the CO2 figures of a results table were obtained.

    Example:
        >>> print(co2_footnote(pd.DataFrame({"co2_kg": [2e-6, 3e-6], "co2_mode": "estimated",
        ...     "co2_grid": "France", "carbon_intensity_g_per_kwh": 56.0,
        ...     "co2_range_basis": "2-8 W"})))
        CO2 estimated by codecarbon; grid: France, 56 g CO2e/kWh. Range: 2-8 W.
    """
    measured = results[results["co2_kg"].notna()] if "co2_kg" in results else results[:0]
    if measured.empty:
        return "CO2 not measured for these runs."
    rows = measured.to_dict("records")
    modes = collections.Counter(_text(row.get("co2_mode")) for row in rows)
    if len(modes) == 1:
        mode = next(iter(modes))
        how = f"{mode} by codecarbon" if mode else "by codecarbon (method not recorded)"
    else:
        how = "by codecarbon: " + ", ".join(
            f"{mode or 'method not recorded'} for {_runs(n)}" for mode, n in modes.items()
        )
    grids: dict = {}
    for row in rows:
        intensity = _text(row.get("carbon_intensity_g_per_kwh"))
        grids.setdefault(_text(row.get("co2_grid")), []).append(intensity and float(intensity))
    parts = []
    for grid, values in grids.items():
        known = [v for v in values if v is not None]
        text = grid or "not recorded"
        text += f", {statistics.median(known):.0f} g CO2e/kWh" if known else ""
        parts.append(text + (f" ({_runs(len(values))})" if len(grids) > 1 else ""))
    grid = ("grid: " if len(grids) == 1 else "grids: ") + "; ".join(parts)
    bases = [b for b in dict.fromkeys(_text(r.get("co2_range_basis")) for r in rows) if b]
    ranges = f" Range: {'; '.join(bases)}." if bases else ""
    missing = len(results) - len(measured)
    tail = f" Not measured for {missing} of {_runs(len(results))}." if missing else ""
    return f"CO2 {how}; {grid}.{ranges}{tail}"


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _text(value) -> str | None:
    missing = value is None or (isinstance(value, float) and value != value)
    return None if missing else str(value)
