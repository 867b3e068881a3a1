"""The backbone's architecture from random weights: what its size costs without pretraining.

The comparison's backbone is built with random weights (``weights=None``), every layer made
trainable, BatchNorm included, under the same head and flip as fine-tuning; it trains end to end
for ``budget.epochs`` epochs with Adam at ``budget.head_lr``. Charged to the run: building,
training and evaluating it; nothing is shared with other runs. Optional: not part of the
default comparison.
"""

from __future__ import annotations

from tlcourse.freezing import set_trainable
from tlcourse.models import transfer_classifier
from tlcourse.strategies.context import RunContext, StrategyResult
from tlcourse.strategies.registry import Strategy, register_strategy
from tlcourse.strategies.scratch import train_from_scratch

__all__ = ["SCRATCH_BACKBONE", "run"]


def run(context: RunContext, data, seed: int) -> StrategyResult:
    """Train the comparison's backbone architecture from random weights (see the module).

    Args:
        context: the comparison's :class:`~tlcourse.strategies.context.RunContext`.
        data: the run's :class:`~tlcourse.data.Dataset`.
        seed: seeds the initialisation and the shuffling.

    Returns:
        The :class:`~tlcourse.strategies.context.StrategyResult` (model: backbone plus head).

    Example:
        >>> from tlcourse.strategies import get_strategy
        >>> get_strategy('scratch_backbone').run is run, get_strategy('scratch_backbone').network
        (True, 'backbone')
    """

    def build():
        model = transfer_classifier(
            context.backbone, data.num_classes, data.image_size, weights=None
        )
        set_trainable(model, "all", train_batchnorm=True)
        return model

    return train_from_scratch(context, data, seed, build, "scratch_backbone")


SCRATCH_BACKBONE = register_strategy(
    Strategy(
        name="scratch_backbone",
        order=50,
        label="Backbone from scratch",
        color="#56B4E9",
        run=run,
        network="backbone",
        uses_features=False,
        default=False,
        description=(
            "The backbone's architecture with random weights, trained end to end: what its "
            "size costs without pretraining."
        ),
        budget_fields=("epochs", "head_lr", "batch_size"),
    )
)
