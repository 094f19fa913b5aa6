"""In-process job workers: explanations that may outlast a request.

Jobs live in the database, so any process can report on them. A worker
thread claims a queued job atomically, runs it, and stores the result in the
artifact store. While it runs, a heartbeat thread stamps the job every few
seconds; a job whose stamp grows older than ``stale_job_seconds`` (its
process died) is marked failed rather than left running forever.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import explainer
from explainer import ExplainerError

from .workspace import Workspace

logger = logging.getLogger(__name__)

# Heartbeats come at least four times per stale_job_seconds, and at most
# every 5 seconds, so a live job is never mistaken for a stale one.
MAX_HEARTBEAT_SECONDS = 5.0
# Progress is written to the database at most this often per job.
PROGRESS_INTERVAL_SECONDS = 0.5


class JobCancelled(Exception):
    """Raised inside a running method when its job was cancelled."""


class JobRunner:
    """A pool of worker threads running the explanation jobs of one process."""

    def __init__(self, workspace: Workspace, *, workers: int):
        self.workspace = workspace
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="job")
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat_seconds = min(MAX_HEARTBEAT_SECONDS, workspace.settings.stale_job_seconds / 4)
        self._heartbeat = threading.Thread(target=self._beat, name="job-heartbeat", daemon=True)
        self._heartbeat.start()

    def start(self) -> None:
        """Fail jobs orphaned by a dead process and resume the queued ones."""
        self.workspace.fail_stale_jobs()
        for job_id in self.workspace.queued_job_ids():
            self.submit(job_id)

    def submit(self, job_id: str) -> None:
        self._pool.submit(self._run, job_id)

    def is_alive(self) -> bool:
        return self._heartbeat.is_alive() and not self._stopping.is_set()

    def shutdown(self) -> None:
        self._stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _beat(self) -> None:
        while not self._stopping.wait(self._heartbeat_seconds):
            with self._lock:
                active = set(self._active)
            try:
                self.workspace.touch_jobs(active)
                self.workspace.fail_stale_jobs()
            except Exception:  # the database may be briefly unavailable; try again next beat
                logger.exception("job heartbeat failed for jobs %s", sorted(active))

    def _run(self, job_id: str) -> None:
        job = self.workspace.claim_job(job_id)
        if job is None:
            return
        with self._lock:
            self._active.add(job_id)
        logger.info("job %s started: %s", job_id, job.method)
        last_update = 0.0

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_update
            now = time.monotonic()
            if now - last_update < PROGRESS_INTERVAL_SECONDS and fraction < 1.0:
                return
            last_update = now
            if self.workspace.update_job(job_id, progress=fraction, stage=stage):
                raise JobCancelled(job_id)

        try:
            _, model = self.workspace.load_model(job.model_id)
            _, dataset = self.workspace.load_dataset(job.dataset_id)
            progress(0.0, "running")
            result = explainer.explain(
                model, dataset, method=job.method, parameters=job.parameters, progress=progress
            )
            if self.workspace.update_job(job_id, stage="saving result"):
                raise JobCancelled(job_id)
            payload = result.to_dict()
            payload["job_id"] = job_id
            self.workspace.finish_job(job_id, status="succeeded", result=payload)
        except JobCancelled:
            self.workspace.finish_job(job_id, status="cancelled")
        except ExplainerError as error:
            self.workspace.finish_job(
                job_id, status="failed",
                error={"title": error.title, "status": error.status, "detail": error.message, **error.details},
            )
        except Exception as error:
            logger.exception("job %s failed unexpectedly", job_id)
            self.workspace.finish_job(
                job_id, status="failed",
                error={"title": "Internal error", "status": 500,
                       "detail": f"{type(error).__name__}: {error}"},
            )
        finally:
            with self._lock:
                self._active.discard(job_id)
