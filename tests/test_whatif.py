"""What-if queries and sweeps: predictions equal direct estimator calls on hand-built rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from explainer import InvalidParameterError, UnusableInputError, sweep, what_if


@pytest.fixture(scope="module")
def adult_features(adult_frame):
    return adult_frame.drop(columns="income")


@pytest.fixture(scope="module")
def base_row(adult_features):
    return adult_features.iloc[[3]].reset_index(drop=True)


def _changed_by_hand(row: pd.DataFrame, changes: dict) -> pd.DataFrame:
    changed = row.copy()
    for feature, value in changes.items():
        changed.loc[0, feature] = value
    return changed


@pytest.mark.parametrize(
    "changes",
    [
        {"age": 60},
        {"sex": "Female", "hours-per-week": 60},
        {"workclass": None},
        {"capital-gain": 15_024, "education": "Masters", "education-num": 14},
    ],
)
def test_what_if_prediction_equals_estimator(adult_model, base_row, adult_features, changes):
    changed = _changed_by_hand(base_row, changes)
    assert changed.dtypes.equals(base_row.dtypes)

    result = what_if(adult_model, base_row, changes, background=adult_features)

    np.testing.assert_array_equal(result.prediction_before, adult_model.estimator.predict_proba(base_row)[0])
    np.testing.assert_array_equal(result.prediction_after, adult_model.estimator.predict_proba(changed)[0])
    np.testing.assert_array_equal(result.prediction_change, result.prediction_after - result.prediction_before)
    assert result.prediction_after.shape == (2,)
    assert result.changes == changes
    for feature, value in changes.items():
        assert result.changed_row[feature] == value


def test_what_if_missing_value_changes_prediction(adult_model, base_row, adult_features):
    result = what_if(adult_model, base_row, {"workclass": None}, background=adult_features)

    assert base_row.loc[0, "workclass"] == "Private"
    assert result.original_row["workclass"] == "Private"
    assert result.changed_row["workclass"] is None
    assert not np.array_equal(result.prediction_after, result.prediction_before)


def test_what_if_explanation_is_additive(adult_model, base_row, adult_features):
    result = what_if(adult_model, base_row, {"age": 60, "workclass": None}, background=adult_features)

    explanation = result.explanation
    reconstructed = np.array(explanation["base_values"]) + np.array(explanation["values"]).sum(axis=1)
    assert explanation["explainer"] == "tree"
    assert explanation["max_additivity_error"] < 1e-6
    np.testing.assert_allclose(reconstructed[0], result.prediction_after, atol=1e-6, rtol=0)
    assert explanation["data"][0]["age"] == 60


def test_what_if_without_explanation(adult_model, base_row):
    result = what_if(adult_model, base_row, {"age": 30}, explain=False)

    assert result.explanation is None
    assert result.to_dict()["explanation"] is None


def test_what_if_regressor(california_model, california_frame):
    row = california_frame.iloc[[10]].reset_index(drop=True)
    changes = {"median_income": 9.5, "ocean_proximity": "INLAND"}

    result = what_if(california_model, row, changes, background=california_frame)

    expected = california_model.estimator.predict(_changed_by_hand(row, changes))
    np.testing.assert_array_equal(result.prediction_after, expected)
    assert result.output_space == "raw"
    scale = abs(expected[0])
    assert result.explanation["max_additivity_error"] < 1e-6 * scale


def test_what_if_unknown_feature_lists_features(adult_model, base_row):
    with pytest.raises(UnusableInputError, match=r"\['salary'\] that the model does not take.*'age', 'workclass'") \
            as raised:
        what_if(adult_model, base_row, {"salary": 10, "age": 40})
    assert raised.value.details["unknown_features"] == ["salary"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"age": "old"}, r"feature 'age' is numeric; give a number or null, got 'old'"),
        ({"age": True}, r"feature 'age' is numeric; give a number or null, got True"),
        ({"age": float("inf")}, r"feature 'age' needs a finite number, got inf"),
        ({"sex": 1}, r"feature 'sex' is categorical; give one of its categories as a string or null, got 1"),
        (["age", 40], r"changes must map feature names to values"),
    ],
)
def test_what_if_wrong_value_type(adult_model, base_row, changes, message):
    with pytest.raises(InvalidParameterError, match=message):
        what_if(adult_model, base_row, changes, explain=False)


def test_what_if_needs_one_row(adult_model, adult_features):
    with pytest.raises(InvalidParameterError, match=r"a what-if query takes one base row, got 2"):
        what_if(adult_model, adult_features.iloc[:2], {"age": 40})


@pytest.fixture(scope="module")
def sweep_rows(adult_features):
    return adult_features.sample(15, random_state=0).reset_index(drop=True)


def test_sweep_integer_feature_grid_is_whole_numbers(adult_model, sweep_rows, adult_features):
    result = sweep(adult_model, sweep_rows, "age", n_points=10, reference=adult_features)

    assert all(type(value) is int for value in result.grid)
    assert result.grid == sorted(set(result.grid))
    assert result.grid[0] == adult_features["age"].min()
    assert result.grid[-1] == adult_features["age"].max()
    assert len(result.grid) == 10


def test_sweep_categorical_feature_grid_is_categories(adult_model, sweep_rows):
    result = sweep(adult_model, sweep_rows, "sex")

    assert result.grid == ["Female", "Male"]
    assert result.predictions.shape == (15, 2, 2)


def test_sweep_include_missing(adult_model, sweep_rows, adult_features):
    result = sweep(adult_model, sweep_rows, "workclass", reference=adult_features, include_missing=True)

    assert result.grid[-1] is None
    assert result.grid[:-1] == sorted(adult_features["workclass"].dropna().unique())


@pytest.mark.parametrize(
    "feature, options",
    [
        ("age", {"n_points": 6}),
        ("sex", {}),
        ("hours-per-week", {"grid": [10, 40, 80]}),
        ("workclass", {"include_missing": True}),
    ],
)
def test_sweep_ice_equals_direct_predictions(adult_model, sweep_rows, adult_features, feature, options):
    result = sweep(adult_model, sweep_rows, feature, reference=adult_features, **options)

    n_grid = len(result.grid)
    assert result.predictions.shape == (len(sweep_rows), n_grid, 2)
    np.testing.assert_array_equal(result.average, result.predictions.mean(axis=0))
    for position, value in enumerate(result.grid):
        changed = sweep_rows.copy()
        changed[feature] = pd.Series([value] * len(sweep_rows), dtype=sweep_rows[feature].dtype)
        expected = adult_model.estimator.predict_proba(changed)
        np.testing.assert_array_equal(result.predictions[:, position], expected)


def test_sweep_regressor_shape(california_model, california_frame):
    rows = california_frame.sample(10, random_state=0).reset_index(drop=True)

    result = sweep(california_model, rows, "median_income", n_points=5)

    assert result.predictions.shape == (10, 5)
    assert result.average.shape == (5,)
    assert result.grid[0] == rows["median_income"].min()
    assert result.grid[-1] == rows["median_income"].max()


@pytest.mark.parametrize(
    "feature, options, error, message",
    [
        ("salary", {}, UnusableInputError, r"feature 'salary' is not an input of the model"),
        ("age", {"n_points": 1}, InvalidParameterError, r"n_points must be between 2 and 1000, got 1"),
        ("age", {"grid": []}, InvalidParameterError, r"grid must be a list of 1 to 1000 values"),
        ("age", {"grid": ["young"]}, InvalidParameterError, r"feature 'age' is numeric"),
    ],
)
def test_sweep_bad_input(adult_model, sweep_rows, feature, options, error, message):
    with pytest.raises(error, match=message):
        sweep(adult_model, sweep_rows, feature, **options)


def test_sweep_boolean_feature_grid_is_false_true():
    from sklearn.linear_model import LogisticRegression

    from explainer.models._sklearn import SklearnModel

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"owner": rng.random(200) < 0.4, "income": rng.normal(size=200)})
    target = (frame["owner"] ^ (frame["income"] > 1)).astype(int)
    model = SklearnModel(LogisticRegression().fit(frame, target), format="test", digest="sha256:test")

    result = sweep(model, frame.iloc[:4], "owner")

    assert result.grid == [False, True]
    assert result.grid_dtype == "bool"
    assert result.feature_kind == "boolean"
    for position, value in enumerate(result.grid):
        expected = model.estimator.predict_proba(frame.iloc[:4].assign(owner=value))
        np.testing.assert_array_equal(result.predictions[:, position], expected)


def test_sweep_2d_and_batch_agree_with_sweep(adult_model, sweep_rows, adult_features):
    from explainer import sweep_2d, what_if_batch

    surface = sweep_2d(adult_model, sweep_rows, ["sex", "age"], grids=[["Male"], None], n_points=5,
                       reference=adult_features)
    curves = sweep(adult_model, sweep_rows, "age", n_points=5, reference=adult_features)
    male = sweep_rows.assign(sex="Male").astype(sweep_rows.dtypes.to_dict())
    curves_male = sweep(adult_model, male, "age", n_points=5, reference=adult_features)
    batch = what_if_batch(adult_model, sweep_rows.iloc[:1],
                          [{"changes": {"sex": "Male", "age": age}} for age in curves.grid])

    assert surface.grids[1] == curves.grid
    np.testing.assert_array_equal(surface.predictions[:, 0], curves_male.predictions)
    np.testing.assert_array_equal(np.array([v["prediction"] for v in batch.variants]),
                                  curves_male.predictions[0])


def test_apply_changes_boolean_missing_stays_missing():
    from explainer.methods._whatif import _column_of

    column = _column_of([True, None], np.dtype(bool))

    assert column.dtype == object
    assert column[0] is True
    assert pd.isna(column[1])
