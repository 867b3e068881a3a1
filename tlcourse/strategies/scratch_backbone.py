"""The scratch backbone strategy (placeholder record: the runner fills in run)."""

from tlcourse.strategies.registry import Strategy, register_strategy

__all__ = ["SCRATCH_BACKBONE"]


def _not_implemented(*args, **kwargs):
    raise NotImplementedError("placeholder until the runner moves here")


SCRATCH_BACKBONE = register_strategy(
    Strategy(
        name="scratch_backbone",
        order=50,
        label="Backbone from scratch",
        color="#56B4E9",
        run=_not_implemented,
        network="backbone",
        uses_features=False,
        default=False,
        description=(
            "The backbone's architecture with random weights, trained end to end: what its "
            "size costs without pretraining."
        ),
    )
)
