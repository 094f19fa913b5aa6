"""The Celery backend with real processes: Redis, PostgreSQL, `explainer serve` and `explainer worker`.

Each test gets its own PostgreSQL database and Redis database number, an
API process and worker processes that share one data directory.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import pytest
import requests

from explainer import load_dataset, load_model
from explainer.chunks import explain_in_chunks
from tests.conftest import DATASETS, ROOT
from tests.deployment import Deployment, Worker

TIMEOUT = 60
# Model-agnostic SHAP on the adult pipeline: about a tenth of a second per
# row at this budget, so a job of a few dozen rows runs for seconds.
AGNOSTIC = {"explainer": "permutation", "max_evals": 200, "background_size": 50}
_redis_databases = itertools.count(1)


@pytest.fixture
def deployment_factory(tmp_path, live_server_factory, redis_server, postgres_server, request):
    deployments = []

    def create(**settings) -> Deployment:
        database = f"scaleout_{request.node.name.lower()[:40]}_{len(deployments)}"
        redis_url = f"{redis_server.url.rsplit('/', 1)[0]}/{next(_redis_databases) % 16}"
        deployment = Deployment(tmp_path / f"deployment-{len(deployments)}", live_server_factory,
                                postgres_server.create_database(database), redis_url, **settings)
        deployment.root.mkdir(parents=True)
        deployments.append(deployment)
        return deployment

    yield create
    for deployment in deployments:
        deployment.stop()


@pytest.fixture(scope="module")
def adult_dataset():
    return load_dataset((DATASETS / "adult.csv").read_bytes(), name="adult", target="income")


def _in_process(model_bytes, dataset, job) -> dict:
    """What the threads backend computes for the job: the same chunks, one after another."""
    return explain_in_chunks(load_model(model_bytes), dataset, method=job["method"],
                             parameters=job["parameters"])


def _same_numbers(result: dict, expected: dict) -> None:
    ignored = {"elapsed_seconds", "job_id"}
    assert sorted(set(result) - ignored) == sorted(set(expected) - ignored)
    for name in set(expected) - ignored:
        assert result[name] == expected[name], name


def test_shap_split_over_two_workers_equals_threads_backend(
        deployment_factory, live_server_factory, adult_model_bytes, adult_dataset):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(2)
    deployment.register_adult(adult_model_bytes)

    job = deployment.submit("shap", {"n_rows": 40, **AGNOSTIC})
    final = deployment.wait_for(job["id"])
    chunks = deployment.chunks(job["id"])

    assert final["status"] == "succeeded", final
    assert final["chunks_total"] == 4
    assert final["chunks_done"] == 4
    assert len({chunk.worker for chunk in chunks}) >= 2, [chunk.worker for chunk in chunks]
    # The threads backend on its own server, same model, data and request.
    threads = live_server_factory(env={"EXPLAINER_JOB_BACKEND": "threads"})
    deployment.server, celery_server = threads, deployment.server
    deployment.register_adult(adult_model_bytes)
    threads_job = deployment.wait_for(deployment.submit("shap", {"n_rows": 40, **AGNOSTIC})["id"])
    deployment.server = celery_server
    assert threads_job["status"] == "succeeded", threads_job
    _same_numbers(final["result"], threads_job["result"])
    _same_numbers(final["result"], _in_process(adult_model_bytes, adult_dataset, job))


def test_tree_shap_and_permutation_split_equal_in_process(deployment_factory, adult_model_bytes,
                                                           adult_dataset):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(2)
    deployment.register_adult(adult_model_bytes)

    tree = deployment.submit("shap", {"n_rows": 5000, "background_size": 50})
    permutation = deployment.submit("permutation", {"n_repeats": 3, "max_rows": 30000})
    tree_final = deployment.wait_for(tree["id"])
    permutation_final = deployment.wait_for(permutation["id"])

    assert tree_final["status"] == "succeeded", tree_final
    assert tree_final["chunks_total"] == 3
    assert permutation_final["status"] == "succeeded", permutation_final
    assert permutation_final["chunks_total"] > 1
    _same_numbers(tree_final["result"], _in_process(adult_model_bytes, adult_dataset, tree))
    _same_numbers(permutation_final["result"], _in_process(adult_model_bytes, adult_dataset, permutation))


def _wait_for_running_chunk(deployment, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        running = [chunk for chunk in deployment.chunks(job_id) if chunk.status == "running"]
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError(f"no chunk of job {job_id} started within {timeout} s")


def _owner(deployment, chunk) -> Worker:
    pid = int(chunk.worker.rsplit(":", 1)[1])
    return next(worker for worker in deployment.workers if pid in worker.pids())


def test_sigkill_worker_mid_job_still_completes(deployment_factory, adult_model_bytes, adult_dataset):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(2)
    deployment.register_adult(adult_model_bytes)
    job = deployment.submit("shap", {"n_rows": 60, **AGNOSTIC})

    victim = _owner(deployment, _wait_for_running_chunk(deployment, job["id"]))
    victim.kill()
    final = deployment.wait_for(job["id"])
    chunks = deployment.chunks(job["id"])

    assert final["status"] == "succeeded", final
    assert max(chunk.attempts for chunk in chunks) >= 2
    assert all(chunk.status == "succeeded" for chunk in chunks)
    _same_numbers(final["result"], _in_process(adult_model_bytes, adult_dataset, job))


def test_chunk_lost_too_often_fails_the_job_with_a_reason(deployment_factory, adult_model_bytes):
    deployment = deployment_factory(job_max_attempts=1)
    deployment.start_api()
    deployment.start_workers(2)
    deployment.register_adult(adult_model_bytes)
    job = deployment.submit("shap", {"n_rows": 60, **AGNOSTIC})

    chunk = _wait_for_running_chunk(deployment, job["id"])
    _owner(deployment, chunk).kill()
    final = deployment.wait_for(job["id"])

    assert final["status"] == "failed", final
    assert final["error"]["title"] == "Worker lost"
    assert "EXPLAINER_JOB_MAX_ATTEMPTS" in final["error"]["detail"]


def test_restart_api_and_worker_mid_queue(deployment_factory, adult_model_bytes):
    deployment = deployment_factory()
    server = deployment.start_api()
    (worker,) = deployment.start_workers(1)
    deployment.register_adult(adult_model_bytes)
    first = deployment.submit("permutation", {"n_repeats": 2, "max_rows": 2000})
    finished = deployment.wait_for(first["id"])
    queued = [deployment.submit("shap", {"n_rows": 20, **AGNOSTIC}) for _ in range(3)]

    server.stop()
    worker.stop()
    server.start()
    deployment.start_workers(1)
    after = [deployment.wait_for(job["id"]) for job in queued]

    assert finished["status"] == "succeeded"
    assert deployment.job(first["id"])["result"] == finished["result"]
    assert [job["status"] for job in after] == ["succeeded"] * 3
    assert after[0]["result"]["values"] == after[2]["result"]["values"]


def test_cancel_running_job_within_five_seconds(deployment_factory, adult_model_bytes):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(2)
    deployment.register_adult(adult_model_bytes)
    job = deployment.submit("shap", {"n_rows": 400, **AGNOSTIC})
    deployment.wait_for(job["id"], states=("running",))
    deadline = time.monotonic() + 60
    while deployment.job(job["id"])["progress"] <= 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    progress = deployment.job(job["id"])["progress"]

    cancelled_at = time.monotonic()
    response = requests.delete(f"{deployment.url}/explanations/{job['id']}", timeout=TIMEOUT)
    final = deployment.wait_for(job["id"], timeout=5)
    ended_within = time.monotonic() - cancelled_at
    # Running chunks notice at their next progress report and stop.
    deadline = time.monotonic() + 10
    while any(chunk.status == "running" for chunk in deployment.chunks(job["id"])):
        assert time.monotonic() < deadline, "a chunk kept running after the job was cancelled"
        time.sleep(0.2)

    assert 0 < progress < 1
    assert response.status_code == 202, response.text
    assert final["status"] == "cancelled"
    assert ended_within < 5
    assert final.get("result") is None


def test_progress_streams_from_workers(deployment_factory, adult_model_bytes):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(1)
    deployment.register_adult(adult_model_bytes)
    job = deployment.submit("shap", {"n_rows": 30, **AGNOSTIC})

    seen = []
    with requests.get(f"{deployment.url}/explanations/{job['id']}/events", stream=True, timeout=120) as stream:
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                import json

                seen.append(json.loads(line[len("data: "):]))

    fractions = [state["progress"] for state in seen]
    assert seen[-1]["status"] == "succeeded"
    assert fractions == sorted(fractions)
    assert any(0 < fraction < 1 for fraction in fractions)


def test_queue_limit_answers_503_with_retry_after(deployment_factory, adult_model_bytes):
    deployment = deployment_factory(max_queued_jobs=2)
    deployment.start_api()
    deployment.register_adult(adult_model_bytes)
    # No worker runs yet, so the jobs wait.
    waiting = [deployment.submit("shap", {"n_rows": 10, "background_size": 10}) for _ in range(2)]

    refused = requests.post(f"{deployment.url}/explanations", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "shap", "parameters": {"n_rows": 10},
    }, timeout=TIMEOUT)
    deployment.start_workers(1)
    finished = [deployment.wait_for(job["id"]) for job in waiting]

    assert refused.status_code == 503
    assert int(refused.headers["Retry-After"]) > 0
    assert "EXPLAINER_MAX_QUEUED_JOBS" in refused.json()["detail"]
    assert [job["status"] for job in finished] == ["succeeded", "succeeded"]
    assert deployment.submit("shap", {"n_rows": 10, "background_size": 10})["status"] == "queued"


def test_cleanup_deletes_chunks_of_old_jobs(deployment_factory, adult_model_bytes):
    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(1)
    deployment.register_adult(adult_model_bytes)
    job = deployment.wait_for(deployment.submit("shap", {"n_rows": 20, **AGNOSTIC})["id"])

    cleanup = subprocess.run(
        [sys.executable, "-m", "explainer.cli", "cleanup", "--older-than-days", "0",
         "--data-dir", str(deployment.data_dir)],
        cwd=ROOT, env=deployment.env, capture_output=True, text=True, timeout=120)

    assert job["status"] == "succeeded"
    assert cleanup.returncode == 0, cleanup.stderr
    assert "deleted 1 finished job" in cleanup.stdout
    assert deployment.chunks(job["id"]) == []
    assert requests.get(f"{deployment.url}/explanations/{job['id']}", timeout=TIMEOUT).status_code == 404
    assert not (deployment.data_dir / "artifacts" / "results" / job["id"]).exists()


def test_jobs_wait_for_a_broker_that_is_down(deployment_factory, adult_model_bytes, tmp_path):
    from tests.services import free_port

    port = free_port()
    deployment = deployment_factory()
    deployment.env["EXPLAINER_BROKER_URL"] = f"redis://127.0.0.1:{port}/0"
    deployment.start_api()
    deployment.register_adult(adult_model_bytes)

    job = deployment.submit("shap", {"n_rows": 10, "background_size": 10})
    waiting = deployment.job(job["id"])
    ready = requests.get(f"{deployment.url}/readyz", timeout=TIMEOUT)
    broker = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deployment.start_workers(1)
        final = deployment.wait_for(job["id"], timeout=120)
    finally:
        broker.terminate()
        broker.wait(timeout=30)

    assert waiting["status"] == "queued"
    assert waiting["stage"] == "waiting for the job broker"
    assert ready.status_code == 200
    assert ready.json()["checks"]["job_workers"].startswith("degraded")
    assert final["status"] == "succeeded", final


def test_supervisor_merges_when_the_last_worker_was_lost(tmp_path, adult_model_bytes, adult_dataset):
    from datetime import timedelta

    from sqlalchemy import update

    from api.config import Settings
    from api.scaleout import CHUNK_TASK, MERGE_TASK, JobTasks, create_celery
    from api.storage import JobRecord, utc_now
    from api.workspace import Workspace

    class Recording(JobTasks):
        """Records the messages it would send, so that the test delivers them by hand."""

        def send(self, name, *args):
            self.sent.append((name, *args))

    workspace = Workspace(Settings(data_dir=tmp_path, job_backend="celery", stale_job_seconds=4))
    workspace.add_model(adult_model_bytes, name="adult-gbm")
    workspace.add_dataset((DATASETS / "adult.csv").read_bytes(), name="adult", target="income")
    job = workspace.create_job("adult-gbm", "adult", "shap", {"n_rows": 30, **AGNOSTIC})
    tasks = Recording(workspace, create_celery(workspace.settings))
    tasks.sent = []
    tasks.plan(job["id"])
    positions = [args[1] for name, *args in tasks.sent if name == CHUNK_TASK]
    # The worker of the last chunk dies after storing it, before merging.
    tasks.merge = lambda job_id: None
    for position in positions:
        tasks.run(job["id"], position)
    del tasks.merge
    with workspace.session() as session:
        session.execute(update(JobRecord).where(JobRecord.id == job["id"])
                        .values(heartbeat_at=utc_now() - timedelta(seconds=60)))
        session.commit()
    stuck = workspace.get_job(job["id"])
    tasks.sent.clear()
    tasks.supervise()
    sent = list(tasks.sent)
    tasks.count_done(job["id"])
    tasks.merge(job["id"])
    final = workspace.get_job(job["id"])

    assert len(positions) == 3
    assert stuck["status"] == "running"
    assert sent == [(MERGE_TASK, job["id"])]
    assert final["status"] == "succeeded"
    assert workspace.job_result(job["id"])["values"] == _in_process(adult_model_bytes, adult_dataset, job)["values"]


def test_diagnosis_and_layer_attributions_on_workers(deployment_factory, checkpoints_dir, checkpoint_networks):
    from explainer import load_checkpoints

    deployment = deployment_factory()
    deployment.start_api()
    deployment.start_workers(1)
    entry = checkpoint_networks["dead_relu"]
    folder = checkpoints_dir / "dead_relu"
    files = [("architecture", ("architecture.pt", (folder / entry["architecture"]).read_bytes()))]
    files += [("weights", (name, (folder / name).read_bytes())) for name in entry["weights"]]
    uploads = [
        requests.post(f"{deployment.url}/checkpoints", files=files, data={"name": "dead"}, timeout=TIMEOUT),
        requests.post(f"{deployment.url}/models", files={"file": ("net.pt", files[0][1][1])},
                      data={"name": "dead-net"}, timeout=TIMEOUT),
        requests.post(f"{deployment.url}/datasets", files={"file": ("data.csv", open(entry["dataset_file"], "rb"))},
                      data={"name": "breast", "target": entry["target"]}, timeout=TIMEOUT),
    ]
    assert [upload.status_code for upload in uploads] == [201, 201, 201], [upload.text for upload in uploads]

    diagnosis = requests.post(f"{deployment.url}/checkpoints/dead/diagnoses", json={"dataset_id": "breast"},
                              timeout=TIMEOUT).json()
    layers = requests.post(f"{deployment.url}/explanations", json={
        "model_id": "dead-net", "dataset_id": "breast", "method": "layer-attributions",
        "parameters": {"layer": ["relu1", "layer2"], "n_rows": 50, "baseline": "mean"}}, timeout=TIMEOUT).json()
    diagnosis_final = deployment.wait_for(diagnosis["id"])
    layers_final = deployment.wait_for(layers["id"])

    assert diagnosis_final["status"] == "succeeded", diagnosis_final
    assert diagnosis_final["chunks_total"] == 1
    assert [finding["layer"] for finding in diagnosis_final["result"]["findings"]] == ["relu1"]
    dataset = load_dataset(open(entry["dataset_file"], "rb").read(), target=entry["target"])
    series = load_checkpoints(folder / entry["architecture"], [folder / name for name in entry["weights"]])
    _same_numbers(diagnosis_final["result"], explain_in_chunks(
        series, dataset, method="training-health", parameters=diagnosis["parameters"]))
    assert layers_final["status"] == "succeeded", layers_final
    _same_numbers(layers_final["result"], explain_in_chunks(
        load_model(folder / entry["architecture"]), dataset, method="layer-attributions",
        parameters=layers["parameters"]))
