"""The lecture's fine-tuning recipe in one call: train the head, then unfreeze and fine-tune.

1. Freeze the whole backbone (BatchNorm included) and train the new head at a high learning
   rate: a random head sends large, noisy gradients that would damage pretrained features.
2. Unfreeze the last ``depth`` blocks (BatchNorm stays frozen), recompile with a learning rate
   about 10 times lower, optionally decreasing block by block (``factor``), and continue
   training, the epoch count carrying on.

By default (``cache="auto"``) the frozen part runs **once** per image: the head stage trains on
the backbone's output and the fine-tuning stage on the activations at the freeze boundary,
both computed in one pass before stage 1 (:class:`~tlcourse.transfer.boundary.ActivationCache`).
That
is the same computation as running the whole model at every step. Where it is not the same
(augmentation layers before the backbone, dropout in its frozen blocks, data that changes
between passes, callbacks that may save the model...) both stages train the whole model, and
a :class:`~tlcourse.transfer.boundary.BoundaryCacheWarning` says why.
"""

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
    """The joined history of both stages of :func:`fine_tune`, shaped like a Keras History.

    Attributes:
        history: ``{metric: [one value per epoch]}`` over both stages (NaN in a stage that did
            not log the metric).
        epoch: epoch indices, from 0, continuous across stages.
        stage: ``"head"`` or ``"fine_tune"`` per epoch.
        fine_tune_start: index of the first fine-tuning epoch, or None.
        settings: the learning rates, depth and optimizer used; ``cached``: how it trained.
        model: the trained model.
    """

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
        """One row per epoch: ``epoch``, ``stage`` and every logged metric (``attrs`` holds
        ``fine_tune_start``)."""
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
    """Loss, metrics and compile options: the arguments, else what the model was compiled with."""
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


def _make_optimizer(model, optimizer_class, optimizer_settings, lr, factor, unit):
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


