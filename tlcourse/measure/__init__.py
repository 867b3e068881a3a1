"""Time, energy and CO2 of code, estimated offline with codecarbon, and deployment cost."""

from tlcourse.measure.columns import CO2_COLUMNS, co2_columns, co2_footnote
from tlcourse.measure.formatting import (
    CO2_EQUIVALENT_FACTORS,
    co2_equivalents,
    format_co2,
    format_co2_range,
)
from tlcourse.measure.record import CPU_WATTS_PER_THREAD, EmissionsRecord, combine_records
from tlcourse.measure.tracker import COUNTRY, TRACKING_MODES, Tracking, track

__all__ = [
    "CO2_COLUMNS", "CO2_EQUIVALENT_FACTORS", "COUNTRY", "CPU_WATTS_PER_THREAD", "TRACKING_MODES",
    "EmissionsRecord", "Tracking", "co2_columns", "co2_equivalents", "co2_footnote",
    "combine_records", "format_co2", "format_co2_range", "track"]  # fmt: skip
