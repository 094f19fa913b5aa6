"""The Flask service through its test client: resources, jobs and error documents."""

from __future__ import annotations

import io
import json
import pickle

import numpy as np
import pytest

from explainer import explain, load_dataset
from tests.conftest import DATASETS, problem_of


def upload_model(client, data: bytes, *, name=None, metadata=None, filename="model.bin"):
    form = {"file": (io.BytesIO(data), filename)}
    if name:
        form["name"] = name
    if metadata is not None:
        form["metadata"] = json.dumps(metadata)
    return client.post("/models", data=form, content_type="multipart/form-data")


def upload_dataset(client, data: bytes, *, name=None, target=None, filename="data.csv"):
    form = {"file": (io.BytesIO(data), filename)}
    if name:
        form["name"] = name
    if target:
        form["target"] = target
    return client.post("/datasets", data=form, content_type="multipart/form-data")


@pytest.fixture
def adult_ids(client, adult_model_bytes):
    model = upload_model(client, adult_model_bytes, name="adult-gbm")
    assert model.status_code == 201, model.json
    dataset = upload_dataset(client, (DATASETS / "adult.csv").read_bytes(), name="adult", target="income")
    assert dataset.status_code == 201, dataset.json
    return model.json["id"], dataset.json["id"]


def test_model_upload_describes_model(client, adult_model_bytes):
    response = upload_model(client, adult_model_bytes, name="adult-gbm")

    assert response.status_code == 201
    body = response.json
    assert body["format"] == "skops"
    assert body["task"] == "classification"
    assert body["class_names"] == ["<=50K", ">50K"]
    assert len(body["feature_names"]) == 14
    assert body["digest"].startswith("sha256:")
    assert response.headers["Location"].endswith(body["id"])
    assert client.get(f"/models/{body['id']}").json == body
    assert client.get("/models/adult-gbm").json["id"] == body["id"]
    assert [item["id"] for item in client.get("/models").json["models"]] == [body["id"]]


def test_model_delete_removes_it(client, adult_model_bytes):
    model_id = upload_model(client, adult_model_bytes).json["id"]

    assert client.delete(f"/models/{model_id}").status_code == 204
    assert problem_of(client.get(f"/models/{model_id}"))["status"] == 404


def test_model_duplicate_name_conflicts(client, adult_model_bytes):
    upload_model(client, adult_model_bytes, name="same")
    response = upload_model(client, adult_model_bytes, name="same")

    assert response.status_code == 409
    assert "same" in problem_of(response)["detail"]


def test_dataset_upload_returns_schema(client):
    response = upload_dataset(client, (DATASETS / "adult.csv").read_bytes(), name="adult", target="income")

    assert response.status_code == 201
    schema = response.json["schema"]
    columns = {column["name"]: column for column in schema["columns"]}
    assert schema["n_rows"] == 32561
    assert columns["age"]["kind"] == "numeric"
    assert columns["workclass"]["kind"] == "categorical"
    assert columns["workclass"]["n_missing"] == 1836
    assert client.get("/datasets/adult/schema").json == schema


def test_predict_matches_estimator(client, adult_ids, adult_model, adult_frame):
    model_id, _ = adult_ids
    rows = adult_frame.drop(columns="income").iloc[:5]
    records = json.loads(rows.to_json(orient="records"))

    response = client.post(f"/models/{model_id}/predict", json={"rows": records})

    assert response.status_code == 200, response.json
    expected = adult_model.estimator.predict_proba(rows)
    np.testing.assert_allclose(response.json["predictions"], expected, rtol=0, atol=1e-12)


def test_explanation_job_equals_library_call(client, adult_ids, adult_model, adult_frame):
    model_id, dataset_id = adult_ids
    parameters = {"n_repeats": 2, "max_rows": 500, "random_state": 3, "scoring": "roc_auc"}

    response = client.post("/explanations?wait=60", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "permutation", "parameters": parameters,
    })

    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    served = response.json["result"]
    direct = explain(adult_model, load_dataset(DATASETS / "adult.csv", target="income"),
                     method="permutation", parameters=parameters)
    np.testing.assert_array_equal(served["importances"], direct.importances)
    assert served["feature_names"] == list(direct.feature_names)
    assert client.get(f"/explanations/{response.json['id']}").json["result"] == served


