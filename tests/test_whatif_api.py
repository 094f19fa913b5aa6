"""What-if over HTTP: sweep grids keep the dataset's dtypes, batches equal direct predictions."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from tests.conftest import problem_of


@pytest.fixture
def adult_ids(client, adult_model_bytes, adult_frame):
    """The adult model, the whole dataset, and a subset in which education-num takes two values."""
    model = client.post("/models", data={"file": (io.BytesIO(adult_model_bytes), "adult.skops"),
                                         "name": "adult-model"}, content_type="multipart/form-data")
    assert model.status_code == 201, model.json
    ids = {"model": model.json["id"]}
    two_valued = adult_frame[adult_frame["education-num"].isin([9, 13])].iloc[:300]
    for name, frame in (("adult", adult_frame), ("adult-two-levels", two_valued)):
        data = frame.to_csv(index=False).encode()
        dataset = client.post("/datasets", data={"file": (io.BytesIO(data), f"{name}.csv"), "name": name,
                                                 "target": "income"}, content_type="multipart/form-data")
        assert dataset.status_code == 201, dataset.json
        ids[name] = dataset.json["id"]
    return ids


@pytest.fixture(scope="module")
def adult_features(adult_frame):
    return adult_frame.drop(columns="income")


def _sweep(client, ids, dataset="adult", **body):
    response = client.post("/what-if/sweep", json={"model_id": ids["model"], "dataset_id": ids[dataset],
                                                   "row_indices": [0, 5, 9], **body})
    assert response.status_code == 200, response.json
    return response.json


def _predict_with(model, rows: pd.DataFrame, feature: str, values: list, dtype) -> np.ndarray:
    """Predict ``rows`` with ``feature`` set to each value, built by hand: (n_rows, n_values, k)."""
    curves = []
    for value in values:
        changed = rows.copy()
        changed[feature] = pd.Series([np.nan if value is None else value] * len(rows), dtype=dtype)
        curves.append(model.estimator.predict_proba(changed))
    return np.stack(curves, axis=1)


def test_sweep_integer_grid_is_int64(client, adult_ids, adult_model, adult_features):
    body = _sweep(client, adult_ids, feature="age", n_points=8)

    assert all(type(value) is int for value in body["grid"])
    assert body["grid"][0] == adult_features["age"].min()
    assert body["grid"][-1] == adult_features["age"].max()
    assert body["grid_dtype"] == "int64"
    assert body["feature_kind"] == "numeric"
    rows = adult_features.iloc[[0, 5, 9]].reset_index(drop=True)
    expected = _predict_with(adult_model, rows, "age", body["grid"], "int64")
    np.testing.assert_allclose(body["predictions"], expected, rtol=0, atol=1e-12)


def test_sweep_two_valued_integer_grid(client, adult_ids):
    body = _sweep(client, adult_ids, dataset="adult-two-levels", feature="education-num", n_points=20)

    assert body["grid"] == [9, 13]
    assert body["grid_dtype"] == "int64"
    assert np.asarray(body["predictions"]).shape == (3, 2, 2)


def test_sweep_two_valued_category_grid(client, adult_ids):
    body = _sweep(client, adult_ids, feature="sex")

    assert body["grid"] == ["Female", "Male"]
    assert body["feature_kind"] == "categorical"
    assert np.asarray(body["predictions"]).shape == (3, 2, 2)


def test_sweep_category_grid_with_missing(client, adult_ids, adult_model, adult_features):
    assert adult_features["workclass"].isna().any()

    body = _sweep(client, adult_ids, feature="workclass", include_missing=True)

    categories = sorted(adult_features["workclass"].dropna().unique())
    assert body["grid"] == categories + [None]
    assert body["feature_kind"] == "categorical"
    assert body["grid_dtype"] == str(adult_features["workclass"].dtype)
    rows = adult_features.iloc[[0, 5, 9]].reset_index(drop=True)
    expected = _predict_with(adult_model, rows, "workclass", body["grid"], adult_features["workclass"].dtype)
    np.testing.assert_allclose(body["predictions"], expected, rtol=0, atol=1e-12)


def test_sweep_explicit_grid_may_hold_missing(client, adult_ids):
    body = _sweep(client, adult_ids, feature="occupation", grid=["Sales", None])

    assert body["grid"] == ["Sales", None]
    predictions = np.asarray(body["predictions"])
    assert predictions.shape == (3, 2, 2)
    assert not np.array_equal(predictions[:, 0], predictions[:, 1])


def test_sweep_centered_ice_starts_at_zero(client, adult_ids):
    body = _sweep(client, adult_ids, feature="hours-per-week", n_points=6)

    predictions = np.asarray(body["predictions"])
    centered = np.asarray(body["centered_predictions"])
    np.testing.assert_array_equal(centered, predictions - predictions[:, :1])
    np.testing.assert_array_equal(centered[:, 0], 0.0)
    np.testing.assert_allclose(body["centered_average"], centered.mean(axis=0), rtol=0, atol=1e-15)
    np.testing.assert_allclose(body["average"], predictions.mean(axis=0), rtol=0, atol=1e-15)


def test_sweep_marks_each_rows_own_value(client, adult_ids, adult_model, adult_features):
    body = _sweep(client, adult_ids, feature="age", n_points=5)

    rows = adult_features.iloc[[0, 5, 9]]
    assert body["row_values"] == rows["age"].tolist()
    np.testing.assert_allclose(body["row_predictions"], adult_model.estimator.predict_proba(rows),
                               rtol=0, atol=1e-12)


def test_sweep_2d_surface_equals_direct_predictions(client, adult_ids, adult_model, adult_features):
    response = client.post("/what-if/sweep-2d", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row_indices": [3, 4],
        "features": ["age", "sex"], "n_points": 4,
    })

    assert response.status_code == 200, response.json
    body = response.json
    assert body["grids"] == [[17, 41, 66, 90], ["Female", "Male"]]
    assert body["grid_dtypes"][0] == "int64"
    predictions = np.asarray(body["predictions"])
    assert predictions.shape == (2, 4, 2, 2)
    rows = adult_features.iloc[[3, 4]].reset_index(drop=True)
    for i, age in enumerate(body["grids"][0]):
        for j, sex in enumerate(body["grids"][1]):
            changed = rows.assign(age=age, sex=sex).astype(rows.dtypes.to_dict())
            np.testing.assert_allclose(predictions[:, i, j], adult_model.estimator.predict_proba(changed),
                                       rtol=0, atol=1e-12)
    np.testing.assert_allclose(body["average"], predictions.mean(axis=0), rtol=0, atol=1e-15)


def test_sweep_2d_needs_two_different_features(client, adult_ids):
    body = problem_of(client.post("/what-if/sweep-2d", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row_index": 0,
        "features": ["age", "age"],
    }))

    assert body["status"] == 400
    assert "features must name two different features, got ['age', 'age']" in body["detail"]


def test_sweep_2d_too_many_predictions(client, adult_ids):
    body = problem_of(client.post("/what-if/sweep-2d", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"],
        "row_indices": list(range(2000)), "features": ["age", "fnlwgt"], "n_points": 1000,
    }))

    assert body["status"] == 400
    assert "more than the 1,000,000 one request may make" in body["detail"]


def test_batch_equals_direct_predictions(client, adult_ids, adult_model, adult_features):
    variants = [
        {"changes": {"age": 70}},
        {"base": 1, "changes": {"workclass": None, "hours-per-week": 60}},
        {"base": 1, "changes": {}},
        {"changes": {"sex": "Female", "capital-gain": 5000}},
    ]

    response = client.post("/what-if/batch", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row_indices": [2, 8],
        "variants": variants,
    })

    assert response.status_code == 200, response.json
    body = response.json
    bases = adult_features.iloc[[2, 8]].reset_index(drop=True)
    np.testing.assert_allclose(body["base_predictions"], adult_model.estimator.predict_proba(bases),
                               rtol=0, atol=1e-12)
    assert body["row_indices"] == [2, 8]
    assert body["explanation"] is None
    for variant, answer in zip(variants, body["variants"]):
        base = variant.get("base", 0)
        changed = bases.iloc[[base]].reset_index(drop=True)
        for feature, value in variant["changes"].items():
            changed[feature] = pd.Series([np.nan if value is None else value], dtype=bases[feature].dtype)
        expected = adult_model.estimator.predict_proba(changed)[0]
        np.testing.assert_allclose(answer["prediction"], expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(answer["change"], expected - body["base_predictions"][base],
                                   rtol=0, atol=1e-12)
        assert answer["base"] == base
        assert answer["changes"] == variant["changes"]
        assert type(answer["row"]["age"]) is int
    assert body["variants"][2]["change"] == [0.0, 0.0]


def test_batch_explanations_are_additive(client, adult_ids):
    response = client.post("/what-if/batch", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row_index": 4,
        "variants": [{"changes": {"age": age}} for age in (20, 40, 60)], "explain": True,
        "background_size": 50,
    })

    assert response.status_code == 200, response.json
    body = response.json
    assert body["explanation"]["explainer"] == "tree"
    for variant in body["variants"]:
        values = np.asarray(variant["explanation"]["values"])
        assert values.shape == (14, 2)
        total = np.asarray(variant["explanation"]["base_values"]) + values.sum(axis=0)
        np.testing.assert_allclose(total, variant["prediction"], rtol=0, atol=1e-6)


def test_batch_with_rows_given_inline(client, adult_ids, adult_model, adult_features):
    rows = adult_features.iloc[[11, 12]].astype(object).where(adult_features.iloc[[11, 12]].notna(), None)

    response = client.post("/what-if/batch", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"],
        "rows": rows.to_dict(orient="records"), "variants": [{"base": 1, "changes": {"age": 33}}],
    })

    assert response.status_code == 200, response.json
    changed = adult_features.iloc[[12]].assign(age=33)
    np.testing.assert_allclose(response.json["variants"][0]["prediction"],
                               adult_model.estimator.predict_proba(changed)[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"row_index": 0, "variants": [{"base": 1, "changes": {}}]}, 400,
         "variant 0 has base 1; it must be the position of one of the 1 base row(s), from 0 to 0"),
        ({"row_index": 0, "variants": [{"changes": {"salary": 3}}]}, 422,
         "changes name feature(s) ['salary'] that the model does not take"),
        ({"row_index": 0, "variants": [{"changes": {"age": "old"}}]}, 400,
         "feature 'age' is numeric; give a number or null, got 'old'"),
        ({"row_index": 0, "variants": []}, 400, "variants"),
        ({"row_index": 0, "rows": [{"age": 3}], "variants": [{"changes": {}}]}, 400,
         "give exactly one base row source"),
        ({"row_index": 0, "explain": True, "variants": [{"changes": {"age": 30}}] * 501}, 400,
         "explain is limited to 500 variants, got 501"),
    ],
)
def test_batch_bad_input(client, adult_ids, body, status, message):
    problem = problem_of(client.post("/what-if/batch", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], **body,
    }))

    assert problem["status"] == status
    assert message in problem["detail"]


@pytest.mark.parametrize(
    "request_part, message",
    [
        ({"changes": {"age": 10**30}}, "feature 'age' contains int64 integers"),
        ({"changes": {"age": 1e20}}, "feature 'age' contains int64 integers"),
        ({"changes": {"age": 2**63}}, "which does not fit"),
    ],
)
def test_whatif_integer_out_of_int64_range(client, adult_ids, request_part, message):
    problem = problem_of(client.post("/what-if", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row_index": 0, **request_part,
    }))

    assert problem["status"] == 400
    assert message in problem["detail"]


def test_whatif_row_integer_out_of_range(client, adult_ids, adult_features):
    row = adult_features.iloc[0].to_dict()
    row["age"] = 1e19

    problem = problem_of(client.post("/what-if", json={
        "model_id": adult_ids["model"], "dataset_id": adult_ids["adult"], "row": row, "changes": {},
    }))

    assert problem["status"] == 400
    assert "feature 'age' contains int64 integers" in problem["detail"]


def test_permutation_with_class_index_target(client, mlp_bytes, breast_cancer_frame):
    model = client.post("/models", data={"file": (io.BytesIO(mlp_bytes), "mlp.pt"), "name": "mlp"},
                        content_type="multipart/form-data")
    data = breast_cancer_frame.to_csv(index=False).encode()
    dataset = client.post("/datasets", data={"file": (io.BytesIO(data), "bc.csv"), "name": "bc",
                                             "target": "target"}, content_type="multipart/form-data")
    assert set(breast_cancer_frame["target"]) == {0, 1}

    response = client.post("/explanations?wait=60", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "permutation",
        "parameters": {"n_repeats": 2, "max_rows": 200},
    })

    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json["error"]
    assert len(response.json["result"]["importances_mean"]) == 30
