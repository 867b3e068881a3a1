"""ResultsStore: finished runs found again, never lost to a kill, a second writer, a damaged
file or a full disk."""

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tlcourse.comparison import results as results_module
from tlcourse.comparison.predictions import read_predictions
from tlcourse.comparison.results import ResultsStore, read_results, run_key
from tlcourse.errors import InvalidParameterError, TLCourseError


def _run(seed: int, strategy: str = "scratch", images: int = 3):
    """A results row and its predictions (``images`` test images)."""
    identity = {"strategy": strategy, "backbone": "small_cnn", "dataset": "photos",
                "data": "photos", "seed": seed, "train_per_class": float("nan"),
                "image_size": 32, "budget": '{"epochs": 1}', "country": None,
                "distribute": "default"}  # fmt: skip
    row = {**identity, "test_accuracy": 0.5, "test_predictions": images}
    predictions = pd.DataFrame(
        [
            {**identity, "file": f"img{i}.png", "true": "a", "predicted": "b", "confidence": 0.9}
            for i in range(images)
        ]  # fmt: skip
    )
    return row, predictions


def _seeds(folder):
    return sorted(read_results(folder / "results.csv")["seed"])


def test_a_finished_run_is_found_and_replaced_never_duplicated(tmp_path):
    store = ResultsStore(tmp_path, resume=False, overwrite=False)
    assert store.results == tmp_path / "results.csv"
    for seed in (0, 1):
        store.add(*_run(seed))
    store.add(*_run(1))  # the same run again: replaced
    store.close()
    assert _seeds(tmp_path) == [0, 1] and len(read_predictions(tmp_path)) == 6
    again = ResultsStore(tmp_path, resume=True, overwrite=False)
    row, predictions = again.find(_run(1)[0])
    assert row["seed"] == 1 and len(predictions) == 3
    assert again.find(_run(2)[0]) is None
    # Without resume or overwrite the folder is refused; overwrite forgets its runs.
    with pytest.raises(InvalidParameterError, match="--resume"):
        ResultsStore(tmp_path, resume=False, overwrite=False)
    fresh = ResultsStore(tmp_path, resume=False, overwrite=True)
    assert fresh.find(_run(1)[0]) is None
    fresh.add(*_run(5))
    assert _seeds(tmp_path) == [5] and set(read_predictions(tmp_path)["seed"]) == {5}


def test_a_run_without_all_its_predictions_is_not_done(tmp_path):
    store = ResultsStore(tmp_path, resume=False, overwrite=False)
    store.add(*_run(0))
    store.add(*_run(1))
    predictions = read_predictions(tmp_path)
    predictions[predictions["seed"] == 0].iloc[:-1].to_csv(tmp_path / "predictions.csv",
                                                           index=False)  # fmt: skip
    resumed = ResultsStore(tmp_path, resume=True, overwrite=False)
    assert resumed.find(_run(0)[0]) is None and resumed.find(_run(1)[0]) is None


