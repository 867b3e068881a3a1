"""Measure test accuracy against cumulative training time and CO2, per strategy and epoch.

Writes ``data/measured/time_to_accuracy.csv``, which notebook 05 reads: how long training from
scratch needs to reach transfer learning's accuracy on the shipped photos, or that it does not
within several times the default budget. Every strategy is written in plain Keras, as the
notebooks teach it:

- ``scratch``: the small CNN of the comparison (four conv blocks with BatchNormalization),
  Adam at 1e-3, ``--scratch-epochs`` epochs (10 times the default budget of 30);
- ``scratch_backbone``: EfficientNet-Lite0's architecture from random weights, every layer
  trainable (BatchNormalization included, at momentum 0.9 as in the small CNN), with the
  transfer models' flip, dropout and dense head, Adam at 1e-3, ``--backbone-epochs`` epochs;
- ``feature_extraction``: the pretrained base frozen, its features computed once (that pass is
  the first row, epoch 0), a dropout + dense head on them, Adam at 1e-3, 30 epochs;
- ``fine_tuning``: the same head, then the last 3 blocks unfrozen (BatchNormalization frozen),
  trained in the loop with the flip at 1e-4 for 5 more epochs.

After every epoch a callback records the cumulative training time (the time between
``on_epoch_begin`` and ``on_epoch_end``: training steps only, never the evaluations) and then
evaluates the validation and test splits. CO2 is ``tl.track``'s estimate for the whole run,
spread over the run in proportion to the training time (codecarbon's estimate is proportional
to time where no power counter is readable, as on the machine that made the shipped file).

Run from the repository root (about an hour on two busy CPU cores)::

    python scripts/measure_time_to_accuracy.py

Options: ``--seeds 0,1,2 --image-size 96 --scratch-epochs 300 --backbone-epochs 90
--strategies scratch,scratch_backbone,feature_extraction,fine_tuning
--out data/measured/time_to_accuracy.csv``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import tlcourse as tl

OUT = Path(__file__).resolve().parent.parent / "data" / "measured" / "time_to_accuracy.csv"
BACKBONE = "efficientnet_lite0"
LAST_BLOCKS = ("block_14", "block_15", "top")  # depth 3, the comparison's default
STRATEGIES = ("scratch", "scratch_backbone", "feature_extraction", "fine_tuning")


class Clock(keras.callbacks.Callback):
    """Cumulative training seconds and the split accuracies after every epoch."""

    def __init__(self, splits, start_seconds=0.0, start_epoch=0, evaluate=None):
        super().__init__()
        self.splits, self.seconds, self.rows = splits, start_seconds, []
        self.start_epoch, self.evaluate = start_epoch, evaluate

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds += time.perf_counter() - self.started
        model = self.evaluate or self.model
        row = {"epoch": self.start_epoch + epoch + 1, "seconds": self.seconds}
        for split, (x, y) in self.splits.items():
            row[f"{split}_accuracy"] = float(np.mean(model.predict(x, verbose=0).argmax(1) == y))
        self.rows.append(row)


def small_cnn(num_classes, size):
    """The comparison's scratch network, in stock Keras layers."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    if size >= 160:
        x = keras.layers.AveragePooling2D(size // 80)(x)
    x = keras.layers.RandomFlip("horizontal")(x)
    for i, filters in enumerate((16, 32, 64, 128)):
        x = keras.layers.Conv2D(
            filters, 3, strides=2 if i == 0 else 1, padding="same", use_bias=False
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        if i < 3:
            x = keras.layers.MaxPooling2D()(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def classifier(base, num_classes, size, training=False):
    """inputs -> flip -> base(x, training=training) -> dropout -> dense softmax."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = base(x, training=training)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def compile_adam(model, rate):
    model.compile(
        optimizer=keras.optimizers.Adam(rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )


def end_to_end(model, data, splits, epochs):
    """Rows of a model trained in the loop on ``data.train`` (scratch, scratch_backbone)."""
    compile_adam(model, 1e-3)
    clock = Clock(splits)
    model.fit(data.train, epochs=epochs, callbacks=[clock], verbose=0)
    return clock.rows


def transfer(data, splits, size, head_epochs, fine_tune_epochs):
    """Rows of feature extraction, and of fine-tuning continuing from its head."""
    base = tl.load_backbone(BACKBONE, input_shape=(size, size, 3))
    base.trainable = False
    model = classifier(base, data.num_classes, size)
    images, labels = data.as_arrays("train")
    start = time.perf_counter()
    features = base.predict(images, verbose=0)  # the feature pass: once per image
    feature_seconds = time.perf_counter() - start
    head = keras.Sequential(model.layers[-2:])  # the dropout and dense layers, shared
    feature_splits = {k: (base.predict(x, verbose=0), y) for k, (x, y) in splits.items()}
    compile_adam(head, 1e-3)
    clock = Clock(feature_splits, start_seconds=feature_seconds)
    head.fit(features, labels, batch_size=32, epochs=head_epochs, callbacks=[clock], verbose=0)
    first = {"epoch": 0, "seconds": feature_seconds}
    first.update({f"{k}_accuracy": np.nan for k in splits})
    head_rows = [first, *clock.rows]
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith(LAST_BLOCKS) and not isinstance(
            layer, keras.layers.BatchNormalization
        )
    compile_adam(model, 1e-4)
    tuner = Clock(splits, start_seconds=clock.seconds, start_epoch=head_epochs)
    model.fit(data.train, initial_epoch=0, epochs=fine_tune_epochs, callbacks=[tuner], verbose=0)
    return head_rows, head_rows + tuner.rows


def machine() -> dict:
    commit = subprocess.run(  # of the tlcourse imported, which may not be this checkout's
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(tl.__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "commit": f"tlcourse@{commit or 'unknown'}",
        "date": datetime.date.today().isoformat(),
        "tensorflow_keras": f"keras {keras.__version__}",
    }


def random_backbone(size):
    """The backbone's architecture from random weights, its BatchNorm at momentum 0.9.

    With 4 batches per epoch, BatchNormalization's default momentum of 0.99 leaves the moving
    statistics used for predictions far from the batches' own: the network then predicts one
    class at test time whatever it learnt (seen here: 11% test accuracy after 90 epochs, on
    every seed). The small CNN uses 0.9 for the same reason.
    """
    base = tl.load_backbone(BACKBONE, input_shape=(size, size, 3), weights=None)
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return base


def run(seeds, size, scratch_epochs, backbone_epochs, strategies, head_epochs=30,
        fine_tune_epochs=5):  # fmt: skip
    rows = []
    for seed in seeds:
        data = tl.load_dataset("photos", image_size=size, seed=seed)
        splits = {k: data.as_arrays(k) for k in ("val", "test")}
        load = os.getloadavg()[0]  # other work on the machine slows every run alike
        runs = {}
        if "scratch" in strategies:
            keras.utils.set_random_seed(seed)
            with tl.track("scratch") as record:
                model = small_cnn(data.num_classes, size)
                runs["scratch"] = (end_to_end(model, data, splits, scratch_epochs), record)
        if "scratch_backbone" in strategies:
            keras.utils.set_random_seed(seed)
            with tl.track("scratch_backbone") as record:
                # From random weights everything trains, BatchNormalization included, in
                # training mode during fit (training=None: Keras's own choice).
                model = classifier(random_backbone(size), data.num_classes, size, training=None)
                runs["scratch_backbone"] = (
                    end_to_end(model, data, splits, backbone_epochs),
                    record,
                )
        if {"feature_extraction", "fine_tuning"} & set(strategies):
            keras.utils.set_random_seed(seed)
            with tl.track("transfer") as record:
                head_rows, tuned_rows = transfer(data, splits, size, head_epochs, fine_tune_epochs)
            runs["feature_extraction"] = (head_rows, record)
            runs["fine_tuning"] = (tuned_rows, record)
        for strategy, (strategy_rows, record) in runs.items():
            last = strategy_rows[-1]["seconds"]
            rate = (record.co2_kg or 0.0) / record.wall_seconds  # kg per second of the run
            for row in strategy_rows:
                rows.append(
                    {
                        "strategy": strategy,
                        "seed": seed,
                        "image_size": size,
                        **row,
                        "co2_kg": rate * row["seconds"],
                        "run_seconds": last,
                        "co2_mode": record.mode,
                        "load_1min": load,
                    }
                )
            print(
                f"seed {seed} {strategy}: {len(strategy_rows)} epochs, {last:.1f} s, "
                f"test {strategy_rows[-1]['test_accuracy']:.1%}",
                flush=True,
            )
    return pd.DataFrame(rows).assign(**machine())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--scratch-epochs", type=int, default=300)
    parser.add_argument("--backbone-epochs", type=int, default=90)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    strategies = args.strategies.split(",")
    table = run(seeds, args.image_size, args.scratch_epochs, args.backbone_epochs, strategies)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {len(table)} rows to {args.out}")


if __name__ == "__main__":
    main()
