"""Build the shipped six-class photo set ``data/photos/`` from Tux Paint's photo stamps.

Source: the Debian package ``tuxpaint-stamps-default`` (GPL-2.0-or-later), real photos cut out
on transparent backgrounds under ``usr/share/tuxpaint/stamps/``. Rebuild with::

    apt-get download tuxpaint-stamps-default
    python scripts/build_photos.py tuxpaint-stamps-default_*.deb

or, with the package already extracted (``dpkg -x tuxpaint-stamps-default_*.deb ROOT``)::

    python scripts/build_photos.py ROOT

Each stamp is composited onto white, padded to a white square, resized to 160x160 and saved as a
JPEG (quality 90) named after the stamp, one folder per class. ``cartoon/`` folders and
``*_thumb.png`` are left out. ``data/photos/manifest.csv`` records where every file came from.
The output folder is replaced as a whole, so a rebuild leaves no stale files behind.
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

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "data" / "photos"
STAMPS = Path("usr/share/tuxpaint/stamps")
PACKAGE = "tuxpaint-stamps-default"

# Output class -> stamp folder (relative to STAMPS); subfolders are included except cartoons.
CLASSES = {
    "mammals": "animals/mammals",
    "birds": "animals/birds",
    "fish": "animals/fish",
    "flowers": "plants/flowers",
    "fruit": "food/fruit",
    "vegetables": "food/vegetables",
}
SIZE = 160
QUALITY = 90


def stamp_files(folder: Path) -> list[Path]:
    """Return the photo stamps under ``folder``, sorted, without cartoons or thumbnails."""
    files = [
        p
        for p in folder.rglob("*.png")
        if "cartoon" not in p.relative_to(folder).parts and not p.name.endswith("_thumb.png")
    ]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix())


def output_name(stamp: Path) -> str:
    """Return a portable file name: lower case (case-insensitive file systems), ``[a-z0-9_]``."""
    return re.sub(r"[^a-z0-9]+", "_", stamp.stem.lower()).strip("_") + ".jpg"


def to_square_rgb(image: Image.Image, size: int = SIZE) -> Image.Image:
    """Composite onto white, pad to a centred white square, resize to ``size`` x ``size``."""
    rgba = image.convert("RGBA")  # P, LA and RGB stamps all become RGBA with their transparency
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    side = max(flat.size)
    square = Image.new("RGB", (side, side), "white")
    square.paste(flat, ((side - flat.width) // 2, (side - flat.height) // 2))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def package_version(root: Path) -> str:
    """Read the package version from the Debian changelog shipped in the extracted tree."""
    changelog = root / "usr/share/doc" / PACKAGE / "changelog.Debian.gz"
    if not changelog.is_file():
        return "unknown"
    with gzip.open(changelog, "rt", encoding="utf-8") as f:
        match = re.match(r"\S+ \(([^)]+)\)", f.readline())
    return match.group(1) if match else "unknown"


def build(root: Path, out: Path = OUT) -> dict[str, int]:
    """Write the photo set from an extracted package ``root``; return per-class counts."""
    stamps = root / STAMPS
    if not stamps.is_dir():
        raise SystemExit(f"{stamps} not found: is {root} an extracted {PACKAGE}?")
    if out.exists():
        # Only ever delete a folder this script wrote, never a mistyped --out.
        if any(out.iterdir()) and not (out / "manifest.csv").is_file():
            raise SystemExit(
                f"{out} is not empty and holds no manifest.csv: refusing to replace it"
            )
        shutil.rmtree(out)
    rows, counts = [], {}
    for class_name, folder in CLASSES.items():
        files = stamp_files(stamps / folder)
        names = [output_name(p) for p in files]
        if len(set(names)) != len(names):
            raise SystemExit(f"Two stamps in {folder} map to the same file name: {sorted(names)}")
        (out / class_name).mkdir(parents=True)
        for src, name in zip(files, names, strict=True):
            with Image.open(src) as image:
                original = image.size
                to_square_rgb(image).save(out / class_name / name, quality=QUALITY)
            rows.append(
                [class_name, name, (STAMPS / src.relative_to(stamps)).as_posix(), *original]
            )
        counts[class_name] = len(files)
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["class", "file", "source", "source_width", "source_height"])
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
    total = sum(f.stat().st_size for f in args.out.rglob("*.jpg"))
    print(f"{PACKAGE} {version}: {counts}, {sum(counts.values())} images, {total / 1e6:.2f} MB")


if __name__ == "__main__":
    sys.exit(main())
