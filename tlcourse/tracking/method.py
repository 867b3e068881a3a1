"""How a CO2 figure was obtained, in words: formatted from a record's structured fields.

The record (:class:`~tlcourse.tracking.record.EmissionsRecord`) says *what* codecarbon used as
plain values (``power_source="CPU load x TDP"``, ``cpu_tdp_w=8``,
``cpu_tdp_source="default per thread"``, ``intensity_source="energy mix"``...); this module
turns them into the short label (``mode``) and the sentence (``method``) a student reads. The
vocabularies of those fields are defined here, next to the words each one is told with.
"""

from __future__ import annotations

import os

from tlcourse.errors import invalid_parameter

__all__ = [
    "CPU_POWER_SOURCES",
    "GPU_POWER_SOURCES",
    "NOT_MEASURED",
    "RAM_POWER_SOURCES",
    "TDP_SOURCES",
    "UNKNOWN_MODE",
    "describe_method",
    "describe_mode",
]

NOT_MEASURED = "not measured"
UNKNOWN_MODE = "by codecarbon (method not recognised)"

#: Where codecarbon can get the CPU power from, and whether that is an estimate (True) rather
#: than a hardware reading (False).
CPU_POWER_SOURCES: dict[str, bool] = {
    "RAPL": False,
    "Windows Energy Meter": False,
    "Intel Power Gadget": False,
    "powermetrics": False,
    "Raspberry Pi power monitor": False,
    "CPU load x TDP": True,
    "constant share of TDP": True,
}
#: Where codecarbon can read a GPU's energy from.
GPU_POWER_SOURCES = ("NVML", "AMD SMI", "powermetrics", "GPU driver")
#: Where the RAM power came from.
RAM_POWER_SOURCES = ("memory size estimate", "configuration", "Raspberry Pi power monitor")
#: Where the full-load CPU power (TDP) behind an estimate came from.
TDP_SOURCES = ("CPU table", "default per thread", "generic default", "configuration")

_COUNTERS = ("RAPL", "Windows Energy Meter", "Intel Power Gadget")
_GPU_READERS = {
    "NVML": "its driver (NVML)",
    "AMD SMI": "its driver (AMD SMI)",
    "powermetrics": "Apple powermetrics",
    "GPU driver": "its driver",
}


def describe_mode(record) -> str:
    """The short label of how a record's energy was obtained.

    Args:
        record: an :class:`~tlcourse.tracking.record.EmissionsRecord`.

    Returns:
        ``"measured (<source>)"`` or ``"estimated (<source>)"`` (with ``"; GPU measured"``
        when a GPU was read), :data:`NOT_MEASURED`, or :data:`UNKNOWN_MODE` for a source
        tlcourse does not recognise.

    Raises:
        InvalidParameterError: if ``record`` is not a record.

    Example:
        >>> from tlcourse.tracking.record import EmissionsRecord
        >>> describe_mode(EmissionsRecord("run", measured=True, power_source="CPU load x TDP"))
        'estimated (CPU load x TDP)'
        >>> describe_mode(EmissionsRecord("run"))
        'not measured'
    """
    _check_record(record, "describe_mode")
    if not record.measured:
        return NOT_MEASURED
    estimated = CPU_POWER_SOURCES.get(record.power_source)
    if estimated is None:
        return UNKNOWN_MODE
    mode = f"{'estimated' if estimated else 'measured'} ({record.power_source})"
    return mode + ("; GPU measured" if record.gpu_power_source else "")


def describe_method(record) -> str:
    """One sentence saying how a record's figures were obtained, with the numbers assumed.

    Args:
        record: an :class:`~tlcourse.tracking.record.EmissionsRecord`.

    Returns:
        For a measured record, a sentence such as "Estimated by codecarbon 3.3.2 (no hardware
        power counter readable): CPU power assumed 8 W x this process's share of the 2 CPU
        threads (average 3.9 W); ...; carbon intensity 56 g CO2e/kWh (France grid, 2023
        energy mix)."; otherwise "Not measured: <reason>. Only the time was recorded."

    Raises:
        InvalidParameterError: if ``record`` is not a record.

    Example:
        >>> from tlcourse.tracking.record import EmissionsRecord
        >>> describe_method(EmissionsRecord("run", reason="codecarbon is not installed"))
        'Not measured: codecarbon is not installed. Only the time was recorded.'
    """
    _check_record(record, "describe_method")
    if not record.measured:
        return f"Not measured: {record.reason}. Only the time was recorded."
    try:
        return _sentence(record)
    except Exception as error:  # the numbers stay valid even if their story cannot be told
        return (
            f"By codecarbon {record.codecarbon_version}; tlcourse could not describe its "
            f"method ({type(error).__name__}: {error})."
        )


