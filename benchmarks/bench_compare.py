"""Benchmark: what the comparison costs and what it buys, side by side in one run.

Parts (all by default; ``--parts 1,3`` runs some), each printed with the load average:

1. ``tlcourse compare`` as a user runs it (the default: 4 strategies x 3 seeds, 160 px), in a
   fresh process: total time and peak memory; time and accuracy per run of each strategy;
   fine-tuning against feature extraction per run (target <= 2.0x at equal or better accuracy).
2. The TensorFlow-tutorial recipe on the same splits and seeds (frozen base in the loop for 10
   epochs with a flip, then the top 30 layers unfrozen for 10 more at a 10x lower rate):
   fine-tuning's time against it (target <= 0.20x at equal or better accuracy).
3. One fine-tuning epoch (last 3 blocks + head): on cached boundary activations vs the whole
   model in the loop; and one head epoch on cached features vs the frozen base in the loop
   (target >= 20x).
4. The scratch CNN per epoch: the original, the last round's (fused BatchNorm) and now (inputs
   of 160 px average-pooled to 80 px, uint8 batches).
5. The depth sweep of notebook 04 (1, 3 and 6 blocks, 3 seeds) in one ``compare`` call
   (target <= 60 s).
6. Fine-tuning with a random horizontal flip (the whole model at every step) and without (the
   default, cached): accuracy and time over the seeds.
7. Memory: features and boundary activations of N synthetic images at 160 px, computed in
   batches: the peak resident memory against the cache's size.

Run: ``.venv/bin/python benchmarks/bench_compare.py [--seeds 0,1,2] [--parts 1,2,3]
[--before REVISION]`` (``--before``: part 1 also runs from that git revision, in between two
runs of this tree, for a ratio that the machine's changing speed does not hide).
Timings are wall-clock on whatever else the machine does: compare ratios, and read the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from keras import layers  # noqa: E402

import tlcourse as tl  # noqa: E402
from tlcourse.batchnorm import FusedBatchNormalization  # noqa: E402
from tlcourse.boundary import find_boundary  # noqa: E402
from tlcourse.boundary.batches import shuffled_batches  # noqa: E402
from tlcourse.strategies import Strategy, register_strategy, unregister_strategy  # noqa: E402
from tlcourse.strategies.fine_tuning import fine_tune_from_head  # noqa: E402


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def header(number: int, title: str) -> None:
    print(f"\n{number}. {title}  [{load()}]", flush=True)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


# ---------------------------------------------------------------------------------------------
# 1. The default `tlcourse compare`, as a user runs it


def _cli_compare(seeds: str, env: dict) -> tuple[float, Path]:
    out = Path(tempfile.mkdtemp()) / "results"
    start = time.perf_counter()
    # From another folder: `python -m` puts the working directory first on the path, before
    # PYTHONPATH (the older checkout of --before).
    subprocess.run(
        [sys.executable, "-m", "tlcourse.cli", "compare", "--seeds", seeds, "--out", str(out)],
        check=True, env=env, stdout=subprocess.DEVNULL, cwd=out.parent,
    )  # fmt: skip
    return time.perf_counter() - start, out


def _checkout(revision: str) -> str:
    """A detached worktree of ``revision`` in a temporary folder (for ``--before``)."""
    folder = tempfile.mkdtemp(prefix="bench-before-")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", folder, revision], check=True,
                   capture_output=True, cwd=Path(__file__).parent)  # fmt: skip
    return folder


def default_compare(seeds: str, before: str | None = None) -> pd.DataFrame:
    header(1, f"`tlcourse compare --seeds {seeds}` (defaults: 4 strategies, 160 px), fresh process")
    total, out = _cli_compare(seeds, _env())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table = tl.comparison.read_results(out / "results.csv")
    print(f"   total {total:.1f} s (target <= 60 s), peak memory {peak:.0f} MB")
    if before:
        # The same command from an older commit, right after: the machine's speed changes
        # from hour to hour, the ratio much less.
        folder = _checkout(before)
        then, _ = _cli_compare(seeds, {**_env(), "PYTHONPATH": folder})
        subprocess.run(["git", "worktree", "remove", "--force", folder], check=False,
                       capture_output=True, cwd=Path(__file__).parent)  # fmt: skip
        again, _ = _cli_compare(seeds, _env())
        print(
            f"   {before}: {then:.1f} s; this tree again: {again:.1f} s; "
            f"this tree / {before}: {(total + again) / 2 / then:.2f}x  [{load()}]"
        )
    print(f"   {'strategy':<20}{'accuracy':>10}{'s per run':>11}")
    for strategy, group in table.groupby("strategy", sort=False):
        print(f"   {strategy:<20}{group['test_accuracy'].mean():>10.1%}"
              f"{group['wall_seconds'].mean():>11.2f}")  # fmt: skip
    means = table.groupby("strategy")[["wall_seconds", "test_accuracy"]].mean()
    fe = means.loc["feature_extraction"]
    for name in ("fine_tuning", "fine_tuning_dlr"):
        ratio = means.loc[name, "wall_seconds"] / fe["wall_seconds"]
        delta = means.loc[name, "test_accuracy"] - fe["test_accuracy"]
        print(f"   {name} / feature extraction per run: {ratio:.2f}x (target <= 2.0x), "
              f"accuracy {delta:+.1%}")  # fmt: skip
    return table


# ---------------------------------------------------------------------------------------------
# 2. The TensorFlow-tutorial recipe


def tutorial_recipe(data, backbone: str, seed: int) -> tuple[float, float]:
    """The TF tutorial's two stages; returns (test accuracy, seconds)."""
    keras.utils.set_random_seed(seed)
    start = time.perf_counter()
    base = tl.load_backbone(backbone, input_shape=(*data.image_size, 3))
    model = tl.transfer_classifier(base, data.num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data.train, validation_data=data.val, epochs=10, verbose=0)
    base.trainable = True
    for layer in base.layers[:-30]:
        layer.trainable = False
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(data.train, validation_data=data.val, epochs=20, initial_epoch=10, verbose=0)
    accuracy = model.evaluate(data.test, verbose=0)[1]
    return accuracy, time.perf_counter() - start


