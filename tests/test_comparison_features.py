"""Feature caching: features always from the pristine pretrained weights."""

import numpy as np
import pytest
from strategy_toys import make_photo_folder

from tlcourse.backbones import load_backbone
from tlcourse.comparison import FAST_BUDGET, BackboneChangedError, ComparisonContext, FeatureCache
from tlcourse.errors import InvalidParameterError
from tlcourse.strategies import get_strategy


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"))


def _images(data):
    return np.concatenate([data.as_arrays(s)[0] for s in ("train", "val", "test")])


@pytest.mark.slow
def test_features_added_after_fine_tuning_come_from_the_pretrained_weights(folder):
    # Bug: the cache shared the backbone that fine-tuning trains in place, so with a
    # train_per_class sweep later images got features from the fine-tuned weights.
    context = ComparisonContext(str(folder), image_size=32, budget=FAST_BUDGET)
    small = context.dataset(seed=0, train_per_class=2)
    result = get_strategy("fine_tuning").run(context, small, seed=0)
    fresh = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    tuned = result.model.get_layer("efficientnet_lite0")
    assert any(not np.array_equal(a, b) for a, b in
               zip(tuned.get_weights(), fresh.get_weights(), strict=True))  # fmt: skip
    full = context.dataset(seed=0)
    cache, _ = context.features(full)
    assert len(cache) == 24
    got = np.concatenate([cache.split(full, s)[0] for s in ("train", "val", "test")])
    expected = fresh.predict(_images(full), verbose=0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    # And a strategy asking for the backbone again gets the pretrained weights back.
    restored = context.pretrained_backbone()
    for a, b in zip(restored.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_cache_refuses_features_from_a_backbone_trained_since(folder):
    context = ComparisonContext(str(folder), image_size=32)
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    cache = FeatureCache(base)
    cache.add(context.dataset(seed=0, train_per_class=2))
    cache.add(context.dataset(seed=0, train_per_class=2))  # nothing new: nothing computed
    base.set_weights([w + 1 for w in base.get_weights()])
    with pytest.raises(BackboneChangedError, match="fine-tuned"):
        cache.add(context.dataset(seed=0))


def test_split_and_dataset_check_their_arguments(folder):
    context = ComparisonContext(str(folder), image_size=32)
    data = context.dataset(seed=0)
    cache = FeatureCache(load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3)))
    with pytest.raises(InvalidParameterError, match="were added first"):
        cache.split(data, "train")
    assert len(cache.missing(data)) == 24
    cache.add(data)
    features, labels = cache.split(data, "test")
    assert features.shape == (len(labels), 1280) and not cache.missing(data)
    with pytest.raises(InvalidParameterError, match="'split' parameter of FeatureCache.dataset"):
        cache.dataset(data, "validation")
    with pytest.raises(InvalidParameterError, match="'batch_size' parameter of FeatureCache"):
        FeatureCache(cache.backbone, batch_size=0)
    with pytest.raises(InvalidParameterError, match="'backbone' parameter of FeatureCache"):
        FeatureCache("efficientnet_lite0")
