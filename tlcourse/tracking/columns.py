"""Records as columns of a results table, and the one-line CO2 footnote figures print.

:func:`co2_columns` turns records into structured columns (:data:`CO2_COLUMNS`);
:func:`co2_footnote` formats a caption from those columns alone. The ``co2_method`` sentence
is kept for people to read; nothing parses it back.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from tlcourse.errors import invalid_parameter
from tlcourse.tracking.record import EmissionsRecord, combine

__all__ = ["CO2_COLUMNS", "co2_columns", "co2_footnote"]

#: The columns :func:`co2_columns` adds to a results row. The first four are the original
#: contract; the others say, as plain values, whether the figure was estimated, from which
#: power source, on which grid data and over which processes, and the low-high range of the
#: estimate with its assumption (:mod:`tlcourse.tracking.ranges`). The numeric ones start
#: with ``co2_kg`` (``co2_kg_low``, ``co2_kg_high``): a sum of costs sums them.
CO2_COLUMNS = (
    "co2_mode",
    "co2_grid",
    "carbon_intensity_g_per_kwh",
    "co2_method",
    "co2_estimated",
    "co2_power_source",
    "co2_gpu_power_source",
    "co2_intensity_source",
    "co2_tracking_mode",
    "co2_kg_low",
    "co2_kg_high",
    "co2_range_basis",
)


def co2_columns(record: EmissionsRecord, *more: EmissionsRecord) -> dict[str, Any]:
    """How the CO2 figure of a results row was obtained, as columns of a results table.

    A row whose cost is the sum of several tracked blocks (a feature pass and a head training,
    say) passes all their records, summed by :func:`~tlcourse.tracking.combine_records` and
    its rules (a piece not measured leaves the row not measured; a piece without a stated
    range counts its ``co2_kg`` at both ends).

    Returns:
        ``{column: value}`` for every name in :data:`CO2_COLUMNS`; None where nothing was
        measured.

    Example:
        >>> columns = co2_columns(EmissionsRecord(label="demo"))
        >>> columns["co2_mode"], columns["co2_estimated"]
        ('not measured', None)
    """
    records = (record, *more)
    for name, value in zip(["record", *["more"] * len(more)], records, strict=True):
        if not isinstance(value, EmissionsRecord):
            raise invalid_parameter(
                name, "co2_columns", "an EmissionsRecord (what `with track(...)` gives)", value
            )
    total = combine(list(records))
    return {
        "co2_mode": total.mode,
        "co2_grid": total.country_name,
        "carbon_intensity_g_per_kwh": total.carbon_intensity_g_per_kwh,
        "co2_method": total.method,
        "co2_estimated": total.estimated,
        "co2_power_source": total.power_source,
        "co2_gpu_power_source": total.gpu_power_source,
        "co2_intensity_source": total.intensity_source,
        "co2_tracking_mode": total.tracking_mode,
        "co2_kg_low": total.co2_kg_low,
        "co2_kg_high": total.co2_kg_high,
        "co2_range_basis": total.co2_range_basis,
    }


def co2_footnote(results) -> str:
    """One line saying how the CO2 figures of a results table were obtained.

    Read from the structured columns only: whether each figure was measured or estimated
    (``co2_estimated``, ``co2_power_source``; ``co2_mode`` for tables written before those
    existed), on which grid (``co2_grid``, ``carbon_intensity_g_per_kwh``), the assumption
    behind a low-high range (``co2_range_basis``, when one is stated) and how many runs were
    not measured (``co2_kg`` missing).

    Args:
        results: a DataFrame with ``co2_kg`` and the :data:`CO2_COLUMNS`, such as
            ``compare``'s results; missing columns are reported as "not recorded".

    Returns:
        For example ``"CO2 estimated (CPU load x TDP) by codecarbon; grid: World average,
        475 g CO2e/kWh."``; ``"CO2 not measured for these runs."`` when no row has a figure.

    Raises:
        InvalidParameterError: if ``results`` is not a pandas DataFrame.

    Example:
        >>> import pandas as pd
        >>> co2_footnote(pd.DataFrame({"co2_kg": [None]}))
        'CO2 not measured for these runs.'
        >>> co2_footnote(pd.DataFrame({
        ...     "co2_kg": [2e-6, 3e-6], "co2_estimated": [True, True],
        ...     "co2_power_source": "CPU load x TDP", "co2_grid": "France",
        ...     "carbon_intensity_g_per_kwh": 56.0}))
        'CO2 estimated (CPU load x TDP) by codecarbon; grid: France, 56 g CO2e/kWh.'
        >>> print(co2_footnote(pd.DataFrame({"co2_kg": [2e-6], "co2_mode": "estimated",
        ...     "co2_grid": "France", "co2_range_basis": "CPU power 2-8 W per thread"})))
        CO2 estimated by codecarbon; grid: France. Range: CPU power 2-8 W per thread.
    """
    import pandas as pd

    if not isinstance(results, pd.DataFrame):
        raise invalid_parameter(
            "results", "co2_footnote", "a pandas DataFrame of results (one row per run)", results
        )
    measured = results[results["co2_kg"].notna()] if "co2_kg" in results else results[:0]
    if measured.empty:
        return "CO2 not measured for these runs."
    rows = measured.to_dict("records")
    hows = _counts(_how(row) for row in rows)
    if len(hows) == 1:
        how = next(iter(hows))
        how_text = f"{how} by codecarbon" if how else "by codecarbon (method not recorded)"
    else:
        parts = [f"{how or 'method not recorded'} for {_runs(n)}" for how, n in hows.items()]
        how_text = "by codecarbon: " + ", ".join(parts)
    grids: dict = {}
    for row in rows:
        grids.setdefault(_grid(row), []).append(_number(row.get("carbon_intensity_g_per_kwh")))
    grid_parts = []
    for grid, values in grids.items():
        known = sorted(v for v in values if v is not None)
        text = grid or "not recorded"
        if known:
            text += f", {statistics.median(known):.0f} g CO2e/kWh"
        grid_parts.append(text + (f" ({_runs(len(values))})" if len(grids) > 1 else ""))
    grid_text = ("grid: " if len(grids) == 1 else "grids: ") + "; ".join(grid_parts)
    bases = list(dict.fromkeys(r.get("co2_range_basis") for r in rows))
    bases = [str(b) for b in bases if not _missing(b)]
    range_text = f" Range: {'; '.join(bases)}." if bases else ""
    missing = len(results) - len(measured)
    tail = f" Not measured for {missing} of {_runs(len(results))}." if missing else ""
    return f"CO2 {how_text}; {grid_text}.{range_text}{tail}"


def _counts(values: Iterable) -> dict:
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _number(value) -> float | None:
    try:
        return None if _missing(value) else float(value)
    except (TypeError, ValueError):
        return None


def _truth(value) -> bool | None:
    """A boolean column as read back from CSV: True/False, "True"/"False", or missing."""
    if _missing(value):
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def _how(row: dict) -> str | None:
    """'estimated (CPU load x TDP)' from the structured columns, else the co2_mode column."""
    estimated, source = _truth(row.get("co2_estimated")), row.get("co2_power_source")
    if estimated is not None and not _missing(source):
        gpu = row.get("co2_gpu_power_source")
        source = f"{source} + GPU {gpu}" if not _missing(gpu) else source
        return f"{'estimated' if estimated else 'measured'} ({source})"
    mode = row.get("co2_mode")
    return None if _missing(mode) else str(mode)


def _grid(row: dict) -> str | None:
    grid = row.get("co2_grid")
    if row.get("co2_intensity_source") == "configuration":
        return "intensity set in codecarbon's configuration"
    return None if _missing(grid) else str(grid)