def _check_record(record, func: str) -> None:
    # Duck-typed: this module cannot import the record's class (the record imports it).
    if not all(hasattr(record, name) for name in ("measured", "power_source", "reason")):
        raise invalid_parameter("record", func, "an EmissionsRecord (from track)", record)


def _sentence(record) -> str:
    data = record.emissions_data
    estimated = CPU_POWER_SOURCES.get(record.power_source)
    gpu = record.gpu_power_source
    if estimated is None:
        lead, why = "Obtained", " (by a method tlcourse does not recognise)"
    elif not estimated:
        lead, why = "Measured", ""
    elif gpu:
        lead, why = "Partly estimated", " (no CPU power counter readable)"
    else:
        lead, why = "Estimated", " (no hardware power counter readable)"
    gpu_text = ""
    if gpu:
        gpu_text = (
            f"; GPU energy read from {_GPU_READERS.get(gpu, gpu)}, whole card whatever the "
            f"process ({getattr(data, 'gpu_model', None) or 'GPU'}, "
            f"average {record.gpu_power_w or 0:.3g} W)"
        )
    pue = float(getattr(data, "pue", 1.0) or 1.0)
    pue_text = f"; all powers x PUE {pue:g}" if pue != 1.0 else ""
    return (
        f"{lead} by codecarbon {record.codecarbon_version}{why}: {_cpu_text(record)}"
        f"{gpu_text}; {_ram_text(record)}{pue_text}; {_grid_text(record)}."
    )


def _cpu_text(record) -> str:
    source = record.power_source
    tdp = "the CPU's TDP" if record.cpu_tdp_w is None else f"{record.cpu_tdp_w:g} W"
    avg = f"average {record.cpu_power_w or 0:.2g} W"
    threads = getattr(record.emissions_data, "cpu_count", None) or os.cpu_count() or 1
    if source in _COUNTERS:
        return f"CPU energy read from the {source} counters of the whole CPU ({avg})"
    if source == "powermetrics":
        return f"CPU energy read from Apple powermetrics ({avg})"
    if source == "Raspberry Pi power monitor":
        return f"CPU energy read from the Raspberry Pi power monitor ({avg})"
    if source == "CPU load x TDP":
        if record.tracking_mode == "process":
            text = f"CPU power assumed {tdp} x this process's share of the {threads:g} CPU "
            text += f"threads ({avg})"
        else:
            text = f"CPU power assumed {tdp} x (0.1 + 0.9 x load^3), load of the whole "
            text += f"machine ({avg})"
        return text + _tdp_text(record, threads)
    if source == "constant share of TDP":
        return f"CPU power assumed constant at half of {tdp} ({avg})" + _tdp_text(record, threads)
    return f"CPU power by a codecarbon method tlcourse does not recognise ({avg})"


def _tdp_text(record, threads) -> str:
    tdp, model = record.cpu_tdp_w, record.cpu_model
    origin = record.cpu_tdp_source
    if tdp is None:
        return ""
    if origin == "CPU table":
        return f"; {tdp:g} W is the TDP of {model!r} in codecarbon's CPU table"
    if origin == "default per thread":
        return (
            f"; {tdp:g} W is codecarbon's default of {tdp / threads:g} W per thread x "
            f"{threads:g} threads, CPU model {model!r} not being in its table"
        )
    if origin == "generic default":
        return f"; {tdp:g} W is codecarbon's generic value for an unknown CPU"
    if origin == "configuration":
        return f"; {tdp:g} W set in codecarbon's configuration"
    return ""


def _ram_text(record) -> str:
    power = f"RAM {record.ram_power_w or 0:.3g} W"
    if record.ram_power_source == "configuration":
        return f"{power} (set in codecarbon's configuration)"
    if record.ram_power_source == "Raspberry Pi power monitor":
        return f"{power} (read from the power monitor)"
    if record.ram_power_source == "memory size estimate":
        memory = "this process's" if record.tracking_mode == "process" else "the machine's"
        return (
            f"{power} (fixed estimate: codecarbon's power per memory module, 5 W on x86, "
            f"times the modules it assumes from {memory} memory size)"
        )
    return power


def _grid_text(record) -> str:
    intensity = record.carbon_intensity_g_per_kwh
    source, name = record.intensity_source, record.country_name
    if source == "configuration":
        grid = "set in codecarbon's configuration"
    elif source == "world average":
        grid = "world average, applied by codecarbon when no country is given"
    elif source == "cloud region":
        grid = f"{name}, codecarbon's table of cloud regions"
    else:
        grid = f"{name} grid" if name else "grid not recorded"
        if record.intensity_year:
            grid += f", {record.intensity_year} energy mix"
    value = "n/a" if intensity is None else f"{intensity:.0f}"
    return f"carbon intensity {value} g CO2e/kWh ({grid})"
