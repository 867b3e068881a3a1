"""The `tlcourse` command: doctor, predict, compare, figures; errors without tracebacks."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tlcourse.cli import main
from tlcourse.paths import data_dir

ROOT = Path(__file__).resolve().parents[1]


def test_doctor_reports_versions_backbones_and_data(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "tensorflow" in out and "keras backend: tensorflow" in out
    assert "efficientnet_lite0" in out and "shipped photos: 180 images, 6 classes" in out
    # Quieting TensorFlow's start-up lines must not hide the devices from the report.
    assert "devices     CPU: /physical_device:CPU:0" in out


def test_predict_names_imagenet_classes_of_a_shipped_photo(capsys):
    photo = sorted((data_dir() / "photos" / "fruit").glob("*strawberr*"))[0]
    assert main(["predict", str(photo), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(photo) and len(lines) == 4
    assert "strawberry" in lines[1]


def test_a_corrupt_image_is_one_clear_line_not_a_traceback(tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    result = subprocess.run(
        [sys.executable, "-m", "tlcourse.cli", "predict", str(bad)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "broken.jpg" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_compare_fast_writes_table_and_figures_only_under_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    code = main(
        [
            "compare",
            "--fast",
            "--strategies",
            "feature_extraction,fine_tuning",
            "--image-size",
            "32",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "feature_extraction" in printed and "test accuracy" in printed
    table = pd.read_csv(out / "results.csv")
    assert list(table["strategy"]) == ["feature_extraction", "fine_tuning"]
    assert {p.name for p in out.iterdir()} >= {
        "results.csv",
        "predictions.csv",
        "comparison.png",
        "learning_curves.png",
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]

    # A second run without --resume/--overwrite refuses to touch the table.
    assert main(["compare", "--fast", "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_resumed_after_an_interrupt_writes_its_figures(tmp_path, capsys):
    # Bug: rows read back from results.csv stored "all data" as NaN, new rows as None, so the
    # table looked like a size sweep and plot_data_efficiency ended the run with exit 2.
    from tlcourse.comparison import compare

    out = tmp_path / "out"
    # One seed: the first run is read back, the second computed after the resume.
    common = {"strategies": "feature_extraction,scratch", "seeds": "0", "fast": True,
              "image_size": 32}  # fmt: skip

    def interrupt(line):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(out=out, progress=interrupt, **common)
    argv = ["compare", "--strategies", common["strategies"], "--seeds", "0", "--fast",
            "--image-size", "32", "--out", str(out), "--resume"]  # fmt: skip
    assert main(argv) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "skipped" in printed and "all" in printed
    # Rows read back and rows computed now: the figures of both tables, the ones drawn from
    # the predictions and the deployment columns included (the lock file is hidden).
    written = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert written == {"results.csv", "predictions.csv", "comparison.png", "learning_curves.png",
                       "deployment.png", "confusion.png", "gallery.png"}  # fmt: skip
    assert len(pd.read_csv(out / "results.csv")) == 2


def test_compare_list_shows_the_registered_strategies(capsys):
    assert main(["compare", "--list"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "fine_tuning_dlr Fine-tuning (differential LRs) True" in text
    assert "scratch_backbone Backbone from scratch False" in text


def _python(code: str, path: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [path, str(ROOT)]))}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip


def test_the_parser_and_the_grading_commands_do_not_import_tensorflow():
    code = "import sys; from tlcourse.cli import build_parser; build_parser(); "
    code += "print(sorted({'tensorflow', 'keras'} & set(sys.modules)))"
    assert _python(code).stdout.strip() == "[]"
    # The checker's process starts with its own module alone: what the tests need comes later.
    code = "import sys, tlcourse.grading.checker; heavy = {'tensorflow', 'keras', 'nbformat', "
    code += "'otter', 'jsonschema'}; print(sorted(heavy & set(sys.modules)))"
    assert _python(code).stdout.strip() == "[]"


def test_tensorflow_start_up_lines_are_held_back_and_other_lines_shown(tmp_path):
    # A stand-in TensorFlow that writes to file descriptor 2 as the real one does on a machine
    # without a GPU, plus one line that is not start-up noise.
    (tmp_path / "tensorflow.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called\\n')\n"
        "os.write(2, b'I0000 1 cudart_stub.cc:31] Could not find cuda drivers\\n')\n"
        "os.write(2, b'something the user must see\\n')\n"
    )
    code = "from tlcourse.cli import _import_tensorflow_quietly; _import_tensorflow_quietly()"
    assert _python(code, str(tmp_path)).stderr == "something the user must see\n"


def test_figures_writes_the_lecture_figures(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--backbone", "vgg16"]) == 0
    written = {Path(p).name for p in tmp_path.iterdir()}
    assert written == {
        "parameter_counts.png",
        "trainable_map.png",
        "learning_rates.png",
        "deployment_networks.png",
        "crossover.png",
    }
    assert "--results" in capsys.readouterr().out


def test_figures_with_missing_results_is_a_clear_error(tmp_path, capsys):
    assert main(["figures", "--out", str(tmp_path), "--results", "nope.csv"]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv", [["compare", "--strategies", "finetune"], ["compare", "--seeds", "-1"]]
)
def test_bad_options_exit_2_with_the_allowed_values(argv, capsys):
    assert main([*argv, "--out", "/tmp/never-written"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err


def test_summary_shows_the_co2_range_and_what_the_model_costs_to_use():
    from tlcourse.cli.compare import format_summary

    summary = pd.DataFrame(
        {
            "train_per_class": ["all", "all"],
            "strategy": ["scratch", "fine_tuning"],
            "runs": [3, 3],
            "accuracy_mean": [0.6, 0.9],
            "accuracy_std": [0.1, 0.02],
            "seconds_mean": [11.0, 9.0],
            "co2_g_mean": [0.02, 0.03],
            "trainable_params": [98454, 1488646],
            "co2_g_low_mean": [0.01, np.nan],
            "co2_g_high_mean": [0.04, np.nan],
            "model_mb": [0.47, 14.2],
            "latency_ms": [2.7, np.nan],
        }
    )
    lines = format_summary(summary).splitlines()
    assert "model (MB)" in lines[0] and "latency (ms)" in lines[0]
    assert "0.020 (0.010-0.040)" in lines[1] and "0.5" in lines[1]
    assert "0.030" in lines[2] and "(" not in lines[2] and "n/a" in lines[2]


def test_figures_draw_the_predictions_beside_the_results(tmp_path, capsys, monkeypatch):
    from plots_data import make_predictions, make_results

    import tlcourse.plots.lecture as lecture

    # The networks' deployment figure measures three networks (seconds): not this test's point.
    kept = tuple(f for f in lecture.LECTURE_FIGURES if f.file_name != "deployment_networks.png")
    monkeypatch.setattr(lecture, "LECTURE_FIGURES", kept)
    compared = tmp_path / "compared"
    compared.mkdir()
    make_results(sizes=(None,)).to_csv(compared / "results.csv", index=False)
    make_predictions(folder=tmp_path / "photos").to_csv(compared / "predictions.csv", index=False)
    out = tmp_path / "figures"
    argv = ["figures", "--out", str(out), "--results", str(compared / "results.csv")]
    assert main(argv) == 0, capsys.readouterr().err
    written = {p.name for p in out.iterdir()}
    assert {"comparison.png", "confusion.png", "gallery.png"} <= written
    # --predictions names another file; a missing one is a clear error.
    argv += ["--predictions", str(tmp_path / "nope.csv")]
    assert main(argv) == 2
    assert "nope.csv" in capsys.readouterr().err
