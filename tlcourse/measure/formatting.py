"""Amounts of CO2 for people: with the unit that suits them, and as everyday equivalents."""

from __future__ import annotations

import math
import numbers
from typing import Any

from tlcourse.validation import Interval, Rule, validate_params

__all__ = ["CO2_EQUIVALENT_FACTORS", "co2_equivalents", "format_co2", "format_co2_range"]

_KG = Interval(numbers.Real, 0, None)
# A record that was not measured has co2_kg=None: say so where that is the likely mistake.
_UNMEASURED = "A record that was not measured has co2_kg=None."
CO2_KG = Rule(_KG.accepts, "a finite number of kg >= 0", float, lambda v: _UNMEASURED * (v is None))
_DIGITS = Interval(int, 1, None)

#: kg CO2 per unit of each everyday equivalent used by :func:`co2_equivalents`, with its source.
CO2_EQUIVALENT_FACTORS: dict[str, dict[str, Any]] = {
    "car_km": dict(kg_per_unit=0.400 / 1.609344, unit="km driven by an average passenger car",
                   source="US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' "
                   "(EPA-420-F-23-014, 2023): about 400 g CO2 per mile (8,887 g per gallon of "
                   "gasoline / 22.2 mpg), i.e. 248.5 g per km"),
    "smartphone_charges": dict(kg_per_unit=8.22e-3, unit="smartphone full charges",
                               source="US EPA Greenhouse Gas Equivalencies Calculator, "
                               "calculations and references: 8.22e-6 metric tons CO2 per "
                               "smartphone charged (value of the 2020-2023 editions, from the US "
                               "marginal grid rate; not re-checked offline against the current "
                               "page)"),
    "car_lifetimes": dict(kg_per_unit=126_000 * 0.45359237,
                          unit="lifetimes of an average car, fuel included",
                          source="Strubell, Ganesh & McCallum (2019), 'Energy and Policy "
                          "Considerations for Deep Learning in NLP', Table 1: 126,000 lbs CO2e = "
                          "57,153 kg")}  # fmt: skip


_NOT_MEASURED = "a finite number of kg >= 0, or None or NaN (not measured)"


@validate_params({"kg": [Rule(lambda v: v is None or _KG.accepts(v) or _is_nan(v), _NOT_MEASURED)],
                  "digits": [_DIGITS]})  # fmt: skip
def format_co2(kg: float | None, digits: int = 3) -> str:
    """Format a mass of CO2e with the unit that suits it: mg, g, kg or t ("n/a" for None/NaN).

    Example:
        >>> format_co2(2.87e-6), format_co2(0.0125), format_co2(3.0), format_co2(57_153)
        ('2.87 mg CO2e', '12.5 g CO2e', '3 kg CO2e', '57.2 t CO2e')
    """
    if kg is None or _is_nan(kg):
        return "n/a"
    if kg == 0:
        return "0 g CO2e"
    kg = float(f"{kg:.{digits}g}")  # rounded first: 0.99999 g is "1 g", not "1e+03 mg"
    for unit, scale in (("t", 1e-3), ("kg", 1.0), ("g", 1e3)):
        if kg * scale >= 1:
            return f"{_significant(kg * scale, digits)} {unit} CO2e"
    return f"{_significant(kg * 1e6, digits)} mg CO2e"


@validate_params({
    "low_kg": [CO2_KG],
    "high_kg": lambda args: [Rule(lambda v: _KG.accepts(v) and v >= args["low_kg"],
                                  f"a number of kg >= low_kg ({args['low_kg']:g})", float)],
    "digits": [_DIGITS]})  # fmt: skip
def format_co2_range(low_kg: float, high_kg: float, digits: int = 2) -> str:
    """Format a low-high range of CO2e in the unit of its high end."""
    unit = format_co2(high_kg, digits).split(" ")[1]
    scale = {"t": 1e-3, "kg": 1.0, "g": 1e3, "mg": 1e6}[unit]
    low, high = _significant(low_kg * scale, digits), _significant(high_kg * scale, digits)
    return f"{low}-{high} {unit} CO2e"


@validate_params({"co2_kg": [CO2_KG]})
def co2_equivalents(co2_kg: float):
    """Express an amount of CO2 as car kilometres, smartphone charges and car lifetimes.

    Sources in :data:`CO2_EQUIVALENT_FACTORS`. The EPA's 400 g per mile is for the cars on the road,
    not the EEA's test-cycle figure for new EU cars (about 108 g/km in 2022).

    Example:
        >>> table = co2_equivalents(1.0)
        >>> car, phone = table.loc["car_km", "value"], table.loc["smartphone_charges", "value"]
        >>> print(f"1 kg CO2 = {car:.2f} km by car = {phone:.0f} smartphone charges")
        1 kg CO2 = 4.02 km by car = 122 smartphone charges
    """
    import pandas as pd

    rows = {
        name: {"value": co2_kg / factor["kg_per_unit"], **factor}
        for name, factor in CO2_EQUIVALENT_FACTORS.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")[["value", "unit", "kg_per_unit", "source"]]


def _is_nan(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(value)


def _significant(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    return f"{value:,.0f}" if "e+" in text else text  # 250,000 t rather than 2.5e+05
