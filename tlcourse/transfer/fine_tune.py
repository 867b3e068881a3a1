"""The lecture's fine-tuning recipe in one call: train the head, then unfreeze and fine-tune.

By default the frozen part runs once per image: each stage trains on activations cached at its
freeze boundary (:class:`~tlcourse.transfer.boundary.ActivationCache`), the same computation as the
whole model. Where it would not be the same (augmentation before the backbone, data that changes
between passes, callbacks that may save the model) the whole model trains, and a
:class:`~tlcourse.transfer.boundary.BoundaryCacheWarning` says why."""

from __future__ import annotations

import math
import numbers
import warnings

import keras
import numpy as np
import pandas as pd

from tlcourse.errors import InvalidParameterError, invalid_parameter
from tlcourse.models.backbones.registry import MODEL_WITH_BACKBONE
from tlcourse.transfer.boundary import (
    ActivationCache,
    BoundaryCacheWarning,
    CacheMemoryError,
    NoBoundaryError,
    find_boundary,
)
from tlcourse.transfer.boundary.cache import shuffled_batches
from tlcourse.transfer.freezing import DEPTH, _freeze
from tlcourse.transfer.groups import UNITS
from tlcourse.transfer.optimizers import is_layerwise, layerwise_class, layerwise_optimizer
from tlcourse.transfer.optimizers.layerwise import LAYERWISE_ARGUMENTS
from tlcourse.validation import (
    BATCH_SIZE,
    EPOCHS,
    LEARNING_RATE,
    TRAINING_DATA,
    Interval,
    Rule,
    StrOptions,
    validate_params,
)

__all__ = ["FineTuneHistory", "fine_tune"]

HEAD_STAGE = "head"
FINE_TUNE_STAGE = "fine_tune"


class FineTuneHistory:
    """Both stages of :func:`fine_tune` as one Keras-like History, with a ``stage`` per epoch."""

    def __init__(self, histories, model: keras.Model, settings: dict):
        self.model = model
        self.settings = dict(settings)
        self.epoch: list[int] = []
        self.stage: list[str] = []
        self.history: dict[str, list[float]] = {}
        self.fine_tune_start: int | None = None
        for stage, history in histories:
            self._append(stage, history)

    def _append(self, stage: str, history) -> None:
        if not history.epoch:
            return
        if stage == FINE_TUNE_STAGE:
            self.fine_tune_start = len(self.epoch)
        done = len(self.epoch)
        for key in dict.fromkeys([*self.history, *history.history]):  # ordered union
            values = history.history.get(key, [math.nan] * len(history.epoch))
            self.history.setdefault(key, [math.nan] * done).extend(float(v) for v in values)
        self.epoch.extend(range(done, done + len(history.epoch)))
        self.stage.extend([stage] * len(history.epoch))

    def to_frame(self) -> pd.DataFrame:
        """One row per epoch: ``epoch``, ``stage`` and every logged metric."""
        frame = pd.DataFrame({"epoch": self.epoch, "stage": self.stage, **self.history})
        frame.attrs["fine_tune_start"] = self.fine_tune_start
        return frame

    def __repr__(self) -> str:
        return (
            f"FineTuneHistory({len(self.epoch)} epochs, fine_tune_start={self.fine_tune_start}, "
            f"metrics={sorted(self.history)})"
        )


def _is_optimizer(value) -> bool:
    if isinstance(value, str):
        try:
            return bool(keras.optimizers.get(value))
        except ValueError:
            return False
    is_class = isinstance(value, type) and issubclass(value, keras.optimizers.Optimizer)
    return is_class or isinstance(value, keras.optimizers.Optimizer)


def _optimizer_template(optimizer) -> tuple[type, dict]:
    """``(class, settings without learning rate)`` from a name, class or instance."""
    config = {}
    if isinstance(optimizer, str):
        optimizer = type(keras.optimizers.get(optimizer))
    elif isinstance(optimizer, keras.optimizers.Optimizer):
        config = optimizer.get_config()
        for key in ("name", "learning_rate", *LAYERWISE_ARGUMENTS):
            config.pop(key, None)
        optimizer = type(optimizer)
    # A layer-wise class stands for its parent: fine_tune adds the rates itself.
    return (optimizer.optimizer_class if is_layerwise(optimizer) else optimizer), config