def recipe_comparison(table: pd.DataFrame, seeds: list[int], size: int) -> None:
    header(2, f"against the TensorFlow-tutorial recipe (efficientnet_lite0, {size} px)")
    runs = [tutorial_recipe(tl.load_dataset(image_size=size, seed=s), "efficientnet_lite0", s)
            for s in seeds]  # fmt: skip
    accuracy, seconds = np.mean([a for a, _ in runs]), np.mean([s for _, s in runs])
    print(f"   {'method':<34}{'accuracy':>10}{'s per run':>11}{'vs recipe':>11}")
    print(f"   {'tutorial recipe (10 + 10 epochs)':<34}{accuracy:>10.1%}{seconds:>11.1f}"
          f"{1:>10.2f}x")  # fmt: skip
    for strategy, group in table.groupby("strategy", sort=False):
        run = group["wall_seconds"].mean()
        print(f"   {strategy:<34}{group['test_accuracy'].mean():>10.1%}{run:>11.2f}"
              f"{run / seconds:>10.2f}x")  # fmt: skip
    print("   target: fine-tuning <= 0.20x the recipe's time at equal or better accuracy")


# ---------------------------------------------------------------------------------------------
# 3. One fine-tuning epoch: boundary cache vs whole model


def epoch_times(size: int, depth: int = 3, repeats: int = 3) -> None:
    header(3, f"one fine-tuning epoch, last {depth} blocks + head ({size} px, shipped photos)")
    data = tl.load_dataset(image_size=size, seed=0)
    base = tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3))
    model = tl.transfer_classifier(base, data.num_classes, augment=False)
    tl.set_trainable(model, depth)
    boundary = find_boundary(model)
    images, labels = data.as_arrays("train")
    activations = boundary.lower.predict(images, batch_size=64, verbose=0)
    trainer = boundary.upper
    for m in (trainer, model):
        m.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    cached_data = shuffled_batches((activations, labels), 32, 0)
    whole_data = shuffled_batches((images, labels), 32, 0)
    trainer.fit(cached_data, epochs=1, verbose=0)  # warm-up: tracing
    model.fit(whole_data, epochs=1, verbose=0)
    cached, whole = [], []
    for _ in range(repeats):  # interleaved, so both see the same load
        start = time.perf_counter()
        trainer.fit(cached_data, epochs=10, verbose=0)
        cached.append((time.perf_counter() - start) / 10)
        start = time.perf_counter()
        model.fit(whole_data, epochs=2, verbose=0)
        whole.append((time.perf_counter() - start) / 2)
    c, w = float(np.median(cached)), float(np.median(whole))
    print(f"   boundary cache {c * 1000:.0f} ms, whole model {w * 1000:.0f} ms per epoch: "
          f"{w / c:.1f}x faster; activations {boundary.shape} "
          f"({activations.nbytes / len(images) / 1000:.1f} KB per image)")  # fmt: skip
    head_epochs(data, size, repeats)


