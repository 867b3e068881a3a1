"""What a strategy's run returns: its :class:`StrategyResult` and the :class:`Cost` charged."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tlcourse.tracking import CO2_COLUMNS, EmissionsRecord, co2_columns

__all__ = ["Cost", "StrategyResult"]

_INTENSITY = "carbon_intensity_g_per_kwh"


def _merge(a, b):
    """A CO2 column of a sum: kept when the parts agree (or one part has none); texts that
    differ are joined with " + ", other values that differ are unknown (None)."""
    if b is None or a == b:
        return a
    if a is None:
        return b
    return f"{a} + {b}" if isinstance(a, str) and isinstance(b, str) else None


def _sum(a, b) -> float | None:
    """A numeric CO2 column of a sum (``co2_kg_low``...): unknown (NaN) when a part lacks it."""
    values = [v for v in (a, b) if isinstance(v, numbers.Real) and not isinstance(v, bool)]
    return float(values[0]) + float(values[1]) if len(values) == 2 else float("nan")


@dataclass(frozen=True)
class Cost:
    """Time, energy and CO2 of a piece of work; costs add up (``cost_a + cost_b``).

    Attributes:
        wall_seconds: elapsed time. Defaults to 0.
        cpu_seconds: CPU time of the process, all threads. Defaults to 0.
        energy_kwh: electricity used; NaN when not measured. Defaults to 0.
        co2_kg: emissions in kg CO2e; NaN when not measured. Defaults to 0.
        co2: how the CO2 figure was obtained, the :data:`tlcourse.tracking.CO2_COLUMNS`
            (``co2_mode``, ``co2_grid``, ``carbon_intensity_g_per_kwh``, ``co2_method``); empty
            for the zero cost. A sum keeps its parts' mode and grid (joined with " + " where
            they differ), the intensity of the total (CO2 over energy) and the first part's
            ``co2_method`` sentence, so a run's row keeps how its CO2 was obtained.

    Example:
        >>> total = Cost(1.0, 2.0, 0.5, 0.1) + Cost(2.0, 1.0, 0.5, 0.2)
        >>> total.wall_seconds, round(total.co2_kg, 3)
        (3.0, 0.3)
    """

    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    energy_kwh: float = 0.0
    co2_kg: float = 0.0
    co2: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, record: EmissionsRecord) -> Cost:
        """The cost of a finished :class:`~tlcourse.tracking.EmissionsRecord`.

        Example:
            >>> from tlcourse.tracking import EmissionsRecord
            >>> cost = Cost.of(EmissionsRecord("demo", wall_seconds=1.0, cpu_seconds=1.0))
            >>> cost.co2["co2_mode"], math.isnan(cost.co2_kg)
            ('not measured', True)
        """
        nan = float("nan")
        return cls(
            wall_seconds=float(record.wall_seconds or 0.0),
            cpu_seconds=float(record.cpu_seconds or 0.0),
            energy_kwh=nan if record.energy_kwh is None else float(record.energy_kwh),
            co2_kg=nan if record.co2_kg is None else float(record.co2_kg),
            co2=co2_columns(record),
        )

    def __add__(self, other: Cost) -> Cost:
        if not isinstance(other, Cost):
            return NotImplemented
        energy, co2_kg = self.energy_kwh + other.energy_kwh, self.co2_kg + other.co2_kg
        if not self.co2 or not other.co2:
            co2 = dict(self.co2 or other.co2)
        else:
            co2 = {}
            for column in dict.fromkeys([*self.co2, *other.co2]):  # ordered union
                a, b = self.co2.get(column), other.co2.get(column)
                if column.startswith("co2_kg"):
                    co2[column] = _sum(a, b)  # an estimate's range (low, high) adds up too
                elif column == "co2_method":
                    co2[column] = a or b
                elif column != _INTENSITY:
                    co2[column] = _merge(a, b)
            # Each record's intensity is its own CO2 / energy: the total's is the weighted mean.
            intensities = {self.co2.get(_INTENSITY), other.co2.get(_INTENSITY)}
            if energy > 0 and math.isfinite(co2_kg):
                co2[_INTENSITY] = co2_kg / energy * 1000
            else:
                co2[_INTENSITY] = intensities.pop() if len(intensities) == 1 else None
        return Cost(
            self.wall_seconds + other.wall_seconds,
            self.cpu_seconds + other.cpu_seconds,
            energy,
            co2_kg,
            co2,
        )

    def columns(self) -> dict[str, Any]:
        """The cost as columns of a results row (times, energy, CO2 and its CO2 columns).

        Example:
            >>> list(Cost().columns())[:4]
            ['wall_seconds', 'cpu_seconds', 'energy_kwh', 'co2_kg']
        """
        return {
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
            "energy_kwh": self.energy_kwh,
            "co2_kg": self.co2_kg,
            **{c: self.co2.get(c) for c in CO2_COLUMNS},
            # Numeric CO2 columns a record adds (co2_kg_low, co2_kg_high...), summed by __add__.
            **{c: v for c, v in self.co2.items() if c.startswith("co2_kg")},
        }


@dataclass
class StrategyResult:
    """What one run of a strategy returns to the runner.

    Attributes:
        model: the trained model (the head alone for feature extraction).
        history: per-epoch lists (``loss``, ``accuracy``, ``val_loss``...), every stage in order.
        test_accuracy: accuracy on the test split.
        test_loss: loss on the test split.
        trainable_params: parameters the run trained.
        cost: everything charged to the run, shared work (the pass over the images) included.
        fine_tune_start: index in ``history`` of the first fine-tuning epoch, or None.
        test_probabilities: ``(n_test, num_classes)`` in ``data.files["test"]`` order, or None.
            The runner writes them to ``predictions.csv`` and takes the row's accuracy from them.
        deployable: ``deployable() -> keras.Model``, the model a user would deploy (images in,
            probabilities out), called right after the run; None when there is none.
        trained_on: ``"cached activations"`` or ``"whole model"``: how the run trained.
    """

    model: Any
    history: dict[str, list[float]]
    test_accuracy: float
    test_loss: float
    trainable_params: int
    cost: Cost
    fine_tune_start: int | None = None
    test_probabilities: Any = None
    deployable: Callable[[], Any] | None = None
    trained_on: str = ""
