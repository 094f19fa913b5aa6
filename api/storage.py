"""Metadata in a SQL database (SQLAlchemy) and artifacts in a directory.

Artifacts (model files, datasets, results) are written under one root
directory, which a multi-host deployment mounts as a shared volume. Every
write goes to a temporary file first and is renamed into place, so a crash
never leaves a truncated artifact behind.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, create_engine, event, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from explainer import ConflictError, NotFoundError


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def new_id() -> str:
    return uuid.uuid4().hex


class Base(DeclarativeBase):
    pass


class ModelRecord(Base):
    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    digest: Mapped[str] = mapped_column(String(80))
    format: Mapped[str] = mapped_column(String(40))
    task: Mapped[str] = mapped_column(String(20))
    feature_names: Mapped[list] = mapped_column(JSON)
    class_names: Mapped[list | None] = mapped_column(JSON)
    output_space: Mapped[str] = mapped_column(String(20))
    methods: Mapped[list] = mapped_column(JSON)
    model_metadata: Mapped[dict] = mapped_column(JSON)
    artifact: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "digest": self.digest,
            "format": self.format,
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "output_space": self.output_space,
            "methods": self.methods,
            "metadata": self.model_metadata,
            "size_bytes": self.size_bytes,
            "created_at": _aware(self.created_at).isoformat(),
        }


class DatasetRecord(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    digest: Mapped[str] = mapped_column(String(80))
    target: Mapped[str | None] = mapped_column(String(200))
    n_rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list] = mapped_column(JSON)
    schema: Mapped[dict] = mapped_column(JSON)
    artifact: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    def to_dict(self, *, with_schema: bool = False) -> dict:
        out = {
            "id": self.id,
            "name": self.name,
            "digest": self.digest,
            "target": self.target,
            "n_rows": self.n_rows,
            "columns": self.columns,
            "size_bytes": self.size_bytes,
            "created_at": _aware(self.created_at).isoformat(),
        }
        if with_schema:
            out["schema"] = self.schema
        return out


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")


class JobRecord(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(32))
    dataset_id: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(40))
    parameters: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[dict | None] = mapped_column(JSON)
    result_artifact: Mapped[str | None] = mapped_column(String(300))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    def to_dict(self) -> dict:
        def stamp(value):
            return None if value is None else _aware(value).isoformat()

        return {
            "id": self.id,
            "model_id": self.model_id,
            "dataset_id": self.dataset_id,
            "method": self.method,
            "parameters": self.parameters,
            "status": self.status,
            "progress": self.progress,
            "stage": self.stage,
            "error": self.error,
            "created_at": stamp(self.created_at),
            "started_at": stamp(self.started_at),
            "finished_at": stamp(self.finished_at),
        }


def _aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class ArtifactStore:
    """Files under one root directory, addressed by paths relative to it."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def write(self, relative: str, data: bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return relative

    def write_json(self, relative: str, value) -> str:
        return self.write(relative, json.dumps(value, allow_nan=False).encode())

    def read(self, relative: str) -> bytes:
        path = self.root / relative
        if not path.is_file():
            raise NotFoundError(
                f"artifact {relative!r} is missing from the artifact store {str(self.root)!r}; "
                "the data directory may have been changed or cleaned."
            )
        return path.read_bytes()

    def read_json(self, relative: str):
        return json.loads(self.read(relative))

    def delete(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)


def create_database(url: str):
    """Create the engine and the tables; SQLite gets WAL mode for concurrent readers."""
    is_sqlite = url.startswith("sqlite")
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30} if is_sqlite else {},
        pool_pre_ping=not is_sqlite,
    )
    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _set_sqlite_pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    Base.metadata.create_all(engine)
    return engine


def find_by_reference(session: Session, record_type, reference: str, kind: str):
    """Fetch a record by id, or else by its unique name."""
    record = session.get(record_type, reference)
    if record is None:
        record = session.scalars(select(record_type).where(record_type.name == reference)).first()
    if record is None:
        raise NotFoundError(
            f"{kind} {reference!r} does not exist; list them with GET /{kind}s.",
        )
    return record


def check_name_free(session: Session, record_type, name: str | None, kind: str) -> None:
    if name is None:
        return
    taken = session.scalars(select(record_type).where(record_type.name == name)).first()
    if taken is not None:
        raise ConflictError(
            f"a {kind} named {name!r} already exists (id {taken.id}); choose another name or "
            f"delete it first with DELETE /{kind}s/{taken.id}."
        )
