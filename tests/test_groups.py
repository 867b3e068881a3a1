"""variable_groups: the one rule that sorts a transfer model's layers into preprocessing, blocks
and head, and the freezing, learning-rate and summary tables that all follow it.

A tiny functional model named "vgg16" stands in for the backbone (the registry recognises a
backbone by its name and VGG16's block rules, ``blockN_...``): it has what no real backbone
here has, a layer *with trainable weights* before the first block, and builds in milliseconds.
"""

import doctest

import keras
import numpy as np
import pytest

import tlcourse.transfer.groups as groups_module
from tlcourse.errors import InvalidParameterError
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.freezing import set_trainable, trainable_summary
from tlcourse.transfer.groups import VariableGroup, require_backbone, variable_groups
from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates


def _fake_backbone():
    """input -> learned preprocessing -> block1 (conv, relu) -> block2 -> avg_pool, predictions."""
    inputs = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Dense(3, name="learned_preprocessing")(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv1")(x)
    x = keras.layers.ReLU(name="relu")(x)  # matches no rule: the block before it
    x = keras.layers.Conv2D(4, 3, padding="same", name="block2_conv1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dense(5, name="predictions")(x)
    return keras.Model(inputs, x, name="vgg16")


def _sequential():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.RandomFlip(name="augment"),
            _fake_backbone(),
            keras.layers.Dense(2, name="classifier"),
        ]
    )


def _functional():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.RandomFlip(name="augment")(inputs)
    x = _fake_backbone()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="classifier")(x))


def _layout(model):
    return [(g.name, g.kind, [layer.name for layer in g.layers]) for g in variable_groups(model)]


def test_the_backbone_alone():
    assert _layout(_fake_backbone()) == [
        ("preprocessing", "preprocessing", ["image", "learned_preprocessing"]),
        ("block1", "block", ["block1_conv1", "relu"]),
        ("block2", "block", ["block2_conv1"]),
        ("head", "head", ["avg_pool", "predictions"]),  # the backbone's own pooling/classifier
    ]


@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_classifier_layers_outside_the_backbone_are_head(build):
    model = build()
    layout = _layout(model)
    assert [name for name, _, _ in layout] == ["preprocessing", "block1", "block2", "head"]
    head = [name for name in layout[-1][2] if not name.startswith("input")]
    # Wherever they sit: augmentation before the backbone, the new classifier after it.
    assert head == ["augment", "avg_pool", "predictions", "classifier"]


@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_every_weight_is_in_exactly_one_group(build):
    model = build()
    found = [id(v) for group in variable_groups(model) for v in group.variables]
    assert len(found) == len(set(found)) and set(found) == {id(w) for w in model.weights}


def test_a_saved_and_reloaded_model_has_the_same_groups(tmp_path):
    model = _functional()
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert _layout(loaded) == _layout(model)

    # Variable paths may change on loading; which group owns how many parameters does not.
    def sizes(m):
        return [sum(int(np.prod(v.shape)) for v in g.variables) for g in variable_groups(m)]

    assert sizes(loaded) == sizes(model)


def test_a_real_backbone_and_the_group_record():
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    groups = variable_groups(keras.Sequential([base, keras.layers.Dense(3, name="classifier")]))
    assert groups[0].name == "preprocessing" and groups[0].variables == []
    assert [g.name for g in groups[1:3]] == ["stem", "block_0"] and groups[-1].name == "head"
    assert isinstance(groups[1], VariableGroup) and "kind='block'" in repr(groups[1])


# --- the consumers follow the rule --------------------------------------------------------------


def _training(model):
    trainable = {id(w) for w in model.trainable_weights}
    return {g.name: any(id(v) in trainable for v in g.variables) for g in variable_groups(model)}


@pytest.mark.parametrize(
    ("depth", "preprocessing"), [(0, False), (1, False), (2, True), ("all", True)]
)
def test_preprocessing_trains_only_with_every_block(depth, preprocessing):
    model = _sequential()
    set_trainable(model, depth)
    training = _training(model)
    assert training["preprocessing"] is preprocessing and training["head"]
    assert training["block1"] is (depth in (2, "all"))


def test_preprocessing_learns_at_the_first_blocks_rate():
    model = _functional()
    set_trainable(model, "all")
    model.compile(layerwise_optimizer(model, 1.0, factor=10), "mse")
    rates = learning_rates(model, by="block")
    assert dict(zip(rates.block, rates.multiplier, strict=True)) == pytest.approx(
        {"preprocessing": 0.01, "block1": 0.01, "block2": 0.1, "head": 1.0}
    )
    model.compile(layerwise_optimizer(model, 1.0, factor=10, unit="layer"), "mse")
    rates = learning_rates(model, by="layer")
    assert rates.layer.tolist()[:3] == ["learned_preprocessing", "block1_conv1", "block2_conv1"]
    np.testing.assert_allclose(rates.multiplier[:3], [1e-3, 1e-2, 1e-1])


def test_the_tables_agree_on_preprocessing():
    # Regression (issue 8): trainable_summary called the layers before the first block
    # "preprocessing" while learning_rates put them in the first block ("block1").
    model = _sequential()
    set_trainable(model, "all")
    model.compile(keras.optimizers.SGD(0.1), "mse")
    summary = trainable_summary(model)
    rates = learning_rates(model, include_frozen=True)
    assert summary.index.tolist() == ["preprocessing", "block1", "block2", "head"]
    assert set(rates.loc[rates.layer == "learned_preprocessing", "block"]) == {"preprocessing"}
    per_block = rates.groupby("block", sort=False)["parameters"].sum()
    assert per_block.to_dict() == summary["total_params"].to_dict()


def test_bad_models_name_the_function():
    with pytest.raises(
        InvalidParameterError,
        match=r"The 'model' parameter of variable_groups must be a keras.Model containing a "
        r"tlcourse backbone\. Got 'vgg16' instead",
    ):
        variable_groups("vgg16")
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="plain")
    with pytest.raises(
        InvalidParameterError, match=r"Got <Sequential name=plain.*None of the layers"
    ):
        require_backbone(plain, "my_function")
    with pytest.raises(InvalidParameterError, match="parameter of my_function"):
        require_backbone(plain, "my_function")


def test_docstring_examples():
    result = doctest.testmod(groups_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
