"""Dataset loading: schema of the real adult data, CSV and Parquet, unusable files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explainer import Dataset, InvalidParameterError, UnsupportedFormatError, UnusableInputError, load_dataset

ADULT_CSV = Path(__file__).resolve().parent.parent / "datasets" / "adult.csv"

# Counts in adult.csv (UCI Adult training file, 32,561 rows).
ADULT_ROWS = 32_561
WORKCLASS_MISSING = 1_836


@pytest.fixture(scope="module")
def adult_dataset():
    return load_dataset(ADULT_CSV, target="income")


@pytest.fixture(scope="module")
def adult_columns(adult_dataset):
    return {column["name"]: column for column in adult_dataset.schema()["columns"]}


def test_load_dataset_adult_shape_and_target(adult_dataset):
    assert len(adult_dataset) == ADULT_ROWS
    assert adult_dataset.name == "adult"
    assert adult_dataset.target == "income"
    assert adult_dataset.columns[-1] == "income"
    assert "income" not in adult_dataset.features.columns
    assert adult_dataset.features.shape == (ADULT_ROWS, 14)
    assert adult_dataset.digest.startswith("sha256:")


def test_schema_integer_column(adult_columns, adult_frame):
    age = adult_columns["age"]

    assert age["kind"] == "numeric"
    assert age["is_integer"] is True
    assert age["n_missing"] == 0
    assert age["min"] == adult_frame["age"].min() == 17
    assert age["max"] == adult_frame["age"].max() == 90
    assert age["mean"] == pytest.approx(adult_frame["age"].mean(), rel=1e-12)
    assert age["quantiles"]["0.5"] == adult_frame["age"].median()


def test_schema_categorical_column(adult_columns, adult_frame):
    workclass = adult_columns["workclass"]
    expected_counts = adult_frame["workclass"].value_counts()

    assert workclass["kind"] == "categorical"
    assert workclass["n_missing"] == WORKCLASS_MISSING
    assert workclass["missing_fraction"] == WORKCLASS_MISSING / ADULT_ROWS
    assert workclass["n_categories"] == 8
    assert {item["value"]: item["count"] for item in workclass["categories"]} == expected_counts.to_dict()
    assert workclass["categories"][0] == {"value": "Private", "count": 22_696}
    assert sum(item["count"] for item in workclass["categories"]) + WORKCLASS_MISSING == ADULT_ROWS


def test_schema_is_strict_json(adult_dataset):
    schema = json.loads(json.dumps(adult_dataset.schema(), allow_nan=False))

    assert schema["n_rows"] == ADULT_ROWS
    assert schema["target"] == "income"
    assert [column["name"] for column in schema["columns"]] == adult_dataset.columns


def test_schema_real_valued_and_boolean_columns():
    frame = pd.DataFrame({"ratio": [0.5, 1.5, np.nan], "flag": [True, False, True]})

    columns = {column["name"]: column for column in load_dataset(frame.to_csv(index=False).encode()).schema()["columns"]}

    assert columns["ratio"]["kind"] == "numeric"
    assert columns["ratio"]["is_integer"] is False
    assert columns["ratio"]["n_missing"] == 1
    assert columns["flag"]["kind"] == "boolean"
    assert columns["flag"]["categories"] == [{"value": True, "count": 2}, {"value": False, "count": 1}]


def test_load_dataset_parquet_equals_csv(adult_dataset, adult_frame):
    buffer = io.BytesIO()
    adult_frame.to_parquet(buffer)

    from_parquet = load_dataset(buffer.getvalue(), target="income")

    pd.testing.assert_frame_equal(from_parquet.frame, adult_dataset.frame)
    assert from_parquet.schema()["columns"] == adult_dataset.schema()["columns"]


def test_load_dataset_detects_parquet_by_content(tmp_path, adult_frame):
    path = tmp_path / "adult.csv"
    adult_frame.iloc[:50].to_parquet(path)

    dataset = load_dataset(path)

    pd.testing.assert_frame_equal(dataset.frame, adult_frame.iloc[:50])


def test_load_dataset_bytes_equal_path(adult_dataset):
    from_bytes = load_dataset(ADULT_CSV.read_bytes(), target="income")

    pd.testing.assert_frame_equal(from_bytes.frame, adult_dataset.frame)
    assert from_bytes.digest == adult_dataset.digest


@pytest.mark.parametrize(
    "data, error, message",
    [
        (b"", UnusableInputError, r"the dataset file is empty"),
        (b"  \n\n", UnusableInputError, r"the dataset file is empty"),
        (b"age,income\n", UnusableInputError, r"the dataset is empty \(0 rows, 2 columns\)"),
        (b"\x00\x01\x02\x03binary\xff\xfe", UnsupportedFormatError, r"neither CSV \(text\) nor Parquet"),
        (b"\xff\xfe\xfa\xfb,\xc3\x28\n1,2\n", UnsupportedFormatError, r"the CSV file cannot be parsed.*UTF-8"),
        (b"PAR1 not really parquet", UnsupportedFormatError, r"the Parquet file cannot be read"),
    ],
)
def test_load_dataset_unusable_bytes(data, error, message):
    with pytest.raises(error, match=message):
        load_dataset(data)


def test_load_dataset_missing_file(tmp_path):
    with pytest.raises(UnusableInputError, match=r"dataset file '.*missing\.csv' does not exist"):
        load_dataset(tmp_path / "missing.csv")


def test_load_dataset_missing_target_named():
    with pytest.raises(UnusableInputError, match=r"target column 'salary' is not in the dataset.*'income'") \
            as raised:
        load_dataset(ADULT_CSV, target="salary")
    assert raised.value.details["missing_columns"] == ["salary"]


def test_dataset_duplicated_columns():
    with pytest.raises(UnusableInputError, match=r"duplicated column names \['age'\]"):
        Dataset(pd.DataFrame([[1, 2]], columns=["age", "age"]))


def test_target_values_without_target():
    dataset = load_dataset(b"age,income\n30,>50K\n")

    with pytest.raises(UnusableInputError, match=r"the dataset has no target column"):
        dataset.target_values()


def test_dataset_row_returns_one_row(adult_dataset, adult_frame):
    row = adult_dataset.row(ADULT_ROWS - 1)

    pd.testing.assert_frame_equal(row, adult_frame.iloc[[ADULT_ROWS - 1]].reset_index(drop=True))


@pytest.mark.parametrize("index", [ADULT_ROWS, -1, 10**9])
def test_dataset_row_out_of_range(adult_dataset, index):
    with pytest.raises(UnusableInputError, match=rf"row_index {index} is out of range.*between 0 and {ADULT_ROWS - 1}"):
        adult_dataset.row(index)


@pytest.mark.parametrize("index", ["3", 1.0, True])
def test_dataset_row_not_an_integer(adult_dataset, index):
    with pytest.raises(InvalidParameterError, match=r"row_index must be an integer"):
        adult_dataset.row(index)


def test_dataset_sample_is_seeded(adult_dataset):
    first = adult_dataset.sample(200, random_state=5)
    second = adult_dataset.sample(200, random_state=5)
    other = adult_dataset.sample(200, random_state=6)

    pd.testing.assert_frame_equal(first, second)
    assert len(first) == 200
    assert not first.equals(other)
