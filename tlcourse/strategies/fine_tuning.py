"""The fine tuning strategy (placeholder record: the runner fills in run)."""

from tlcourse.strategies.registry import Strategy, register_strategy

__all__ = ["FINE_TUNING", "FINE_TUNING_DLR"]


def _not_implemented(*args, **kwargs):
    raise NotImplementedError("placeholder until the runner moves here")


FINE_TUNING = register_strategy(
    Strategy(
        name="fine_tuning",
        order=30,
        label="Fine-tuning",
        color="#E69F00",
        run=_not_implemented,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "The feature-extraction head, then the last blocks unfrozen and trained with the "
            "head at a low learning rate."
        ),
    )
)

FINE_TUNING_DLR = register_strategy(
    Strategy(
        name="fine_tuning_dlr",
        order=40,
        label="Fine-tuning (differential LRs)",
        color="#009E73",
        run=_not_implemented,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "Fine-tuning with differential learning rates: each earlier block a factor slower"
            " than the next."
        ),
    )
)
