"""Time the one-time weights conversion of efficientnet_lite0 and the cached loads after it.

Run: ``.venv/bin/python benchmarks/bench_weights.py`` (uses a fresh temporary cache folder, never
the user's). Targets on the project's 2-core machines: first load (conversion included) <= 15 s,
later loads <= 3 s. Exits with status 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

FIRST_TARGET_S = 15.0
CACHED_TARGET_S = 3.0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224, help="input side in pixels (224)")
    parser.add_argument("--repeats", type=int, default=3, help="cached loads to time (3)")
    args = parser.parse_args(argv)
    shape = (args.size, args.size, 3)

    with tempfile.TemporaryDirectory(prefix="tlcourse-bench-") as cache:
        os.environ["TLCOURSE_CACHE_DIR"] = cache
        start = time.perf_counter()
        from tlcourse.models.backbones import load_backbone

        import_s = time.perf_counter() - start

        start = time.perf_counter()
        load_backbone("efficientnet_lite0", input_shape=shape)
        first_s = time.perf_counter() - start

        cached = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            load_backbone("efficientnet_lite0", input_shape=shape)
            cached.append(time.perf_counter() - start)
        start = time.perf_counter()
        load_backbone("efficientnet_lite0", input_shape=shape, include_top=True)
        cached_top_s = time.perf_counter() - start

    rows = [
        ("import tlcourse.models.backbones (TensorFlow)", import_s, None),
        ("first load, converting (fresh cache)", first_s, FIRST_TARGET_S),
        (f"cached load, median of {args.repeats}", statistics.median(cached), CACHED_TARGET_S),
        (f"cached load, slowest of {args.repeats}", max(cached), CACHED_TARGET_S),
        ("cached load with the 1000-class top", cached_top_s, CACHED_TARGET_S),
    ]
    print(f"\nefficientnet_lite0 at {args.size} px, {os.cpu_count()} CPU cores")
    failed = False
    for label, seconds, target in rows:
        verdict = ""
        if target is not None:
            ok = seconds <= target
            failed |= not ok
            verdict = f"target <= {target:.0f} s  {'PASS' if ok else 'FAIL'}"
        print(f"  {label:<42} {seconds:6.2f} s   {verdict}")
    print("FAIL" if failed else "PASS")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
