"""The scale-out job backend: Celery workers with a Redis broker.

A job goes through three kinds of task, each safe to deliver twice:

- ``explainer.plan_job`` claims the queued job, cuts it into chunks
  (:mod:`explainer.chunks`), stores them and sends one task per chunk;
- ``explainer.run_chunk`` claims one chunk, runs it, and stores its partial
  result in the artifact store; the worker that finishes the last chunk
  merges them;
- ``explainer.merge_job`` merges, when the worker that should have merged
  was lost.

The database, not the broker, records what has run: a task whose chunk is
done, or running with a fresh heartbeat elsewhere, does nothing. Messages are
acknowledged late, so the broker delivers a killed worker's message again;
and a supervisor loop, in the API and in every worker, puts back chunks whose
heartbeat stopped, fails a job whose chunk was started ``job_max_attempts``
times, and fails jobs past the time limit. So a job ends, one way or the
other, even when workers die in the middle of it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from celery import Celery, signals
from sqlalchemy import func, or_, select, update

from explainer import ExplainerError
from explainer.chunks import merge_chunks, plan_chunks, run_chunk

from .config import Settings
from .storage import ChunkRecord, JobRecord, _aware, new_id, utc_now
from .workspace import Workspace

logger = logging.getLogger(__name__)

PLAN_TASK = "explainer.plan_job"
CHUNK_TASK = "explainer.run_chunk"
MERGE_TASK = "explainer.merge_job"
QUEUE = "explainer"
# The stage of a queued job whose message could not be sent. The supervisor
# sends it again once the broker is reachable.
BROKER_WAIT_STAGE = "waiting for the job broker"
# Chunk progress reaches the database at most this often.
PROGRESS_INTERVAL_SECONDS = 0.5
MAX_HEARTBEAT_SECONDS = 5.0


class ChunkStopped(Exception):
    """Raised inside a running chunk whose job was cancelled, failed or timed out."""


def heartbeat_seconds(settings: Settings) -> float:
    """Heartbeats come at least four times per stale_job_seconds."""
    return min(MAX_HEARTBEAT_SECONDS, settings.stale_job_seconds / 4)


def create_celery(settings: Settings) -> Celery:
    """Create the Celery application of a deployment and register its tasks."""
    app = Celery("explainer", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        # Acknowledge after the task ran, and give a task whose worker process
        # died back to the broker: a killed worker's chunk runs elsewhere.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message at a time per process, so that idle workers get chunks.
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.broker_visibility_seconds},
        broker_connection_retry_on_startup=True,
        # A request that queues a job must not hang on a dead broker.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        worker_hijack_root_logger=False,
    )
    app.task(name=PLAN_TASK, ignore_result=True)(_plan_job_task)
    app.task(name=CHUNK_TASK, ignore_result=True)(_run_chunk_task)
    app.task(name=MERGE_TASK, ignore_result=True)(_merge_job_task)
    app.explainer_settings = settings
    return app


# One workspace per process, made on first use, because a forked pool process
# must not share its parent's database connections.
_process_state: dict = {}
_process_lock = threading.Lock()


def configure_process(settings: Settings) -> None:
    """Set the settings that this process's tasks use (the worker command calls it)."""
    with _process_lock:
        _process_state.clear()
        _process_state["settings"] = settings


def _state() -> tuple[Workspace, Celery]:
    with _process_lock:
        if _process_state.get("pid") != os.getpid():
            settings = _process_state.get("settings") or Settings.from_env()
            _process_state.update(pid=os.getpid(), settings=settings, workspace=Workspace(settings),
                                  celery=create_celery(settings))
        return _process_state["workspace"], _process_state["celery"]


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# Tasks -------------------------------------------------------------------------


def _plan_job_task(job_id: str) -> None:
    workspace, celery = _state()
    JobTasks(workspace, celery).plan(job_id)


def _run_chunk_task(job_id: str, position: int) -> None:
    workspace, celery = _state()
    JobTasks(workspace, celery).run(job_id, position)


def _merge_job_task(job_id: str) -> None:
    workspace, celery = _state()
    tasks = JobTasks(workspace, celery)
    tasks.count_done(job_id)
    tasks.merge(job_id)


