"""Shared fixtures: the real datasets, the demo models, the app and a live server.

The demo models are the ones the service registers: trained by
datasets/train_demo_models.py into var/demo-models, and the checkpoint
networks by datasets/train_checkpoints.py into var/demo-models/checkpoints
(scripts/test.sh does both before pytest runs; the fixtures train them if they
are missing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT / "datasets"
DEMO_MODELS = ROOT / "var" / "demo-models"


def _load_training_module():
    spec = importlib.util.spec_from_file_location("train_demo_models", DATASETS / "train_demo_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def training():
    """The demo training script as a module (its train_* functions)."""
    return _load_training_module()


@pytest.fixture(scope="session")
def demo_dir(training, checkpoints_dir) -> Path:
    """The demo directory, with demo.json, the models and the checkpoint networks in checkpoints/."""
    if training.main(["--output", str(DEMO_MODELS)]) != 0:
        raise RuntimeError("training the demo models failed")
    return DEMO_MODELS


@pytest.fixture(scope="session")
def adult_frame() -> pd.DataFrame:
    return pd.read_csv(DATASETS / "adult.csv")


@pytest.fixture(scope="session")
def california_frame() -> pd.DataFrame:
    return pd.read_csv(DATASETS / "california_housing.csv")


@pytest.fixture(scope="session")
def breast_cancer_frame() -> pd.DataFrame:
    return pd.read_csv(DATASETS / "breast_cancer.csv")


@pytest.fixture(scope="session")
def adult_model_bytes(demo_dir) -> bytes:
    return (demo_dir / "adult_gbm.skops").read_bytes()


@pytest.fixture(scope="session")
def california_model_bytes(demo_dir) -> bytes:
    return (demo_dir / "california_gbm.skops").read_bytes()


@pytest.fixture(scope="session")
def mlp_bytes(demo_dir) -> bytes:
    return (demo_dir / "breast_cancer_mlp.pt").read_bytes()


@pytest.fixture(scope="session")
def adult_model(adult_model_bytes):
    from explainer import load_model

    return load_model(adult_model_bytes)


@pytest.fixture(scope="session")
def california_model(california_model_bytes):
    from explainer import load_model

    return load_model(california_model_bytes)


@pytest.fixture(scope="session")
def mlp_model(mlp_bytes):
    from explainer import load_model

    return load_model(mlp_bytes)


@pytest.fixture
def app(tmp_path):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "service", "job_workers": 1})
    yield app
    app.extensions["explainer.jobs"].shutdown()


@pytest.fixture
def client(app):
    return app.test_client()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LiveServer:
    """`explainer serve` as a child process on a loopback port."""

    def __init__(self, data_dir: Path, *, env: dict | None = None, demo_models: Path | None = None):
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "EXPLAINER_JOB_WORKERS": "2", **(env or {})}
        self.demo_models = demo_models
        self.process = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> "LiveServer":
        command = [sys.executable, "-m", "explainer.cli", "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir)]
        if self.demo_models is not None:
            command += ["--demo-models", str(self.demo_models)]
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.read_log()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                # gunicorn accepts connections before the app has loaded.
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the server was not ready within {timeout} s:\n{self.read_log()}")

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]


@pytest.fixture
def live_server_factory(tmp_path):
    servers = []

    def start(**kwargs) -> LiveServer:
        server = LiveServer(tmp_path / "service", **kwargs)
        servers.append(server)
        return server.start()

    yield start
    for server in servers:
        server.stop()


def problem_of(response) -> dict:
    """Check a response is problem+json and return its body."""
    content_type = response.headers["Content-Type"]
    assert content_type.startswith("application/problem+json"), content_type
    body = json.loads(response.data if hasattr(response, "data") else response.content)
    assert "Traceback" not in json.dumps(body)
    return body


@pytest.fixture(scope="session")
def redis_server():
    """A Redis server on a free loopback port, shared by the session."""
    from tests.services import RedisServer

    server = RedisServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on a free loopback port, shared by the session.

    ``.url`` is its database ``explainer``. A test that needs an empty
    database of its own gets one from ``create_database(name)``.
    """
    from tests.services import PostgresServer

    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


# The service registers four of these networks as demo checkpoint series.
CHECKPOINTS = DEMO_MODELS / "checkpoints"


@pytest.fixture(scope="session")
def checkpoints_dir() -> Path:
    """The networks of datasets/train_checkpoints.py, trained if missing; see its checkpoints.json."""
    spec = importlib.util.spec_from_file_location("train_checkpoints", DATASETS / "train_checkpoints.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.main(["--output", str(CHECKPOINTS)]) != 0:
        raise RuntimeError("training the checkpoint networks failed")
    return CHECKPOINTS


@pytest.fixture(scope="session")
def checkpoint_networks(checkpoints_dir) -> dict:
    """The entries of checkpoints.json by network name."""
    entries = json.loads((checkpoints_dir / "checkpoints.json").read_text(encoding="utf-8"))
    return {entry["name"]: entry for entry in entries}


@pytest.fixture(scope="session")
def categorical_model(checkpoints_dir):
    """A torch.export regressor of x0, x1 and the categorical color, embedded by embed_color."""
    from explainer import load_model

    return load_model(checkpoints_dir / "categorical" / "architecture.pt2")


@pytest.fixture(scope="session")
def categorical_frame(checkpoint_networks) -> pd.DataFrame:
    return pd.read_csv(checkpoint_networks["categorical"]["dataset_file"])
