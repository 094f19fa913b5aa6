"""A deployment on the Celery backend made of real processes, for tests and benchmarks.

`explainer serve` with EXPLAINER_JOB_BACKEND=celery, and `explainer worker`
processes, sharing one database, one broker and one data directory.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from api.storage import ChunkRecord
from tests.conftest import DATASETS, ROOT

TIMEOUT = 60


class Worker:
    """One `explainer worker` process (and its pool process), in its own process group."""

    def __init__(self, deployment: "Deployment", name: str):
        self.name = name
        self.log_path = deployment.root / f"worker-{name}.log"
        self.log = open(self.log_path, "ab")
        command = [sys.executable, "-m", "explainer.cli", "worker", "--name", f"{name}@test",
                   "--data-dir", str(deployment.data_dir)]
        self.process = subprocess.Popen(command, cwd=ROOT, env=deployment.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> "Worker":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited:\n{self.read_log()}")
            if b" ready." in self.log_path.read_bytes():
                return self
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} was not ready within {timeout} s:\n{self.read_log()}")

    def pids(self) -> set[int]:
        """The main process and its pool processes."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        found = {self.process.pid}
        if children.exists():
            found |= {int(pid) for pid in children.read_text().split()}
        return found

    def kill(self) -> None:
        """SIGKILL the whole worker, as an orchestrator does to a container."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


class Deployment:
    """An API process on the Celery backend, and its workers."""

    def __init__(self, root: Path, live_server_factory, database_url: str, broker_url: str, **settings):
        self.root = root
        # The directory the live server is given, shared with the workers.
        self.data_dir = root.parent / "service"
        self.database_url = database_url
        self.env = {
            **os.environ,
            "EXPLAINER_JOB_BACKEND": "celery",
            "EXPLAINER_BROKER_URL": broker_url,
            "EXPLAINER_DATABASE_URL": database_url,
            "EXPLAINER_DATA_DIR": str(self.data_dir),
            # Lost chunks are noticed within seconds here; the default is a minute.
            "EXPLAINER_STALE_JOB_SECONDS": "4",
            "EXPLAINER_BROKER_VISIBILITY_SECONDS": "30",
            **{f"EXPLAINER_{name.upper()}": str(value) for name, value in settings.items()},
        }
        self._start_server = live_server_factory
        self.server = None
        self.workers: list[Worker] = []
        self.engine = create_engine(database_url)

    @property
    def url(self) -> str:
        return self.server.url

    def start_api(self):
        self.server = self._start_server(env=self.env)
        return self.server

    def start_workers(self, count: int) -> list[Worker]:
        started = [Worker(self, f"w{len(self.workers) + index + 1}") for index in range(count)]
        self.workers += started
        for worker in started:
            worker.wait_ready()
        return started

    def chunks(self, job_id: str) -> list[ChunkRecord]:
        with Session(self.engine) as session:
            return list(session.scalars(select(ChunkRecord).where(ChunkRecord.job_id == job_id)
                                        .order_by(ChunkRecord.position)))

    def register_adult(self, model_bytes: bytes) -> None:
        for path, files, data in (
            ("/models", {"file": ("adult.skops", model_bytes)}, {"name": "adult-gbm"}),
            ("/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
             {"name": "adult", "target": "income"}),
        ):
            response = requests.post(f"{self.url}{path}", files=files, data=data, timeout=TIMEOUT)
            assert response.status_code == 201, response.text

    def submit(self, method: str, parameters: dict) -> dict:
        response = requests.post(f"{self.url}/explanations", json={
            "model_id": "adult-gbm", "dataset_id": "adult", "method": method, "parameters": parameters,
        }, timeout=TIMEOUT)
        assert response.status_code == 202, response.text
        return response.json()

    def job(self, job_id: str, wait: float = 0) -> dict:
        return requests.get(f"{self.url}/explanations/{job_id}?wait={wait}", timeout=TIMEOUT).json()

    def wait_for(self, job_id: str, states=("succeeded", "failed", "cancelled"), timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id, wait=2 if "running" not in states else 0)
            if job["status"] in states:
                return job
            time.sleep(0.1)
        logs = "\n".join(worker.read_log() for worker in self.workers)
        raise AssertionError(f"job {job_id} did not reach {states} within {timeout} s: {job}\n{logs}")

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
        if self.server is not None:
            self.server.stop()
        self.engine.dispose()
