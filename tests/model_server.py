"""MLServer as a child process on loopback ports, for the tests and the benchmark.

MLServer runs from .venv-mlserver, which scripts/install-mlserver.sh creates,
because its dependencies conflict with the project's. The served model is the
breast cancer pipeline that tests/mlserver_model.py trains in that environment.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "install-mlserver.sh"
TRAINING_SCRIPT = ROOT / "tests" / "mlserver_model.py"
MODEL_NAME = "breast-cancer"

# The first install took 33 to 46 s on a 2-core machine downloading from
# PyPI, so 600 s leaves room for a slow network. Later runs only read the
# stamp file.
INSTALL_TIMEOUT_SECONDS = 600
TRAIN_TIMEOUT_SECONDS = 120


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def install_mlserver() -> Path:
    """Run scripts/install-mlserver.sh and return the environment's Python."""
    completed = subprocess.run(
        ["bash", str(INSTALL_SCRIPT)], cwd=ROOT, capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{INSTALL_SCRIPT.name} exited with {completed.returncode}:\n{completed.stderr[-5000:]}"
        )
    return Path(completed.stdout.strip().splitlines()[-1])


def train_served_model(python: Path, directory: Path) -> Path:
    """Train the model with ``python`` into ``directory``; return the skops file."""
    subprocess.run(
        [str(python), str(TRAINING_SCRIPT), "--output", str(directory)],
        cwd=ROOT, check=True, capture_output=True, timeout=TRAIN_TIMEOUT_SECONDS,
    )
    return directory / "model.skops"


class MLServerProcess:
    """``mlserver start`` serving one scikit-learn model on 127.0.0.1.

    Parameters
    ----------
    python : Path
        The Python of .venv-mlserver.
    repository : Path
        A directory to write the settings to; it must contain
        ``MODEL_NAME/model.joblib``.
    """

    def __init__(self, python: Path, repository: Path):
        self.python = python
        self.repository = repository
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log_path = repository / "mlserver.log"

    def _write_settings(self) -> None:
        # gRPC cannot be switched off in MLServer 1.7, so it gets a free port
        # of its own. Metrics are switched off. With parallel_workers 0 the
        # model runs in the server process, which starts faster.
        settings = {
            "host": "127.0.0.1", "http_port": self.port, "grpc_port": free_port(),
            "metrics_endpoint": None, "parallel_workers": 0, "debug": False,
        }
        (self.repository / "settings.json").write_text(json.dumps(settings))
        model_settings = {
            "name": MODEL_NAME, "implementation": "mlserver_sklearn.SKLearnModel",
            "parameters": {"uri": "./model.joblib"},
        }
        (self.repository / MODEL_NAME / "model-settings.json").write_text(json.dumps(model_settings))

    def start(self, timeout: float = 60.0) -> "MLServerProcess":
        self._write_settings()
        self.log = open(self.log_path, "ab")
        mlserver = self.python.parent / "mlserver"
        # MLServer reads settings.json from the model repository given on its
        # command line, and writes scratch folders into its working directory.
        self.process = subprocess.Popen(
            [str(mlserver), "start", str(self.repository)], cwd=self.repository,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"MLServer exited with {self.process.returncode}:\n{self.read_log()}")
            try:
                if requests.get(f"{self.url}/v2/models/{MODEL_NAME}/ready", timeout=2).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"MLServer was not ready within {timeout} s:\n{self.read_log()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.log.close()

    def read_log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]