class JobTasks:
    """The work of the three tasks, against one workspace and one broker."""

    def __init__(self, workspace: Workspace, celery: Celery):
        self.workspace = workspace
        self.celery = celery
        self.settings = workspace.settings

    def send(self, name: str, *args) -> None:
        self.celery.send_task(name, args=list(args), queue=QUEUE)

    # Planning ---------------------------------------------------------------

    def plan(self, job_id: str) -> None:
        workspace = self.workspace
        job = workspace.claim_job(job_id)
        if job is None:
            # A second delivery: send the waiting chunks again, because their
            # messages may have been lost with the planning worker.
            for position in self._queued_chunks(job_id):
                self.send(CHUNK_TASK, job_id, position)
            return
        if job.attempts > self.settings.job_max_attempts:
            self._fail(job_id, "Worker lost", self._attempts_message("planning", job.attempts))
            return
        try:
            subject, dataset = workspace.load_job_inputs(job)
            specs = plan_chunks(subject, dataset, method=job.method, parameters=job.parameters)
        except ExplainerError as error:
            logger.info("job %s cannot be planned: %s", job_id, error.message)
            self._fail_with(job_id, error)
            return
        with workspace.session() as session:
            session.add_all(
                ChunkRecord(job_id=job_id, position=position, spec=spec, status="queued", progress=0.0,
                            attempts=0)
                for position, spec in enumerate(specs)
            )
            session.execute(
                update(JobRecord).where(JobRecord.id == job_id)
                .values(chunks_total=len(specs), chunks_done=0, heartbeat_at=utc_now(),
                        stage=f"0 of {len(specs)} chunks done")
            )
            session.commit()
        logger.info("job %s planned as %d chunk(s)", job_id, len(specs))
        for position in range(len(specs)):
            self.send(CHUNK_TASK, job_id, position)

    def _queued_chunks(self, job_id: str) -> list[int]:
        with self.workspace.session() as session:
            return list(session.scalars(
                select(ChunkRecord.position)
                .join(JobRecord, JobRecord.id == ChunkRecord.job_id)
                .where(ChunkRecord.job_id == job_id, ChunkRecord.status == "queued",
                       JobRecord.status == "running")
                .order_by(ChunkRecord.position)
            ))

    # Chunks -----------------------------------------------------------------

    def _claim_chunk(self, job_id: str, position: int) -> ChunkRecord | None:
        """Move a chunk to running. Returns None if it ran, or runs with a live heartbeat elsewhere."""
        now = utc_now()
        stale_before = now - timedelta(seconds=self.settings.stale_job_seconds)
        with self.workspace.session() as session:
            claimed = session.execute(
                update(ChunkRecord)
                .where(ChunkRecord.job_id == job_id, ChunkRecord.position == position,
                       or_(ChunkRecord.status == "queued",
                           (ChunkRecord.status == "running") & (ChunkRecord.heartbeat_at < stale_before)))
                .values(status="running", attempts=ChunkRecord.attempts + 1, worker=_worker_name(),
                        started_at=now, heartbeat_at=now, progress=0.0)
            ).rowcount
            session.commit()
            return session.get(ChunkRecord, (job_id, position)) if claimed == 1 else None

    def run(self, job_id: str, position: int) -> None:
        workspace = self.workspace
        chunk = self._claim_chunk(job_id, position)
        if chunk is None:
            return
        job = self._job(job_id)
        if job is None or job.status != "running":
            self._end_chunk(job_id, position, chunk.attempts, "cancelled")
            return
        if chunk.attempts > self.settings.job_max_attempts:
            self._fail(job_id, "Worker lost",
                       self._attempts_message(f"chunk {position + 1} of {job.chunks_total}", chunk.attempts))
            self._end_chunk(job_id, position, chunk.attempts, "failed")
            return
        deadline = _aware(job.started_at) + timedelta(seconds=self.settings.job_time_limit_seconds)
        stop_beating = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job_id, position, stop_beating), daemon=True,
                                name=f"chunk-heartbeat-{job_id[:8]}-{position}")
        beat.start()
        last_update = 0.0

        def progress(fraction: float, stage: str) -> None:
            nonlocal last_update
            now = time.monotonic()
            if now - last_update < PROGRESS_INTERVAL_SECONDS:
                return
            last_update = now
            if utc_now() > deadline:
                raise ChunkStopped("time limit")
            if not self._report(job_id, position, chunk.attempts, fraction, stage):
                raise ChunkStopped("job ended")

        try:
            subject, dataset = workspace.load_job_inputs(job)
            partial = run_chunk(subject, dataset, method=job.method, parameters=job.parameters,
                                chunk=chunk.spec, progress=progress)
        except ChunkStopped as reason:
            logger.info("job %s chunk %d stopped: %s", job_id, position, reason)
            self._end_chunk(job_id, position, chunk.attempts, "cancelled")
            if str(reason) == "time limit":
                self._fail(job_id, "Time limit exceeded", workspace.time_limit_message())
            return
        except ExplainerError as error:
            logger.info("job %s chunk %d failed: %s", job_id, position, error.message)
            self._end_chunk(job_id, position, chunk.attempts, "failed")
            self._fail_with(job_id, error)
            return
        except Exception as error:
            logger.exception("job %s chunk %d failed unexpectedly", job_id, position)
            self._end_chunk(job_id, position, chunk.attempts, "failed")
            self._fail(job_id, "Internal error", f"{type(error).__name__}: {error}", status=500)
            return
        finally:
            stop_beating.set()
        artifact = workspace.artifacts.write_json(f"results/{job_id}/chunk-{position}-{new_id()}.json", partial)
        if not self._end_chunk(job_id, position, chunk.attempts, "succeeded", artifact=artifact):
            workspace.artifacts.delete(artifact)
            return
        if self.count_done(job_id) == job.chunks_total:
            self.merge(job_id)

    def _beat(self, job_id: str, position: int, stop: threading.Event) -> None:
        while not stop.wait(heartbeat_seconds(self.settings)):
            try:
                now = utc_now()
                with self.workspace.session() as session:
                    session.execute(update(ChunkRecord)
                                    .where(ChunkRecord.job_id == job_id, ChunkRecord.position == position,
                                           ChunkRecord.status == "running")
                                    .values(heartbeat_at=now))
                    session.execute(update(JobRecord)
                                    .where(JobRecord.id == job_id, JobRecord.status == "running")
                                    .values(heartbeat_at=now))
                    session.commit()
            except Exception:  # the database may be briefly unavailable, so try again next beat
                logger.exception("heartbeat of job %s chunk %d failed", job_id, position)

    def _report(self, job_id: str, position: int, attempt: int, fraction: float, stage: str) -> bool:
        """Store a chunk's progress and the job's mean progress. Returns whether the job still runs."""
        now = utc_now()
        with self.workspace.session() as session:
            session.execute(
                update(ChunkRecord)
                .where(ChunkRecord.job_id == job_id, ChunkRecord.position == position,
                       ChunkRecord.attempts == attempt, ChunkRecord.status == "running")
                .values(progress=fraction, heartbeat_at=now)
            )
            mean = (select(func.avg(ChunkRecord.progress)).where(ChunkRecord.job_id == job_id)
                    .scalar_subquery())
            session.execute(
                update(JobRecord).where(JobRecord.id == job_id, JobRecord.status == "running")
                .values(progress=func.coalesce(mean, 0.0), heartbeat_at=now,
                        stage=f"chunk {position + 1}: {stage}")
            )
            session.commit()
            return session.scalar(select(JobRecord.status).where(JobRecord.id == job_id)) == "running"

    def _end_chunk(self, job_id: str, position: int, attempt: int, status: str, *, artifact=None) -> bool:
        """End this attempt of a chunk. Returns False if another attempt took it over meanwhile."""
        with self.workspace.session() as session:
            ended = session.execute(
                update(ChunkRecord)
                .where(ChunkRecord.job_id == job_id, ChunkRecord.position == position,
                       ChunkRecord.attempts == attempt, ChunkRecord.status == "running")
                .values(status=status, finished_at=utc_now(), result_artifact=artifact,
                        progress=1.0 if status == "succeeded" else ChunkRecord.progress)
            ).rowcount
            session.commit()
            return ended == 1

    def count_done(self, job_id: str) -> int:
        """Count the chunks that succeeded, store the count on the job and return it.

        Each chunk commits its own end before counting, so the count of the
        last chunk to end includes every chunk.
        """
        with self.workspace.session() as session:
            done = session.scalar(select(func.count()).select_from(ChunkRecord)
                                  .where(ChunkRecord.job_id == job_id, ChunkRecord.status == "succeeded"))
            total = session.scalar(select(JobRecord.chunks_total).where(JobRecord.id == job_id))
            session.execute(update(JobRecord).where(JobRecord.id == job_id, JobRecord.status == "running")
                            .values(chunks_done=done, stage=f"{done} of {total} chunks done"))
            session.commit()
            return done

    # Merging ----------------------------------------------------------------

    def merge(self, job_id: str) -> None:
        workspace = self.workspace
        # Only one process merges: the one that moves the stage to merging.
        with workspace.session() as session:
            claimed = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.status == "running",
                       JobRecord.chunks_done == JobRecord.chunks_total,
                       or_(JobRecord.stage.is_(None), JobRecord.stage != "merging"))
                .values(stage="merging", heartbeat_at=utc_now())
            ).rowcount
            session.commit()
            if claimed != 1:
                return
            job = session.get(JobRecord, job_id)
            chunks = session.scalars(select(ChunkRecord).where(ChunkRecord.job_id == job_id)
                                     .order_by(ChunkRecord.position)).all()
        try:
            subject, dataset = workspace.load_job_inputs(job)
            partials = [workspace.artifacts.read_json(chunk.result_artifact) for chunk in chunks]
            elapsed = (utc_now() - _aware(job.started_at)).total_seconds()
            result = merge_chunks(subject, dataset, method=job.method, parameters=job.parameters,
                                  partials=partials, elapsed_seconds=elapsed)
        except ExplainerError as error:
            logger.warning("job %s: merging its chunks failed: %s", job_id, error.message)
            self._fail_with(job_id, error)
            return
        except Exception as error:
            # Failed here, so that the supervisor does not merge it again and again.
            logger.exception("job %s: merging its chunks failed unexpectedly", job_id)
            self._fail(job_id, "Internal error", f"{type(error).__name__}: {error}", status=500)
            return
        result["job_id"] = job_id
        workspace.finish_job(job_id, status="succeeded", result=result)
        for chunk in chunks:
            workspace.artifacts.delete(chunk.result_artifact)

    # Ending jobs ------------------------------------------------------------

    def _job(self, job_id: str) -> JobRecord | None:
        with self.workspace.session() as session:
            return session.get(JobRecord, job_id)

    def _fail(self, job_id: str, title: str, detail: str, *, status: int = 422) -> None:
        self.workspace.finish_job(job_id, status="failed", error={"title": title, "status": status,
                                                                  "detail": detail})

    def _fail_with(self, job_id: str, error: ExplainerError) -> None:
        self.workspace.finish_job(job_id, status="failed", error={
            "title": error.title, "status": error.status, "detail": error.message, **error.details})

    def _attempts_message(self, what: str, attempts: int) -> str:
        return (f"{what} was started {attempts} times and its worker was lost each time (killed, out "
                f"of memory, or stopped), past the limit of {self.settings.job_max_attempts} "
                "(EXPLAINER_JOB_MAX_ATTEMPTS); check the workers' logs and memory, then submit the job "
                "again.")

    # Supervision --------------------------------------------------------------

    def send_job(self, job_id: str) -> bool:
        """Send a queued job to the workers; if the broker is down, mark it to be sent later."""
        try:
            self.send(PLAN_TASK, job_id)
        except Exception as error:  # kombu and redis raise several kinds of connection errors
            logger.warning("job %s: cannot reach the broker %s (%s); it is sent when the broker responds",
                           job_id, self.settings.broker_url.split("@")[-1], error)
            with self.workspace.session() as session:
                session.execute(update(JobRecord).where(JobRecord.id == job_id, JobRecord.status == "queued")
                                .values(stage=BROKER_WAIT_STAGE))
                session.commit()
            return False
        return True

    def supervise(self) -> None:
        """Put back lost chunks, resume lost planning and merging, end jobs past the time limit."""
        with self.workspace.session() as session:
            unsent = list(session.scalars(select(JobRecord.id).where(
                JobRecord.status == "queued", JobRecord.stage == BROKER_WAIT_STAGE)))
        for job_id in unsent:
            if not self.send_job(job_id):
                break
            with self.workspace.session() as session:
                session.execute(update(JobRecord).where(JobRecord.id == job_id, JobRecord.stage == BROKER_WAIT_STAGE)
                                .values(stage="queued"))
                session.commit()
        now = utc_now()
        stale_before = now - timedelta(seconds=self.settings.stale_job_seconds)
        limit_before = now - timedelta(seconds=self.settings.job_time_limit_seconds)
        workspace = self.workspace
        with workspace.session() as session:
            overdue = list(session.scalars(select(JobRecord.id).where(
                JobRecord.status == "running", JobRecord.started_at < limit_before)))
            lost_chunks = session.execute(
                select(ChunkRecord.job_id, ChunkRecord.position)
                .join(JobRecord, JobRecord.id == ChunkRecord.job_id)
                .where(JobRecord.status == "running", ChunkRecord.status == "running",
                       ChunkRecord.heartbeat_at < stale_before)
            ).all()
            lost_plans = list(session.scalars(select(JobRecord.id).where(
                JobRecord.status == "running", JobRecord.chunks_total.is_(None),
                JobRecord.heartbeat_at < stale_before)))
            # Every chunk succeeded, but no merge runs: the last chunk's
            # worker was lost before or while it merged.
            unfinished = select(ChunkRecord.job_id).where(
                ChunkRecord.job_id == JobRecord.id, ChunkRecord.status != "succeeded")
            lost_merges = list(session.scalars(select(JobRecord.id).where(
                JobRecord.status == "running", JobRecord.chunks_total.is_not(None),
                JobRecord.heartbeat_at < stale_before, ~unfinished.exists())))
        for job_id in overdue:
            self._fail(job_id, "Time limit exceeded", workspace.time_limit_message())
        for job_id, position in lost_chunks:
            with workspace.session() as session:
                # Back to the queue only if no other process did it first.
                requeued = session.execute(
                    update(ChunkRecord)
                    .where(ChunkRecord.job_id == job_id, ChunkRecord.position == position,
                           ChunkRecord.status == "running", ChunkRecord.heartbeat_at < stale_before)
                    .values(status="queued", progress=0.0, heartbeat_at=None)
                ).rowcount
                session.commit()
            if requeued:
                logger.warning("job %s chunk %d: its worker stopped heart-beating; queued again",
                               job_id, position)
                self.send(CHUNK_TASK, job_id, position)
        for job_id in lost_plans:
            with workspace.session() as session:
                requeued = session.execute(
                    update(JobRecord)
                    .where(JobRecord.id == job_id, JobRecord.status == "running",
                           JobRecord.chunks_total.is_(None), JobRecord.heartbeat_at < stale_before)
                    .values(status="queued", stage="queued again: its planning worker was lost")
                ).rowcount
                session.commit()
            if requeued:
                self.send(PLAN_TASK, job_id)
        for job_id in lost_merges:
            with workspace.session() as session:
                reset = session.execute(
                    update(JobRecord)
                    .where(JobRecord.id == job_id, JobRecord.status == "running",
                           JobRecord.heartbeat_at < stale_before)
                    .values(stage="merging again: the merging worker was lost", heartbeat_at=utc_now())
                ).rowcount
                session.commit()
            if reset:
                self.send(MERGE_TASK, job_id)


