"""Benchmark: what the comparison costs and what it buys, side by side in one run.

Parts (all by default; ``--parts 1,3`` runs some), each printed with the load average:

1. ``tlcourse compare`` as a user runs it (the default: 4 strategies x 3 seeds, 160 px), in a
   fresh process: wall and CPU time, peak memory; time and accuracy per run of each strategy;
   fine-tuning against feature extraction per run (target <= 2.0x). With ``--before REV`` the
   same command from that git revision runs in between two runs of this tree.
2. Fine-tuning both ways, same seeds: as written in Keras (``cache=False``: the whole model in
   the loop, both stages) and on cached activations (the default); feature extraction beside.
3. The TensorFlow-tutorial recipe on the same splits and seeds (frozen base in the loop for 10
   epochs with a flip, then the top 30 layers unfrozen for 10 more at a 10x lower rate).
4. One epoch, last 3 blocks + head: on cached boundary activations vs the whole model; one head
   epoch on cached features vs the frozen base in the loop.
5. Memory: features and boundary activations (3 and 6 blocks) of N synthetic images at 160 px.

Run: ``.venv/bin/python benchmarks/bench_compare.py [--seeds 0,1,2] [--parts 1,2]
[--before REVISION]``. Timings are wall-clock on whatever else the machine does: compare
ratios measured side by side, and read the load. Results go in ``benchmarks/README.md``.
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

import tlcourse as tl  # noqa: E402
from tlcourse.comparison import ComparisonContext  # noqa: E402
from tlcourse.comparison.strategies import get_strategy  # noqa: E402
from tlcourse.transfer.boundary import find_boundary, lower_model  # noqa: E402
from tlcourse.transfer.boundary.cache import shuffled_batches  # noqa: E402


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def header(number: int, title: str) -> None:
    print(f"\n{number}. {title}  [{load()}]", flush=True)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


# ---------------------------------------------------------------------------------------------
# 1. The default `tlcourse compare`, as a user runs it


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cli_compare(seeds: str, env: dict) -> tuple[float, float, Path]:
    out = Path(tempfile.mkdtemp()) / "results"
    start, cpu = time.perf_counter(), _cpu()
    # From another folder: `python -m` puts the working directory first on the path, before
    # PYTHONPATH (the older checkout of --before).
    subprocess.run(
        [sys.executable, "-m", "tlcourse.cli", "compare", "--seeds", seeds, "--out", str(out)],
        check=True, env=env, stdout=subprocess.DEVNULL, cwd=out.parent,
    )  # fmt: skip
    return time.perf_counter() - start, _cpu() - cpu, out


def _checkout(revision: str) -> str:
    """A detached worktree of ``revision`` in a temporary folder (for ``--before``)."""
    folder = tempfile.mkdtemp(prefix="bench-before-")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", folder, revision], check=True,
                   capture_output=True, cwd=Path(__file__).parent)  # fmt: skip
    return folder


def default_compare(seeds: str, before: str | None = None) -> pd.DataFrame:
    header(1, f"`tlcourse compare --seeds {seeds}` (defaults: 4 strategies, 160 px), fresh process")
    total, cpu, out = _cli_compare(seeds, _env())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    table = tl.comparison.read_results(out / "results.csv")
    print(f"   this tree: {total:.1f} s wall, {cpu:.1f} s CPU (target <= 60 s wall), "
          f"peak memory {peak:.0f} MB  [{load()}]")  # fmt: skip
    if before:
        # The same command from an older commit, right after: the machine's speed changes
        # from hour to hour, the ratio much less.
        folder = _checkout(before)
        then, then_cpu, _ = _cli_compare(seeds, {**_env(), "PYTHONPATH": folder})
        subprocess.run(["git", "worktree", "remove", "--force", folder], check=False,
                       capture_output=True, cwd=Path(__file__).parent)  # fmt: skip
        print(f"   {before}: {then:.1f} s wall, {then_cpu:.1f} s CPU  [{load()}]")
        again, again_cpu, _ = _cli_compare(seeds, _env())
        print(
            f"   this tree again: {again:.1f} s wall, {again_cpu:.1f} s CPU; this tree / "
            f"{before}: {(total + again) / 2 / then:.2f}x wall, "
            f"{(cpu + again_cpu) / 2 / then_cpu:.2f}x CPU  [{load()}]"
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


def both_ways(seeds: list[int], size: int) -> None:
    header(
        2, f"fine-tuning (last 3 blocks) as written in Keras and on cached activations, {size} px"
    )
    cached = ComparisonContext(image_size=size)
    looped = ComparisonContext(image_size=size, cache=False)
    rows = []
    for seed in seeds:  # interleaved, so each way sees the same load
        for way, context, name in (("cached", cached, "feature_extraction"),
                                   ("cached", cached, "fine_tuning"),
                                   ("whole model", looped, "fine_tuning")):  # fmt: skip
            result = get_strategy(name).run(context, context.dataset(seed), seed)
            rows.append({"strategy": name, "way": way, "trained_on": result.trained_on,
                         "seconds": result.cost.wall_seconds, "cpu": result.cost.cpu_seconds,
                         "accuracy": result.test_accuracy})  # fmt: skip
    table = pd.DataFrame(rows).groupby(["strategy", "way", "trained_on"], sort=False).mean()
    print(table.to_string(float_format=lambda v: f"{v:.3f}"))
    fe = table.loc["feature_extraction", "seconds"].iloc[0]
    cached_ft = table.loc[("fine_tuning", "cached"), "seconds"].iloc[0]
    whole = table.loc[("fine_tuning", "whole model"), "seconds"].iloc[0]
    print(f"   fine-tuning / feature extraction per run: cached {cached_ft / fe:.2f}x (target "
          f"<= 2.0x), whole model in the loop {whole / fe:.2f}x; whole / cached "
          f"{whole / cached_ft:.1f}x")  # fmt: skip


def recipe_comparison(table: pd.DataFrame, seeds: list[int], size: int) -> None:
    header(3, f"against the TensorFlow-tutorial recipe (efficientnet_lite0, {size} px)")
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
    header(4, f"one fine-tuning epoch, last {depth} blocks + head ({size} px, shipped photos)")
    data = tl.load_dataset(image_size=size, seed=0)
    base = tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3))
    model = tl.transfer_classifier(base, data.num_classes, augment=False)
    tl.set_trainable(model, depth)
    boundary = find_boundary(model)
    images, labels = data.as_arrays("train")
    activations = lower_model(boundary).predict(images, batch_size=64, verbose=0)
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
          f"{w / c:.1f}x less; activations {boundary.shape} "
          f"({activations.nbytes / len(images) / 1000:.1f} KB per image)")  # fmt: skip
    head_epochs(data, size, repeats)


def head_epochs(data, size: int, repeats: int) -> None:
    """One head epoch on cached features vs with the frozen base in the loop (each timing is
    one ``fit`` of several epochs, so Keras's fixed cost per ``fit`` is not counted)."""
    base = tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3))
    train = shuffled_batches(tl.ActivationCache(base).split(data, "train"), 32, 0)
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
        f"{w * 1000:.0f} ms: {w / c:.0f}x less"
    )


