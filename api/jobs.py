"""In-process job workers (the 'threads' backend): explanations that may outlast a request.

Jobs live in the database, so any process can report on them. A worker
thread claims a queued job atomically, runs its chunks one after another
(the chunks the 'celery' backend spreads over workers, so that both give the
same numbers), and stores the merged result in the artifact store. While it
runs, a heartbeat thread stamps the job every few seconds. A job whose stamp
grows older than ``stale_job_seconds`` has lost its process, so it is marked
failed rather than left running forever. A process that stops cleanly puts
its running jobs back in the queue instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from explainer import ExplainerError
from explainer.chunks import explain_in_chunks, run_chunk

from .workspace import Workspace

logger = logging.getLogger(__name__)

# Heartbeats come at least four times per stale_job_seconds, and at most
# every 5 seconds, so a live job is never mistaken for a stale one.
MAX_HEARTBEAT_SECONDS = 5.0
# Progress is written to the database at most this often per job.
PROGRESS_INTERVAL_SECONDS = 0.5


class JobCancelled(Exception):
    """Raised inside a running method when its job was cancelled."""


class ServiceStopping(Exception):
    """Raised inside a running method when the process is shutting down."""


class JobTimeLimitExceeded(Exception):
    """Raised inside a running method that ran past the job time limit."""


class JobRunner:
    """Worker threads running the explanation jobs of one process.

    The threads are daemons, so a stopping process does not wait for a long
    job. ``shutdown`` returns the jobs they were running to the queue.
    """

    def __init__(self, workspace: Workspace, *, workers: int):
        self.workspace = workspace
        self._queue: queue.Queue[str] = queue.Queue()
        self._active: set[str] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._heartbeat_seconds = min(MAX_HEARTBEAT_SECONDS, workspace.settings.stale_job_seconds / 4)
        self._threads = [
            threading.Thread(target=self._work, name=f"job-worker-{index}", daemon=True)
            for index in range(max(1, workers))
        ]
        self._threads.append(threading.Thread(target=self._beat, name="job-heartbeat", daemon=True))
        for thread in self._threads:
            thread.start()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        """Fail jobs orphaned by a dead process and resume the queued ones."""
        self.workspace.fail_stale_jobs()
        for job_id in self.workspace.queued_job_ids():
            self.submit(job_id)

    def submit(self, job_id: str) -> None:
        self._queue.put(job_id)

    def is_alive(self) -> bool:
        return not self.stopping and all(thread.is_alive() for thread in self._threads)

    def health(self) -> str:
        return "ok" if self.is_alive() else "failed: stopped"

    def shutdown(self) -> None:
        """Stop taking jobs and put the running ones back in the queue."""
        if self.stopping:
            return
        self._stopping.set()
        with self._lock:
            active = sorted(self._active)
        if active:
            self.workspace.requeue_jobs(active)
            logger.info("service stopping: returned running job(s) %s to the queue", active)

    def _beat(self) -> None:
        while not self._stopping.wait(self._heartbeat_seconds):
            with self._lock:
                active = set(self._active)
            try:
                self.workspace.touch_jobs(active)
                self.workspace.fail_stale_jobs()
            except Exception:  # the database may be briefly unavailable; try again next beat
                logger.exception("job heartbeat failed for jobs %s", sorted(active))

    def _work(self) -> None:
        while not self.stopping:
            try:
                job_id = self._queue.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._run(job_id)
            except Exception:  # a worker thread must survive any job
                logger.exception("job %s: the worker failed outside the job", job_id)

    def _run(self, job_id: str) -> None:
        job = self.workspace.claim_job(job_id)
        if job is None:
            return
        with self._lock:
            self._active.add(job_id)
        logger.info("job %s started: %s", job_id, job.method)
        last_update = 0.0
        time_limit = self.workspace.settings.job_time_limit_seconds
        deadline = time.monotonic() + time_limit

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_update
            if self.stopping:
                raise ServiceStopping(job_id)
            now = time.monotonic()
            if now > deadline:
                raise JobTimeLimitExceeded(job_id)
            if now - last_update < PROGRESS_INTERVAL_SECONDS and fraction < 1.0:
                return
            last_update = now
            if self.workspace.update_job(job_id, progress=fraction, stage=stage):
                raise JobCancelled(job_id)

        def run_chunks(specs):
            # The same chunks as the scale-out backend, run one after another,
            # so that both backends give the same numbers.
            self.workspace.set_job_chunks(job_id, total=len(specs), done=0)
            partials = []
            for position, spec in enumerate(specs):
                def chunk_progress(fraction, stage, position=position):
                    progress((position + fraction) / len(specs), stage)

                partials.append(run_chunk(subject, dataset, method=job.method, parameters=job.parameters,
                                          chunk=spec, progress=chunk_progress))
                self.workspace.set_job_chunks(job_id, total=len(specs), done=position + 1)
            return partials

        try:
            subject, dataset = self.workspace.load_job_inputs(job)
            progress(0.0, "running")
            payload = explain_in_chunks(subject, dataset, method=job.method, parameters=job.parameters,
                                        run=run_chunks)
            progress(1.0, "saving result")
            payload["job_id"] = job_id
            self.workspace.finish_job(job_id, status="succeeded", result=payload)
        except ServiceStopping:
            logger.info("job %s interrupted by shutdown; it runs again after the restart", job_id)
        except JobCancelled:
            self.workspace.finish_job(job_id, status="cancelled")
        except JobTimeLimitExceeded:
            self.workspace.finish_job(
                job_id, status="failed",
                error={"title": "Time limit exceeded", "status": 422,
                       "detail": self.workspace.time_limit_message()},
            )
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
