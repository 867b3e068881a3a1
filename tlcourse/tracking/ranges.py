"""A low-high range for a CO2 estimate that rests on a default CPU power.

Without a readable power counter codecarbon *estimates* the CPU's power as its full-load power
(TDP) scaled by the load. When the CPU model is not in codecarbon's table (the common case on
virtual machines, whose CPU reports itself as "Intel Xeon Processor"), that TDP is not the
CPU's: it is codecarbon's default of 4 W per thread (``DEFAULT_POWER_PER_CORE``, applied per
thread), or a generic 85 W when it cannot count the threads. One number printed to three
digits would then claim a precision the method does not have; the record carries a range
instead, from one stated assumption:

**The full-load power of one CPU thread is between 2 W and 8 W**
(:data:`CPU_WATTS_PER_THREAD`). Published TDPs divided by thread counts span about that:

=============================  ========  =======  ============
CPU                            TDP (W)   threads  W per thread
=============================  ========  =======  ============
Intel Core i7-8550U (laptop)   15        8        1.9
AMD EPYC 7763 (server)         280       128      2.2
Intel Xeon Platinum 8380       270       80       3.4
AMD Ryzen 7 5800X (desktop)    105       16       6.6
Intel Core i9-13900K (boost)   253       32       7.9
=============================  ========  =======  ============

(vendors' specification pages; the i9's figure is its maximum turbo power). codecarbon's 4 W
sits in the middle, a factor of two from either end. Both of codecarbon's CPU formulas (this
process's share of the threads, or ``0.1 + 0.9 x load^3`` of the machine) are proportional to
the TDP, so the CPU part of the energy scales exactly with the assumed power per thread; RAM
and GPU energy are kept as they are (RAM is codecarbon's fixed estimate of 5 W per memory
module; this range does not cover it). The carbon intensity of the grid is applied unchanged.
The range need not contain codecarbon's own figure: its generic 85 W on a 2-thread machine is
42 W per thread, above any CPU in the table.

No range is given (low = high = the estimate) when the power was read from a counter, when the
TDP came from codecarbon's CPU table or from the user's configuration: those rest on the
machine's own figure, not on a default.
"""

from __future__ import annotations

import os

__all__ = ["CPU_WATTS_PER_THREAD", "DEFAULT_TDP_SOURCES", "co2_range"]

#: The stated assumption: (low, high) full-load power of one CPU thread, in W (see the module).
CPU_WATTS_PER_THREAD = (2.0, 8.0)

#: The TDP sources that are codecarbon defaults rather than the machine's own figure.
DEFAULT_TDP_SOURCES = ("default per thread", "generic default")


def co2_range(record) -> tuple[float | None, float | None, str | None]:
    """The low and high CO2 of a record whose estimate rests on a default CPU power.

    Args:
        record: an :class:`~tlcourse.tracking.record.EmissionsRecord` (finished).

    Returns:
        ``(co2_kg_low, co2_kg_high, basis)``: with a default CPU power, the CO2 recomputed
        with the CPU part of the energy at :data:`CPU_WATTS_PER_THREAD` per thread, and a
        sentence stating that assumption; for any other measured record ``(co2_kg, co2_kg,
        None)`` (no range stated); ``(None, None, None)`` when nothing was measured.

    Example:
        >>> from types import SimpleNamespace
        >>> from tlcourse.tracking.record import EmissionsRecord
        >>> record = EmissionsRecord("run", measured=True, energy_kwh=1e-5, co2_kg=4.75e-6,
        ...     carbon_intensity_g_per_kwh=475.0, power_source="CPU load x TDP", cpu_tdp_w=8.0,
        ...     cpu_tdp_source="default per thread",
        ...     emissions_data=SimpleNamespace(cpu_energy=8e-6, cpu_count=2))
        >>> low, high, basis = co2_range(record)
        >>> round(low * 1e6, 2), round(high * 1e6, 2)
        (2.85, 8.55)
        >>> print(basis)
        CPU power 2-8 W per thread (codecarbon assumed 4 W: its default for an unknown CPU model)
    """
    if not getattr(record, "measured", False) or record.co2_kg is None:
        return None, None, None
    point = (record.co2_kg, record.co2_kg, None)
    if record.cpu_tdp_source not in DEFAULT_TDP_SOURCES or not record.cpu_tdp_w:
        return point
    cpu_kwh = record.cpu_energy_kwh
    data = record.emissions_data
    threads = float(getattr(data, "cpu_count", None) or os.cpu_count() or 1)
    if cpu_kwh is None or not record.energy_kwh:
        return point
    assumed = record.cpu_tdp_w / threads
    kg_per_kwh = record.co2_kg / record.energy_kwh
    rest_kwh = record.energy_kwh - cpu_kwh
    low_w, high_w = CPU_WATTS_PER_THREAD
    low = (rest_kwh + cpu_kwh * low_w / assumed) * kg_per_kwh
    high = (rest_kwh + cpu_kwh * high_w / assumed) * kg_per_kwh
    why = (
        "its default for an unknown CPU model"
        if record.cpu_tdp_source == "default per thread"
        else f"its generic {record.cpu_tdp_w:g} W for an unknown CPU"
    )
    basis = f"CPU power {low_w:g}-{high_w:g} W per thread (codecarbon assumed {assumed:.3g} W: "
    basis += f"{why})"
    return max(low, 0.0), high, basis