@validate_params(
    {
        "model": [MODEL_WITH_BACKBONE],
        "train": [TRAINING_DATA],
        "head_epochs": [EPOCHS],
        "epochs": [EPOCHS],
        "unit": [StrOptions(UNITS)],
        "train_batchnorm": ["boolean"],
        "depth": DEPTH,
        "base_lr": [LEARNING_RATE],
        "factor": [None, Interval(numbers.Real, 1, None, closed="neither")],
        "head_lr": [LEARNING_RATE, None],
        "optimizer": [_OPTIMIZER],
        "batch_size": [None, BATCH_SIZE],
        "callbacks": [None, _CALLBACKS],
        "verbose": [StrOptions(["auto"]), Interval(int, 0, 2)],
        "cache": [StrOptions(["auto"]), "boolean", ActivationCache],
    }
)
def fine_tune(
    model: keras.Model,
    train,
    val=None,
    head_epochs: int = 5,
    epochs: int = 5,
    depth: int | str = 2,
    base_lr: float = 1e-4,
    factor: float | None = None,
    *,
    head_lr: float | None = None,
    loss=None,
    metrics=None,
    optimizer="adam",
    unit: str = "block",
    train_batchnorm: bool = False,
    batch_size: int | None = None,
    callbacks=None,
    verbose="auto",
    cache="auto",
) -> FineTuneHistory:
    """Train the head with the backbone frozen, then fine-tune the last ``depth`` blocks.

    Stage 1 (``head_epochs`` epochs): ``set_trainable(model, 0)`` and train at ``head_lr``
    (default ``10 * base_lr``: a new, random head needs large steps, and the frozen backbone is
    safe from them). Stage 2 (``epochs`` more epochs): ``set_trainable(model, depth)``
    (BatchNorm stays frozen) and train at ``base_lr``; with ``factor``, a layer-wise optimizer
    trains the head at ``base_lr``, the last unfrozen block at ``base_lr / factor``, the one
    before at ``base_lr / factor**2``... Epochs are numbered on from stage 1 (``initial_epoch``),
    so callbacks and logs see one run.

    The loss, metrics and compile options are the model's own (compile it first) or the
    ``loss``/``metrics`` arguments; the model's compiled optimizer is not used: each stage gets
    a fresh ``optimizer`` at its learning rate. The model is left compiled for stage 2.

    Args:
        model: a classifier containing a tlcourse backbone.
        train: a ``tf.data.Dataset`` or ``keras.utils.PyDataset`` of ``(images, labels)``
            batches, or ``(images, labels)`` arrays.
        val: validation data, as ``fit(validation_data=...)`` takes it. Defaults to None.
        head_epochs: epochs of stage 1 (0 skips it). Defaults to 5.
        epochs: epochs of stage 2, after the head epochs (0 skips it). Defaults to 5.
        depth: blocks to unfreeze in stage 2 (an int or ``"all"``). Defaults to 2.
        base_lr: learning rate of stage 2 (of its head, with ``factor``). Defaults to 1e-4.
        factor: ratio between consecutive blocks' learning rates in stage 2 (3 to 10 is usual;
            :func:`tlcourse.layerwise_optimizer`). Defaults to None (one rate).
        head_lr: learning rate of stage 1. Defaults to None (``10 * base_lr``).
        loss, metrics: for both stages. Default to None (the model's compiled ones).
        optimizer: a name, an optimizer class, or an instance whose other settings (momentum,
            weight decay...) are kept; the rate is set per stage. Defaults to ``"adam"``.
        unit: ``"block"`` or ``"layer"``: what ``depth`` and ``factor`` count.
        train_batchnorm: train the unfrozen blocks' BatchNormalization layers. Defaults to False.
        batch_size: examples per batch for arrays (None: ``fit``'s 32); a pipeline keeps its own.
        callbacks, verbose: as ``fit`` takes them, for both stages.
        cache: ``"auto"``: train on cached activations where that is the same computation (see
            the module), else the whole model with a warning saying why; True: raise instead;
            False: the whole model; an :class:`~tlcourse.transfer.boundary.ActivationCache`: as
            ``"auto"``, keeping the activations in it for later calls. Defaults to ``"auto"``.

    Returns:
        A :class:`FineTuneHistory`: ``.history`` like a Keras History over both stages,
        ``.fine_tune_start`` and ``.to_frame()`` with a ``stage`` column.

    Example:
        >>> import keras, numpy as np
        >>> from tlcourse.models.backbones import load_backbone
        >>> from tlcourse.transfer.fine_tune import fine_tune
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
    optimizer_class, optimizer_settings = _optimizer_template(optimizer)
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
        if stage == HEAD_STAGE:
            optimizer = optimizer_class(learning_rate=head_lr, **optimizer_settings)
        else:
            optimizer = _make_optimizer(
                model, optimizer_class, optimizer_settings, base_lr, factor, unit
            )
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
        optimizer = _make_optimizer(
            model, optimizer_class, optimizer_settings, base_lr, factor, unit
        )
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


#: Callbacks that only read logs or the optimizer (a LambdaCallback is not given the model):
#: they work the same on the model above the boundary. Others may save or inspect the model
#: they are given, which would be the cut one.
SAFE_CALLBACKS = (
    keras.callbacks.LambdaCallback,
    keras.callbacks.EarlyStopping,
    keras.callbacks.ReduceLROnPlateau,
    keras.callbacks.LearningRateScheduler,
    keras.callbacks.TerminateOnNaN,
    keras.callbacks.CSVLogger,
    keras.callbacks.History,
    keras.callbacks.ProgbarLogger,
)


def _cache(model, stages, unit, train_batchnorm, train, val, callbacks, cache, batch_size):
    """Per stage ``(model above its boundary, fit arguments)``, or None to train the whole model.

    Both stages' activations come from one pass over the data, before any training.
    """
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
