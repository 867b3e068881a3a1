"""Fine-tuning in the comparison: on cached boundary activations, the same as the whole model."""

import json

import numpy as np
import pytest
from strategy_toys import make_photo_folder

import tlcourse.boundary.memory as memory
from tlcourse.backbones import load_backbone
from tlcourse.boundary import BoundaryCacheWarning
from tlcourse.comparison import Budget, ComparisonContext, FeatureCache, compare
from tlcourse.strategies import get_strategy

BUDGET = Budget(epochs=2, fine_tune_epochs=2, depth=3, batch_size=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"), per_class=10)


def _run(folder, cache: bool, strategy="fine_tuning"):
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET, boundary_cache=cache)
    data = context.dataset(seed=0)
    return get_strategy(strategy).run(context, data, seed=0), data


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fine_tuning", "fine_tuning_dlr"])
def test_fine_tuning_on_cached_activations_equals_the_whole_model(folder, strategy):
    # Same seeds, same batches in the same order (they depend on the seed only): the
    # unfrozen blocks and the head end with the same weights, and the test accuracy matches.
    cached, _ = _run(folder, True, strategy)
    looped, _ = _run(folder, False, strategy)
    for a, b in zip(cached.model.weights, looped.model.weights, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=a.path)
    assert cached.test_accuracy == looped.test_accuracy
    np.testing.assert_allclose(cached.test_probabilities, looped.test_probabilities, atol=1e-5)
    np.testing.assert_allclose(cached.history["loss"], looped.history["loss"], rtol=1e-4)
    assert cached.trainable_params == looped.trainable_params
    assert cached.fine_tune_start == looped.fine_tune_start == BUDGET.epochs


@pytest.mark.slow
def test_boundary_activations_never_come_from_fine_tuned_weights(folder):
    # Fine-tune on a small split first, then ask for a larger one: its new images' activations
    # (and features) must come from the pretrained weights, not the fine-tuned backbone.
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET)
    small = context.dataset(seed=0, train_per_class=2)
    result = get_strategy("fine_tuning").run(context, small, seed=0)
    fresh = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    tuned = result.model.get_layer("efficientnet_lite0")
    assert any(not np.array_equal(a, b) for a, b in
               zip(tuned.get_weights(), fresh.get_weights(), strict=True))  # fmt: skip
    full = context.dataset(seed=0)
    cache, _ = context.features(full, "block_13_add")
    expected = FeatureCache(fresh, layers=["block_13_add"])
    expected.add(full)
    for split in ("train", "val", "test"):
        for layer in (None, "block_13_add"):
            np.testing.assert_allclose(cache.split(full, split, layer)[0],
                                       expected.split(full, split, layer)[0],
                                       rtol=1e-4, atol=1e-5)  # fmt: skip


@pytest.mark.slow
def test_a_cache_that_would_not_fit_trains_in_the_loop_and_says_why(folder, monkeypatch):
    # The features fit (3 classes x 10 images x 1280 floats); the boundary activations do not.
    monkeypatch.setattr(memory, "memory_limit", lambda: (200_000, 400_000))
    context = ComparisonContext(str(folder), image_size=64,
                                budget=Budget(epochs=1, fine_tune_epochs=1, depth=3))  # fmt: skip
    data = context.dataset(seed=0)
    context.features(data)
    assert context.features(data)[0].layers == ()  # dropped, not half-kept
    with pytest.warns(BoundaryCacheWarning, match=r"would need .* the limit is 200.0 KB"):
        result = get_strategy("fine_tuning").run(context, data, seed=0)
    assert 0 <= result.test_accuracy <= 1


@pytest.mark.slow
def test_a_depth_sweep_shares_one_pass_and_one_head(folder, monkeypatch):
    passes = []
    add = FeatureCache.add

    def counted(self, data):
        passes.append(tuple(k for k in (None, *self.layers) if self.missing(data, k)))
        return add(self, data)

    monkeypatch.setattr(FeatureCache, "add", counted)
    budgets = [Budget(epochs=1, fine_tune_epochs=1, depth=d, batch_size=8) for d in (1, 3)]
    table = compare(str(folder), strategies="fine_tuning", budget=budgets, seeds=0,
                    image_size=32, out=None, progress=None)  # fmt: skip
    assert table["depth"].tolist() == [1, 3]
    assert [json.loads(b)["depth"] for b in table["budget"]] == [1, 3]
    # One pass: the features and both boundaries together.
    assert passes == [(None, "block_15_project_BN", "block_13_add")]
    heads = [json.loads(h)["loss"][0] for h in table["history"]]
    assert heads[0] == heads[1]  # the same shared head (its first epoch)


@pytest.mark.slow
def test_a_run_on_the_reused_compiled_model_gives_the_numbers_of_a_run_alone(folder):
    # Fine-tuning reuses the compiled model of the first run of its kind (one tracing per
    # comparison); each run must still get exactly what it would get on its own model.
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET)
    for seed in (0, 1):
        after = get_strategy("fine_tuning_dlr").run(context, context.dataset(seed=seed), seed)
    alone_context = ComparisonContext(str(folder), image_size=32, budget=BUDGET)
    alone = get_strategy("fine_tuning_dlr").run(alone_context, alone_context.dataset(seed=1), 1)
    for a, b in zip(after.model.weights, alone.model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert after.history == alone.history and after.test_accuracy == alone.test_accuracy
