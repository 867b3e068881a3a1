"""Measure notebook 04's three sweeps over several seeds: learning rate, depth, early stopping.

Writes ``data/measured/fine_tuning_sweeps.csv``, which notebook 04 prints beside its own single
runs. The recipe is notebook 04's, in plain Keras, at its full-mode settings: EfficientNet-Lite0
at 96 px, ``inputs -> flip -> base(x, training=False) -> dropout -> dense``, the head trained
for 8 epochs at 1e-3 with the base frozen, then, from that same head:

- ``learning_rate``: the last 3 blocks unfrozen (BatchNormalization frozen), 5 epochs of Adam
  at 1e-2, 1e-3 and 1e-4;
- ``depth``: 1, 3, 6 blocks or all of them unfrozen, 5 epochs of Adam at 1e-4;
- ``early_stopping``: all blocks unfrozen, each earlier block 3 times slower
  (``tl.layerwise_optimizer``, head at 1e-4), at most 15 epochs with
  ``EarlyStopping(monitor="val_loss", patience=3, restore_best_weights=True)``.

One row per run and epoch (``val_loss``, ``val_accuracy``, ``loss``), with the run's test
accuracy at its end (for early stopping: of the restored weights, and ``last_test_accuracy``
of the last epoch's) and the validation split's majority-class share.

Run from the repository root (about 10 minutes on two CPU cores)::

    python scripts/measure_fine_tuning_sweeps.py

Options: ``--seeds 0,1,2 --out data/measured/fine_tuning_sweeps.csv``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
from pathlib import Path

import keras
import numpy as np
import pandas as pd

import tlcourse as tl

OUT = Path(__file__).resolve().parent.parent / "data" / "measured" / "fine_tuning_sweeps.csv"
SIZE, HEAD_EPOCHS, FINE_TUNE_EPOCHS, MAX_EPOCHS = 96, 8, 5, 15
COMPILE = {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}


def classifier(num_classes):
    """inputs -> flip -> base(x, training=False) -> dropout -> dense softmax; base frozen."""
    base = tl.load_backbone("efficientnet_lite0", input_shape=(SIZE, SIZE, 3))
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.RandomFlip("horizontal")(inputs)
    x = base(x, training=False)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


class LastTest(keras.callbacks.Callback):
    """The test accuracy after the last epoch run (before any weights are restored)."""

    def __init__(self, test):
        super().__init__()
        self.test, self.accuracy = test, None

    def on_epoch_end(self, epoch, logs=None):
        self.accuracy = self.model.evaluate(self.test, verbose=0)[1]


def sweep_rows(model, data, after_head, experiment, setting, optimizer, epochs, callbacks=()):
    model.set_weights(after_head)
    model.compile(optimizer=optimizer, **COMPILE)
    last = LastTest(data.test)
    history = model.fit(
        data.train, validation_data=data.val, epochs=epochs, verbose=0, callbacks=[last, *callbacks]
    ).history
    test_accuracy = model.evaluate(data.test, verbose=0)[1]
    return [
        {
            "experiment": experiment,
            "setting": str(setting),
            "epoch": epoch + 1,
            "val_loss": history["val_loss"][epoch],
            "val_accuracy": history["val_accuracy"][epoch],
            "loss": history["loss"][epoch],
            "test_accuracy": test_accuracy,
            "last_test_accuracy": last.accuracy,
            "epochs_run": len(history["loss"]),
        }
        for epoch in range(len(history["loss"]))
    ]


def run(seeds):
    rows = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        data = tl.load_dataset("photos", image_size=SIZE, seed=seed)
        _, val_labels = data.as_arrays("val")
        majority = np.bincount(val_labels).max() / len(val_labels)
        model = classifier(data.num_classes)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), **COMPILE)
        head = model.fit(data.train, validation_data=data.val, epochs=HEAD_EPOCHS, verbose=0)
        after_head = model.get_weights()
        found = [
            {
                "experiment": "head",
                "setting": "1e-3",
                "epoch": HEAD_EPOCHS,
                "val_loss": head.history["val_loss"][-1],
                "val_accuracy": head.history["val_accuracy"][-1],
                "loss": head.history["loss"][-1],
                "test_accuracy": model.evaluate(data.test, verbose=0)[1],
            }
        ]
        tl.set_trainable(model, 3)
        for rate in (1e-2, 1e-3, 1e-4):
            found += sweep_rows(
                model,
                data,
                after_head,
                "learning_rate",
                f"{rate:g}",
                keras.optimizers.Adam(rate),
                FINE_TUNE_EPOCHS,
            )
        for depth in (1, 3, 6, "all"):
            tl.set_trainable(model, depth)
            found += sweep_rows(
                model,
                data,
                after_head,
                "depth",
                depth,
                keras.optimizers.Adam(1e-4),
                FINE_TUNE_EPOCHS,
            )
        tl.set_trainable(model, "all")
        early = keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=3, restore_best_weights=True
        )
        found += sweep_rows(
            model,
            data,
            after_head,
            "early_stopping",
            "all, factor 3",
            tl.layerwise_optimizer(model, 1e-4, factor=3.0),
            MAX_EPOCHS,
            [early],
        )
        for row in found:
            row.update(seed=seed, val_majority=majority)
        rows += found
        print(f"seed {seed}: {len(found)} rows", flush=True)
    commit = subprocess.run(  # of the tlcourse imported, which may not be this checkout's
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=Path(tl.__file__).parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return pd.DataFrame(rows).assign(
        image_size=SIZE,
        head_epochs=HEAD_EPOCHS,
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs",
        commit=f"tlcourse@{commit or 'unknown'}",
        date=datetime.date.today().isoformat(),
        keras=keras.__version__,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    table = run([int(s) for s in args.seeds.split(",")])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {len(table)} rows to {args.out}")


if __name__ == "__main__":
    main()
