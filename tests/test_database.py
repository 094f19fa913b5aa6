"""Schema migrations, PostgreSQL as the metadata database, and the `explainer db` command."""

from __future__ import annotations

import io
import json
import math
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from api import create_app
from api.storage import (
    Base,
    ModelRecord,
    create_database,
    database_revision,
    migration_config,
    open_engine,
    upgrade_database,
)
from tests.conftest import DATASETS, ROOT, free_port

TIMEOUT = 60
HEAD = "0003"

# The tables exactly as `Base.metadata.create_all` made them on SQLite before
# the service used migrations (revision 0001).
OLD_SQLITE_SCHEMA = """
CREATE TABLE datasets (
    id VARCHAR(32) NOT NULL,
    name VARCHAR(200),
    digest VARCHAR(80) NOT NULL,
    target VARCHAR(200),
    n_rows INTEGER NOT NULL,
    columns JSON NOT NULL,
    schema JSON NOT NULL,
    artifact VARCHAR(300) NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);
CREATE TABLE jobs (
    id VARCHAR(32) NOT NULL,
    model_id VARCHAR(32) NOT NULL,
    dataset_id VARCHAR(32) NOT NULL,
    method VARCHAR(40) NOT NULL,
    parameters JSON NOT NULL,
    status VARCHAR(20) NOT NULL,
    progress FLOAT NOT NULL,
    stage VARCHAR(200),
    error JSON,
    result_artifact VARCHAR(300),
    cancel_requested BOOLEAN NOT NULL,
    attempts INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    started_at DATETIME,
    finished_at DATETIME,
    heartbeat_at DATETIME,
    PRIMARY KEY (id)
);
CREATE INDEX ix_jobs_status ON jobs (status);
CREATE TABLE models (
    id VARCHAR(32) NOT NULL,
    name VARCHAR(200),
    digest VARCHAR(80) NOT NULL,
    format VARCHAR(40) NOT NULL,
    task VARCHAR(20) NOT NULL,
    feature_names JSON NOT NULL,
    class_names JSON,
    output_space VARCHAR(20) NOT NULL,
    methods JSON NOT NULL,
    model_metadata JSON NOT NULL,
    artifact VARCHAR(300) NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    UNIQUE (name)
);
"""

OLD_MODEL = {
    "id": "a" * 32, "name": "old-model", "digest": "sha256:" + "1" * 64, "format": "skops",
    "task": "classification", "feature_names": ["age", "income"], "class_names": ["no", "yes"],
    "output_space": "probability", "methods": ["permutation", "shap"],
    "model_metadata": {"source": "before migrations"}, "artifact": "models/old.bin", "size_bytes": 123,
    "created_at": "2025-01-02 03:04:05.000000",
}
OLD_DATASET = {
    "id": "b" * 32, "name": "old-dataset", "digest": "sha256:" + "2" * 64, "target": "income",
    "n_rows": 10, "columns": ["age", "income"], "schema": {"age": {"kind": "numeric"}},
    "artifact": "datasets/old.parquet", "size_bytes": 456, "created_at": "2025-01-02 03:04:06.000000",
}
OLD_JOB = {
    "id": "c" * 32, "model_id": "a" * 32, "dataset_id": "b" * 32, "method": "permutation",
    "parameters": {"n_repeats": 3}, "status": "succeeded", "progress": 1.0, "stage": "succeeded",
    "error": None, "result_artifact": "results/old.json", "cancel_requested": False, "attempts": 1,
    "created_at": "2025-01-02 03:05:00.000000", "started_at": "2025-01-02 03:05:01.000000",
    "finished_at": "2025-01-02 03:05:09.000000", "heartbeat_at": "2025-01-02 03:05:08.000000",
}
OLD_RESULT = {"importances_mean": [0.25, 0.5]}