def head_epochs(data, size: int, repeats: int) -> None:
    """One head epoch on cached features vs with the frozen base in the loop (each timing is
    one ``fit`` of several epochs, so Keras's fixed cost per ``fit`` is not counted)."""
    base = tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3))
    features = tl.FeatureCache(base)
    features.add(data)
    train = features.dataset(data, "train", seed=0)
    head = tl.classification_head(1280, data.num_classes)
    head.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    in_loop = tl.transfer_classifier(base, data.num_classes, augment=False)
    in_loop.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    head.fit(train, epochs=1, verbose=0)
    in_loop.fit(data.train, epochs=1, verbose=0)
    cached, looped = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        head.fit(train, epochs=30, verbose=0)
        cached.append((time.perf_counter() - start) / 30)
        start = time.perf_counter()
        in_loop.fit(data.train, epochs=3, verbose=0)
        looped.append((time.perf_counter() - start) / 3)
    c, w = float(np.median(cached)), float(np.median(looped))
    print(
        f"   one head epoch: cached features {c * 1000:.1f} ms, frozen base in the loop "
        f"{w * 1000:.0f} ms: {w / c:.0f}x faster (target >= 20x)"
    )


# ---------------------------------------------------------------------------------------------
# 4. The scratch CNN, before and now


def old_small_cnn(num_classes: int, size: int, fused: bool = False) -> keras.Model:
    """small_cnn before: ReLU before the pool and Keras BatchNormalization (``fused``: the
    fused kernel and the pool first, as in the last round); no input pool either way."""
    inputs = keras.Input((size, size, 3))
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.RandomFlip("horizontal")(x)
    for i, channels in enumerate((16, 32, 64, 128)):
        x = layers.Conv2D(channels, 3, strides=2 if i == 0 else 1, padding="same",
                          use_bias=False)(x)  # fmt: skip
        if fused:
            x = FusedBatchNormalization(momentum=0.9)(x)
            x = layers.MaxPooling2D()(x) if i < 3 else x
            x = layers.ReLU()(x)
        else:
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.ReLU()(x)
            x = layers.MaxPooling2D()(x) if i < 3 else x
    x = layers.Dropout(0.3)(layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, layers.Dense(num_classes, activation="softmax")(x))


def scratch_epochs(size: int, repeats: int = 3) -> None:
    header(4, f"the scratch CNN per epoch ({size} px, 98 training images, validation included)")
    data = tl.load_dataset(image_size=size, seed=0)
    uint8 = (shuffled_batches(data.as_arrays("train", "uint8"), 32, 0),
             shuffled_batches(data.as_arrays("val", "uint8"), 32, None))  # fmt: skip
    runs = {
        "original (Keras BN, float32 batches)": (old_small_cnn(data.num_classes, size),
                                                 (data.train, data.val)),
        "last round (fused BN, float32)": (old_small_cnn(data.num_classes, size, fused=True),
                                           (data.train, data.val)),
        "now (input pool, uint8 batches)": (tl.small_cnn(data.num_classes, size), uint8),
    }  # fmt: skip
    times = {name: ([], []) for name in runs}
    for model, (train, val) in runs.values():
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # fmt: skip
        model.fit(train, validation_data=val, epochs=1, verbose=0)
    for _ in range(repeats):
        for name, (model, (train, val)) in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit(train, validation_data=val, epochs=5, verbose=0)
            times[name][0].append((time.perf_counter() - wall) / 5)
            times[name][1].append((time.process_time() - cpu) / 5)
    for name, (wall, cpu) in times.items():
        print(f"   {name:<38} {np.median(wall) * 1000:4.0f} ms wall, "
              f"{np.median(cpu) * 1000:4.0f} ms CPU per epoch")  # fmt: skip
    original, last, now = (np.median(times[n][0]) for n in runs)
    print(
        f"   wall per epoch: {last / now:.2f}x less than the last round, "
        f"{original / now:.2f}x less than the original"
    )


# ---------------------------------------------------------------------------------------------
# 5. The depth sweep of notebook 04