def test_explanation_job_reports_progress_fields(client, adult_ids):
    model_id, dataset_id = adult_ids

    created = client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "shap",
        "parameters": {"n_rows": 20, "background_size": 20},
    })

    assert created.status_code in (200, 202)
    assert created.headers["Location"].endswith(created.json["id"])
    finished = client.get(f"/explanations/{created.json['id']}?wait=60").json
    assert finished["status"] == "succeeded", finished
    assert finished["progress"] == 1.0
    result = finished["result"]
    assert result["explainer"] == "tree"
    assert np.asarray(result["values"]).shape == (20, 14, 2)
    assert result["max_additivity_error"] < 1e-6


def test_whatif_matches_direct_prediction(client, adult_ids, adult_model, adult_frame):
    model_id, dataset_id = adult_ids

    response = client.post("/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 7,
        "changes": {"age": 60, "occupation": "Exec-managerial"}, "background_size": 30,
    })

    assert response.status_code == 200, response.json
    changed = adult_frame.drop(columns="income").iloc[[7]].copy()
    changed["age"] = 60
    changed["occupation"] = "Exec-managerial"
    expected = adult_model.estimator.predict_proba(changed)[0]
    np.testing.assert_allclose(response.json["prediction_after"], expected, rtol=0, atol=1e-12)
    assert response.json["changed_row"]["age"] == 60
    assert response.json["explanation"]["max_additivity_error"] < 1e-6


def test_sweep_integer_feature_over_whole_numbers(client, adult_ids):
    model_id, dataset_id = adult_ids

    response = client.post("/what-if/sweep", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_indices": [0, 1, 2],
        "feature": "education-num", "n_points": 50,
    })

    assert response.status_code == 200, response.json
    assert response.json["grid"] == list(range(1, 17))
    assert np.asarray(response.json["predictions"]).shape == (3, 16, 2)


def test_oneshot_returns_importances(client, adult_model_bytes, adult_frame):
    data = adult_frame.iloc[:400].to_csv(index=False).encode()

    response = client.post("/explain", data={
        "model": (io.BytesIO(adult_model_bytes), "model.skops"),
        "data": (io.BytesIO(data), "adult.csv"),
        "target": "income",
        "parameters": json.dumps({"n_repeats": 2}),
    }, content_type="multipart/form-data")

    assert response.status_code == 200, response.json
    assert response.json["method"] == "permutation"
    assert len(response.json["importances_mean"]) == 14


def test_openapi_lists_every_resource(client):
    spec = client.get("/openapi.json").json

    assert spec["openapi"].startswith("3.")
    for path in ("/models", "/datasets", "/explanations", "/explanations/{job_id}", "/what-if",
                 "/what-if/sweep", "/what-if/sweep-2d", "/what-if/batch", "/explain", "/healthz",
                 "/readyz"):
        assert path in spec["paths"], path
    request = spec["paths"]["/explanations"]["post"]["requestBody"]
    assert request["content"]["application/json"]["schema"]["$ref"].endswith("ExplanationRequest")
    assert "PermutationParameters" in spec["components"]["schemas"]


def test_health_and_readiness(client):
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["checks"] == {"database": "ok", "artifacts": "ok", "job_workers": "ok"}


# Bad input: every case is a problem+json document with the right status.

def test_text_file_as_model_is_415(client):
    body = problem_of(upload_model(client, b"just some words\n", filename="model.skops"))

    assert body["status"] == 415
    assert "skops" in body["detail"]
    assert "torchscript" in body["detail"]


def test_pickle_without_opt_in_is_415(client, adult_model):
    body = problem_of(upload_model(client, pickle.dumps(adult_model.estimator), filename="model.pkl"))

    assert body["status"] == 415
    assert "arbitrary code" in body["detail"]
    assert "EXPLAINER_ALLOW_PICKLE" in body["detail"]


def test_pickle_with_opt_in_is_accepted(tmp_path, adult_model):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "pickles", "allow_pickle": True, "job_workers": 1})
    try:
        response = upload_model(app.test_client(), pickle.dumps(adult_model.estimator))
        assert response.status_code == 201, response.json
        assert response.json["format"] == "pickle"
    finally:
        app.extensions["explainer.jobs"].shutdown()


def _custom_scale(values):
    return values * 2.0


