"""The questions where students write Keras: a correct answer written differently from the
master's solution scores full points, a wrong one does not (issue 19, item 1).

Each answer is a real Keras object built here (a model, a compiled model, a ``History``, a
callback), exported as the grading worker exports a student's answers and checked against the
notebook's own autograder, without running the notebook. ``KERAS_QUESTIONS`` lists these
questions; ``test_notebooks.py`` checks they are at least 10 and at least 35% of the points.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from otter_cells import question_score

import tlcourse as tl
from tlcourse.grading import assign_notebook

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]

MASTERS_DIR = Path(__file__).resolve().parents[1] / "notebooks" / "masters"
# The questions in which the student builds, freezes, compiles or trains a model in plain Keras.
KERAS_QUESTIONS = {
    "01_why_transfer_learning": ["q3"],
    "02_training_from_scratch": ["q1", "q2", "q3"],
    "03_feature_extraction": ["q1", "q2", "q5", "q6"],
    "04_fine_tuning": ["q2", "q3", "q7"],
    "05_comparison": ["q3"],
}
SIZE = 32  # the smallest input EfficientNet-Lite0 takes: cheap models, the same checks
COMPILE = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


@pytest.fixture(scope="module")
def autograders(tmp_path_factory, converted_cache):
    """``autograders(name)``: the notebook's autograder zip (``otter assign``, once)."""
    previous = os.environ.get("TLCOURSE_CACHE_DIR")
    os.environ["TLCOURSE_CACHE_DIR"] = str(converted_cache)
    root, cache = tmp_path_factory.mktemp("keras-questions"), {}

    def get(name: str) -> Path:
        if name not in cache:
            cache[name] = assign_notebook(
                MASTERS_DIR / f"{name}.ipynb", root / "dist", root / "student"
            ).autograder
        return cache[name]

    yield get
    if previous is None:
        os.environ.pop("TLCOURSE_CACHE_DIR", None)
    else:
        os.environ["TLCOURSE_CACHE_DIR"] = previous


@pytest.fixture
def score(autograders, tmp_path):
    """``score(name, question, namespace)``: the points the answers in ``namespace`` earn."""
    calls = iter(range(1000))

    def run(name: str, question: str, namespace: dict) -> float:
        folder = tmp_path / f"call{next(calls)}"
        return question_score(autograders(name), question, namespace, folder)

    return run


def _data(size=SIZE):
    """The names a question reads on ``data``, as the grader exports them."""
    photos = tl.load_dataset("photos", image_size=size, seed=0)
    return photos, SimpleNamespace(num_classes=photos.num_classes, files=dict(photos.files))


def _lite0(size=SIZE, weights="imagenet"):
    return tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3), weights=weights)


def _fit(model, epochs, initial_epoch=0, validation=True, callbacks=(), n=98, size=SIZE):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (n, size, size, 3)).astype("float32"), rng.integers(0, 6, n)
    extra = {"validation_data": (x[:8], y[:8])} if validation else {}
    return model.fit(
        x,
        y,
        batch_size=32,
        epochs=epochs,
        initial_epoch=initial_epoch,
        callbacks=list(callbacks),
        verbose=0,
        **extra,
    )


def test_every_listed_question_exists_in_its_master():
    import json

    for name, questions in KERAS_QUESTIONS.items():
        text = json.loads((MASTERS_DIR / f"{name}.ipynb").read_text(encoding="utf-8"))
        raws = ["".join(c["source"]) for c in text["cells"] if c["cell_type"] == "raw"]
        for question in questions:
            assert any(r.startswith(f"# BEGIN QUESTION\nname: {question}\n") for r in raws)


# --- 01: a frozen base and a new head -------------------------------------------------------


def test_01_q3_frozen_classifier(score):
    _, data = _data()

    def model(frozen=True, classes=6):
        base = _lite0(224)
        base.trainable = not frozen
        return keras.Sequential(
            [
                keras.Input((224, 224, 3)),
                base,
                keras.layers.Dropout(0.2),
                keras.layers.Dense(classes),
                keras.layers.Softmax(),
            ]
        )

    assert score("01_why_transfer_learning", "q3", {"model": model(), "data": data}) == 3.0
    assert score("01_why_transfer_learning", "q3", {"model": model(False), "data": data}) <= 2.0
    assert score("01_why_transfer_learning", "q3", {"model": model(classes=10), "data": data}) == 0


# --- 02: the small CNN, compiled and trained ------------------------------------------------