def depth_sweep(seeds: str, size: int) -> None:
    header(5, f"depth sweep 1, 3, 6 blocks, seeds {seeds}: compare(strategies='fine_tuning', "
              "budget=[Budget(depth=d) ...])")  # fmt: skip
    start = time.perf_counter()
    table = tl.compare(strategies="fine_tuning", budget=[tl.Budget(depth=d) for d in (1, 3, 6)],
                       seeds=seeds, image_size=size, out=None, progress=None)  # fmt: skip
    total = time.perf_counter() - start
    summary = table.groupby("depth")[["test_accuracy", "wall_seconds"]].mean()
    for depth, row in summary.iterrows():
        print(f"   depth {depth}: accuracy {row['test_accuracy']:.1%}, "
              f"{row['wall_seconds']:.2f} s per run")  # fmt: skip
    print(f"   total {total:.1f} s (target <= 60 s)")


# ---------------------------------------------------------------------------------------------
# 6. Fine-tuning with and without the flip


def flip_comparison(seeds: str, size: int) -> None:
    header(6, f"fine-tuning with a random flip (whole model in the loop) vs without, {size} px")

    def run(context, data, seed):
        return fine_tune_from_head(context, data, seed, differential=False,
                                   label="fine_tuning_flip", augment=True)  # fmt: skip

    register_strategy(Strategy("fine_tuning_flip", "Fine-tuning + flip", "#D55E00", run=run,
                               default=False, budget_fields=tl.strategies.get_strategy(
                                   "fine_tuning").budget_fields))  # fmt: skip
    try:
        table = tl.compare(strategies="feature_extraction,fine_tuning,fine_tuning_flip",
                           seeds=seeds, image_size=size, out=None, progress=None)  # fmt: skip
    finally:
        unregister_strategy("fine_tuning_flip")
    for strategy, group in table.groupby("strategy", sort=False):
        values = ", ".join(f"{a:.1%}" for a in group["test_accuracy"])
        print(f"   {strategy:<20} accuracy {group['test_accuracy'].mean():.1%} ({values}), "
              f"{group['wall_seconds'].mean():.2f} s per run")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# 7. Memory of a large cache


_MEMORY = """
import json, resource, sys, types
from pathlib import Path
import numpy as np
import tlcourse as tl
from tlcourse.boundary import depth_boundary
n, size = int(sys.argv[1]), int(sys.argv[2])
base = tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3))
names = [depth_boundary(base, d) for d in (3, 6)]
rng = np.random.default_rng(0)
split = {"train": (0, n), "val": (n, n), "test": (n, n)}
images = {s: rng.integers(0, 256, (b - a, size, size, 3), dtype=np.uint8)
          for s, (a, b) in split.items()}
data = types.SimpleNamespace(files={s: tuple(Path(f"{i}.png") for i in range(a, b))
                                    for s, (a, b) in split.items()}, _images=images)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
cache = tl.FeatureCache(base, layers=names)
cache.add(data)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"before": before, "peak": peak, "cache": cache.nbytes() / 1e6,
                  "images": images["train"].nbytes / 1e6, "layers": names}))
"""


def memory(count: int, size: int) -> None:
    header(7, f"memory: features + boundary activations (3 and 6 blocks) of {count} images, "
              f"{size} px, in batches")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", _MEMORY, str(count), str(size)],
                            check=True, env=_env(), capture_output=True, text=True)  # fmt: skip
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"   cache {report['cache']:.0f} MB ({', '.join(report['layers'])} + features); "
          f"images {report['images']:.0f} MB (uint8); peak resident memory "
          f"{report['peak']:.0f} MB, {report['peak'] - report['before']:.0f} MB over the "
          "model and images loaded")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--parts", default="1,2,3,4,5,6,7")
    parser.add_argument("--memory-images", type=int, default=2000)
    parser.add_argument("--before", help="a git revision to time part 1 against, side by side")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"bench_compare: seeds {seeds}, {args.image_size} px, {os.cpu_count()} CPUs [{load()}]")
    table = None
    if 1 in parts or 2 in parts:
        table = default_compare(args.seeds, args.before)
    if 2 in parts:
        recipe_comparison(table, seeds, args.image_size)
    if 3 in parts:
        epoch_times(args.image_size)
    if 4 in parts:
        scratch_epochs(args.image_size)
    if 5 in parts:
        depth_sweep(args.seeds, args.image_size)
    if 6 in parts:
        flip_comparison(args.seeds, args.image_size)
    if 7 in parts:
        memory(args.memory_images, args.image_size)
    print(f"\ndone [{load()}]")


if __name__ == "__main__":
    main()
