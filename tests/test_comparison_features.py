"""The comparison's activation cache: features always from the pristine pretrained weights."""

import numpy as np
import pytest
from strategy_toys import make_photo_folder

from tlcourse.comparison import FAST_BUDGET, ComparisonContext
from tlcourse.comparison.strategies import get_strategy
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.boundary import ActivationCache


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"))


def _images(data):
    return np.concatenate([data.as_arrays(s)[0] for s in ("train", "val", "test")])


@pytest.mark.slow
def test_features_added_after_fine_tuning_come_from_the_pretrained_weights(folder):
    context = ComparisonContext(str(folder), image_size=32, budget=FAST_BUDGET)
    small = context.dataset(seed=0, train_per_class=2)
    get_strategy("fine_tuning").run(context, small, seed=0)
    full = context.dataset(seed=0)
    cache, _ = context.features(full)
    got = np.concatenate([cache.split(full, s)[0] for s in ("train", "val", "test")])
    fresh = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    np.testing.assert_allclose(got, fresh.predict(_images(full), verbose=0), rtol=1e-4, atol=1e-5)


def test_a_cache_keeps_features_per_weights(folder):
    context = ComparisonContext(str(folder), image_size=32)
    data = context.dataset(seed=0)
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(32, 32, 3))
    cache = ActivationCache(base)
    cache.add(data)
    held = cache.nbytes
    features, labels = cache.split(data, "test")
    assert features.shape == (len(labels), 1280) and cache.nbytes == held
    # Trained since: other weights, other features (never the old ones).
    base.set_weights([w + 0.01 for w in base.get_weights()])
    changed, _ = cache.split(data, "test")
    assert cache.nbytes > held and not np.array_equal(changed, features)
    np.testing.assert_allclose(changed, base.predict(data.as_arrays("test")[0], verbose=0),
                               rtol=1e-4, atol=1e-5)  # fmt: skip
