"""The real service process (`explainer serve`, gunicorn) driven over loopback HTTP."""

from __future__ import annotations

import json
import signal
import time

import numpy as np
import requests

from tests.conftest import DATASETS

TIMEOUT = 60


def _upload(server, path, files, data=None):
    response = requests.post(f"{server.url}{path}", files=files, data=data or {}, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


def _wait_for_job(server, job_id, *, states=("succeeded", "failed", "cancelled"), timeout=120):
    # wait blocks until the job ends, so it only helps when waiting for an end.
    wait = 5 if set(states) <= {"succeeded", "failed", "cancelled"} else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = requests.get(f"{server.url}/explanations/{job_id}?wait={wait}", timeout=TIMEOUT).json()
        if job["status"] in states:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {states} within {timeout} s: {job}")


def test_upload_explain_whatif_restart(live_server_factory, adult_model_bytes, adult_model, adult_frame):
    server = live_server_factory()
    model = _upload(server, "/models", {"file": ("adult.skops", adult_model_bytes)}, {"name": "adult-gbm"})
    dataset = _upload(server, "/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
                      {"name": "adult", "target": "income"})

    permutation = requests.post(f"{server.url}/explanations?wait=60", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "permutation",
        "parameters": {"n_repeats": 2, "max_rows": 2000, "random_state": 0},
    }, timeout=TIMEOUT).json()
    shap = requests.post(f"{server.url}/explanations?wait=60", json={
        "model_id": model["id"], "dataset_id": dataset["id"], "method": "shap",
        "parameters": {"n_rows": 25, "background_size": 25},
    }, timeout=TIMEOUT).json()
    what_if = requests.post(f"{server.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3,
        "changes": {"hours-per-week": 60}, "background_size": 20,
    }, timeout=TIMEOUT)

    assert permutation["status"] == "succeeded", permutation
    assert len(permutation["result"]["importances_mean"]) == 14
    assert shap["status"] == "succeeded", shap
    assert shap["result"]["max_additivity_error"] < 1e-6
    assert what_if.status_code == 200, what_if.text
    changed = adult_frame.drop(columns="income").iloc[[3]].copy()
    changed["hours-per-week"] = 60
    np.testing.assert_allclose(what_if.json()["prediction_after"],
                               adult_model.estimator.predict_proba(changed)[0], rtol=0, atol=1e-12)

    server.stop()
    restarted = live_server_factory()
    assert restarted.data_dir == server.data_dir

    models = requests.get(f"{restarted.url}/models", timeout=TIMEOUT).json()["models"]
    datasets = requests.get(f"{restarted.url}/datasets", timeout=TIMEOUT).json()["datasets"]
    kept = requests.get(f"{restarted.url}/explanations/{shap['id']}", timeout=TIMEOUT).json()
    assert [item["id"] for item in models] == [model["id"]]
    assert [item["id"] for item in datasets] == [dataset["id"]]
    assert kept["status"] == "succeeded"
    assert kept["result"] == shap["result"]
    again = requests.post(f"{restarted.url}/what-if", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 3,
        "changes": {"hours-per-week": 60}, "background_size": 20,
    }, timeout=TIMEOUT).json()
    assert again["prediction_after"] == what_if.json()["prediction_after"]


def test_killed_server_fails_running_job_and_resumes_queued(live_server_factory, adult_model_bytes):
    env = {"EXPLAINER_STALE_JOB_SECONDS": "3", "EXPLAINER_JOB_WORKERS": "1"}
    server = live_server_factory(env=env)
    _upload(server, "/models", {"file": ("adult.skops", adult_model_bytes)}, {"name": "adult-gbm"})
    _upload(server, "/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
            {"name": "adult", "target": "income"})
    long_job = requests.post(f"{server.url}/explanations", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "permutation",
        "parameters": {"n_repeats": 50},
    }, timeout=TIMEOUT).json()
    queued_job = requests.post(f"{server.url}/explanations", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "shap",
        "parameters": {"n_rows": 5, "background_size": 10},
    }, timeout=TIMEOUT).json()
    _wait_for_job(server, long_job["id"], states=("running",), timeout=30)

    server.stop(signal.SIGKILL)
    restarted = live_server_factory(env=env)

    failed = _wait_for_job(restarted, long_job["id"])
    resumed = _wait_for_job(restarted, queued_job["id"])
    assert failed["status"] == "failed"
    assert "submit the job again" in failed["error"]["detail"]
    assert resumed["status"] == "succeeded", json.dumps(resumed)[:2000]


def test_demo_models_registered_on_start(live_server_factory, demo_dir):
    server = live_server_factory(demo_models=demo_dir)

    names = {item["name"] for item in requests.get(f"{server.url}/models", timeout=TIMEOUT).json()["models"]}
    datasets = {item["name"] for item in requests.get(f"{server.url}/datasets", timeout=TIMEOUT).json()["datasets"]}

    assert names == {"adult-gbm", "california-gbm", "breast-cancer-mlp"}
    assert datasets == {"adult", "california_housing", "breast_cancer"}
    ig = requests.post(f"{server.url}/explanations?wait=60", json={
        "model_id": "breast-cancer-mlp", "dataset_id": "breast_cancer", "method": "integrated-gradients",
        "parameters": {"n_rows": 10, "baseline": "mean", "n_steps": 300},
    }, timeout=TIMEOUT).json()
    assert ig["status"] == "succeeded", ig
    assert ig["result"]["max_abs_convergence_delta"] < 1e-2


def test_stopped_server_requeues_running_job(live_server_factory, adult_model_bytes):
    server = live_server_factory(env={"EXPLAINER_JOB_WORKERS": "1"})
    _upload(server, "/models", {"file": ("adult.skops", adult_model_bytes)}, {"name": "adult-gbm"})
    _upload(server, "/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
            {"name": "adult", "target": "income"})
    job = requests.post(f"{server.url}/explanations", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "permutation",
        "parameters": {"n_repeats": 30, "max_rows": 8000},
    }, timeout=TIMEOUT).json()
    _wait_for_job(server, job["id"], states=("running",), timeout=30)

    started = time.monotonic()
    server.stop(signal.SIGTERM)
    stop_seconds = time.monotonic() - started
    restarted = live_server_factory(env={"EXPLAINER_JOB_WORKERS": "1"})

    assert stop_seconds < 8, server.read_log()
    finished = _wait_for_job(restarted, job["id"])
    assert finished["status"] == "succeeded", finished
    assert "returned running job" in server.read_log()


def test_cli_submit_follows_job_progress(live_server_factory, adult_model_bytes):
    import subprocess
    import sys

    from tests.conftest import ROOT

    server = live_server_factory()
    _upload(server, "/models", {"file": ("adult.skops", adult_model_bytes)}, {"name": "adult-gbm"})
    _upload(server, "/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
            {"name": "adult", "target": "income"})

    completed = subprocess.run(
        [sys.executable, "-m", "explainer.cli", "submit", "--url", server.url, "--model", "adult-gbm",
         "--dataset", "adult", "--method", "permutation",
         "--parameters", '{"n_repeats": 3, "max_rows": 3000}'],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    missing = subprocess.run(
        [sys.executable, "-m", "explainer.cli", "submit", "--url", server.url, "--model", "nope",
         "--dataset", "adult", "--method", "shap", "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["method"] == "permutation"
    assert "100%" in completed.stderr
    assert missing.returncode == 2
    assert "'nope' does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr
