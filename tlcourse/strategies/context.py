"""What a strategy's ``run`` is given and what it returns: the contract of every strategy.

A strategy's run function has the signature ``run(context, data, seed) -> StrategyResult``:

- ``context`` (:class:`RunContext`) is what the runs of one comparison share: the
  :class:`~tlcourse.comparison.Budget`, the backbone's name, the country of the CO2 estimate, the
  ``tf.distribute`` strategy, and four services: :meth:`RunContext.measure` (time, energy and
  CO2 of a piece of work), :meth:`RunContext.pretrained_backbone` (the backbone with its
  pristine pretrained weights, to train), :meth:`RunContext.features` (the backbone's cached
  features, always computed with the pristine weights) and :meth:`RunContext.shared` (a result
  computed once per split and reused by every strategy that asks, e.g. the head trained on
  cached features that fine-tuning starts from).
  The context also carries ``callbacks`` (pass them to every ``fit``) and ``boundary_cache``.
- ``data`` is the :class:`~tlcourse.data.Dataset` of this run (one split per seed and
  training-set size), loaded fresh for every run.
- ``seed`` seeds the initialisation and the shuffling (``keras.utils.set_random_seed``).

The :class:`StrategyResult` carries the trained model, its history, the test accuracy and loss,
the number of trainable parameters and the :class:`Cost` charged to the run: everything measured
for it, including the share of shared work (feature pass, shared head) it relies on.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tlcourse.tracking import CO2_COLUMNS, EmissionsRecord, co2_columns

__all__ = ["Cost", "RunContext", "StrategyResult"]

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
        history: per-epoch lists (``loss``, ``accuracy``, ``val_loss``...), every stage of the
            run in order (fine-tuning: the head's epochs, then the fine-tuning epochs).
        test_accuracy: accuracy on the test split.
        test_loss: loss on the test split.
        trainable_params: parameters the run trained.
        cost: everything charged to the run (see :class:`RunContext`).
        fine_tune_start: index in ``history`` of the first fine-tuning epoch; None when the run
            has no fine-tuning stage. Defaults to None.
        test_probabilities: class probabilities of every test image, ``(n_test, num_classes)``
            in ``data.files["test"]`` order. The runner writes them to ``predictions.csv`` and
            takes the row's ``test_accuracy`` from them (argmax against the labels), so the two
            files always agree. None when the strategy gives none (its own accuracy is kept).
            Defaults to None.
        deployable: ``deployable() -> keras.Model``: the model a user would deploy (images in
            0..255 to class probabilities), for measuring what it costs to use; None when there
            is none. Called right after the run, before the next one starts (fine-tuning's
            backbone is reset then). Defaults to None.
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


class RunContext(abc.ABC):
    """What every run of one comparison shares (the runner provides it; see the module).

    Attributes:
        budget: the :class:`~tlcourse.comparison.Budget` every strategy follows.
        backbone: registry name of the pretrained backbone of the comparison.
        country: ISO-3 code of the grid for the CO2 estimate; None for the world average.
        distribution: the ``tf.distribute.Strategy`` models are built and trained under.
        callbacks: Keras callbacks to pass to every ``fit`` of the run (the runner's progress
            display counts epochs with them). Defaults to ().
        boundary_cache: train fine-tuning's unfrozen blocks on cached boundary activations
            where that is the same computation (:mod:`tlcourse.boundary`); False trains the
            whole model at every step. Defaults to True.
    """

    budget: Any
    backbone: str
    country: str | None
    distribution: Any
    callbacks: tuple = ()
    boundary_cache: bool = True

    @abc.abstractmethod
    def measure(self, label: str, work: Callable[[], Any]) -> tuple[Any, Cost]:
        """Run ``work()`` under the distribution strategy, measured; return (value, cost)."""

    @abc.abstractmethod
    def pretrained_backbone(self):
        """The backbone with its pristine pretrained weights (restored at every call), to train.

        Training it changes it in place; the next call restores the pretrained weights. The
        features of :meth:`features` never come from this model.
        """

    @abc.abstractmethod
    def features(self, data, layer: str | None = None) -> tuple[Any, Cost]:
        """The :class:`~tlcourse.comparison.FeatureCache` holding every image of ``data``.

        Args:
            data: the run's dataset.
            layer: also hold the activations of this backbone layer (a freeze boundary, see
                :func:`tlcourse.boundary.depth_boundary`). Defaults to None (features only).

        Returns:
            ``(cache, cost)``: features (and activations) always computed by the pristine
            pretrained backbone, and the cost of every pass of the comparison so far (charged
            to each run that uses the cache).

        Raises:
            CacheMemoryError: the activations of ``layer`` would not fit in memory.
        """

    @abc.abstractmethod
    def shared(self, name: Hashable, data, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``name`` and split of ``data``; later calls return the same.

        The value keeps the cost ``compute`` charged, so every run that uses it is charged it.
        """

    def memo(self, name: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per ``name`` for the whole comparison, whatever the split.

        For objects that cost to make but hold no result, such as a compiled model that every
        run of one kind reuses (:class:`~tlcourse.strategies.reuse.ReusedModel`).

        Example:
            >>> from tlcourse.comparison import ComparisonContext
            >>> context = ComparisonContext()
            >>> context.memo("answer", lambda: 42), context.memo("answer", lambda: 0)
            (42, 42)
        """
        store = self.__dict__.setdefault("_memo", {})
        if name not in store:
            store[name] = compute()
        return store[name]