def _compile_settings(model: keras.Model, loss, metrics) -> dict:
    """Loss, metrics and compile options: the arguments, else the model's own."""
    config = (model.get_compile_config() or {}) if model.compiled else {}
    config.pop("optimizer", None)
    settings = {k: keras.saving.deserialize_keras_object(v) for k, v in config.items()}
    if loss is not None:
        settings["loss"] = loss
    if metrics is not None:
        settings["metrics"] = metrics
    if settings.get("loss") is None:
        raise InvalidParameterError(
            f"fine_tune needs a loss: model {model.name!r} is not compiled with one. Pass "
            "loss=... (e.g. loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), "
            "metrics=['accuracy']), or call model.compile(loss=..., metrics=[...]) first; "
            "fine_tune chooses the optimizers itself."
        )
    return settings


def _make_optimizer(model, template, lr, factor, unit):
    optimizer_class, optimizer_settings = template
    if factor is None:
        return optimizer_class(learning_rate=lr, **optimizer_settings)
    # The optimizer keeps factor and unit itself: a later set_trainable makes it again.
    return layerwise_optimizer(
        model, lr, factor=factor, optimizer=optimizer_class, unit=unit, **optimizer_settings
    )


_CALLBACKS = Rule(
    lambda v: (
        isinstance(v, list | tuple) and all(isinstance(c, keras.callbacks.Callback) for c in v)
    ),
    "a list of keras.callbacks.Callback",
)
_OPTIMIZER = Rule(
    _is_optimizer,
    "an optimizer name such as 'adam' or 'sgd', a keras.optimizers.Optimizer class, or an "
    "instance whose settings (momentum, weight decay...) are copied",
)


@validate_params({
    "model": [MODEL_WITH_BACKBONE], "train": [TRAINING_DATA], "head_epochs": [EPOCHS],
    "epochs": [EPOCHS], "unit": [StrOptions(UNITS)], "train_batchnorm": ["boolean"], "depth": DEPTH,
    "base_lr": [LEARNING_RATE], "factor": [None, Interval(numbers.Real, 1, None, closed="neither")],
    "head_lr": [LEARNING_RATE, None], "optimizer": [_OPTIMIZER], "batch_size": [None, BATCH_SIZE],
    "callbacks": [None, _CALLBACKS], "verbose": [StrOptions(["auto"]), Interval(int, 0, 2)],
    "cache": [StrOptions(["auto"]), "boolean", ActivationCache]})  # fmt: skip
def fine_tune(model: keras.Model, train, val=None, head_epochs: int = 5, epochs: int = 5,
              depth: int | str = 2, base_lr: float = 1e-4, factor: float | None = None, *,
              head_lr: float | None = None, loss=None, metrics=None, optimizer="adam",
              unit: str = "block", train_batchnorm: bool = False, batch_size: int | None = None,
              callbacks=None, verbose="auto", cache="auto") -> FineTuneHistory:  # fmt: skip
    """Train the head with the backbone frozen, then fine-tune the last ``depth`` blocks.

    Stage 1 (``head_epochs``) trains the head at ``head_lr`` (default ``10 * base_lr``: a new,
    random head needs large steps, and its noisy gradients cannot reach the frozen backbone).
    Stage 2 (``epochs`` more) unfreezes ``depth`` blocks (or layers, ``unit="layer"``), BatchNorm
    kept frozen, at ``base_lr``; with ``factor``, each earlier block trains ``factor`` times slower.
    Each stage gets a fresh ``optimizer`` (a name, class, or instance whose other settings are
    kept); the loss and metrics are the model's compiled ones unless given. ``cache="auto"``
    trains on cached activations where that is the same computation, else the whole model with a
    warning; True raises instead, False never caches, and an ``ActivationCache`` keeps them.

    Example:
        >>> from tlcourse.models.backbones import load_backbone
        >>> base = load_backbone("vgg16", weights=None, input_shape=(32, 32, 3))
        >>> model = keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.Dense(2)])
        >>> model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> images, labels = np.zeros((4, 32, 32, 3)), np.array([0, 1, 0, 1])
        >>> history = fine_tune(model, (images, labels), head_epochs=1, epochs=1, depth=1,
        ...                     verbose=0)
        >>> history.stage, history.fine_tune_start
        (['head', 'fine_tune'], 1)
    """
    head_lr = 10 * base_lr if head_lr is None else head_lr
    template = _optimizer_template(optimizer)
    optimizer_class = template[0]
    if factor is not None:
        # Stage 2 needs per-layer rates: refuse an optimizer they would break before stage 1.
        try:
            layerwise_class(optimizer_class)
        except InvalidParameterError as error:
            raise invalid_parameter(
                "optimizer", "fine_tune", "an optimizer whose step follows its learning rate "
                "when factor is given", optimizer, str(error),
            ) from None  # fmt: skip
    compile_settings = _compile_settings(model, loss, metrics)
    if isinstance(train, tuple):
        names = ("x", "y", "sample_weight")
        data = {**dict(zip(names, train, strict=False)), "batch_size": batch_size}
    else:
        data = {"x": train, "shuffle": False}  # a pipeline shuffles itself
    fit = {"callbacks": callbacks, "verbose": verbose}
    stages = [(HEAD_STAGE, 0, head_epochs), (FINE_TUNE_STAGE, depth, epochs)]
    stages = [stage for stage in stages if stage[2]]
    cached = _cache(model, stages, unit, train_batchnorm, train, val, callbacks, cache, batch_size)

    histories, done = [], 0
    for index, (stage, stage_depth, stage_epochs) in enumerate(stages):
        _freeze(model, stage_depth, unit, train_batchnorm)
        lr, stage_factor = (head_lr, None) if stage == HEAD_STAGE else (base_lr, factor)
        optimizer = _make_optimizer(model, template, lr, stage_factor, unit)
        model.compile(optimizer=optimizer, **compile_settings)
        trainer, arguments = model, {**data, "validation_data": val}
        if cached is not None:
            # The part above the boundary, on the cached activations; it shares model's weights.
            trainer, arguments = cached[index]
            trainer.compile(optimizer=optimizer, **compile_settings)
        history = trainer.fit(initial_epoch=done, epochs=done + stage_epochs, **arguments, **fit)
        histories.append((stage, history))
        done += len(history.epoch)
    if not stages or stages[-1][0] == HEAD_STAGE:
        # Left ready for stage 2 anyway: compiled with the last blocks unfrozen.
        _freeze(model, depth, unit, train_batchnorm)
        optimizer = _make_optimizer(model, template, base_lr, factor, unit)
        model.compile(optimizer=optimizer, **compile_settings)
    settings = {
        "head_lr": head_lr,
        "base_lr": base_lr,
        "factor": factor,
        "depth": depth,
        "unit": unit,
        "optimizer": optimizer_class.__name__,
        "cached": cached is not None,
    }
    return FineTuneHistory(histories, model, settings)


