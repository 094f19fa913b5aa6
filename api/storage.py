"""Metadata in a SQL database (SQLAlchemy) and artifacts in a directory.

Artifacts (model files, datasets, results) are written under one root
directory, which a multi-host deployment mounts as a shared volume. Every
write goes to a temporary file first and is renamed into place, so a crash
never leaves a truncated artifact behind.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from explainer import ConflictError, ExplainerError, InvalidParameterError, NotFoundError

logger = logging.getLogger(__name__)


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


class CheckpointSeriesRecord(Base):
    """An architecture and one safetensors weights file per checkpoint, in training order.

    ``checkpoints`` lists each checkpoint's ``epoch`` label, ``digest``,
    ``size_bytes`` and ``artifact``. ``tensors`` lists each tensor's ``name``,
    ``shape``, ``dtype`` and ``kind`` (parameter or buffer), which every
    checkpoint shares.
    """

    __tablename__ = "checkpoint_series"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    digest: Mapped[str] = mapped_column(String(80))
    format: Mapped[str] = mapped_column(String(40))
    task: Mapped[str] = mapped_column(String(20))
    feature_names: Mapped[list] = mapped_column(JSON)
    class_names: Mapped[list | None] = mapped_column(JSON)
    series_metadata: Mapped[dict] = mapped_column(JSON)
    checkpoints: Mapped[list] = mapped_column(JSON)
    tensors: Mapped[list] = mapped_column(JSON)
    artifact: Mapped[str] = mapped_column(String(300))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "format": self.format,
            "digest": self.digest,
            "task": self.task,
            "feature_names": self.feature_names,
            "class_names": self.class_names,
            "metadata": self.series_metadata,
            "epochs": [checkpoint["epoch"] for checkpoint in self.checkpoints],
            "checkpoints": [{key: checkpoint[key] for key in ("epoch", "digest", "size_bytes")}
                            for checkpoint in self.checkpoints],
            "tensors": self.tensors,
            "size_bytes": self.size_bytes,
            "created_at": _aware(self.created_at).isoformat(),
        }


JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINAL_STATES = ("succeeded", "failed", "cancelled")


class JobRecord(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # A training-health job has a checkpoint series instead of a model, and
    # its dataset is optional.
    model_id: Mapped[str | None] = mapped_column(String(32))
    dataset_id: Mapped[str | None] = mapped_column(String(32))
    checkpoints_id: Mapped[str | None] = mapped_column(String(32), index=True)
    method: Mapped[str] = mapped_column(String(40))
    parameters: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[dict | None] = mapped_column(JSON)
    result_artifact: Mapped[str | None] = mapped_column(String(300))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set when the job is split: how many chunks it has and how many ended.
    chunks_total: Mapped[int | None] = mapped_column(Integer)
    chunks_done: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
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
            "checkpoints_id": self.checkpoints_id,
            "method": self.method,
            "parameters": self.parameters,
            "status": self.status,
            "progress": self.progress,
            "stage": self.stage,
            "error": self.error,
            "chunks_total": self.chunks_total,
            "chunks_done": self.chunks_done,
            "created_at": stamp(self.created_at),
            "started_at": stamp(self.started_at),
            "finished_at": stamp(self.finished_at),
        }


CHUNK_STATES = ("queued", "running", "succeeded", "failed", "cancelled")


class ChunkRecord(Base):
    """One piece of a split job, run by any worker of the scale-out backend.

    ``spec`` lists the rows, or the permuted copies, that the chunk covers.
    ``result_artifact`` stores its partial result until the job is merged.
    """

    __tablename__ = "job_chunks"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    spec: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    result_artifact: Mapped[str | None] = mapped_column(String(300))
    error: Mapped[dict | None] = mapped_column(JSON)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def _aware(value: datetime) -> datetime:
    """Return a stored time in UTC.

    SQLite returns naive datetimes, which were stored as UTC. PostgreSQL
    returns them in the session's time zone, which the server's settings choose.
    """
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


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

    def delete_tree(self, relative: str) -> None:
        shutil.rmtree(self.root / relative, ignore_errors=True)


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

BASELINE_REVISION = "0001"
"""The revision of the schema that ``create_all`` made before the service used migrations."""

# Names the PostgreSQL advisory lock that lets one process at a time upgrade
# the schema. Any 64-bit number that no other application on the same server
# uses would do. This one is "explain" in ASCII.
_UPGRADE_LOCK_KEY = 0x6578706C61696E

_URL_ADVICE = ("set EXPLAINER_DATABASE_URL (or --database-url) to a SQLAlchemy URL such as "
               "sqlite:////absolute/path/explainer.db or postgresql+psycopg://user@host:5432/dbname")


class DatabaseUnavailableError(ExplainerError):
    """The metadata database cannot be reached, or its schema revision is newer than every migration here."""

    status = 503
    title = "Service unavailable"


@dataclass(frozen=True)
class SchemaUpgrade:
    """Schema revisions of a database before and after :func:`upgrade_database`."""

    before: str | None
    """Revision found before the upgrade: None for an empty database, and
    ``BASELINE_REVISION`` for a database made before the service had migrations."""
    after: str
    """Revision after the upgrade, the newest of the migrations in ``api/migrations``."""


def open_engine(url: str) -> Engine:
    """Create the engine for a database URL, leaving the schema as it is.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver, the
    one the project installs. SQLite gets WAL mode for concurrent readers.

    Raises
    ------
    InvalidParameterError
        The URL cannot be parsed, names an unknown database, or needs a driver
        that is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise InvalidParameterError(f"invalid database URL {url!r}: {error}; {_URL_ADVICE}.") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    masked_url = _without_password(parsed)
    backend = parsed.get_backend_name()

    is_sqlite = backend == "sqlite"
    connect_args = {}
    if is_sqlite:
        connect_args = {"check_same_thread": False, "timeout": 30}
    elif backend == "postgresql" and "connect_timeout" not in parsed.query:
        # In seconds. Without a limit, a host that drops packets would block the start for minutes.
        connect_args = {"connect_timeout": 10}
    try:
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=not is_sqlite,
                               json_serializer=_json_dumps)
    except ArgumentError as error:
        raise InvalidParameterError(
            f"unsupported database URL {masked_url!r}: {error}; {_URL_ADVICE}."
        ) from error
    except ImportError as error:
        raise InvalidParameterError(
            f"the database URL {masked_url!r} needs a driver that is not installed ({error}); {_URL_ADVICE}."
        ) from error

    if is_sqlite:
        @event.listens_for(engine, "connect")
        def _set_sqlite_pragmas(connection, _record):
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def create_database(url: str) -> Engine:
    """Create the engine and bring the schema up to date (see :func:`upgrade_database`)."""
    engine = open_engine(url)
    upgrade_database(engine)
    return engine


