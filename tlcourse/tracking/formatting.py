"""Masses of CO2-equivalent written with the unit that suits them (mg, g, kg, t)."""

from __future__ import annotations

import math
import numbers

from tlcourse.errors import check_int, invalid_parameter, is_real_number

__all__ = ["check_co2_kg", "format_co2", "format_co2_range"]


def check_co2_kg(param: str, value, func: str) -> float:
    """Return an amount of CO2 in kg as a float if it is a finite number >= 0, else raise.

    Args:
        param: the parameter's name.
        value: what the user passed.
        func: the public function's name, for the message.

    Returns:
        ``float(value)``.

    Raises:
        InvalidParameterError: in the template, with a hint when ``value`` is None (the
            ``co2_kg`` of a record that was not measured).

    Example:
        >>> check_co2_kg("co2_kg", 2, "co2_equivalents")
        2.0
    """
    if is_real_number(value) and value >= 0:
        return float(value)
    hint = "A record that was not measured has co2_kg=None." if value is None else ""
    raise invalid_parameter(param, func, "a finite number of kg >= 0", value, hint)


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
    digits = check_int("digits", digits, "format_co2", low=1)
    if kg is None or (isinstance(kg, numbers.Real) and math.isnan(kg)):
        return "n/a"
    kg = check_co2_kg("kg", kg, "format_co2")
    if kg == 0:
        return "0 g CO2e"
    # Round first so that 0.99999 g is shown as "1 g", not "1e+03 mg".
    kg = float(f"{kg:.{digits}g}")
    for unit, scale in (("t", 1e-3), ("kg", 1.0), ("g", 1e3)):
        if kg * scale >= 1:
            return f"{_significant(kg * scale, digits)} {unit} CO2e"
    return f"{_significant(kg * 1e6, digits)} mg CO2e"


def format_co2_range(low_kg: float, high_kg: float, digits: int = 2) -> str:
    """Format a low-high range of CO2e in the unit that suits its high end.

    Args:
        low_kg: the low end, in kg CO2e.
        high_kg: the high end, in kg CO2e (>= ``low_kg``).
        digits: significant digits of each end. Defaults to 2 (a range says the third digit
            is not known).

    Returns:
        A string such as ``"1.6-5.4 mg CO2e"``.

    Raises:
        InvalidParameterError: a negative or non-numeric end, or ``high_kg < low_kg``.

    Example:
        >>> format_co2_range(1.6e-6, 5.4e-6), format_co2_range(4e-7, 2.1e-3)
        ('1.6-5.4 mg CO2e', '0.0004-2.1 g CO2e')
    """
    low = check_co2_kg("low_kg", low_kg, "format_co2_range")
    high = check_co2_kg("high_kg", high_kg, "format_co2_range")
    digits = check_int("digits", digits, "format_co2_range", low=1)
    if high < low:
        raise invalid_parameter(
            "high_kg", "format_co2_range", f"a number of kg >= low_kg ({low:g})", high_kg
        )
    unit = format_co2(high, digits).split(" ")[1]
    scale = {"t": 1e-3, "kg": 1.0, "g": 1e3, "mg": 1e6}[unit]
    return f"{_significant(low * scale, digits)}-{_significant(high * scale, digits)} {unit} CO2e"


def _significant(value: float, digits: int) -> str:
    text = f"{value:.{digits}g}"
    if "e+" in text:  # large numbers of tonnes: write them out rather than 1.23e+05
        text = f"{value:,.0f}"
    return text