class Supervisor:
    """A daemon thread that runs :meth:`JobTasks.supervise` every heartbeat."""

    def __init__(self, tasks: JobTasks):
        self.tasks = tasks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.wait(heartbeat_seconds(self.tasks.settings)):
            try:
                self.tasks.supervise()
            except Exception:  # database or broker briefly unavailable; try again next round
                logger.exception("job supervision failed")


class CeleryBackend:
    """The API side of the scale-out backend: sends jobs to the workers.

    Same interface as the threads backend's :class:`api.jobs.JobRunner`.
    """

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.celery = create_celery(workspace.settings)
        self.tasks = JobTasks(workspace, self.celery)
        self.supervisor = Supervisor(self.tasks)
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        """Send the queued jobs again, in case the process that queued them died first."""
        for job_id in self.workspace.queued_job_ids():
            self.submit(job_id)
        self.supervisor.start()

    def submit(self, job_id: str) -> None:
        self.tasks.send_job(job_id)

    def is_alive(self) -> bool:
        return not self.stopping and self.supervisor.is_alive()

    def health(self) -> str:
        if not self.is_alive():
            return "failed: stopped"
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0, timeout=2)
        except Exception as error:  # any broker error: new jobs wait until the broker is back
            logger.warning("readiness: broker %s unreachable: %s",
                           self.workspace.settings.broker_url.split("@")[-1], error)
            return "degraded: the job broker is unreachable; new jobs wait until it is reachable"
        return "ok"

    def shutdown(self) -> None:
        """Nothing runs here: running chunks belong to the workers."""
        self._stopping.set()
        self.supervisor.stop()


# The worker process ---------------------------------------------------------


def run_worker(settings: Settings, *, concurrency: int, name: str | None = None, loglevel: str = "INFO") -> None:
    """Run a Celery worker in this process (``explainer worker``); returns when it stops."""
    configure_process(settings)
    celery = create_celery(settings)
    supervisors: list[Supervisor] = []

    @signals.worker_ready.connect(weak=False)
    def start_supervisor(**_):
        # The main process supervises too, so that chunks of a lost worker
        # are put back even while no API process runs.
        workspace, celery_app = _state()
        supervisor = Supervisor(JobTasks(workspace, celery_app))
        supervisor.start()
        supervisors.append(supervisor)

    @signals.worker_process_init.connect(weak=False)
    def reset_process(**_):
        with _process_lock:
            _process_state.pop("pid", None)

    arguments = ["worker", f"--loglevel={loglevel}", f"--concurrency={concurrency}", "--pool=prefork",
                 f"--queues={QUEUE}", "--without-gossip", "--without-mingle"]
    if name:
        arguments.append(f"--hostname={name}")
    celery.worker_main(arguments)