def migration_config(url: str | None = None, *, connection=None):
    """Build the Alembic configuration of the migrations shipped in ``api/migrations``.

    Pass ``url`` to use Alembic's own commands, for example
    ``alembic.command.revision(migration_config(url), "message", autogenerate=True)``.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # The configuration parser reads % as interpolation, and URLs escape characters with it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_database(database: Engine | str) -> SchemaUpgrade:
    """Apply the migrations that a database lacks, up to the newest revision.

    A database with a ``jobs`` table but no ``alembic_version`` table was made
    by ``create_all`` before the service used migrations. It has the schema of
    ``BASELINE_REVISION``, so it is stamped at that revision and upgraded from there.

    On PostgreSQL an advisory lock lets one process at a time do this, so
    several processes may start on the same database at once. SQLite takes
    no lock.

    Parameters
    ----------
    database : Engine or str
        An engine from :func:`open_engine`, or a database URL.

    Raises
    ------
    DatabaseUnavailableError
        The database cannot be reached, or it is at a revision this version does not know.
    """
    # Alembic logs every plugin and context at INFO; the upgrade itself is logged below.
    alembic_logger = logging.getLogger("alembic")
    if alembic_logger.level == logging.NOTSET:
        alembic_logger.setLevel(logging.WARNING)
    from alembic import command
    from alembic.script import ScriptDirectory

    engine = open_engine(database) if isinstance(database, str) else database
    is_postgresql = engine.dialect.name == "postgresql"
    try:
        with _connect(engine) as connection:
            if is_postgresql:
                connection.execute(select(func.pg_advisory_lock(_UPGRADE_LOCK_KEY)))
                connection.commit()
            try:
                config = migration_config(connection=connection)
                scripts = ScriptDirectory.from_config(config)
                head = scripts.get_current_head()
                # Alembic runs in this transaction when one is open, so on
                # PostgreSQL the stamp and the migrations commit together.
                with connection.begin():
                    before = _revision_of(connection)
                    if before is None and "jobs" in inspect(connection).get_table_names():
                        logger.info("database %s was made before migrations; stamping it at revision %s",
                                    _without_password(engine.url), BASELINE_REVISION)
                        command.stamp(config, BASELINE_REVISION)
                        before = BASELINE_REVISION
                    _check_known(scripts, before, engine)
                    if before != head:
                        command.upgrade(config, "head")
                if before != head:
                    logger.info("upgraded the schema of database %s from revision %s to %s",
                                _without_password(engine.url), before, head)
            finally:
                if is_postgresql:
                    # The lock belongs to the session, which the pool keeps open.
                    connection.execute(select(func.pg_advisory_unlock(_UPGRADE_LOCK_KEY)))
                    connection.commit()
    finally:
        if isinstance(database, str):
            engine.dispose()
    return SchemaUpgrade(before=before, after=head)


def database_revision(database: Engine | str) -> str | None:
    """Return the schema revision of a database, or None when it has none.

    A missing SQLite file is reported as None and is not created.
    """
    engine = open_engine(database) if isinstance(database, str) else database
    try:
        path = engine.url.database
        if engine.dialect.name == "sqlite" and path and path != ":memory:" and not Path(path).exists():
            return None
        with _connect(engine) as connection:
            return _revision_of(connection)
    finally:
        if isinstance(database, str):
            engine.dispose()


def _connect(engine: Engine):
    try:
        return engine.connect()
    except DBAPIError as error:
        reason = " ".join(str(error.orig if error.orig is not None else error).split()).rstrip(".")
        if engine.dialect.name == "sqlite":
            advice = "check that its directory exists and is writable"
        else:
            advice = "check that the database server is running and that the URL names it"
        raise DatabaseUnavailableError(
            f"cannot connect to the database {_without_password(engine.url)!r} ({reason}); {advice}, "
            "or set EXPLAINER_DATABASE_URL (or --database-url) to another database."
        ) from error


def _revision_of(connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _check_known(scripts, revision: str | None, engine: Engine) -> None:
    from alembic.util import CommandError

    if revision is None:
        return
    try:
        scripts.get_revision(revision)
    except CommandError as error:
        raise DatabaseUnavailableError(
            f"the database {_without_password(engine.url)!r} is at schema revision {revision!r}, which is "
            "not among the migrations of this version of the service, so a newer version upgraded it. "
            "Run that version, or restore a backup made before the upgrade."
        ) from error


def _json_dumps(value) -> str:
    """Serialize the value of a JSON column, with NaN and infinities as null.

    JSON has no such numbers, and PostgreSQL's json type rejects the
    ``NaN`` and ``Infinity`` that ``json.dumps`` writes by default.
    """
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), allow_nan=False)


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _without_password(url) -> str:
    """Render a URL with its password masked, for messages and logs."""
    return url.render_as_string(hide_password=True)


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
    longest = record_type.name.type.length
    if len(name) > longest:
        raise InvalidParameterError(f"a {kind} name must be at most {longest} characters, got {len(name)}.")
    taken = session.scalars(select(record_type).where(record_type.name == name)).first()
    if taken is not None:
        raise ConflictError(
            f"a {kind} named {name!r} already exists (id {taken.id}); choose another name or "
            f"delete it first with DELETE /{kind}s/{taken.id}."
        )
