"""The feature extraction strategy (placeholder record: the runner fills in run)."""

from tlcourse.strategies.registry import Strategy, register_strategy

__all__ = ["FEATURE_EXTRACTION"]


def _not_implemented(*args, **kwargs):
    raise NotImplementedError("placeholder until the runner moves here")


FEATURE_EXTRACTION = register_strategy(
    Strategy(
        name="feature_extraction",
        order=20,
        label="Feature extraction",
        color="#0072B2",
        run=_not_implemented,
        network="backbone",
        uses_features=True,
        default=True,
        description=(
            "The frozen pretrained backbone runs once over every image; a new head trains on "
            "the cached features."
        ),
    )
)
