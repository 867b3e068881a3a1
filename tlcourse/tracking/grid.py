"""Electricity grids: country codes and their carbon intensity, from codecarbon's shipped tables.

Nothing here uses the network: codecarbon ships a table of energy mixes per country (with the
carbon intensity of each and the year of the data) and a world average, and its offline
tracker reads only those.
"""

from __future__ import annotations

import difflib
import functools

from tlcourse.errors import invalid_parameter

__all__ = [
    "INTENSITY_SOURCES",
    "check_country",
    "grid_intensity",
]

#: Where the carbon intensity applied to a run came from (``EmissionsRecord.intensity_source``):
#: codecarbon's per-country energy-mix table, its world average (no country given), a value
#: forced in codecarbon's configuration, or its table of cloud regions.
INTENSITY_SOURCES = ("energy mix", "world average", "configuration", "cloud region")

_COUNTRY_RULE = (
    "a 3-letter ISO 3166-1 alpha-3 code such as 'USA', 'FRA' or 'DEU', or None for "
    "codecarbon's world-average grid"
)


@functools.lru_cache(maxsize=1)
def _energy_mix() -> dict | None:
    """codecarbon's ``{ISO code: {country_name, carbon_intensity, year, ...}}``, or None."""
    try:
        from codecarbon.input import DataSource

        return DataSource().get_global_energy_mix_data()
    except Exception:  # codecarbon missing or changed: validation then checks the shape only
        return None


def grid_intensity(country: str | None) -> tuple[float | None, str | None, int | None]:
    """The carbon intensity codecarbon's offline tracker applies for a country.

    Args:
        country: ISO 3166-1 alpha-3 code (upper case), or None for the world average.

    Returns:
        ``(g CO2e per kWh, grid name, year of the data)``; the name is ``"World average"``
        and the year None for ``country=None``; all three None when codecarbon's tables
        cannot be read or do not know the country.

    Raises:
        InvalidParameterError: if ``country`` is neither a string nor None.

    Example:
        >>> intensity, name, year = grid_intensity("FRA")
        >>> name, intensity < 100, year >= 2020
        ('France', True, True)
        >>> grid_intensity(None)[1:]
        ('World average', None)
    """
    if country is not None and not isinstance(country, str):
        raise invalid_parameter("country", "grid_intensity", "a 3-letter code or None", country)
    try:
        if country is None:
            from codecarbon.input import DataSource

            world = DataSource().get_carbon_intensity_per_source_data()["world_average"]
            return float(world), "World average", None
        entry = (_energy_mix() or {}).get(country, {})
        intensity = entry.get("carbon_intensity")
        year = entry.get("year")
        return (
            None if intensity is None else float(intensity),
            entry.get("country_name"),
            None if year is None else int(year),
        )
    except Exception:
        return None, None, None


def check_country(param: str, value, func: str) -> str | None:
    """Return a country code in upper case if codecarbon knows its grid, else raise.

    Args:
        param: the parameter's name (usually ``"country"``).
        value: what the user passed: a 3-letter code in any case, or None.
        func: the public function's name, for the message.

    Returns:
        The code in upper case (``"deu"`` gives ``"DEU"``), or None.

    Raises:
        InvalidParameterError: for anything but a 3-letter code in codecarbon's table or None,
            with close country names or codes suggested.

    Example:
        >>> check_country("country", "fra", "track")
        'FRA'
        >>> check_country("country", "France", "compare")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'country' parameter of compare must be a \
3-letter ISO 3166-1 alpha-3 code such as 'USA', 'FRA' or 'DEU', or None for codecarbon's \
world-average grid. Got 'France' instead. Did you mean 'FRA' (France)...?
    """
    if value is None:
        return None
    mix = _energy_mix()
    if not isinstance(value, str) or len(value) != 3 or not value.isalpha():
        raise invalid_parameter(param, func, _COUNTRY_RULE, value, _suggest(value, mix))
    code = value.upper()
    if mix is not None and code not in mix:
        hint = f"{value!r} is not in codecarbon's table of {len(mix)} countries."
        raise invalid_parameter(
            param, func, _COUNTRY_RULE, value, f"{hint} {_suggest(value, mix)}".strip()
        )
    return code


def _suggest(value, mix: dict | None) -> str:
    """'Did you mean ...?' from close country names and codes, or ''."""
    if not isinstance(value, str) or not mix:
        return ""
    by_name = {
        str(entry.get("country_name", "")).lower(): code
        for code, entry in mix.items()
        if isinstance(entry, dict)
    }
    codes = [by_name[name] for name in difflib.get_close_matches(value.lower(), by_name, n=3)]
    codes += difflib.get_close_matches(value.upper(), list(mix), n=3)
    codes = list(dict.fromkeys(codes))[:3]
    if not codes:
        return ""
    named = " or ".join(f"{code!r} ({mix[code].get('country_name', '?')})" for code in codes)
    return f"Did you mean {named}?"
