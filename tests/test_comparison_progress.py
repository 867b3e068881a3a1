"""Progress of a comparison: a live bar on a terminal, one line per run elsewhere."""

import io

import pytest
from rich.console import Console
from strategy_toys import MAJORITY, make_photo_folder, registered

import tlcourse.comparison.progress as progress_module
from tlcourse.comparison import FAST_BUDGET, compare
from tlcourse.comparison.progress import PlanProgress, format_duration


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(progress_module.time, "perf_counter", clock)
    return clock


def test_time_left_is_estimated_per_strategy(clock):
    lines = []
    plan = PlanProgress([("scratch", 30), ("head", 30), ("scratch", 30), ("head", 30)],
                        lines.append, live=False)  # fmt: skip
    plan.start(0, "scratch seed=0")
    assert plan.estimate_left() is None  # nothing finished yet
    clock.now = 10.0
    plan.finish("scratch done")
    plan.start(1, "head seed=0")
    clock.now = 11.0
    # The head was never seen: its epochs are priced at the mean epoch so far (10 s / 30).
    # Left: this head (10 s, 1 s done), a scratch run (10 s) and another head (10 s).
    assert plan.estimate_left() == pytest.approx(10.0 - 1.0 + 10.0 + 10.0)
    plan.finish("head done")
    plan.start(2, "scratch seed=1")
    clock.now = 14.0
    assert plan.estimate_left() == pytest.approx((10.0 - 3.0) + 1.0)
    plan.close()
    assert lines == ["scratch done", "head done"]
    assert format_duration(125) == "2 min 05 s"


def test_the_live_bar_shows_epochs_and_time_left(clock):
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    plan = PlanProgress([("scratch", 2), ("scratch", 2)], print, live=True, console=console)
    plan.start(0, "scratch seed=0")
    plan.epoch_done()
    clock.now = 4.0
    plan.finish("[1/2] scratch seed=0: 50%")
    plan.start(1, "scratch seed=1")
    plan.callbacks[0].on_epoch_end(0)  # what fit calls
    plan._bar.refresh()
    plan.close()
    printed = screen.getvalue()
    assert "[1/2] scratch seed=0: 50%" in printed  # finished runs stay printed
    assert "left" in printed and "epoch 2/2" in printed


def test_compare_counts_epochs_and_prints_one_line_per_run_when_not_live(tmp_path):
    lines = []
    with registered(MAJORITY):
        compare(str(make_photo_folder(tmp_path)), strategies="majority", seeds="0,1",
                budget=FAST_BUDGET, image_size=32, out=None, progress=lines.append)  # fmt: skip
    assert len(lines) == 2 and lines[0].startswith("[1/2] majority")
