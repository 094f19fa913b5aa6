"""Counterfactuals and input optimization: every returned row is checked against the model itself."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from explainer import InvalidParameterError, UnusableInputError, counterfactuals, optimize_inputs
from explainer.models._sklearn import SklearnModel
from tests.conftest import problem_of

FROZEN = ["sex", "race", "native-country", "relationship", "marital-status"]
INTEGER_FEATURES = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]


@pytest.fixture(scope="module")
def adult_features(adult_frame):
    return adult_frame.drop(columns="income")


@pytest.fixture(scope="module")
def base_row(adult_features):
    # Row 3 is predicted "<=50K" with a probability of about 0.88.
    return adult_features.iloc[[3]].reset_index(drop=True)


@pytest.fixture(scope="module")
def constraints(base_row):
    age = int(base_row.loc[0, "age"])
    return {
        "frozen": FROZEN,
        "bounds": {"age": [age, age + 15], "hours-per-week": [20, 60]},
        "allowed_categories": {"education": ["Bachelors", "Masters", "HS-grad"],
                               "workclass": ["Private", "Self-emp-inc"]},
        "steps": {"capital-gain": 500},
    }


@pytest.fixture(scope="module")
def constrained_result(adult_model, base_row, adult_features, constraints):
    return counterfactuals(adult_model, base_row, reference=adult_features, n_counterfactuals=4,
                           random_state=7, **constraints)


def _frame_of(rows: list[dict], like: pd.DataFrame) -> pd.DataFrame:
    frame = pd.DataFrame(rows)[list(like.columns)]
    return frame.astype(like.dtypes.to_dict())


def test_counterfactuals_reach_target_by_direct_prediction(adult_model, base_row, constrained_result):
    result = constrained_result
    rows = [item["row"] for item in result.counterfactuals]
    probabilities = adult_model.estimator.predict_proba(_frame_of(rows, base_row))

    assert result.target == {"class": ">50K"}
    assert adult_model.estimator.predict(base_row)[0] == "<=50K"
    assert result.n_found == 4
    assert result.message is None
    assert probabilities.argmax(axis=1).tolist() == [1] * 4
    np.testing.assert_array_equal([item["prediction"] for item in result.counterfactuals], probabilities)
    assert all(item["reaches_target"] for item in result.counterfactuals)
    assert result.evaluations <= 20_000


def test_counterfactuals_respect_constraints(base_row, constrained_result, constraints):
    original = base_row.iloc[0]
    age = int(original["age"])
    for item in constrained_result.counterfactuals:
        row, changes = item["row"], item["changes"]
        assert changes == {name: value for name, value in row.items() if value != original[name]}
        assert item["n_changed"] == len(changes)
        for feature in FROZEN:
            assert row[feature] == original[feature]
        assert age <= row["age"] <= age + 15
        if "hours-per-week" in changes:
            assert 20 <= row["hours-per-week"] <= 60
        if "education" in changes:
            assert row["education"] in ["Bachelors", "Masters", "HS-grad"]
        if "workclass" in changes:
            assert row["workclass"] in ["Private", "Self-emp-inc"]
        if "capital-gain" in changes:
            assert row["capital-gain"] % 500 == 0
        for feature in INTEGER_FEATURES:
            assert type(row[feature]) is int, feature


def test_counterfactuals_sorted_sparse_and_diverse(constrained_result):
    items = constrained_result.counterfactuals
    distances = [item["distance"] for item in items]

    assert distances == sorted(distances)
    assert len({tuple(sorted(item["changes"])) for item in items}) == len(items)
    assert all(item["n_changed"] <= 3 for item in items)


def test_counterfactuals_same_seed_same_result(adult_model, base_row, adult_features, constraints,
                                              constrained_result):
    again = counterfactuals(adult_model, base_row, reference=adult_features, n_counterfactuals=4,
                            random_state=7, **constraints)

    assert again.to_dict()["counterfactuals"] == constrained_result.to_dict()["counterfactuals"]
    assert again.evaluations == constrained_result.evaluations


def test_counterfactuals_distance_is_scaled_l1(adult_features, constrained_result, base_row):
    values = adult_features["capital-gain"].to_numpy(dtype=float)
    # capital-gain is mostly 0, so its median absolute deviation is 0 and its range scales it.
    assert np.median(np.abs(values - np.median(values))) == 0
    for item in constrained_result.counterfactuals:
        if set(item["changes"]) == {"capital-gain"}:
            expected = abs(item["row"]["capital-gain"] - base_row.loc[0, "capital-gain"]) / np.ptp(values)
            assert item["distance"] == pytest.approx(expected)


def test_counterfactuals_min_probability(adult_model, base_row, adult_features):
    result = counterfactuals(adult_model, base_row, reference=adult_features, target_class=">50K",
                             min_probability=0.9, frozen=FROZEN, n_counterfactuals=2, max_evaluations=5000)

    assert result.n_found >= 1
    probabilities = adult_model.estimator.predict_proba(
        _frame_of([item["row"] for item in result.counterfactuals], base_row))
    assert (probabilities[:, 1] >= 0.9).all()


def test_counterfactuals_regressor_reaches_range(california_model, california_frame):
    features = california_frame.drop(columns="median_house_value")
    row = features.iloc[[10]].reset_index(drop=True)

    result = counterfactuals(california_model, row, reference=features, target_range=[300_000, None],
                             frozen=["longitude", "latitude"], max_evaluations=5000)

    outputs = california_model.estimator.predict(_frame_of([item["row"] for item in result.counterfactuals], row))
    assert result.target == {"range": [300_000.0, None]}
    assert california_model.estimator.predict(row)[0] < 300_000
    assert result.n_found == 3
    assert (outputs >= 300_000).all()
    np.testing.assert_array_equal([item["prediction"][0] for item in result.counterfactuals], outputs)


def test_counterfactuals_all_frozen_returns_message(adult_model, base_row, adult_features):
    result = counterfactuals(adult_model, base_row, reference=adult_features,
                             frozen=list(adult_model.feature_names))

    assert result.counterfactuals == []
    assert result.n_found == 0
    assert "no feature can change" in result.message
    assert result.evaluations == 1


def test_counterfactuals_small_budget_returns_message(adult_model, base_row, adult_features):
    result = counterfactuals(adult_model, base_row, reference=adult_features, frozen=FROZEN,
                             bounds={"age": [39, 40]}, max_evaluations=4, n_counterfactuals=3)

    assert result.n_found < 3
    assert result.evaluations <= 4
    assert result.message.startswith(f"found {result.n_found} of 3 requested counterfactuals within 4")
    assert "raise max_evaluations" in result.message
    assert "unfreeze" in result.message


@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"frozen": ["salary"]}, UnusableInputError, r"frozen names feature\(s\) \['salary'\].*'age', 'workclass'"),
        ({"bounds": {"age": [60, 20]}}, InvalidParameterError, r"bounds of feature 'age' must have low <= high, "
                                                              r"got \[60.0, 20.0\]"),
        ({"frozen": ["age"], "bounds": {"age": [20, 60]}}, InvalidParameterError,
         r"bounds constrains feature\(s\) \['age'\], which cannot change because each is frozen"),
        ({"allowed_categories": {"education": ["Wizardry"]}}, UnusableInputError,
         r"allowed_categories of feature 'education' lists 'Wizardry', which does not occur"),
        ({"allowed_categories": {"age": ["old"]}}, InvalidParameterError, r"but 'age' is numeric"),
        ({"bounds": {"sex": [0, 1]}}, InvalidParameterError, r"but 'sex' is categorical"),
        ({"steps": {"age": 0.5}}, InvalidParameterError, r"feature 'age' takes whole numbers .* got 0.5"),
        ({"target_class": "rich"}, InvalidParameterError, r"target_class 'rich' is not a class.*'<=50K', '>50K'"),
        ({"target_class": 2}, InvalidParameterError, r"target_class must be a class name .* got 2"),
        ({"target_range": [0, 1]}, InvalidParameterError, r"target_range is for regressors"),
        ({"min_probability": 1.5}, InvalidParameterError, r"min_probability must be a number between 0 and 1"),
        ({"n_counterfactuals": 21}, InvalidParameterError, r"n_counterfactuals must be between 1 and 20, got 21"),
        ({"random_state": "seed"}, InvalidParameterError, r"random_state must be an integer or null, got 'seed'"),
    ],
)
def test_counterfactuals_bad_input(adult_model, base_row, adult_features, options, error, message):
    with pytest.raises(error, match=message):
        counterfactuals(adult_model, base_row, reference=adult_features, **options)


def test_counterfactuals_regressor_needs_target_range(california_model, california_frame):
    row = california_frame.iloc[[0]]

    with pytest.raises(InvalidParameterError, match=r"target_range is required for a regressor"):
        counterfactuals(california_model, row)
    with pytest.raises(InvalidParameterError, match=r"target_class is for classifiers"):
        counterfactuals(california_model, row, target_class=1, target_range=[0, None])


@pytest.fixture(scope="module")
def three_class_model(california_frame):
    columns = ["median_income", "housing_median_age"]
    price = pd.qcut(california_frame["median_house_value"], 3, labels=["low", "mid", "high"]).astype(str)
    estimator = LogisticRegression().fit(california_frame[columns], price)
    return SklearnModel(estimator, format="skops", digest="sha256:three-class")


def test_counterfactuals_multiclass_needs_target_class(three_class_model, california_frame):
    row = california_frame[["median_income", "housing_median_age"]].iloc[[100]].reset_index(drop=True)

    with pytest.raises(InvalidParameterError, match=r"target_class is required for a classifier of more "
                                                     r"than two classes; give one of \['high', 'low', 'mid'\]"):
        counterfactuals(three_class_model, row, reference=california_frame)
    result = counterfactuals(three_class_model, row, reference=california_frame, target_class="high",
                             n_counterfactuals=1, max_evaluations=2000)

    assert result.n_found == 1
    assert three_class_model.estimator.predict(pd.DataFrame([result.counterfactuals[0]["row"]]))[0] == "high"


@pytest.mark.parametrize("objective", ["maximize", "minimize"])
def test_optimize_inputs_never_worse_within_bounds(adult_model, base_row, adult_features, objective):
    bounds = {"age": [25, 45], "hours-per-week": [30, 50]}
    result = optimize_inputs(adult_model, base_row, objective=objective, reference=adult_features,
                             features=["age", "hours-per-week", "education", "capital-gain"],
                             bounds=bounds, max_evaluations=1500)

    direct = adult_model.estimator.predict_proba(_frame_of([result.row], base_row))[0, 1]
    assert result.objective_value == direct
    assert result.start_value == adult_model.estimator.predict_proba(base_row)[0, 1]
    if objective == "maximize":
        assert result.objective_value > result.start_value
    else:
        assert result.objective_value <= result.start_value
    assert set(result.changes) <= {"age", "hours-per-week", "education", "capital-gain"}
    for feature, (low, high) in bounds.items():
        assert low <= result.row[feature] <= high
    assert result.evaluations <= 1500


@pytest.fixture(scope="module")
def linear_model(california_frame):
    columns = ["median_income", "housing_median_age", "total_rooms", "population"]
    estimator = LinearRegression().fit(california_frame[columns], california_frame["median_house_value"])
    return SklearnModel(estimator, format="skops", digest="sha256:linear")


@pytest.mark.parametrize("objective", ["maximize", "minimize"])
def test_optimize_inputs_linear_model_goes_to_bounds(linear_model, california_frame, objective):
    features = list(linear_model.feature_names)
    row = california_frame[features].iloc[[5]].reset_index(drop=True)
    bounds = {"median_income": [1.5, 9.0], "housing_median_age": [5, 52],
              "total_rooms": [500, 6000], "population": [300, 3000]}

    result = optimize_inputs(linear_model, row, objective=objective, bounds=bounds,
                             reference=california_frame, max_evaluations=2000)

    sign = 1 if objective == "maximize" else -1
    expected = {feature: bounds[feature][1] if sign * coefficient > 0 else bounds[feature][0]
                for feature, coefficient in zip(features, linear_model.estimator.coef_)}
    assert result.row == pytest.approx(expected)
    closed_form = linear_model.estimator.predict(pd.DataFrame([expected]))[0]
    assert result.objective_value == pytest.approx(closed_form)


def test_optimize_inputs_bad_input(adult_model, base_row, california_model, california_frame):
    with pytest.raises(InvalidParameterError, match=r"objective must be one of \['maximize', 'minimize'\]"):
        optimize_inputs(adult_model, base_row, objective="best")
    with pytest.raises(InvalidParameterError, match=r"which cannot change because each is not in features"):
        optimize_inputs(adult_model, base_row, features=["age"], bounds={"hours-per-week": [1, 10]})
    with pytest.raises(InvalidParameterError, match=r"target_class is for classifiers"):
        optimize_inputs(california_model, california_frame.iloc[[0]], target_class="high")


# HTTP ------------------------------------------------------------------------

@pytest.fixture
def demo_client(tmp_path, demo_dir):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "service", "job_workers": 1, "demo_models": demo_dir})
    yield app.test_client()
    app.extensions["explainer.jobs"].shutdown()


def test_served_counterfactuals_equal_library_call(demo_client, adult_model, adult_frame):
    body = {"model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3, "frozen": FROZEN,
            "bounds": {"age": [30, 60]}, "n_counterfactuals": 2, "max_evaluations": 4000, "random_state": 3}

    response = demo_client.post("/what-if/counterfactuals", json=body)

    assert response.status_code == 200, response.json
    served = response.json
    direct = counterfactuals(adult_model, adult_frame.iloc[[3]], reference=adult_frame, frozen=FROZEN,
                             bounds={"age": [30.0, 60.0]}, n_counterfactuals=2, max_evaluations=4000,
                             random_state=3).to_dict()
    assert served["counterfactuals"] == direct["counterfactuals"]
    assert served["method"] == "counterfactuals"
    assert served["row_index"] == 3
    assert served["target"] == {"class": ">50K"}
    assert served["original_row"]["age"] == adult_frame.loc[3, "age"]
    assert served["n_found"] == 2
    assert served["message"] is None
    assert served["class_names"] == ["<=50K", ">50K"]


def test_served_counterfactuals_regressor_with_json_row(demo_client, california_frame):
    row = california_frame.drop(columns="median_house_value").iloc[10].to_dict()

    response = demo_client.post("/what-if/counterfactuals", json={
        "model_id": "california-gbm", "dataset_id": "california_housing", "row": row,
        "target_range": [None, 150_000], "max_evaluations": 3000, "n_counterfactuals": 1})

    assert response.status_code == 200, response.json
    assert response.json["target"] == {"range": [None, 150_000.0]}
    assert response.json["n_found"] == 1
    assert response.json["counterfactuals"][0]["prediction"][0] <= 150_000


def test_served_counterfactuals_none_found_is_200(demo_client):
    response = demo_client.post("/what-if/counterfactuals", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3, "max_evaluations": 1})

    assert response.status_code == 200, response.json
    assert response.json["counterfactuals"] == []
    assert response.json["n_found"] == 0
    assert "raise max_evaluations (now 1)" in response.json["message"]


def test_served_optimization(demo_client, adult_model, adult_frame):
    response = demo_client.post("/what-if/optimize", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3, "objective": "maximize",
        "features": ["age", "capital-gain"], "bounds": {"age": [20, 50]}, "max_evaluations": 500})

    assert response.status_code == 200, response.json
    body = response.json
    assert body["method"] == "optimization"
    assert body["objective_value"] >= body["start_value"]
    assert body["parameters"]["target_class"] == ">50K"
    assert set(body["changes"]) <= {"age", "capital-gain"}
    assert 20 <= body["row"]["age"] <= 50
    changed = adult_frame.drop(columns="income").iloc[[3]].assign(**body["changes"])
    assert adult_model.estimator.predict_proba(changed)[0, 1] == pytest.approx(body["objective_value"], abs=1e-12)


@pytest.mark.parametrize(
    "path, payload, status, fragment",
    [
        ("/what-if/counterfactuals", {"frozen": ["salary"]}, 422, "['salary']"),
        ("/what-if/counterfactuals", {"bounds": {"age": [60, 20]}}, 400, "got [60.0, 20.0]"),
        ("/what-if/counterfactuals", {"target_class": "rich"}, 400, "'rich'"),
        ("/what-if/counterfactuals", {"target_range": [0, 1]}, 400, "target_range is for regressors"),
        ("/what-if/counterfactuals", {"n_counterfactuals": 0}, 400, "n_counterfactuals"),
        ("/what-if/counterfactuals", {"allowed_categories": {"education": ["Wizardry"]}}, 422, "'Wizardry'"),
        ("/what-if/optimize", {"objective": "best"}, 400, "objective"),
        ("/what-if/optimize", {"features": ["salary"]}, 422, "['salary']"),
    ],
)
def test_served_bad_input_is_problem(demo_client, path, payload, status, fragment):
    body = problem_of(demo_client.post(path, json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3, **payload}))

    assert body["status"] == status
    assert fragment in body["detail"]


def test_openapi_lists_counterfactual_routes(demo_client):
    paths = demo_client.get("/openapi.json").json["paths"]

    assert "CounterfactualRequest" in str(paths["/what-if/counterfactuals"]["post"]["requestBody"])
    assert "OptimizationRequest" in str(paths["/what-if/optimize"]["post"]["requestBody"])