def test_skops_untrusted_type_is_rejected_with_list(client, adult_frame):
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = adult_frame[["age", "hours-per-week"]].iloc[:200]
    y = adult_frame["income"].iloc[:200]
    pipeline = make_pipeline(FunctionTransformer(_custom_scale), LogisticRegression()).fit(X, y)

    body = problem_of(upload_model(client, skops.io.dumps(pipeline)))

    assert body["status"] == 422
    untrusted = f"{_custom_scale.__module__}._custom_scale"
    assert untrusted in body["untrusted_types"]
    assert untrusted in body["detail"]


def test_dataset_missing_model_features_lists_them(client, adult_ids, adult_frame):
    model_id, _ = adult_ids
    partial = adult_frame.drop(columns=["age", "race"]).iloc[:100].to_csv(index=False).encode()
    dataset_id = upload_dataset(client, partial, target="income").json["id"]

    body = problem_of(client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "shap"}))

    assert body["status"] == 422
    assert body["missing_columns"] == ["age", "race"]
    assert "'age'" in body["detail"]
    assert "'race'" in body["detail"]


@pytest.mark.parametrize("content", [b"", b"\n", b"a,b,c\n"], ids=["no-bytes", "blank", "header-only"])
def test_empty_csv_is_422(client, content):
    body = problem_of(upload_dataset(client, content))

    assert body["status"] == 422
    assert "empty" in body["detail"] or "no columns" in body["detail"]


def test_row_index_out_of_range_is_422(client, adult_ids):
    model_id, dataset_id = adult_ids

    body = problem_of(client.post("/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 40000, "changes": {}}))

    assert body["status"] == 422
    assert "40000" in body["detail"]
    assert "32560" in body["detail"]


def test_integrated_gradients_on_tree_model_is_422(client, adult_ids):
    model_id, dataset_id = adult_ids

    body = problem_of(client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "integrated-gradients"}))

    assert body["status"] == 422
    assert body["applicable_methods"] == ["permutation", "shap", "what-if"]


def test_upload_over_limit_is_413(tmp_path):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "small", "max_upload_bytes": 10_000, "job_workers": 1})
    try:
        response = upload_model(app.test_client(), b"x" * 50_000)
        body = problem_of(response)
        assert body["status"] == 413
        assert "10000" in body["detail"]
    finally:
        app.extensions["explainer.jobs"].shutdown()


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"model_id": "m", "dataset_id": "d", "method": "lime"}, "method"),
        ({"model_id": "m", "dataset_id": "d", "method": "permutation",
          "parameters": {"n_repeats": 0}}, "n_repeats"),
        ({"model_id": "m", "dataset_id": "d", "method": "shap", "parameters": {"bogus": 1}}, "bogus"),
        ({"dataset_id": "d", "method": "shap"}, "model_id"),
    ],
    ids=["unknown-method", "zero-repeats", "unknown-parameter", "missing-model"],
)
def test_invalid_explanation_request_is_400(client, payload, fragment):
    body = problem_of(client.post("/explanations", json=payload))

    assert body["status"] == 400
    assert fragment in body["detail"]


def test_non_json_body_is_400(client):
    body = problem_of(client.post("/explanations", data="not json", content_type="text/plain"))

    assert body["status"] == 400
    assert "JSON" in body["detail"]


def test_unknown_resources_are_404(client):
    assert problem_of(client.get("/models/missing"))["status"] == 404
    assert problem_of(client.get("/datasets/missing"))["status"] == 404
    assert problem_of(client.get("/explanations/missing"))["status"] == 404
    assert problem_of(client.get("/no/such/path"))["status"] == 404


