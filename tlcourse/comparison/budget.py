"""The training budget every strategy of a comparison follows."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from tlcourse.errors import check_int, check_real, invalid_parameter

__all__ = ["FAST_BUDGET", "Budget"]


@dataclass(frozen=True)
class Budget:
    """The training budget every strategy follows (each uses the fields its record lists).

    Validated when created: numpy scalars are accepted and stored as Python numbers.

    Attributes:
        epochs: epochs of training from scratch, and of the head on cached features. An int
            >= 1. Default 30.
        fine_tune_epochs: extra epochs with the last ``depth`` blocks unfrozen. An int >= 0.
            Default 5.
        depth: blocks unfrozen for fine-tuning (counted from the output), an int >= 0 or
            ``"all"``; :func:`tlcourse.compare` checks it against the backbone. Default 3.
        head_lr: Adam learning rate of the networks trained from scratch and of the head. A
            float > 0. Default 1e-3.
        fine_tune_lr: learning rate of the head during fine-tuning (the unfrozen blocks train at
            this rate, or slower by ``factor`` per block with differential rates). A float > 0.
            Default 1e-4.
        factor: ratio between consecutive blocks' learning rates (differential). A float > 0.
            Default 3.0.
        batch_size: images per step. An int >= 1. Default 32.

    Raises:
        InvalidParameterError: a field outside what it accepts, e.g. "The 'epochs' parameter of
            Budget must be an int >= 1. Got 0 instead."

    Example:
        >>> Budget(epochs=10).fine_tune_epochs
        5
        >>> Budget.from_config(FAST_BUDGET.get_config()) == FAST_BUDGET
        True
    """

    epochs: int = 30
    fine_tune_epochs: int = 5
    depth: int | str = 3
    head_lr: float = 1e-3
    fine_tune_lr: float = 1e-4
    factor: float = 3.0
    batch_size: int = 32

    def __post_init__(self):
        checked = {
            "epochs": check_int("epochs", self.epochs, "Budget", low=1),
            "fine_tune_epochs": check_int(
                "fine_tune_epochs", self.fine_tune_epochs, "Budget", low=0
            ),
            "depth": check_int("depth", self.depth, "Budget", low=0, extra=["all"]),
            "batch_size": check_int("batch_size", self.batch_size, "Budget", low=1),
        }
        for name in ("head_lr", "fine_tune_lr", "factor"):
            checked[name] = check_real(name, getattr(self, name), "Budget", low=0, low_open=True)
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: store the normalised value

    def get_config(self) -> dict[str, Any]:
        """Every field, as saved with each result row (and read back by :meth:`from_config`).

        Example:
            >>> Budget().get_config()["depth"]
            3
        """
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Budget:
        """The budget of :meth:`get_config`.

        Args:
            config: a dict of Budget fields (missing ones take their default).

        Returns:
            A validated :class:`Budget`.

        Raises:
            InvalidParameterError: not a dict, an unknown field or a bad value.

        Example:
            >>> Budget.from_config({"epochs": 3}).epochs
            3
        """
        fields = [f.name for f in dataclasses.fields(cls)]
        if not isinstance(config, dict) or not set(config) <= set(fields):
            raise invalid_parameter(
                "config", "Budget.from_config", f"a dict with keys among {fields}", config
            )
        return cls(**config)


#: A smoke-run budget: 3 epochs, 1 fine-tuning epoch of the last block (``--fast``).
FAST_BUDGET = Budget(epochs=3, fine_tune_epochs=1, depth=1)