def test_no_folder_keeps_nothing(tmp_path):
    store = ResultsStore(None, resume=False, overwrite=False)
    store.add(*_run(0))
    store.close()
    assert store.results is None and store.find(_run(0)[0]) is not None


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from test_results_store import _run
    from tlcourse.comparison.results import ResultsStore

    folder, strategy, runs = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    store = ResultsStore(folder, resume=True, overwrite=False)
    for seed in range(runs):
        store.add(*_run(seed, strategy))
    store.close()
    """
).format(tests=os.path.dirname(__file__))


def test_two_processes_writing_one_folder_lose_no_run(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    out = tmp_path / "out"
    writers = [
        subprocess.Popen([sys.executable, str(script), str(out), strategy, "12"])
        for strategy in ("scratch", "feature_extraction")
    ]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    table = read_results(out / "results.csv")
    assert len(table) == 24 and not table.duplicated(["strategy", "seed"]).any()
    predictions = read_predictions(out)
    assert len(predictions) == 72 and not predictions.duplicated().any()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


def test_a_writer_killed_between_the_two_files_loses_only_its_last_run(tmp_path):
    script = tmp_path / "killed.py"
    # Killed (SIGKILL) after writing predictions.csv, before results.csv, in its third run.
    script.write_text(
        WRITER.replace(
            "store = ResultsStore",
            "import os, signal\n"
            "from tlcourse.comparison import results\n"
            "write, calls = results._write_text, []\n"
            "def killing(path, text):\n"
            "    calls.append(path)\n"
            "    if len(calls) == 6:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n"
            "    write(path, text)\n"
            "results._write_text = killing\n"
            "store = ResultsStore",
        )
    )
    out = tmp_path / "out"
    code = subprocess.run([sys.executable, str(script), str(out), "scratch", "5"]).returncode
    assert code == -signal.SIGKILL
    assert _seeds(out) == [0, 1]
    assert set(read_predictions(out)["seed"]) == {0, 1, 2}  # seed 2: predictions, no row
    store = ResultsStore(out, resume=True, overwrite=False)
    assert store.find(_run(1)[0]) is not None and store.find(_run(2)[0]) is None
    store.close()  # predictions of no row are dropped
    assert set(read_predictions(out)["seed"]) == {0, 1}


@pytest.mark.parametrize("name", ["results.csv", "predictions.csv"])
def test_a_file_cut_mid_line_is_recovered(tmp_path, capsys, name):
    store = ResultsStore(tmp_path, resume=False, overwrite=False)
    for seed in (0, 1, 2):
        store.add(*_run(seed))
    path = tmp_path / name
    text = path.read_text()
    path.write_text(text[: len(text) - 10])  # the last line cut mid-line
    resumed = ResultsStore(tmp_path, resume=True, overwrite=False)
    notice = capsys.readouterr().err.strip()
    assert len(notice.splitlines()) == 1 and name in notice and "damaged" in notice
    (aside,) = tmp_path.glob(f"{name}.damaged-*")
    assert aside.read_text() == text[text.rstrip("\n").rfind("\n") + 1 : len(text) - 10]
    assert resumed.find(_run(0)[0]) is not None and resumed.find(_run(1)[0]) is not None
    assert resumed.find(_run(2)[0]) is None  # computed again
    resumed.add(*_run(2))
    assert _seeds(tmp_path) == [0, 1, 2] and len(read_predictions(tmp_path)) == 9
    assert ResultsStore(tmp_path, resume=True, overwrite=False).find(_run(2)[0]) is not None


def test_reading_a_cut_file_keeps_its_complete_rows(tmp_path, capsys):
    path = tmp_path / "results.csv"
    path.write_text("strategy,seed\nscratch,0\nscratch,1\nfine_tu")
    assert read_results(path)["seed"].tolist() == [0, 1]
    assert "damaged" in capsys.readouterr().err
    assert path.read_text().endswith("fine_tu")  # a reader changes nothing


def _full_disk(monkeypatch, error):
    real = os.fdopen

    class Full:
        def __init__(self, *args, **kwargs):
            self.file = real(*args, **kwargs)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, text):
            raise OSError(error, os.strerror(error))

    monkeypatch.setattr(results_module.os, "fdopen", Full)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EACCES])
def test_a_full_disk_is_one_line_naming_the_path_and_keeps_the_finished_runs(
    tmp_path, monkeypatch, error
):
    store = ResultsStore(tmp_path, resume=False, overwrite=False)
    store.add(*_run(0))
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")}
    _full_disk(monkeypatch, error)
    with pytest.raises(TLCourseError) as raised:
        store.add(*_run(1))
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path) in message and os.strerror(error) in message
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.csv")} == before
    assert not list(tmp_path.glob(".*.tmp"))
    monkeypatch.undo()
    store.add(*_run(1))  # space freed: the next run is written with the earlier one
    assert _seeds(tmp_path) == [0, 1]


def test_an_unwritable_folder_is_one_line_naming_it(tmp_path, monkeypatch):
    def refused(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(results_module.Path, "mkdir", refused)
    with pytest.raises(TLCourseError, match=f"{tmp_path / 'out'}.*Permission denied"):
        ResultsStore(tmp_path / "out", resume=False, overwrite=False).add(*_run(0))


@pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("mount"), reason="mounting a tmpfs needs root"
)
def test_a_really_full_disk(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("no tmpfs here")
    try:
        store = ResultsStore(disk, resume=False, overwrite=False)
        store.add(*_run(0))
        with pytest.raises(TLCourseError, match="No space left on device"):
            store.add(*_run(1, images=2000))
        assert _seeds(disk) == [0] and len(read_predictions(disk)) == 3
        assert not list(disk.glob(".*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_rows_keep_their_keys_through_the_store(tmp_path):
    row, predictions = _run(3)
    ResultsStore(tmp_path, resume=False, overwrite=False).add(row, predictions)
    (back,) = read_results(tmp_path / "results.csv").to_dict("records")
    assert run_key(back) == run_key(row)


def test_compare_resumes_a_table_cut_mid_line_and_computes_the_run_again(tmp_path, capsys):
    from strategy_toys import MAJORITY, make_photo_folder, registered

    from tlcourse.comparison import FAST_BUDGET, compare

    (tmp_path / "photos").mkdir()
    photos = make_photo_folder(tmp_path / "photos")
    args = {"strategies": "majority", "seeds": "0,1,2", "out": tmp_path / "out",
            "budget": FAST_BUDGET, "image_size": 32, "progress": None,
            "deployment": False}  # fmt: skip
    with registered(MAJORITY):
        compare(str(photos), **args)
        results = tmp_path / "out" / "results.csv"
        text = results.read_text()
        results.write_text(text[: len(text) - 25])  # a disk that filled up mid-line
        lines = []
        table = compare(str(photos), resume=True, **{**args, "progress": lines.append})
    assert "damaged" in capsys.readouterr().err
    assert len(list((tmp_path / "out").glob("results.csv.damaged-*"))) == 1
    assert [("skipped" in line) for line in lines] == [True, True, False]
    assert len(table) == 3 and _seeds(tmp_path / "out") == [0, 1, 2]
    assert len(read_predictions(tmp_path / "out")) == 3 * 6
