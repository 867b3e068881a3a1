"""The results table: one representation of "all data", run keys, atomic writes, reading back."""

import json

import numpy as np
import pandas as pd
import pytest

from tlcourse.comparison import Budget
from tlcourse.comparison.results import (
    KEY_COLUMNS,
    image_size_value,
    normalize_results,
    read_results,
    run_key,
    write_results,
)
from tlcourse.errors import InvalidParameterError

ROW = {
    "strategy": "fine_tuning",
    "backbone": "efficientnet_lite0",
    "data": "photos",
    "seed": 0,
    "train_per_class": float("nan"),
    "image_size": 64,
    "budget": json.dumps(Budget().get_config()),
    "country": None,
    "distribute": "default",
}


def test_all_data_is_nan_in_memory_and_an_empty_cell_on_disk(tmp_path):
    rows = [{**ROW, "train_per_class": v} for v in (None, float("nan"), "all", 5, np.int64(10))]
    write_results(rows, tmp_path / "results.csv")
    cells = pd.read_csv(tmp_path / "results.csv", dtype=str, keep_default_na=False)
    assert list(cells["train_per_class"]) == ["", "", "", "5", "10"]
    table = read_results(tmp_path / "results.csv")
    assert table["train_per_class"].dtype == float
    assert table["train_per_class"].isna().tolist() == [True, True, True, False, False]
    assert normalize_results(pd.DataFrame(rows))["train_per_class"].equals(table["train_per_class"])


def test_a_row_read_back_has_the_key_it_was_written_with(tmp_path):
    write_results([ROW], tmp_path / "results.csv")
    (back,) = read_results(tmp_path / "results.csv").to_dict("records")
    assert run_key(back) == run_key(ROW) is not None


def test_the_key_is_the_whole_budget_country_and_distribution():
    assert {"budget", "country", "distribute", "data", "image_size"} <= set(KEY_COLUMNS)
    for field, value in [("epochs", 3), ("depth", "all"), ("factor", 2.0), ("batch_size", 8)]:
        other = {**ROW, "budget": json.dumps(Budget(**{field: value}).get_config())}
        assert run_key(other) != run_key(ROW)
    assert run_key({**ROW, "country": "FRA"}) != run_key(ROW)
    # Formatting differences are not differences.
    reordered = json.dumps(dict(reversed(list(Budget().get_config().items()))))
    assert run_key({**ROW, "budget": reordered, "image_size": "64x64"}) == run_key(ROW)


@pytest.mark.parametrize("column", ["budget", "country", "distribute", "data"])
def test_a_row_without_a_key_column_has_no_key(column):
    row = {k: v for k, v in ROW.items() if k != column}
    assert run_key(row) is None


def test_image_sizes_are_stored_as_a_side_or_height_x_width():
    assert image_size_value(96) == image_size_value((96, 96)) == image_size_value("96") == 96
    assert image_size_value([96, 128]) == image_size_value("96x128") == "96x128"


def test_writing_is_atomic_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "results.csv"
    write_results([ROW], path)
    write_results([ROW, ROW], path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]
    assert len(read_results(path)) == 2


def test_reading_a_missing_or_broken_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidParameterError, match="existing results.csv"):
        read_results(tmp_path / "nope.csv")
    (tmp_path / "bad.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InvalidParameterError, match="could not be read"):
        read_results(tmp_path / "bad.csv")
