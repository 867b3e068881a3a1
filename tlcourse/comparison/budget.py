"""The training budget every strategy of a comparison follows."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Any

from tlcourse.errors import invalid_parameter
from tlcourse.validation import Interval, StrOptions, validate_params

__all__ = ["FAST_BUDGET", "Budget"]

_RATE = [Interval(numbers.Real, 0, None, closed="neither")]


@dataclass(frozen=True)
class Budget:
    """The training budget every strategy follows (each uses the fields its record lists).

    Example:
        >>> Budget(epochs=10).fine_tune_epochs
        5
        >>> Budget.from_config(FAST_BUDGET.get_config()) == FAST_BUDGET
        True
    """

    epochs: int = 30  # of training from scratch, and of the head
    fine_tune_epochs: int = 5  # extra epochs with the last `depth` blocks unfrozen
    depth: int | str = 3  # blocks unfrozen for fine-tuning (from the output), or "all"
    head_lr: float = 1e-3  # Adam learning rate from scratch and of the head
    fine_tune_lr: float = 1e-4  # learning rate of fine-tuning (of its last block and head)
    factor: float = 3.0  # ratio between consecutive blocks' learning rates (differential)
    batch_size: int = 32  # images per step

    @validate_params({
        "epochs": [Interval(int, 1, None)], "fine_tune_epochs": [Interval(int, 0, None)],
        "depth": [Interval(int, 0, None), StrOptions(["all"])], "head_lr": _RATE,
        "fine_tune_lr": _RATE, "factor": _RATE, "batch_size": [Interval(int, 1, None)],
    })  # fmt: skip
    def __init__(self, epochs=30, fine_tune_epochs=5, depth=3, head_lr=1e-3, fine_tune_lr=1e-4,
                 factor=3.0, batch_size=32):  # fmt: skip
        values = dict(locals())
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, values[field.name])

    def get_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # saved with each result row

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Budget:
        """The budget of :meth:`get_config` (missing fields take their default)."""
        fields = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(config, dict) or not set(config) <= set(fields):
            rule = f"a dict with keys among {fields}"
            raise invalid_parameter("config", "Budget.from_config", rule, config)
        return cls(**config)


#: A smoke-run budget: 3 epochs, 1 fine-tuning epoch of the last block (``--fast``).
FAST_BUDGET = Budget(epochs=3, fine_tune_epochs=1, depth=1)