def _schema_differences(url: str) -> list:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def _database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path) -> str:
    """The URL of an empty database, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_server").create_database(_database_name())


def _run_cli(*arguments: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "explainer.cli", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)


def _cli_env(**values: str) -> dict:
    env = {name: value for name, value in os.environ.items() if not name.startswith("EXPLAINER_")}
    return {**env, **values}


# Migrations ---------------------------------------------------------------------


def test_upgrade_empty_database_matches_models(empty_database):
    upgrade = upgrade_database(empty_database)

    assert upgrade.before is None
    assert upgrade.after == HEAD
    assert database_revision(empty_database) == HEAD
    assert _schema_differences(empty_database) == []


def test_schema_comparison_detects_missing_revision(empty_database):
    engine = open_engine(empty_database)
    try:
        with engine.connect() as connection:
            command.upgrade(migration_config(connection=connection), "0001")
            connection.commit()
    finally:
        engine.dispose()

    differences = [item for item in _schema_differences(empty_database) if isinstance(item, tuple)]

    added_tables = {item[1].name for item in differences if item[0] == "add_table"}
    added_columns = {f"{item[2]}.{item[3].name}" for item in differences if item[0] == "add_column"}
    assert added_tables == {"job_chunks", "checkpoint_series"}
    assert added_columns == {"jobs.chunks_total", "jobs.chunks_done", "jobs.checkpoints_id"}
    assert database_revision(empty_database) == "0001"


def test_downgrade_from_0003_drops_training_health_jobs(empty_database):
    upgrade_database(empty_database)
    engine = open_engine(empty_database)
    try:
        with engine.begin() as connection:
            for job_id, model_id, checkpoints_id in (("d" * 32, "a" * 32, None), ("e" * 32, None, "f" * 32)):
                connection.execute(text(
                    "INSERT INTO jobs (id, model_id, dataset_id, checkpoints_id, method, parameters, status, "
                    "progress, cancel_requested, attempts, chunks_done, created_at) VALUES (:id, :model_id, "
                    "'b', :checkpoints_id, 'permutation', '{}', 'queued', 0, false, 0, 0, CURRENT_TIMESTAMP)"),
                    {"id": job_id, "model_id": model_id, "checkpoints_id": checkpoints_id})
        with engine.connect() as connection:
            command.downgrade(migration_config(connection=connection), "0002")
            connection.commit()
            remaining = connection.execute(text("SELECT id FROM jobs")).scalars().all()
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()

    assert remaining == ["d" * 32]
    assert "checkpoint_series" not in tables
    assert upgrade_database(empty_database).after == HEAD
    assert _schema_differences(empty_database) == []


def test_downgrade_to_base_and_upgrade_again(empty_database):
    upgrade_database(empty_database)
    engine = open_engine(empty_database)
    try:
        with engine.connect() as connection:
            command.downgrade(migration_config(connection=connection), "base")
            connection.commit()
            tables = set(inspect(connection).get_table_names())
    finally:
        engine.dispose()

    assert tables == {"alembic_version"}
    assert upgrade_database(empty_database).after == HEAD
    assert _schema_differences(empty_database) == []


def test_upgrade_twice_changes_nothing(empty_database):
    upgrade_database(empty_database)

    again = upgrade_database(empty_database)

    assert again.before == HEAD
    assert again.after == HEAD


def test_unknown_revision_rejected(empty_database):
    from api.storage import DatabaseUnavailableError

    upgrade_database(empty_database)
    engine = open_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()

    with pytest.raises(DatabaseUnavailableError, match="revision '9999', which is not among the migrations"):
        upgrade_database(empty_database)


# Databases made before migrations -------------------------------------------------


def _make_old_sqlite_database(path) -> None:
    connection = sqlite3.connect(path)
    try:
        connection.executescript(OLD_SQLITE_SCHEMA)
        for table, row in (("models", OLD_MODEL), ("datasets", OLD_DATASET), ("jobs", OLD_JOB)):
            values = {key: json.dumps(value) if isinstance(value, (dict, list)) else value
                      for key, value in row.items()}
            columns = ", ".join(values)
            placeholders = ", ".join(f":{key}" for key in values)
            connection.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", values)
        connection.commit()
    finally:
        connection.close()


def test_old_sqlite_database_upgraded_on_start(tmp_path):
    data_dir = tmp_path / "service"
    (data_dir / "artifacts" / "results").mkdir(parents=True)
    (data_dir / "artifacts" / "results" / "old.json").write_text(json.dumps(OLD_RESULT))
    _make_old_sqlite_database(data_dir / "explainer.db")
    url = f"sqlite:///{data_dir / 'explainer.db'}"
    assert database_revision(url) is None

    app = create_app({"data_dir": data_dir, "job_workers": 1})
    try:
        client = app.test_client()
        model = client.get(f"/models/{OLD_MODEL['id']}")
        dataset = client.get(f"/datasets/{OLD_DATASET['id']}")
        job = client.get(f"/explanations/{OLD_JOB['id']}")
    finally:
        app.extensions["explainer.jobs"].shutdown()

    assert database_revision(url) == HEAD
    assert _schema_differences(url) == []
    assert model.status_code == 200, model.text
    assert model.json["name"] == "old-model"
    assert model.json["feature_names"] == OLD_MODEL["feature_names"]
    assert model.json["metadata"] == OLD_MODEL["model_metadata"]
    assert model.json["created_at"] == "2025-01-02T03:04:05+00:00"
    assert dataset.status_code == 200, dataset.text
    assert dataset.json["name"] == "old-dataset"
    assert dataset.json["n_rows"] == 10
    assert job.status_code == 200, job.text
    assert job.json["status"] == "succeeded"
    assert job.json["parameters"] == OLD_JOB["parameters"]
    assert job.json["chunks_total"] is None
    assert job.json["chunks_done"] == 0
    assert job.json["result"] == OLD_RESULT


def test_old_postgres_database_stamped_and_upgraded(postgres_server):
    url = postgres_server.create_database(_database_name())
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            command.upgrade(migration_config(connection=connection), "0001")
            connection.commit()
        with engine.begin() as connection:
            # What create_all left behind: the tables, without Alembic's record.
            connection.execute(text("DROP TABLE alembic_version"))
            connection.execute(text(
                "INSERT INTO jobs (id, model_id, dataset_id, method, parameters, status, progress, "
                "cancel_requested, attempts, created_at) VALUES ('j1', 'm1', 'd1', 'permutation', "
                "'{}', 'queued', 0, false, 0, now())"))
    finally:
        engine.dispose()

    upgrade = upgrade_database(url)

    assert upgrade.before == "0001"
    assert upgrade.after == HEAD
    assert _schema_differences(url) == []
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT status, chunks_total, chunks_done FROM jobs")).one()
    finally:
        engine.dispose()
    assert tuple(row) == ("queued", None, 0)


# PostgreSQL ---------------------------------------------------------------------------


def test_concurrent_starts_on_empty_postgres(postgres_server):
    url = postgres_server.create_database(_database_name())
    # Every process waits for the same moment, so that they upgrade at once.
    start_at = time.time() + 5
    script = ("import sys, time\n"
              "from api.storage import create_database\n"
              "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
              "create_database(sys.argv[1]).dispose()\n")
    processes = [subprocess.Popen([sys.executable, "-c", script, url, str(start_at)], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(6)]
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output
    assert database_revision(url) == HEAD
    assert _schema_differences(url) == []


def _upload(server, path, files, data):
    response = requests.post(f"{server.url}{path}", files=files, data=data, timeout=TIMEOUT)
    assert response.status_code == 201, response.text
    return response.json()


def test_service_on_postgres_keeps_state(live_server_factory, postgres_server, adult_model_bytes):
    url = postgres_server.create_database(_database_name())
    env = {"EXPLAINER_DATABASE_URL": url}
    server = live_server_factory(env=env)
    model = _upload(server, "/models", {"file": ("adult.skops", adult_model_bytes)}, {"name": "adult-gbm"})
    dataset = _upload(server, "/datasets", {"file": ("adult.csv", (DATASETS / "adult.csv").read_bytes())},
                      {"name": "adult", "target": "income"})
    job = requests.post(f"{server.url}/explanations?wait=60", json={
        "model_id": "adult-gbm", "dataset_id": "adult", "method": "permutation",
        "parameters": {"n_repeats": 2, "max_rows": 1000, "random_state": 0},
    }, timeout=TIMEOUT).json()
    assert job["status"] == "succeeded", job

    server.stop()
    restarted = live_server_factory(env=env)
    models = requests.get(f"{restarted.url}/models", timeout=TIMEOUT).json()["models"]
    datasets = requests.get(f"{restarted.url}/datasets", timeout=TIMEOUT).json()["datasets"]
    described = requests.get(f"{restarted.url}/datasets/{dataset['id']}", timeout=TIMEOUT).json()
    job_after_restart = requests.get(f"{restarted.url}/explanations/{job['id']}", timeout=TIMEOUT).json()

    # The list leaves out a network's layers, which the upload's response has.
    assert models == [{key: value for key, value in model.items() if key != "layers"}]
    # The list leaves out the column schema, which the upload's response has.
    assert datasets == [{key: value for key, value in dataset.items() if key != "schema"}]
    assert described == dataset
    assert job_after_restart["status"] == "succeeded"
    assert job_after_restart["created_at"] == job["created_at"]
    assert job_after_restart["finished_at"] == job["finished_at"]
    assert job_after_restart["result"] == job["result"]
    assert not (restarted.data_dir / "explainer.db").exists()
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM models")).scalar() == 1
            assert connection.execute(text("SELECT count(*) FROM jobs")).scalar() == 1
    finally:
        engine.dispose()


def test_service_start_with_unreachable_postgres(live_server_factory):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/explainer"

    with pytest.raises(RuntimeError) as raised:
        live_server_factory(env={"EXPLAINER_DATABASE_URL": url})

    log = str(raised.value)
    assert f"explainer: error: cannot connect to the database '{url}'" in log
    assert "Connection refused" in log
    assert "Traceback" not in log


# The `explainer db` command ------------------------------------------------------------


@pytest.mark.parametrize("where", ["data-dir", "environment"])
def test_cli_db_upgrade_and_current(where, tmp_path, request):
    if where == "data-dir":
        arguments, env = ["--data-dir", str(tmp_path / "service")], _cli_env()
    else:
        url = request.getfixturevalue("postgres_server").create_database(_database_name())
        arguments, env = [], _cli_env(EXPLAINER_DATABASE_URL=url)

    before = _run_cli("db", "current", *arguments, env=env)
    upgraded = _run_cli("db", "upgrade", *arguments, env=env)
    after = _run_cli("db", "current", *arguments, env=env)
    again = _run_cli("db", "upgrade", *arguments, env=env)

    assert before.returncode == 0, before.stderr
    assert before.stdout == "none\n"
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout == f"upgraded the database schema from revision none to {HEAD}\n"
    assert after.stdout == f"{HEAD}\n"
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stdout


def test_cli_db_current_leaves_missing_sqlite_file(tmp_path):
    result = _run_cli("db", "current", "--data-dir", str(tmp_path / "service"), env=_cli_env())

    assert result.returncode == 0, result.stderr
    assert result.stdout == "none\n"
    assert not (tmp_path / "service" / "explainer.db").exists()


@pytest.mark.parametrize("url, expected", [
    ("nonsense://x", "unsupported database URL 'nonsense://x'"),
    ("not a url", "invalid database URL 'not a url'"),
    ("mysql://user@127.0.0.1/db", "needs a driver that is not installed"),
])
def test_cli_db_upgrade_rejects_bad_url(url, expected):
    result = _run_cli("db", "upgrade", "--database-url", url, env=_cli_env())

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert expected in result.stderr
    assert "postgresql+psycopg://" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_db_upgrade_hides_password():
    url = f"postgresql+psycopg://postgres:secret-word@127.0.0.1:{free_port()}/explainer"

    result = _run_cli("db", "upgrade", "--database-url", url, env=_cli_env())

    assert result.returncode == 2
    assert "cannot connect to the database" in result.stderr
    assert "secret-word" not in result.stderr
    assert "Traceback" not in result.stderr


# Column values ---------------------------------------------------------------------------


def test_non_finite_numbers_stored_as_null(empty_database):
    engine = create_database(empty_database)
    record = ModelRecord(
        id="d" * 32, name=None, digest="sha256:0", format="skops", task="regression",
        feature_names=["x"], class_names=None, output_space="raw", methods=["permutation"],
        model_metadata={"scale": math.nan, "range": [-math.inf, 1.5, math.inf]},
        artifact="models/d.bin", size_bytes=1,
    )
    try:
        with Session(engine) as session:
            session.add(record)
            session.commit()
        with Session(engine) as session:
            metadata = session.get(ModelRecord, "d" * 32).model_metadata
    finally:
        engine.dispose()

    assert metadata == {"scale": None, "range": [None, 1.5, None]}


def test_times_served_in_utc(postgres_server):
    url = postgres_server.create_database(_database_name())
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"ALTER DATABASE {engine.url.database} SET timezone TO 'Asia/Kolkata'"))
    finally:
        engine.dispose()
    engine = create_database(url)
    created_at = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    try:
        with Session(engine) as session:
            session.add(ModelRecord(
                id="e" * 32, name=None, digest="sha256:0", format="skops", task="regression",
                feature_names=["x"], class_names=None, output_space="raw", methods=["permutation"],
                model_metadata={}, artifact="models/e.bin", size_bytes=1, created_at=created_at,
            ))
            session.commit()
        with Session(engine) as session:
            stored = session.get(ModelRecord, "e" * 32)
            offset = stored.created_at.utcoffset()
            served = stored.to_dict()["created_at"]
    finally:
        engine.dispose()

    assert offset == timedelta(hours=5, minutes=30)
    assert served == "2025-01-02T03:04:05+00:00"


def test_name_longer_than_column_rejected(client):
    name = "n" * 201

    upload = io.BytesIO((DATASETS / "adult.csv").read_bytes())

    response = client.post("/datasets", data={"file": (upload, "adult.csv"), "name": name})

    assert response.status_code == 400, response.text
    assert "at most 200 characters" in response.json["detail"]
