"""The scratch strategy (placeholder record: the runner fills in run)."""

from tlcourse.strategies.registry import Strategy, register_strategy

__all__ = ["SCRATCH"]


def _not_implemented(*args, **kwargs):
    raise NotImplementedError("placeholder until the runner moves here")


SCRATCH = register_strategy(
    Strategy(
        name="scratch",
        order=10,
        label="From scratch",
        color="#7F7F7F",
        run=_not_implemented,
        network="small_cnn",
        uses_features=False,
        default=True,
        description=("A small CNN trained end to end from random weights."),
    )
)