# ---------------------------------------------------------------------------------------------
# 5. Memory of a large cache


_MEMORY = """
import json, resource, sys
import numpy as np
import tlcourse as tl
n, size = int(sys.argv[1]), int(sys.argv[2])
cache = tl.ActivationCache(tl.load_backbone("efficientnet_lite0", input_shape=(size, size, 3)))
images = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
boundaries = [cache.boundary(d) for d in (0, 3, 6)]
cache.activations(boundaries, images)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"before": before, "peak": peak, "cache": cache.nbytes / 1e6,
                  "images": images.nbytes / 1e6, "layers": [b.layer for b in boundaries[1:]]}))
"""


def memory(count: int, size: int) -> None:
    header(5, f"memory: features + boundary activations (3 and 6 blocks) of {count} images, "
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
    parser.add_argument("--parts", default="1,2,3,4,5")
    parser.add_argument("--memory-images", type=int, default=2000)
    parser.add_argument("--before", help="a git revision to time part 1 against, side by side")
    args = parser.parse_args()
    parts = {int(p) for p in args.parts.split(",")}
    seeds = [int(s) for s in args.seeds.split(",")]
    print(f"bench_compare: seeds {seeds}, {args.image_size} px, {os.cpu_count()} CPUs [{load()}]")
    table = None
    if 1 in parts or 3 in parts:
        table = default_compare(args.seeds, args.before)
    if 2 in parts:
        both_ways(seeds, args.image_size)
    if 3 in parts:
        recipe_comparison(table, seeds, args.image_size)
    if 4 in parts:
        epoch_times(args.image_size)
    if 5 in parts:
        memory(args.memory_images, args.image_size)
    print(f"\ndone [{load()}]")


if __name__ == "__main__":
    main()