# Callbacks that only read logs or the optimizer work the same on the model above the boundary;
# others may save or inspect the model they are given, which would be the cut one.
SAFE_CALLBACKS = (keras.callbacks.LambdaCallback, keras.callbacks.EarlyStopping,
                  keras.callbacks.ReduceLROnPlateau, keras.callbacks.LearningRateScheduler,
                  keras.callbacks.TerminateOnNaN, keras.callbacks.CSVLogger,
                  keras.callbacks.History, keras.callbacks.ProgbarLogger)  # fmt: skip


def _cache(model, stages, unit, train_batchnorm, train, val, callbacks, cache, batch_size):
    """Per stage ``(model above its boundary, fit arguments)``, or None: train the whole model."""
    if cache is False or not stages:
        return None
    store = cache if isinstance(cache, ActivationCache) else ActivationCache()
    try:
        for callback in callbacks or ():
            if not isinstance(callback, SAFE_CALLBACKS):
                raise NoBoundaryError(
                    f"callback {type(callback).__name__} may save or inspect the model it is "
                    "given, which would be the part above the boundary"
                )
        boundaries = []
        for _, stage_depth, _ in stages:
            _freeze(model, stage_depth, unit, train_batchnorm)
            boundaries.append(find_boundary(model))
        arrays, targets, pipeline_batch, same_order = store.fit_data(boundaries, train)
        if val is not None:
            val_arrays, val_targets, _, _ = store.fit_data(boundaries, val)
    except (NoBoundaryError, CacheMemoryError) as error:
        if cache is True:
            if isinstance(error, CacheMemoryError):
                raise
            raise invalid_parameter(
                "cache", "fine_tune", "'auto' or False for this model and data", cache,
                f"The boundary cache cannot be used: {error}.",
            ) from None  # fmt: skip
        warnings.warn(
            f"fine_tune trains the whole model at every step, without cached activations: {error}",
            BoundaryCacheWarning,
            stacklevel=4,  # the caller of fine_tune (through validate_params)
        )
        return None
    size = pipeline_batch or batch_size or 32
    # fit reshuffles arrays every epoch, and so does a pipeline whose two passes differed.
    seed = None if same_order else int(np.random.randint(2**31 - 1))
    stages = []
    for index, boundary in enumerate(boundaries):
        validation = None
        if val is not None:
            validation = shuffled_batches((val_arrays[index], *val_targets), size, None)
        batches = shuffled_batches((arrays[index], *targets), size, seed)
        stages.append(
            (boundary.upper, {"x": batches, "validation_data": validation, "shuffle": False})
        )
    return stages
