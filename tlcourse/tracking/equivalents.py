"""Amounts of CO2 as everyday equivalents: car kilometres, smartphone charges, car lifetimes."""

from __future__ import annotations

from typing import Any

from tlcourse.tracking.formatting import check_co2_kg

__all__ = ["CO2_EQUIVALENT_FACTORS", "co2_equivalents"]

_KG_PER_LB = 0.45359237
_KM_PER_MILE = 1.609344

#: kg CO2 per unit of each everyday equivalent used by :func:`co2_equivalents`.
CO2_EQUIVALENT_FACTORS: dict[str, dict[str, Any]] = {
    "car_km": {
        "kg_per_unit": 0.400 / _KM_PER_MILE,
        "unit": "km driven by an average passenger car",
        "source": (
            "US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' "
            "(EPA-420-F-23-014, 2023): about 400 g CO2 per mile (8,887 g per gallon of "
            "gasoline / 22.2 mpg), i.e. 248.5 g per km"
        ),
    },
    "smartphone_charges": {
        "kg_per_unit": 8.22e-3,
        "unit": "smartphone full charges",
        "source": (
            "US EPA Greenhouse Gas Equivalencies Calculator, calculations and references: "
            "8.22e-6 metric tons CO2 per smartphone charged (value of the 2020-2023 editions, "
            "from the US marginal grid rate; not re-checked offline against the current page)"
        ),
    },
    "car_lifetimes": {
        "kg_per_unit": 126_000 * _KG_PER_LB,
        "unit": "lifetimes of an average car, fuel included",
        "source": (
            "Strubell, Ganesh & McCallum (2019), 'Energy and Policy Considerations for Deep "
            "Learning in NLP', Table 1: 126,000 lbs CO2e = 57,153 kg"
        ),
    },
}


def co2_equivalents(co2_kg: float):
    """Express an amount of CO2 as everyday equivalents.

    The factors, in :data:`CO2_EQUIVALENT_FACTORS`:

    * **Car kilometres**: US EPA, "Greenhouse Gas Emissions from a Typical Passenger Vehicle"
      (EPA-420-F-23-014, 2023): a typical passenger vehicle emits about 400 g CO2 per mile,
      i.e. 400 / 1.609344 = 248.5 g per km. Chosen over the EEA's figure for new cars
      registered in the EU (about 108 g/km in 2022, WLTP test cycle) because it describes the
      cars actually on the road, with real-world fuel economy, as the two other EPA-based
      rows do. It counts tailpipe CO2 only.
    * **Smartphone charges**: US EPA Greenhouse Gas Equivalencies Calculator: 8.22e-6 metric
      tons CO2 (8.22 g) per smartphone fully charged. Assumption stated plainly: this is the
      value published in the calculator's references between about 2020 and 2023; newer
      editions switched electricity factors and may differ.
    * **Car lifetimes**: Strubell et al. (2019), Table 1, the comparison used in the lecture:
      an average American car over its lifetime, fuel included, 126,000 lbs CO2e = 57,153 kg.

    Args:
        co2_kg: kilograms of CO2-equivalent, e.g. ``record.co2_kg``.

    Returns:
        A pandas DataFrame indexed by ``car_km``, ``smartphone_charges`` and
        ``car_lifetimes``, with columns ``value``, ``unit``, ``kg_per_unit`` and ``source``.

    Raises:
        InvalidParameterError: if ``co2_kg`` is not a finite number >= 0 (``None`` typically
            means the record was not measured).

    Example:
        >>> table = co2_equivalents(1.0)
        >>> car, phone = table.loc["car_km", "value"], table.loc["smartphone_charges", "value"]
        >>> print(f"1 kg CO2 = {car:.2f} km by car = {phone:.0f} smartphone charges")
        1 kg CO2 = 4.02 km by car = 122 smartphone charges
    """
    import pandas as pd

    co2_kg = check_co2_kg("co2_kg", co2_kg, "co2_equivalents")
    rows = {
        name: {
            "value": co2_kg / factor["kg_per_unit"],
            "unit": factor["unit"],
            "kg_per_unit": factor["kg_per_unit"],
            "source": factor["source"],
        }
        for name, factor in CO2_EQUIVALENT_FACTORS.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")
