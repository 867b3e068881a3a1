"""Step-time overhead of per-layer learning rates against plain Adam, measured side by side.

Two identical models (MobileNetV2, random weights, 96 px, the last blocks and a new head
trainable, BatchNorm frozen) train on the same batch; one compiled with ``keras.optimizers.Adam``,
the other with ``tlcourse.transfer.optimizers.layerwise_optimizer(..., optimizer="adam")``. After a
warm-up (tracing), rounds of ``train_on_batch`` alternate between the two (the order flips every
round, so drift in machine load hits both), and the median time per step is compared.

Both wall-clock and process CPU time are recorded. The verdict uses CPU time (the work the
process did; on a shared machine wall time also counts waiting for a core) and the median of the
per-round ratios (each pair timed back to back), which is steadier than the ratio of medians;
the other figures are printed beside it. The script also checks that the timed steps did not
retrace the training step (a retrace would run ``update_step``'s Python code again).

Target: overhead <= 10 %. Exit status 1 when it is missed.

Usage:
    .venv/bin/python benchmarks/bench_optimizer.py [--rounds 15] [--steps 5] [--batch 32]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tlcourse.models.backbones import load_backbone  # noqa: E402
from tlcourse.transfer.freezing import freeze  # noqa: E402
from tlcourse.transfer.optimizers import layerwise_optimizer, learning_rates  # noqa: E402

TARGET_OVERHEAD = 0.10


def build_model(size: int, trainable_blocks: int) -> keras.Model:
    """MobileNetV2 (random weights) + Dense(10); the last `trainable_blocks` blocks train."""
    keras.utils.set_random_seed(0)
    base = load_backbone("mobilenet_v2", weights=None, input_shape=(size, size, 3))
    inputs = keras.Input((size, size, 3))
    model = keras.Model(inputs, keras.layers.Dense(10, name="head")(base(inputs)))
    freeze(model, trainable_blocks)  # as set_trainable, BatchNorm frozen; compiled by the caller
    return model


def time_steps(model: keras.Model, x, y, steps: int) -> tuple[float, float]:
    """Wall and CPU seconds per train_on_batch step, over `steps` steps."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def count_traces(optimizer) -> dict:
    """Count runs of the optimizer's update_step Python code (they happen only when tracing)."""
    counter = {"calls": 0}
    update_step = optimizer.update_step

    def counted(*args, **kwargs):
        counter["calls"] += 1
        return update_step(*args, **kwargs)

    object.__setattr__(optimizer, "update_step", counted)  # bypass Keras' attribute tracking
    return counter


def summarise(times: dict, clock: str) -> float:
    """Print the medians and ratios for one clock; return the median of paired ratios."""
    plain, layerwise = times["plain"], times["layerwise"]
    for name, values in (("plain", plain), ("layerwise", layerwise)):
        print(
            f"  {name:9s} Adam  median {statistics.median(values) * 1e3:7.1f} ms/step  "
            f"(min {min(values) * 1e3:7.1f}, max {max(values) * 1e3:7.1f})"
        )
    paired = statistics.median(lw / p for lw, p in zip(layerwise, plain, strict=True))
    print(
        f"  {clock}: ratio of medians {statistics.median(layerwise) / statistics.median(plain):.3f}"
        f"; of minimums {min(layerwise) / min(plain):.3f}; median of paired ratios {paired:.3f}"
    )
    return paired


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="image side in pixels")
    parser.add_argument("--batch", type=int, default=32, help="images per step")
    parser.add_argument("--blocks", type=int, default=4, help="trainable blocks (from the end)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model")
    parser.add_argument("--rounds", type=int, default=25, help="timed rounds per model")
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (args.batch, args.size, args.size, 3)).astype("float32")
    y = rng.integers(0, 10, args.batch)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    plain = build_model(args.size, args.blocks)
    layerwise = build_model(args.size, args.blocks)
    layerwise.set_weights(plain.get_weights())
    plain.compile(keras.optimizers.Adam(1e-3), loss)
    layerwise.compile(layerwise_optimizer(layerwise, 1e-3, factor=3, optimizer="adam"), loss)
    groups = learning_rates(layerwise, by="block")

    print(
        f"MobileNetV2 {args.size}px, batch {args.batch}, {len(plain.trainable_variables)} "
        f"trainable variables in {len(groups)} groups; TensorFlow {tf.__version__}, Keras "
        f"{keras.__version__}, {os.cpu_count()} CPUs ({platform.processor() or 'cpu'})"
    )
    print(groups.to_string(index=False))

    traces = count_traces(layerwise.optimizer)
    start = time.perf_counter()
    for model in (plain, layerwise):
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    print(f"warm-up (tracing) {time.perf_counter() - start:.1f} s")
    traced = traces["calls"]

    wall = {"plain": [], "layerwise": []}
    cpu = {"plain": [], "layerwise": []}
    pair = [("plain", plain), ("layerwise", layerwise)]
    for round_ in range(args.rounds):
        for name, model in pair if round_ % 2 == 0 else pair[::-1]:
            wall_s, cpu_s = time_steps(model, x, y, args.steps)
            wall[name].append(wall_s)
            cpu[name].append(cpu_s)
    retraced = traces["calls"] != traced
    print(
        f"update_step traced {traced} times during warm-up, "
        f"{traces['calls'] - traced} times during timing ({'RETRACED' if retraced else 'ok'})"
    )

    print("wall clock")
    summarise(wall, "wall")
    print("process CPU time")
    paired = summarise(cpu, "cpu")
    overhead = paired - 1
    verdict = "PASS" if overhead <= TARGET_OVERHEAD and not retraced else "FAIL"
    print(
        f"{verdict}: overhead {overhead:+.1%} (CPU time, median of paired ratios; target <= "
        f"{TARGET_OVERHEAD:.0%})"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
