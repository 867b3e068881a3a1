"""Grad-CAM side by side: one row per photo, one column per model, prediction and confidence."""

import keras
import numpy as np
import pytest

from tlcourse.errors import InvalidParameterError
from tlcourse.models.classifiers import small_cnn
from tlcourse.plots import plot_grad_cam


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {"scratch": small_cnn(3, image_size=32), "fine_tuning": small_cnn(3, image_size=32)}


@pytest.fixture(scope="module")
def photos():
    return np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3))


def test_one_row_per_photo_one_column_per_model_with_prediction(models, photos):
    fig = plot_grad_cam(models, photos, labels=[0, 1], class_names=["cat", "dog", "fox"])
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_title() for ax in axes[0]] == ["photo", "From scratch", "Fine-tuning"]
    assert axes[1, 0].get_xlabel() == "true: dog"
    for row, label in enumerate([0, 1]):
        for column, model in enumerate(models.values(), 1):
            probabilities = model.predict(photos[row : row + 1], verbose=0)[0]
            name = ["cat", "dog", "fox"][probabilities.argmax()]
            mark = "✓" if probabilities.argmax() == label else "✗"
            text = f"{mark} {name} {probabilities.max():.0%}"
            assert axes[row, column].get_xlabel() == text
            assert len(axes[row, column].images) == 2  # the photo, the heat over it


def test_a_single_model_without_labels_and_bad_arguments(models, photos):
    fig = plot_grad_cam(models["scratch"], photos[0])
    assert [ax.get_title() for ax in fig.axes] == ["photo", "model"]
    assert fig.axes[1].get_xlabel().startswith("class ")
    with pytest.raises(InvalidParameterError, match="'models' parameter of plot_grad_cam"):
        plot_grad_cam([models["scratch"]], photos)
    with pytest.raises(InvalidParameterError, match="'labels' parameter"):
        plot_grad_cam(models, photos, labels=[0])
    with pytest.raises(InvalidParameterError, match="'alpha' parameter"):
        plot_grad_cam(models, photos, alpha=0)
    with pytest.raises(InvalidParameterError, match="'layer' parameter"):
        plot_grad_cam(models, photos, layer="conv_3")
    with pytest.raises(InvalidParameterError, match="'images' parameter of grad_cam"):
        plot_grad_cam(models, np.zeros((1, 64, 64, 3)))
