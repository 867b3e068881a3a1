"""Build the shipped Fashion-MNIST subset ``data/fashion_mnist/`` from the Debian package.

Source: the Debian package ``dataset-fashion-mnist`` (MIT licence, Zalando SE), the official
idx files under ``usr/share/datasets/fashion-mnist/``. Rebuild with::

    apt-get download dataset-fashion-mnist
    python scripts/build_fashion_mnist.py dataset-fashion-mnist_*.deb

or, with the package already extracted (``dpkg -x dataset-fashion-mnist_*.deb ROOT``)::

    python scripts/build_fashion_mnist.py ROOT

Per class, a seeded random choice (``numpy.random.default_rng(SEED)``, classes in label order,
official training set first) of ``TRAIN_PER_CLASS`` images of the official training set and
``TEST_PER_CLASS`` of the official test set, each kept in its original order, written as idx
files under the official names (``train-*`` and ``t10k-*``), gzipped without a time stamp: the
same package gives byte-identical files. ``manifest.csv`` maps every shipped image to its index
in the official files. The output folder is replaced as a whole.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tlcourse.data.idx import read_idx, write_idx
from tlcourse.data.sources import FASHION_MNIST_CLASSES

OUT = Path(__file__).resolve().parent.parent / "data" / "fashion_mnist"
FILES = Path("usr/share/datasets/fashion-mnist")
PACKAGE = "dataset-fashion-mnist"
SEED = 0
TRAIN_PER_CLASS = 600
TEST_PER_CLASS = 100
# (official set, file prefix, images per class)
PARTS = (("train", "train", TRAIN_PER_CLASS), ("test", "t10k", TEST_PER_CLASS))


def choose(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted original indices: ``per_class`` images of every class, drawn with ``rng``."""
    chosen = [
        rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
        for label in range(len(FASHION_MNIST_CLASSES))
    ]
    return np.sort(np.concatenate(chosen))


def package_version(root: Path) -> str:
    """Read the package version from the Debian changelog shipped in the extracted tree."""
    changelog = root / "usr/share/doc" / PACKAGE / "changelog.Debian.gz"
    if not changelog.is_file():
        return "unknown"
    with gzip.open(changelog, "rt", encoding="utf-8") as f:
        match = re.match(r"\S+ \(([^)]+)\)", f.readline())
    return match.group(1) if match else "unknown"


def build(root: Path, out: Path = OUT) -> dict[str, int]:
    """Write the subset from an extracted package ``root``; return images per official set."""
    source = root / FILES
    if not source.is_dir():
        raise SystemExit(f"{source} not found: is {root} an extracted {PACKAGE}?")
    if out.exists():
        # Only ever delete a folder this script wrote, never a mistyped --out.
        if any(out.iterdir()) and not (out / "manifest.csv").is_file():
            raise SystemExit(
                f"{out} is not empty and holds no manifest.csv: refusing to replace it"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    rows, counts = [], {}
    for official, prefix, per_class in PARTS:
        images = read_idx(source / f"{prefix}-images-idx3-ubyte.gz")
        labels = read_idx(source / f"{prefix}-labels-idx1-ubyte.gz")
        chosen = choose(labels, per_class, rng)
        write_idx(out / f"{prefix}-images-idx3-ubyte.gz", images[chosen])
        write_idx(out / f"{prefix}-labels-idx1-ubyte.gz", labels[chosen])
        for index, original in enumerate(chosen):
            label = int(labels[original])
            rows.append([official, index, int(original), label, FASHION_MNIST_CLASSES[label]])
        counts[official] = len(chosen)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["set", "index", "original_index", "label", "class"])
        writer.writerows(rows)
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help=f"{PACKAGE} .deb file or its extracted root")
    parser.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.source
        if root.is_file():
            subprocess.run(["dpkg-deb", "-x", str(root), tmp], check=True)
            root = Path(tmp)
        counts = build(root, args.out)
        version = package_version(root)
    total = sum(f.stat().st_size for f in args.out.iterdir())
    print(f"{PACKAGE} {version}: {counts}, {sum(counts.values())} images, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