def test_whatif_unknown_feature_is_422(client, adult_ids):
    model_id, dataset_id = adult_ids

    body = problem_of(client.post("/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 0, "changes": {"salary": 1}}))

    assert body["status"] == 422
    assert body["unknown_features"] == ["salary"]


def test_whatif_wrong_value_type_is_400(client, adult_ids):
    model_id, dataset_id = adult_ids

    body = problem_of(client.post("/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 0, "changes": {"age": "old"}}))

    assert body["status"] == 400
    assert "'age'" in body["detail"]
    assert "'old'" in body["detail"]


def test_cancel_queued_job(client, adult_ids):
    model_id, dataset_id = adult_ids
    jobs = [client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "permutation",
        "parameters": {"n_repeats": 3, "max_rows": 3000}}).json for _ in range(3)]

    cancelled = client.delete(f"/explanations/{jobs[-1]['id']}")

    assert cancelled.status_code == 202
    final = client.get(f"/explanations/{jobs[-1]['id']}?wait=30").json
    assert final["status"] == "cancelled"
    again = problem_of(client.delete(f"/explanations/{jobs[-1]['id']}"))
    assert again["status"] == 409


def test_malformed_json_names_the_parse_error(client):
    body = problem_of(client.post("/explanations", data='{"model_id": ', content_type="application/json"))

    assert body["status"] == 400
    assert "not valid JSON" in body["detail"]


def test_whatif_unseen_category_is_noted(client, adult_ids):
    model_id, dataset_id = adult_ids

    response = client.post("/what-if", json={
        "model_id": model_id, "dataset_id": dataset_id, "row_index": 0,
        "changes": {"education": "PhD"}, "explain": False})

    assert response.status_code == 200
    assert len(response.json["notes"]) == 1
    assert "'PhD'" in response.json["notes"][0]


def test_job_events_stream_until_end(client, adult_ids):
    model_id, dataset_id = adult_ids
    job = client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "permutation",
        "parameters": {"n_repeats": 2, "max_rows": 2000}}).json

    response = client.get(f"/explanations/{job['id']}/events")
    text = response.get_data(as_text=True)

    assert response.mimetype == "text/event-stream"
    events = [block for block in text.split("\n\n") if block.strip()]
    names = [block.split("\n")[0] for block in events]
    assert names[-1] == "event: end"
    assert set(names[:-1]) == {"event: progress"}
    final = json.loads(events[-1].split("data: ", 1)[1])
    assert final["status"] == "succeeded"
    assert final["progress"] == 1.0


def test_job_events_unknown_job_is_404(client):
    assert problem_of(client.get("/explanations/missing/events"))["status"] == 404


def test_cancel_running_job_within_seconds(client, adult_ids):
    import time

    model_id, dataset_id = adult_ids
    job = client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "shap",
        "parameters": {"n_rows": 200, "explainer": "permutation", "background_size": 50}}).json
    deadline = time.monotonic() + 30
    # Wait until rows are being explained, past shap's one-off compilation.
    while client.get(f"/explanations/{job['id']}").json["progress"] <= 0.05:
        assert time.monotonic() < deadline, "the job never got past its first rows"
        time.sleep(0.05)

    cancelled_at = time.monotonic()
    assert client.delete(f"/explanations/{job['id']}").status_code == 202
    final = client.get(f"/explanations/{job['id']}?wait=10").json
    elapsed = time.monotonic() - cancelled_at

    assert final["status"] == "cancelled"
    assert elapsed < 5


def test_job_over_time_limit_fails_with_reason(tmp_path, adult_model_bytes):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "limited", "job_time_limit_seconds": 0.0, "job_workers": 1})
    client = app.test_client()
    try:
        model_id = upload_model(client, adult_model_bytes).json["id"]
        dataset_id = upload_dataset(client, (DATASETS / "adult.csv").read_bytes(), target="income").json["id"]
        job = client.post("/explanations?wait=30", json={
            "model_id": model_id, "dataset_id": dataset_id, "method": "permutation",
            "parameters": {"n_repeats": 1, "max_rows": 500}}).json

        assert job["status"] == "failed"
        assert job["error"]["title"] == "Time limit exceeded"
        assert "EXPLAINER_JOB_TIME_LIMIT_SECONDS" in job["error"]["detail"]
    finally:
        app.extensions["explainer.jobs"].shutdown()


def test_cleanup_deletes_old_finished_jobs(app, client, adult_ids):
    from datetime import timedelta

    model_id, dataset_id = adult_ids
    job = client.post("/explanations?wait=30", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "permutation",
        "parameters": {"n_repeats": 1, "max_rows": 500}}).json
    workspace = app.extensions["explainer.workspace"]

    kept = workspace.delete_finished_jobs(timedelta(days=1))
    deleted = workspace.delete_finished_jobs(timedelta(seconds=0))

    assert job["status"] == "succeeded"
    assert kept == 0
    assert deleted == 1
    assert problem_of(client.get(f"/explanations/{job['id']}"))["status"] == 404
    assert not list((workspace.artifacts.root / "results").glob("*.json"))
