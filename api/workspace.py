"""The service's state: registered models, datasets and jobs, and their caches.

Views call these methods and serialize what they return. Nothing here depends
on HTTP beyond the library's exceptions, which carry their status.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

import explainer
from explainer import (
    ConflictError,
    Dataset,
    InvalidParameterError,
    Model,
    NotFoundError,
    RemoteModel,
    UnusableInputError,
    load_checkpoints,
    load_dataset,
    load_model,
)

from .config import Settings
from .storage import (
    FINAL_STATES,
    ArtifactStore,
    CheckpointSeriesRecord,
    ChunkRecord,
    DatasetRecord,
    JobRecord,
    ModelRecord,
    check_name_free,
    create_database,
    find_by_reference,
    new_id,
    utc_now,
)

logger = logging.getLogger(__name__)

# Remote model spec fields whose value the operator's setting caps.
_REMOTE_LIMITS = {"timeout_seconds": "remote_timeout_seconds", "max_retries": "remote_max_retries"}

# The networks of datasets/train_checkpoints.py that the demo registers, from
# the folder "checkpoints" of the demo directory: a healthy one and three broken
# on purpose (vanishing gradients, exploding weights, dead ReLU units). Each is
# named "demo-" and its network name, with "-" for "_".
DEMO_CHECKPOINTS_FOLDER = "checkpoints"
DEMO_CHECKPOINT_NETWORKS = ("healthy", "vanishing", "exploding", "dead_relu")


class _LruCache:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, size: int):
        self.size = max(1, size)
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get_or_create(self, key, create):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = create()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


class Workspace:
    """Models, datasets and jobs of one deployment."""

    def __init__(self, settings: Settings):
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = create_database(settings.resolved_database_url)
        self.artifacts = ArtifactStore(settings.data_dir / "artifacts")
        self._models = _LruCache(settings.model_cache_size)
        self._datasets = _LruCache(settings.model_cache_size)
        self._checkpoint_series = _LruCache(settings.model_cache_size)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    # Models -----------------------------------------------------------------

    def add_model(self, data: bytes, *, name: str | None = None, metadata: dict | None = None) -> dict:
        model = load_model(
            data,
            metadata=metadata,
            allow_pickle=self.settings.allow_pickle,
            trusted_types=self.settings.skops_trusted_types,
        )
        info = model.info()
        record = self._store_model(info, data, name=name, suffix="bin")
        self._models.get_or_create((info.digest, json.dumps(info.metadata, sort_keys=True)), lambda: model)
        logger.info("registered model %s (%s, %s, %s)", record["id"], name, info.format, info.digest)
        return record

    def _store_model(self, info, data: bytes, *, name: str | None, suffix: str) -> dict:
        """Write the model's file to the artifact store and its record to the database."""
        model_id = new_id()
        with self.session() as session:
            check_name_free(session, ModelRecord, name, "model")
            artifact = self.artifacts.write(f"models/{model_id}.{suffix}", data)
            record = ModelRecord(
                id=model_id, name=name, digest=info.digest, format=info.format, task=info.task,
                feature_names=list(info.feature_names),
                class_names=None if info.class_names is None else list(info.class_names),
                output_space=info.output_space, methods=list(info.explainers),
                model_metadata=info.metadata, artifact=artifact, size_bytes=len(data),
            )
            session.add(record)
            session.commit()
        return record.to_dict()

    def add_remote_model(self, spec: dict, *, name: str | None = None) -> dict:
        """Register a model that a model server serves, without contacting the server.

        The spec is validated and its host checked against
        ``remote_allowed_hosts``. The server need not be up: a server that
        cannot be reached fails the first prediction or explanation (502 or
        504), not the registration.
        """
        for key, setting in _REMOTE_LIMITS.items():
            limit = getattr(self.settings, setting)
            if isinstance(spec.get(key), (int, float)) and spec[key] > limit:
                raise InvalidParameterError(
                    f"{key} must be at most {limit}, this server's EXPLAINER_{setting.upper()}, "
                    f"got {spec[key]}."
                )
        model = self._remote_model(spec)
        info = model.info()
        data = json.dumps(model.spec.to_dict(), sort_keys=True).encode()
        record = self._store_model(info, data, name=name, suffix="json")
        logger.info("registered remote model %s (%s, %s at %s)", record["id"], name, info.format,
                    model.spec.endpoint)
        return record

    def _remote_model(self, spec: dict) -> RemoteModel:
        """Build a remote model whose timeout and retries are at most the current settings.

        The settings also fill in a timeout or retry count the spec leaves
        out, and cut a stored one that an operator has lowered since.
        """
        spec = dict(spec)
        for key, setting in _REMOTE_LIMITS.items():
            limit = getattr(self.settings, setting)
            given = spec.get(key)
            spec[key] = limit if given is None else min(given, limit)
        return RemoteModel(spec, allowed_hosts=self.settings.remote_allowed_hosts,
                           allow_list_name="EXPLAINER_REMOTE_ALLOWED_HOSTS")

    def list_models(self) -> list[dict]:
        with self.session() as session:
            records = session.scalars(select(ModelRecord).order_by(ModelRecord.created_at)).all()
            return [record.to_dict() for record in records]

    def get_model(self, reference: str) -> dict:
        with self.session() as session:
            return find_by_reference(session, ModelRecord, reference, "model").to_dict()

    def describe_model(self, reference: str) -> dict:
        """Return the model's record with ``layers``: the layers that layer and neuron methods accept.

        ``layers`` is None for a model without gradients. For a PyTorch model,
        this loads the model (or takes it from the cache) and runs it once on
        two rows of zeros.
        """
        record = self.get_model(reference)
        record["layers"] = None
        if "integrated-gradients" in record["methods"]:
            record["layers"] = self.load_model(record["id"])[1].describe_layers()
        return record

    def delete_model(self, reference: str) -> None:
        with self.session() as session:
            record = find_by_reference(session, ModelRecord, reference, "model")
            session.delete(record)
            session.commit()
        self.artifacts.delete(record.artifact)
        logger.info("deleted model %s", record.id)

    def load_model(self, reference: str) -> tuple[dict, Model]:
        """Return the model's record and the loaded model, from the cache when possible."""
        with self.session() as session:
            stored = find_by_reference(session, ModelRecord, reference, "model")
        record, artifact = stored.to_dict(), stored.artifact

        def load() -> Model:
            if record["format"].startswith("remote-"):
                return self._remote_model(self.artifacts.read_json(artifact))
            return load_model(
                self.artifacts.read(artifact),
                metadata=record["metadata"],
                allow_pickle=self.settings.allow_pickle,
                trusted_types=self.settings.skops_trusted_types,
            )

        # Two records may share a file but differ in metadata (a TorchScript
        # model's feature names, say), so the metadata is part of the key.
        key = (record["digest"], json.dumps(record["metadata"], sort_keys=True))
        return record, self._models.get_or_create(key, load)

    # Datasets ---------------------------------------------------------------

    def add_dataset(self, data: bytes, *, name: str | None = None, target: str | None = None) -> dict:
        dataset = load_dataset(data, name=name, target=target)
        schema = dataset.schema()
        dataset_id = new_id()
        suffix = "parquet" if data[:4] == b"PAR1" else "csv"
        with self.session() as session:
            check_name_free(session, DatasetRecord, name, "dataset")
            artifact = self.artifacts.write(f"datasets/{dataset_id}.{suffix}", data)
            record = DatasetRecord(
                id=dataset_id, name=name, digest=dataset.digest, target=target,
                n_rows=len(dataset), columns=dataset.columns, schema=schema,
                artifact=artifact, size_bytes=len(data),
            )
            session.add(record)
            session.commit()
        self._datasets.get_or_create((dataset.digest, target), lambda: dataset)
        logger.info("registered dataset %s (%s, %d rows)", dataset_id, name, len(dataset))
        return record.to_dict(with_schema=True)

    def list_datasets(self) -> list[dict]:
        with self.session() as session:
            records = session.scalars(select(DatasetRecord).order_by(DatasetRecord.created_at)).all()
            return [record.to_dict() for record in records]

    def get_dataset(self, reference: str, *, with_schema: bool = False) -> dict:
        with self.session() as session:
            record = find_by_reference(session, DatasetRecord, reference, "dataset")
            return record.to_dict(with_schema=with_schema)

    def delete_dataset(self, reference: str) -> None:
        with self.session() as session:
            record = find_by_reference(session, DatasetRecord, reference, "dataset")
            session.delete(record)
            session.commit()
        self.artifacts.delete(record.artifact)
        logger.info("deleted dataset %s", record.id)

    def load_dataset(self, reference: str) -> tuple[dict, Dataset]:
        with self.session() as session:
            record = find_by_reference(session, DatasetRecord, reference, "dataset")
        described = record.to_dict()

        def load() -> Dataset:
            return load_dataset(self.artifacts.read(record.artifact), name=record.name, target=record.target)

        return described, self._datasets.get_or_create((record.digest, record.target), load)

    # Checkpoint series ------------------------------------------------------

    def add_checkpoints(self, architecture: bytes, weights: list[bytes], *, epochs=None, name: str | None = None,
                        metadata: dict | None = None) -> dict:
        """Check and store an architecture with one safetensors weights file per checkpoint.

        Everything is loaded and checked first (:func:`explainer.load_checkpoints`),
        so that a rejected upload leaves nothing behind.
        """
        series = load_checkpoints(architecture, weights, epochs=epochs, metadata=metadata)
        model = series.model
        view = model.layer_view()
        state = series.states[0]
        # In the architecture's order: parameters, then buffers.
        tensors = [
            {"name": tensor_name, "shape": list(state[tensor_name].shape),
             "dtype": str(state[tensor_name].dtype).removeprefix("torch."),
             "kind": "parameter" if tensor_name in view.parameters else "buffer"}
            for tensor_name in [*view.parameters, *view.buffers] if tensor_name in state
        ]
        series_id = new_id()
        folder = f"checkpoints/{series_id}"
        with self.session() as session:
            check_name_free(session, CheckpointSeriesRecord, name, "checkpoint")
            try:
                artifact = self.artifacts.write(f"{folder}/architecture.bin", architecture)
                checkpoints = [
                    {"epoch": epoch, "digest": digest, "size_bytes": len(data),
                     "artifact": self.artifacts.write(f"{folder}/{position:05d}.safetensors", data)}
                    for position, (epoch, digest, data) in enumerate(zip(series.epochs, series.digests, weights))
                ]
                record = CheckpointSeriesRecord(
                    id=series_id, name=name, digest=model.digest, format=model.format, task=model.task,
                    feature_names=list(model.feature_names),
                    class_names=None if model.class_names is None else list(model.class_names),
                    series_metadata=model.metadata, checkpoints=checkpoints, tensors=tensors,
                    artifact=artifact, size_bytes=len(architecture) + sum(len(data) for data in weights),
                )
                session.add(record)
                session.commit()
            except BaseException:
                self.artifacts.delete_tree(folder)
                raise
        self._checkpoint_series.get_or_create(series_id, lambda: series)
        logger.info("registered checkpoint series %s (%s, %s, %d checkpoints)", series_id, name, model.format,
                    len(series))
        return record.to_dict()

    def list_checkpoints(self) -> list[dict]:
        with self.session() as session:
            records = session.scalars(select(CheckpointSeriesRecord).order_by(CheckpointSeriesRecord.created_at))
            return [record.to_dict() for record in records.all()]

    def get_checkpoints(self, reference: str) -> dict:
        with self.session() as session:
            return find_by_reference(session, CheckpointSeriesRecord, reference, "checkpoint").to_dict()

    def delete_checkpoints(self, reference: str) -> None:
        with self.session() as session:
            record = find_by_reference(session, CheckpointSeriesRecord, reference, "checkpoint")
            session.delete(record)
            session.commit()
        self.artifacts.delete_tree(f"checkpoints/{record.id}")
        logger.info("deleted checkpoint series %s", record.id)

    def load_checkpoint_series(self, reference: str) -> tuple[dict, explainer.CheckpointSeries]:
        """Return the series' record and the loaded series, from the cache when possible."""
        with self.session() as session:
            stored = find_by_reference(session, CheckpointSeriesRecord, reference, "checkpoint")
        record = stored.to_dict()

        def load() -> explainer.CheckpointSeries:
            return load_checkpoints(
                self.artifacts.read(stored.artifact),
                [self.artifacts.read(checkpoint["artifact"]) for checkpoint in stored.checkpoints],
                epochs=record["epochs"], metadata=record["metadata"],
            )

        # A record's files never change, so its id identifies the loaded series.
        return record, self._checkpoint_series.get_or_create(stored.id, load)

    # Jobs -------------------------------------------------------------------

    def create_job(self, model_reference: str, dataset_reference: str, method: str, parameters: dict) -> dict:
        """Validate a request cheaply and store it as a queued job."""
        model_record, model = self.load_model(model_reference)
        dataset_record, dataset = self.load_dataset(dataset_reference)
        if method in explainer.GRADIENT_METHODS and not model.supports_gradients:
            raise UnusableInputError(
                f"{method} needs a differentiable PyTorch model, but model {model_reference!r} is a "
                f"{model.format} model. Methods that apply to it: {list(model.applicable_methods())}.",
                details={"applicable_methods": list(model.applicable_methods())},
            )
        if method == "permutation" and dataset.target is None:
            raise UnusableInputError(
                f"permutation importance needs true labels, but dataset {dataset_reference!r} has "
                "no target column; upload it with a target."
            )
        explainer.check_parameters(model, dataset, method, parameters)
        return self._queue_job(method, parameters, model_id=model_record["id"], dataset_id=dataset_record["id"])

    def create_diagnosis_job(self, checkpoints_reference: str, dataset_reference: str | None,
                             parameters: dict) -> dict:
        """Validate a training-health request and store it as a queued job."""
        record, series = self.load_checkpoint_series(checkpoints_reference)
        dataset_id = dataset = None
        if dataset_reference is not None:
            dataset_record, dataset = self.load_dataset(dataset_reference)
            dataset_id = dataset_record["id"]
        explainer.check_parameters(series, dataset, "training-health", parameters)
        return self._queue_job("training-health", parameters, checkpoints_id=record["id"], dataset_id=dataset_id)

    def _queue_job(self, method: str, parameters: dict, **inputs) -> dict:
        """Store a queued job on ``inputs`` (model_id, dataset_id, checkpoints_id), unless the queue is full."""
        with self.session() as session:
            # A split job waits too while none of its chunks has started.
            started_chunks = select(ChunkRecord.job_id).where(
                ChunkRecord.job_id == JobRecord.id, ChunkRecord.status != "queued")
            waiting = or_(JobRecord.status == "queued",
                          (JobRecord.status == "running") & JobRecord.chunks_total.is_not(None)
                          & ~started_chunks.exists())
            queued = session.scalar(select(func.count()).select_from(JobRecord).where(waiting))
            if queued >= self.settings.max_queued_jobs:
                raise QueueFullError(
                    f"{queued} jobs are already waiting to run, the limit of this deployment "
                    "(EXPLAINER_MAX_QUEUED_JOBS); retry later."
                )
            job = JobRecord(id=new_id(), method=method, parameters=parameters, status="queued", progress=0.0,
                            **inputs)
            session.add(job)
            session.commit()
        logger.info("job %s queued: %s on %s", job.id, method,
                    ", ".join(f"{key} {value}" for key, value in inputs.items() if value is not None))
        return job.to_dict()

    def load_job_inputs(self, job: JobRecord) -> tuple:
        """Return what the job explains (a Model, or a CheckpointSeries) and its Dataset, or None."""
        if job.checkpoints_id is not None:
            _, subject = self.load_checkpoint_series(job.checkpoints_id)
        else:
            _, subject = self.load_model(job.model_id)
        dataset = None if job.dataset_id is None else self.load_dataset(job.dataset_id)[1]
        return subject, dataset

    def get_job(self, job_id: str) -> dict:
        with self.session() as session:
            job = session.get(JobRecord, job_id)
            if job is None:
                raise NotFoundError(f"job {job_id!r} does not exist; list jobs with GET /explanations.")
            return job.to_dict()

    def list_jobs(self, limit: int = 100, *, checkpoints_id: str | None = None) -> list[dict]:
        """Return the newest jobs first, or only the diagnoses of one series when ``checkpoints_id`` is given."""
        query = select(JobRecord).order_by(JobRecord.created_at.desc()).limit(limit)
        if checkpoints_id is not None:
            query = query.where(JobRecord.checkpoints_id == checkpoints_id)
        with self.session() as session:
            return [job.to_dict() for job in session.scalars(query).all()]

    def job_result(self, job_id: str) -> dict | None:
        with self.session() as session:
            job = session.get(JobRecord, job_id)
            if job is None or job.result_artifact is None:
                return None
            artifact = job.result_artifact
        return self.artifacts.read_json(artifact)

    def cancel_job(self, job_id: str) -> dict:
        with self.session() as session:
            job = session.get(JobRecord, job_id)
            if job is None:
                raise NotFoundError(f"job {job_id!r} does not exist.")
            if job.status in FINAL_STATES:
                raise ConflictError(f"job {job_id} has already ended as {job.status}; nothing to cancel.")
            # The job ends now; its running work stops at its next progress
            # report, within seconds, and cannot overwrite this state.
            job.stage = "cancelled before it started" if job.status == "queued" else "cancelled"
            job.status = "cancelled"
            job.finished_at = utc_now()
            job.cancel_requested = True
            session.commit()
            logger.info("job %s cancellation requested (was %s)", job_id, job.status)
            return job.to_dict()

    def claim_job(self, job_id: str) -> JobRecord | None:
        """Move a queued job to running; None if another worker took it or it was cancelled."""
        now = utc_now()
        with self.session() as session:
            claimed = session.execute(
                update(JobRecord)
                .where(JobRecord.id == job_id, JobRecord.status == "queued")
                .values(status="running", started_at=now, heartbeat_at=now,
                        attempts=JobRecord.attempts + 1, stage="starting")
            ).rowcount
            session.commit()
            return session.get(JobRecord, job_id) if claimed == 1 else None

    def update_job(self, job_id: str, **values) -> bool:
        """Update a running job; returns whether it was cancelled meanwhile."""
        with self.session() as session:
            session.execute(
                update(JobRecord).where(JobRecord.id == job_id, JobRecord.status == "running")
                .values(heartbeat_at=utc_now(), **values)
            )
            session.commit()
            return bool(session.scalar(select(JobRecord.cancel_requested).where(JobRecord.id == job_id)))

    def finish_job(self, job_id: str, *, status: str, result: dict | None = None, error: dict | None = None) -> None:
        artifact = None
        if result is not None:
            artifact = self.artifacts.write_json(f"results/{job_id}.json", result)
        with self.session() as session:
            # Only a running job ends here: one failed as stale or cancelled
            # meanwhile keeps that state.
            session.execute(
                update(JobRecord).where(JobRecord.id == job_id, JobRecord.status == "running")
                .values(status=status, finished_at=utc_now(), result_artifact=artifact, error=error,
                        progress=1.0 if status == "succeeded" else JobRecord.progress,
                        stage=status)
            )
            session.commit()
        logger.info("job %s %s", job_id, status if error is None else f"{status}: {error.get('detail')}")

    def set_job_chunks(self, job_id: str, *, total: int, done: int) -> None:
        with self.session() as session:
            session.execute(update(JobRecord).where(JobRecord.id == job_id)
                            .values(chunks_total=total, chunks_done=done))
            session.commit()

    def time_limit_message(self) -> str:
        return (f"the job ran longer than this server's limit of {self.settings.job_time_limit_seconds:g} s "
                "(EXPLAINER_JOB_TIME_LIMIT_SECONDS); explain fewer rows, use fewer repeats, or ask the "
                "operator to raise the limit.")

    def requeue_jobs(self, job_ids) -> None:
        """Return running jobs to the queue, for a process that stops cleanly."""
        with self.session() as session:
            session.execute(
                update(JobRecord).where(JobRecord.id.in_(list(job_ids)), JobRecord.status == "running")
                .values(status="queued", progress=0.0, stage="queued again after a restart",
                        started_at=None, heartbeat_at=None)
            )
            session.commit()

    def touch_jobs(self, job_ids) -> None:
        if not job_ids:
            return
        with self.session() as session:
            session.execute(
                update(JobRecord).where(JobRecord.id.in_(list(job_ids)), JobRecord.status == "running")
                .values(heartbeat_at=utc_now())
            )
            session.commit()

    def fail_stale_jobs(self) -> int:
        """Fail running jobs whose worker stopped heart-beating; returns how many."""
        limit = utc_now() - timedelta(seconds=self.settings.stale_job_seconds)
        with self.session() as session:
            stale = session.execute(
                update(JobRecord)
                .where(JobRecord.status == "running", JobRecord.heartbeat_at < limit)
                .values(status="failed", finished_at=utc_now(), stage="failed",
                        error={"title": "Worker lost",
                               "detail": "the process running this job stopped (crash or restart) "
                                         "before it finished; submit the job again."})
            ).rowcount
            session.commit()
        if stale:
            logger.warning("failed %d job(s) whose worker stopped heart-beating", stale)
        return stale

    def delete_finished_jobs(self, older_than: timedelta) -> int:
        """Delete jobs that ended more than ``older_than`` ago, with their results."""
        limit = utc_now() - older_than
        with self.session() as session:
            jobs = session.scalars(
                select(JobRecord).where(JobRecord.status.in_(FINAL_STATES), JobRecord.finished_at < limit)
            ).all()
            for job in jobs:
                if job.result_artifact:
                    self.artifacts.delete(job.result_artifact)
                # Partial results of a split job that failed or was cancelled.
                self.artifacts.delete_tree(f"results/{job.id}")
                session.execute(delete(ChunkRecord).where(ChunkRecord.job_id == job.id))
                session.delete(job)
            session.commit()
        logger.info("deleted %d job(s) that ended before %s", len(jobs), limit.isoformat())
        return len(jobs)

    def queued_job_ids(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(
                select(JobRecord.id).where(JobRecord.status == "queued").order_by(JobRecord.created_at)
            ))

    # Demo content -----------------------------------------------------------

    def register_demo(self, directory: Path) -> None:
        """Register the demo content of ``directory`` that is not registered yet.

        These are the models and datasets that ``directory/demo.json`` lists,
        and the checkpoint series of ``DEMO_CHECKPOINT_NETWORKS`` when
        ``directory/checkpoints/checkpoints.json`` exists.
        """
        directory = Path(directory)
        manifest_path = directory / "demo.json"
        if not manifest_path.is_file():
            raise NotFoundError(
                f"{manifest_path} does not exist; train the demo models with "
                "python datasets/train_demo_models.py --output DIR first."
            )
        manifest = json.loads(manifest_path.read_text())
        entries = manifest["models"] if isinstance(manifest, dict) else manifest
        for entry in entries:
            try:
                self.get_dataset(entry["dataset"])
            except NotFoundError:
                self.add_dataset(Path(entry["dataset_file"]).read_bytes(), name=entry["dataset"],
                                 target=entry.get("target"))
            try:
                self.get_model(entry["name"])
            except NotFoundError:
                self.add_model((directory / entry["file"]).read_bytes(), name=entry["name"],
                               metadata=entry.get("metadata") or None)
        logger.info("demo models and datasets registered from %s", directory)

        dataset_names = {Path(entry["dataset_file"]).resolve(): entry["dataset"] for entry in entries}
        self._register_demo_checkpoints(directory / DEMO_CHECKPOINTS_FOLDER, dataset_names)

    def _register_demo_checkpoints(self, folder: Path, dataset_names: dict[Path, str]) -> None:
        """Register the demo networks of ``folder/checkpoints.json`` that are not registered yet.

        A series trained on a demo dataset names it as ``metadata.dataset``,
        which the page uses to choose the dataset of a diagnosis.
        """
        manifest_path = folder / "checkpoints.json"
        if not manifest_path.is_file():
            logger.info("no demo checkpoint series: %s does not exist; write it with "
                        "python datasets/train_checkpoints.py --output %s", manifest_path, folder)
            return
        networks = {entry["name"]: entry for entry in json.loads(manifest_path.read_text())}
        for network in DEMO_CHECKPOINT_NETWORKS:
            entry = networks.get(network)
            if entry is None:
                logger.warning("demo checkpoint network %s is not listed in %s", network, manifest_path)
                continue
            name = f"demo-{network.replace('_', '-')}"
            try:
                self.get_checkpoints(name)
            except NotFoundError:
                metadata = dict(entry.get("metadata") or {})
                dataset = dataset_names.get(Path(entry["dataset_file"]).resolve())
                if dataset is not None:
                    metadata["dataset"] = dataset
                network_folder = folder / entry["name"]
                self.add_checkpoints(
                    (network_folder / entry["architecture"]).read_bytes(),
                    [(network_folder / weights).read_bytes() for weights in entry["weights"]],
                    epochs=entry["epochs"], name=name, metadata=metadata or None,
                )
        logger.info("demo checkpoint series registered from %s", folder)


class QueueFullError(ConflictError):
    """Too many queued jobs; the client should retry later."""

    status = 503
    title = "Queue full"
