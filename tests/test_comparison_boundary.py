"""Fine-tuning in the comparison: tl.fine_tune on cached activations, as the whole model."""

import json

import numpy as np
import pytest
from strategy_toys import make_photo_folder

import tlcourse.transfer.boundary.cache as cache_module
from tlcourse.comparison import Budget, ComparisonContext, compare
from tlcourse.comparison.strategies import get_strategy
from tlcourse.models.backbones import load_backbone
from tlcourse.transfer.boundary import ActivationCache, BoundaryCacheWarning

BUDGET = Budget(epochs=2, fine_tune_epochs=2, depth=3, batch_size=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("own_photos"), per_class=10)


def _run(folder, cache: bool, strategy="fine_tuning", seed=0):
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET, cache=cache)
    return get_strategy(strategy).run(context, context.dataset(seed=seed), seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["fine_tuning", "fine_tuning_dlr"])
def test_fine_tuning_on_cached_activations_matches_the_whole_model(folder, strategy):
    # Same recipe, same seed: the cached run trains the same function of the same data (the
    # batches come in another order, so the numbers are close, not equal).
    cached, looped = _run(folder, True, strategy), _run(folder, False, strategy)
    assert (cached.trained_on, looped.trained_on) == ("cached activations", "whole model")
    assert cached.trainable_params == looped.trainable_params
    assert cached.fine_tune_start == looped.fine_tune_start == BUDGET.epochs
    assert len(cached.history["loss"]) == len(looped.history["loss"]) == 4
    assert cached.test_probabilities.shape == looped.test_probabilities.shape


@pytest.mark.slow
def test_fine_tuning_continues_from_the_feature_extraction_run_of_its_split(folder, monkeypatch):
    # Stage 1 of fine-tuning is feature extraction: trained once per split, charged to both.
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET)
    fits = []
    original = context.trained_head
    monkeypatch.setattr(context, "trained_head", lambda *a: fits.append(a) or original(*a))
    data = context.dataset(seed=0)
    extraction = get_strategy("feature_extraction").run(context, data, seed=0)
    head_weights = [w.copy() for w in extraction.model.get_weights()]
    tuned = get_strategy("fine_tuning").run(context, context.dataset(seed=0), seed=0)
    head_cost = context.trained_head(data, 0)[3]
    assert len(fits) == 3
    assert {k: v[: BUDGET.epochs] for k, v in tuned.history.items()} == extraction.history
    assert tuned.fine_tune_start == BUDGET.epochs and len(tuned.history["loss"]) == 4
    assert tuned.cost.wall_seconds > head_cost.wall_seconds
    # The fine-tuned copy leaves the feature-extraction head as it was trained.
    for before, after in zip(head_weights, extraction.model.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)
    other = get_strategy("fine_tuning").run(context, context.dataset(seed=1), seed=1)
    assert other.history["loss"][: BUDGET.epochs] != extraction.history["loss"]


@pytest.mark.slow
def test_the_same_seed_gives_the_same_run(folder):
    first, second = _run(folder, True, seed=1), _run(folder, True, seed=1)
    assert first.history == second.history
    np.testing.assert_array_equal(first.test_probabilities, second.test_probabilities)


@pytest.mark.slow
def test_activations_never_come_from_fine_tuned_weights(folder):
    # Fine-tune on a small split first, then ask for a larger one: its new images' activations
    # must come from the pretrained weights, not the fine-tuned backbone.
    context = ComparisonContext(str(folder), image_size=32, budget=BUDGET)
    small = context.dataset(seed=0, train_per_class=2)
    result = get_strategy("fine_tuning").run(context, small, seed=0)
    fresh = load_backbone("efficientnet_lite0", input_shape=(32, 32, 3))
    tuned = result.model.get_layer("efficientnet_lite0")
    assert any(not np.array_equal(a, b) for a, b in
               zip(tuned.get_weights(), fresh.get_weights(), strict=True))  # fmt: skip
    full = context.dataset(seed=0)
    cache, _ = context.features(full)
    expected = ActivationCache(fresh)
    for split in ("train", "val", "test"):
        for depth in (0, 3):
            np.testing.assert_allclose(cache.split(full, split, depth)[0],
                                       expected.split(full, split, depth)[0],
                                       rtol=1e-4, atol=1e-5)  # fmt: skip
    restored = context.pretrained_backbone()
    for a, b in zip(restored.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_cache_that_would_not_fit_trains_in_the_loop_and_says_why(folder, monkeypatch):
    # The features fit (3 classes x 10 images x 1280 floats); the boundary activations do not.
    monkeypatch.setattr(cache_module, "memory_limit", lambda: (200_000, 400_000))
    context = ComparisonContext(str(folder), image_size=64,
                                budget=Budget(epochs=1, fine_tune_epochs=1, depth=3))  # fmt: skip
    data = context.dataset(seed=0)
    with pytest.warns(BoundaryCacheWarning, match=r"would need .* the limit is 200.0 KB"):
        result = get_strategy("fine_tuning").run(context, data, seed=0)
    assert result.trained_on == "whole model" and 0 <= result.test_accuracy <= 1


@pytest.mark.slow
def test_a_depth_sweep_shares_one_pass(folder, monkeypatch):
    passes = []
    real = cache_module.lower_model
    monkeypatch.setattr(cache_module, "lower_model",
                        lambda *b: passes.append([x.layer for x in b]) or real(*b))  # fmt: skip
    budgets = [Budget(epochs=1, fine_tune_epochs=1, depth=d, batch_size=8) for d in (1, 3)]
    table = compare(str(folder), strategies="fine_tuning", budget=budgets, seeds=0,
                    image_size=32, out=None, progress=None, deployment=False)  # fmt: skip
    assert table["depth"].tolist() == [1, 3]
    assert [json.loads(b)["depth"] for b in table["budget"]] == [1, 3]
    # One pass: the features and both boundaries together; fine_tune found them all cached.
    assert passes == [[None, "block_15_project_BN", "block_13_add"]]
    assert (table["trained_on"] == "cached activations").all()