def _cnn(filters=(16, 32, 64, 128), flatten=False):
    """The spec of 02 q1, written with the functional API and separate activation layers."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.RandomFlip("horizontal")(keras.layers.Rescaling(1.0 / 255)(inputs))
    for f in filters:
        x = keras.layers.Conv2D(f, (3, 3), padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.MaxPooling2D(2)(keras.layers.Activation("relu")(x))
    x = keras.layers.Flatten()(x) if flatten else keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(6)(keras.layers.Dropout(0.3)(x))
    return keras.Model(inputs, keras.layers.Activation("softmax")(x))


def test_02_q1_small_cnn(score):
    _, data = _data()

    def points(model):
        return score(
            "02_training_from_scratch", "q1", {"model": model, "IMAGE_SIZE": SIZE, "data": data}
        )

    assert points(_cnn()) == 3.0
    assert points(_cnn(flatten=True)) == 2.25  # no global average pooling
    assert points(_cnn(filters=(32, 64, 128, 256))) == 2.25  # other filters


def test_02_q2_compile(score):
    def compiled(optimizer, loss):
        model = _cnn()
        model.compile(
            optimizer=optimizer, loss=loss, metrics=[keras.metrics.SparseCategoricalAccuracy()]
        )
        return score("02_training_from_scratch", "q2", {"model": model})

    sparse = keras.losses.SparseCategoricalCrossentropy()
    assert compiled("adam", sparse) == 3.0  # Adam's default rate is 1e-3
    assert compiled(keras.optimizers.SGD(1e-3), sparse) == 2.0
    assert compiled(keras.optimizers.Adam(1e-2), sparse) == 2.0
    assert compiled(keras.optimizers.Adam(1e-3), "categorical_crossentropy") == 2.0


def test_02_q3_fit_with_validation_data(score):
    photos, _ = _data()
    model = _cnn()
    model.compile(optimizer="adam", **COMPILE)

    def points(history, epochs=2):
        return score("02_training_from_scratch", "q3", {"history": history, "EPOCHS": epochs})

    assert points(_fit(model, 2)) == 3.0  # arrays with a validation tuple: the same steps
    assert points(_fit(model, 2, validation=False)) == 2.0
    assert points(_fit(model, 2, n=36)) == 1.5  # trained on the 36 validation images
    real = model.fit(photos.train, validation_data=photos.val, epochs=1, verbose=0)  # tf.data
    assert points(real, epochs=1) == 3.0


# --- 03: features, head, the model put back together, keras.applications ---------------------


def test_03_q1_features(score):
    photos, _ = _data()
    base = _lite0()
    splits = {k: photos.as_arrays(k)[0] for k in ("train", "val", "test")}

    def points(transform=lambda x: x, model=base):
        features = {
            f"{k}_features": np.concatenate(
                [
                    np.asarray(model(transform(x[i : i + 16]), training=False))
                    for i in range(0, len(x), 16)
                ]
            )
            for k, x in splits.items()
        }
        return score(
            "03_feature_extraction", "q1", {**features, "NUM_FEATURES": 1280, "IMAGE_SIZE": SIZE}
        )

    assert points() == 3.0  # the base called in batches instead of base.predict
    assert points(lambda x: x / 255.0) == 1.5  # preprocessed twice
    assert points(model=_lite0(weights=None)) == 1.5  # not the pretrained weights


def _head(softmax_layer=True, rate=1e-3):
    inputs = keras.Input((1280,))
    x = keras.layers.Dense(6)(keras.layers.Dropout(0.2)(inputs))
    head = keras.Model(inputs, keras.layers.Softmax()(x) if softmax_layer else x)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return head


def test_03_q2_head(score):
    _, data = _data()

    def points(head):
        return score(
            "03_feature_extraction",
            "q2",
            {"head": head, "NUM_FEATURES": 1280, "data": data, "HEAD_LR": 1e-3},
        )

    assert points(_head()) == 3.0
    assert points(_head(softmax_layer=False)) == 2.25  # raw scores, not probabilities
    assert points(_head(rate=1e-2)) == 2.0


def test_03_q5_base_and_head_together(score):
    _, data = _data()
    head = _head()

    def points(trainable=False, rescale=False):
        base = _lite0()
        base.trainable = trainable
        layers = [keras.Input((SIZE, SIZE, 3))]
        layers += [keras.layers.Rescaling(1 / 255)] if rescale else []
        model = keras.Sequential([*layers, base, head])
        return score(
            "03_feature_extraction",
            "q5",
            {"model": model, "IMAGE_SIZE": SIZE, "data": data, "head": head},
        )

    assert points() == 3.0  # Sequential instead of the functional API
    assert points(trainable=True) == 2.0
    assert points(rescale=True) == 0.5  # preprocessing twice


def test_03_q6_keras_applications_preprocessing(score):
    photos, _ = _data()
    images = photos.as_arrays("test")[0]

    def points(mobilenet, prepared):
        return score(
            "03_feature_extraction",
            "q6",
            {
                "mobilenet": mobilenet,
                "prepared": prepared,
                "test_images": images,
                "IMAGE_SIZE": SIZE,
            },
        )

    mobilenet = keras.applications.mobilenet_v2.MobileNetV2(
        input_shape=(SIZE, SIZE, 3), include_top=False, weights=None, pooling="avg"
    )
    assert points(mobilenet, images / 127.5 - 1.0) == 3.0  # by hand instead of preprocess_input
    caffe = keras.applications.resnet50.preprocess_input(images.copy())
    assert points(mobilenet, caffe) == 1.75
    with_top = keras.applications.MobileNetV2(input_shape=(SIZE, SIZE, 3), weights=None)
    assert points(with_top, images / 127.5 - 1.0) == 1.75


# --- 04: unfreezing by hand, continuing, early stopping --------------------------------------


def _classifier():
    base = _lite0()
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = base(keras.layers.RandomFlip("horizontal")(inputs), training=False)
    outputs = keras.layers.Dense(6, activation="softmax")(keras.layers.Dropout(0.2)(x))
    return keras.Model(inputs, outputs), base


def test_04_q2_unfreeze_by_hand(score):
    _, data = _data()

    def points(batchnorm_frozen=True, recompile=True, rate=1e-4):
        model, base = _classifier()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), **COMPILE)
        if not recompile:
            model.compile(optimizer=keras.optimizers.Adam(rate), **COMPILE)
        start = next(i for i, layer in enumerate(base.layers) if layer.name.startswith("block_14"))
        base.trainable = True
        for layer in base.layers[:start]:  # a slice instead of the names
            layer.trainable = False
        for layer in base.layers:
            if batchnorm_frozen and type(layer).__name__ == "BatchNormalization":
                layer.trainable = False
        if recompile:
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), **COMPILE)
        return score(
            "04_fine_tuning",
            "q2",
            {"model": model, "FINE_TUNE_LR": rate, "HEAD_LR": 1e-3, "data": data},
        )

    assert points() == 3.0
    assert points(batchnorm_frozen=False) == 1.25
    assert points(recompile=False) == 2.25  # flags changed after compile
    assert points(rate=1e-3) == 2.25  # not ten times lower


def test_04_q3_continue_with_initial_epoch(score):
    model, _ = _classifier()
    model.compile(optimizer="adam", **COMPILE)

    def points(history):
        return score(
            "04_fine_tuning",
            "q3",
            {"history_fine": history, "HEAD_EPOCHS": 2, "FINE_TUNE_EPOCHS": 1},
        )

    assert points(_fit(model, 3, initial_epoch=2)) == 3.0
    assert points(_fit(model, 1)) == 0.5  # numbered from 0 again
    assert points(_fit(model, 3, initial_epoch=2, validation=False)) == 1.5


def test_04_q7_early_stopping(score):
    model, _ = _classifier()
    model.compile(optimizer="adam", **COMPILE)

    def points(early, used=True):
        history = _fit(model, 4, initial_epoch=2, callbacks=[early] if used else [])
        return score(
            "04_fine_tuning",
            "q7",
            {"early": early, "history_all": history, "HEAD_EPOCHS": 2, "MAX_EPOCHS": 2},
        )

    callback = keras.callbacks.EarlyStopping
    assert points(callback("val_loss", patience=3, restore_best_weights=True)) == 3.0
    assert (
        points(callback(monitor="val_loss", patience=3, restore_best_weights=True), used=False)
        == 1.5
    )
    assert points(callback(monitor="val_accuracy", patience=3, restore_best_weights=True)) < 3
    assert points(callback(monitor="val_loss", patience=3)) == 2.0  # best weights not restored


# --- 05: the same-architecture control ------------------------------------------------------


def test_05_q3_same_architecture_control(score):
    budget = tl.FAST_BUDGET  # what the tests expect under the grader's fast mode

    def points(weights=None, batchnorm=True, epochs=budget.epochs, fit=False, momentum=0.9):
        base = _lite0(weights=weights)
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable, layer.momentum = batchnorm, momentum
        control = keras.Sequential(
            [
                keras.Input((SIZE, SIZE, 3)),
                keras.layers.RandomFlip("horizontal"),
                base,
                keras.layers.Dropout(0.2),
                keras.layers.Dense(6),
                keras.layers.Softmax(),
            ]
        )
        control.compile(
            optimizer=keras.optimizers.Adam(budget.head_lr),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=["accuracy"],
        )
        # What the tests read of the history (a real fit once: training this network is slow).
        history = (
            _fit(control, epochs)
            if fit
            else SimpleNamespace(
                history={"loss": [1.0] * epochs, "val_loss": [1.0] * epochs},
                epoch=list(range(epochs)),
                params={"epochs": epochs, "steps": 4},
            )
        )
        namespace = {"control": control, "control_history": history, "IMAGE_SIZE": SIZE}
        return score("05_comparison", "q3", namespace)

    assert points(fit=True) == 3.0
    assert points(weights="imagenet") == 2.0
    assert points(batchnorm=False) == 2.0
    assert points(epochs=budget.epochs + 1) == 1.5
    assert points(momentum=0.99) == 2.0  # Keras's default: predictions from stale statistics
