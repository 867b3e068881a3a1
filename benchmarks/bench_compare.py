"""Benchmark: compare's transfer strategies against the TensorFlow-tutorial recipe.

Side by side in one run, on the same data, splits, seeds and backbone:

1. ``tlcourse.compare`` (feature extraction on cached features; fine-tuning with a head trained
   on cached features) against the recipe of the TensorFlow transfer-learning tutorial: frozen
   base inside the training loop for 10 epochs, then the top 30 layers unfrozen (the tutorial's
   way: ``base.trainable = True`` and earlier layers re-frozen), 10 more epochs at a 10x lower
   learning rate. Prints the time ratio and accuracy of each, mean over seeds.
2. One epoch of head training on cached features against one epoch with the frozen base inside
   the loop (target: >= 20x faster).

Run: ``.venv/bin/python benchmarks/bench_compare.py [--seeds 0,1,2] [--image-size 160]``.
Timings are wall-clock on whatever else the machine is doing: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import tlcourse as tl  # noqa: E402


def tutorial_recipe(data, backbone: str, seed: int) -> tuple[float, float]:
    """The TF tutorial's two stages; returns (test accuracy, seconds)."""
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    base = tl.load_backbone(backbone, input_shape=(*data.image_size, 3))
    model = tl.transfer_classifier(base, data.num_classes)
    model.compile(
        keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.train, validation_data=data.val, epochs=10, verbose=0)
    base.trainable = True
    for layer in base.layers[:-30]:
        layer.trainable = False
    model.compile(
        keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    model.fit(data.train, validation_data=data.val, epochs=20, initial_epoch=10, verbose=0)
    accuracy = model.evaluate(data.test, verbose=0)[1]
    return accuracy, time.perf_counter() - start


def epoch_times(data, backbone: str, repeats: int = 3) -> tuple[float, float]:
    """Median seconds per head epoch: on cached features vs with the frozen base in the loop.

    Each timing is one ``fit`` of several epochs divided by the epochs, so Keras's fixed cost per
    ``fit`` call (~0.1 s: iterators, callbacks) is not mistaken for the cost of an epoch.
    """
    base = tl.load_backbone(backbone, input_shape=(*data.image_size, 3))
    features = tl.FeatureCache(base)
    features.add(data)
    train = features.dataset(data, "train", seed=0)
    head = tl.classification_head(features.split(data, "train")[0].shape[1], data.num_classes)
    head.compile("adam", loss="sparse_categorical_crossentropy")
    in_loop = tl.transfer_classifier(base, data.num_classes, augment=False)
    in_loop.compile("adam", loss="sparse_categorical_crossentropy")
    head.fit(train, epochs=1, verbose=0)  # warm-up: tracing
    in_loop.fit(data.train, epochs=1, verbose=0)
    cached, looped = [], []
    for _ in range(repeats):  # interleaved so both see the same machine load
        t = time.perf_counter()
        head.fit(train, epochs=30, verbose=0)
        cached.append((time.perf_counter() - t) / 30)
        t = time.perf_counter()
        in_loop.fit(data.train, epochs=3, verbose=0)
        looped.append((time.perf_counter() - t) / 3)
    return float(np.median(cached)), float(np.median(looped))


def recipe_comparison(args, seeds: list[int]) -> None:
    """Part 1: compare's transfer strategies against the tutorial recipe, mean over seeds."""
    results = tl.compare(
        strategies="feature_extraction,fine_tuning,fine_tuning_dlr",
        backbone=args.backbone,
        seeds=args.seeds,  # "0,1,2", as on the command line
        image_size=args.image_size,
        out=None,
        progress=None,
    )
    recipe = [
        tutorial_recipe(tl.load_dataset(image_size=args.image_size, seed=s), args.backbone, s)
        for s in seeds
    ]
    recipe_acc = np.mean([a for a, _ in recipe])
    recipe_s = np.mean([s for _, s in recipe])
    print(
        f"\n1. Against the TensorFlow-tutorial recipe ({args.backbone}, {args.image_size} px, "
        f"seeds {seeds}; mean over seeds)"
    )
    print(f"   {'method':<34}{'test accuracy':>14}{'seconds':>10}{'time vs recipe':>16}")
    print(
        f"   {'tutorial recipe (10 + 10 epochs)':<34}{recipe_acc:>14.1%}{recipe_s:>10.1f}"
        f"{1.0:>15.2f}x"
    )
    for strategy, group in results.groupby("strategy", sort=False):
        seconds = group["wall_seconds"].mean()
        print(
            f"   {strategy:<34}{group['test_accuracy'].mean():>14.1%}{seconds:>10.1f}"
            f"{seconds / recipe_s:>15.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--epochs-only", action="store_true", help="run part 2 only")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if not args.epochs_only:
        recipe_comparison(args, seeds)
    data = tl.load_dataset(image_size=args.image_size, seed=seeds[0])
    cached, looped = epoch_times(data, args.backbone)
    speedup = looped / cached
    verdict = "PASS" if speedup >= 20 else "FAIL"
    print(
        f"\n2. One head epoch: cached features {cached * 1000:.1f} ms, frozen base in the loop "
        f"{looped * 1000:.0f} ms -> {speedup:.0f}x faster (target >= 20x): {verdict}"
    )


if __name__ == "__main__":
    main()
