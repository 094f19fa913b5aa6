"""Throwaway Redis and PostgreSQL servers on free loopback ports, for tests.

Each server keeps its files in a temporary directory of its own, which
``stop()`` deletes. The programs come from the Debian packages that
scripts/install-services.sh installs.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

INSTALL_ADVICE = "run scripts/install-services.sh to install it"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Server:
    """A server process in a process group of its own, and its temporary directory."""

    name = "server"
    start_attempts = 3
    stop_signal = signal.SIGTERM

    def __init__(self):
        self.port: int | None = None
        self.directory: Path | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 60.0):
        """Start the server, wait until it accepts connections, and return self."""
        self.directory = Path(tempfile.mkdtemp(prefix=f"explainer-{self.name}-"))
        atexit.register(self.stop)
        try:
            self._prepare()
            # Another process may take the free port before the server binds
            # it, so a server that exits early is started again on another port.
            for attempt in range(self.start_attempts):
                self.port = free_port()
                self._log = open(self.log_path, "ab")
                self.process = subprocess.Popen(self._command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                                stderr=subprocess.STDOUT, start_new_session=True)
                if self._wait_until_ready(timeout):
                    return self
                self._log.close()
            raise RuntimeError(f"{self.name} exited at each of {self.start_attempts} starts:\n"
                               f"{self.read_log()}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server and every process of its group, and delete its directory."""
        if self.process is not None and self.process.poll() is None:
            self._signal_group(self.stop_signal)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait(timeout=10)
        if self.process is not None:
            # Children that outlived the main process (none when it stops cleanly).
            self._signal_group(signal.SIGKILL)
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}.log"

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def _wait_until_ready(self, timeout: float) -> bool:
        """Return True once the server accepts connections, or False if it exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self._accepts_connections():
                return True
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not accept connections within {timeout} s:\n{self.read_log()}")

    def _signal_group(self, signal_number) -> None:
        try:
            os.killpg(self.process.pid, signal_number)
        except ProcessLookupError:
            pass

    def _prepare(self) -> None:
        pass

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _accepts_connections(self) -> bool:
        raise NotImplementedError


class RedisServer(_Server):
    """``redis-server`` without persistence, bound to 127.0.0.1."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _prepare(self) -> None:
        if shutil.which("redis-server") is None:
            raise RuntimeError(f"redis-server is not installed; {INSTALL_ADVICE}.")

    def _command(self) -> list[str]:
        return ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.directory)]

    def _accepts_connections(self) -> bool:
        import redis

        try:
            return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2).ping()
        except redis.RedisError:
            return False


class PostgresServer(_Server):
    """A PostgreSQL cluster made by initdb, with trust authentication on loopback.

    PostgreSQL refuses to run as root, so under root the cluster belongs to
    the ``postgres`` system user (created if missing) and its programs run
    through ``runuser``. Durability is off (``fsync=off``): the data is
    thrown away anyway.
    """

    name = "postgres"
    user = "postgres"
    database = "explainer"
    # Fast shutdown: ends the sessions and stops without waiting for clients.
    stop_signal = signal.SIGINT

    def __init__(self):
        super().__init__()
        self.bin_dir = _postgres_bin_dir()

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the database ``explainer`` (psycopg 3 driver)."""
        return self.database_url(self.database)

    def start(self, timeout: float = 60.0) -> "PostgresServer":
        super().start(timeout)
        try:
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def database_url(self, name: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create an empty database and return its SQLAlchemy URL."""
        import psycopg

        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
            raise ValueError(f"database name must be a lower-case SQL identifier, got {name!r}")
        with psycopg.connect(**self._connect_args("postgres"), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def _prepare(self) -> None:
        self._run_as = _run_as_prefix(self.user)
        if self._run_as:
            shutil.chown(self.directory, self.user, self.user)
        completed = subprocess.run(
            [*self._run_as, str(self.bin_dir / "initdb"), "--pgdata", str(self.directory / "data"),
             "--username", self.user, "--auth", "trust", "--encoding", "UTF8", "--no-locale",
             "--no-sync", "--no-instructions"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )
        if completed.returncode != 0:
            raise RuntimeError(f"initdb failed with status {completed.returncode}:\n"
                               f"{completed.stdout}{completed.stderr}")

    def _command(self) -> list[str]:
        return [*self._run_as, str(self.bin_dir / "postgres"), "-D", str(self.directory / "data"),
                "-k", str(self.directory), "-h", "127.0.0.1", "-p", str(self.port),
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(**self._connect_args("postgres")):
                return True
        except psycopg.OperationalError:
            return False

    def _connect_args(self, database: str) -> dict:
        return {"host": "127.0.0.1", "port": self.port, "user": self.user, "dbname": database,
                "connect_timeout": 5}


def _postgres_bin_dir() -> Path:
    """The bin directory of the newest PostgreSQL installed from the Debian packages."""
    found = [Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    if not found:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb); "
                           f"{INSTALL_ADVICE}.")
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _run_as_prefix(user: str) -> list[str]:
    """The command prefix that runs a program as ``user`` when this process is root."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(user)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", user], check=True)
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--"]
    # su runs the user's login shell, which nologin would refuse.
    return ["su", user, "-s", "/bin/sh", "-c", 'exec "$0" "$@"']
