"""Progress of a comparison: a live bar on a terminal, one line per finished run otherwise.

The bar (:mod:`rich`) shows the run in progress, its epoch, the time spent and the time left,
estimated per strategy (a scratch epoch and a head epoch on cached features differ 100-fold)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import keras
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

__all__ = ["PlanProgress", "format_duration"]


def format_duration(seconds: float) -> str:
    """``"1 min 05 s"``-style text (``"8 s"`` under a minute)."""
    seconds = max(0, round(seconds))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


class PlanProgress:
    """The progress of a plan of runs: ``runs`` holds one ``(strategy, expected epochs)`` per
    run; ``say`` gets one line per finished (or skipped) run (None: silence); ``live`` draws
    the bar (None: when standard output is a terminal) on ``console``.

    Example:
        >>> lines = []
        >>> progress = PlanProgress([("scratch", 2), ("feature_extraction", 2)], lines.append)
        >>> progress.start(0, "scratch seed=0")
        >>> progress.epoch_done(); progress.epoch_done()
        >>> progress.finish("scratch: done")
        >>> progress.estimate_left() >= 0, lines
        (True, ['scratch: done'])
        >>> progress.close()
    """

    def __init__(self, runs: Sequence[tuple[str, int]], say: Callable[[str], None] | None,
                 live: bool | None = None, console: Console | None = None):  # fmt: skip
        self.runs = [(name, max(int(epochs), 1)) for name, epochs in runs]
        self._say = say
        # A LambdaCallback is given no model: fine_tune may still train on cached activations.
        done = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: self.epoch_done())
        self.callbacks = (done,)
        self._seconds: dict[str, list[float]] = {}
        self._epoch_seconds: list[float] = []
        self._index, self._epochs, self._bar = -1, 0, None
        self._run_start = time.perf_counter()
        if live is None:
            live = say is not None and sys.stdout.isatty()
        if live and self.runs:
            self._bar = Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[epoch]}"),
                TimeElapsedColumn(), TextColumn("{task.fields[left]}"),
                console=console or Console(file=sys.stdout), refresh_per_second=4, transient=True,
            )  # fmt: skip
            total = sum(epochs for _, epochs in self.runs)
            self._task = self._bar.add_task("", total=total, epoch="", left="")
            self._bar.start()

    def start(self, index: int, description: str) -> None:
        """Run ``index`` of the plan starts (``description``: what the bar shows)."""
        self._index, self._epochs = index, 0
        self._run_start = time.perf_counter()
        self._update(f"[{index + 1}/{len(self.runs)}] {description}")

    def epoch_done(self) -> None:
        """One more epoch of the current run (the callbacks call this)."""
        self._epochs += 1
        self._update()

    def finish(self, line: str) -> None:
        """The current run is finished: print ``line`` and learn its duration."""
        name, epochs = self.runs[self._index]
        seconds = time.perf_counter() - self._run_start
        self._seconds.setdefault(name, []).append(seconds)
        self._epoch_seconds.append(seconds / epochs)
        self.skip(line)

    def skip(self, line: str) -> None:
        """The current run is over (finished, or found in the results already): say ``line``."""
        if self._bar is not None:
            self._bar.console.print(line, highlight=False, markup=False)
        elif self._say is not None:
            self._say(line)
        self._epochs = self.runs[self._index][1] if self._index >= 0 else 0
        self._update()

    def _estimate(self, index: int) -> float | None:
        name, epochs = self.runs[index]
        if name in self._seconds:
            return sum(self._seconds[name]) / len(self._seconds[name])
        if self._epoch_seconds:
            return epochs * sum(self._epoch_seconds) / len(self._epoch_seconds)
        return None

    def estimate_left(self) -> float | None:
        """Seconds left for the whole plan (None before any run finished)."""
        if self._index < 0:
            return None
        estimates = [self._estimate(i) for i in range(self._index + 1, len(self.runs))]
        current = self._estimate(self._index)
        if current is None or any(e is None for e in estimates):
            return None
        if self._epochs >= self.runs[self._index][1]:
            current = 0.0
        else:
            current = max(0.0, current - (time.perf_counter() - self._run_start))
        return current + sum(estimates)

    def _update(self, description: str | None = None) -> None:
        if self._bar is None:
            return
        left = self.estimate_left()
        epochs = self.runs[self._index][1] if self._index >= 0 else 0
        fields = {
            "completed": sum(e for _, e in self.runs[: self._index]) + min(self._epochs, epochs),
            "epoch": f"epoch {min(self._epochs + 1, epochs)}/{epochs}",
            "left": "estimating time left" if left is None else f"~{format_duration(left)} left",
        }
        if description is not None:
            fields["description"] = description
        self._bar.update(self._task, **fields)

    def close(self) -> None:
        """Stop the live bar (the finished runs' lines stay on the terminal)."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __enter__(self) -> PlanProgress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
