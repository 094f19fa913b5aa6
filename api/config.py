"""Service settings, read from EXPLAINER_* environment variables."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from explainer import InvalidParameterError


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise InvalidParameterError(f"{name} must be true or false, got {text!r}.")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


JOB_BACKENDS = ("threads", "celery")
# The form of a browser's Origin header: scheme, host and optional port.
ORIGIN_PATTERN = re.compile(r"https?://[^/\s?#]+")


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set. Environment names are EXPLAINER_<FIELD>."""

    data_dir: Path = Path("var/service")
    """Directory of the SQLite database (by default) and the artifact store."""
    database_url: str | None = None
    """SQLAlchemy URL of the metadata database; default SQLite in data_dir."""
    max_upload_bytes: int = 256 * 1024 * 1024
    """Largest request body accepted, in bytes; larger uploads get 413."""
    allow_pickle: bool = False
    """Accept pickle, joblib and torch.save files. They run code when loaded."""
    skops_trusted_types: tuple[str, ...] = ()
    """Extra types a skops file may hold: full names, or 'package.*' prefixes."""
    job_backend: str = "threads"
    """Job backend: 'threads' (in this process) or 'celery' (worker processes
    started with `explainer worker`, any number of hosts)."""
    broker_url: str = "redis://127.0.0.1:6379/0"
    """Celery broker (Redis) of the 'celery' backend."""
    broker_visibility_seconds: float = 120.0
    """A chunk message not acknowledged this long after delivery is delivered
    again; a chunk still running elsewhere is then skipped, not run twice."""
    job_max_attempts: int = 3
    """Times a chunk may start before its job fails (a worker lost each time)."""
    job_workers: int = 2
    """Threads running explanation jobs in this process ('threads' backend)."""
    max_queued_jobs: int = 100
    """Queued jobs past which new submissions get 503."""
    max_wait_seconds: float = 60.0
    """Upper bound of the wait parameter when polling a job, in seconds."""
    stale_job_seconds: float = 60.0
    """A running job whose worker stopped heart-beating this long ago is failed."""
    job_time_limit_seconds: float = 3600.0
    """A running job that takes longer than this ends as failed."""
    oneshot_max_rows: int = 50_000
    """Most dataset rows the synchronous one-shot endpoint accepts."""
    model_cache_size: int = 8
    """Loaded models kept in memory, by digest."""
    demo_models: Path | None = None
    """Directory with demo.json; its models and datasets, and the checkpoint series of
    checkpoints/checkpoints.json when it exists, are registered on start."""
    cors_origins: tuple[str, ...] = ()
    """Origins whose pages may call the API from a browser, such as
    https://app.example.com ('*' for any). Empty: same-origin pages only."""
    remote_allowed_hosts: tuple[str, ...] = ()
    """Model servers that remote models may call: 'host', 'host:port' or '*.domain'.
    Empty (the default) rejects every remote model."""
    remote_timeout_seconds: float = 10.0
    """Largest timeout of one request to a model server, in seconds; also the default."""
    remote_max_retries: int = 2
    """Largest number of retries of a failed model server request; also the default."""

    def __post_init__(self):
        if self.job_backend not in JOB_BACKENDS:
            raise InvalidParameterError(
                f"EXPLAINER_JOB_BACKEND must be one of {list(JOB_BACKENDS)}, got {self.job_backend!r}."
            )
        if self.job_backend == "celery" and not self.broker_url.startswith(("redis://", "rediss://")):
            raise InvalidParameterError(
                f"EXPLAINER_BROKER_URL must be a Redis URL such as redis://127.0.0.1:6379/0, "
                f"got {self.broker_url!r}."
            )
        for origin in self.cors_origins:
            if origin != "*" and not ORIGIN_PATTERN.fullmatch(origin):
                raise InvalidParameterError(
                    f"EXPLAINER_CORS_ORIGINS contains the invalid origin {origin!r}; each entry must be '*' or an origin "
                    "such as https://app.example.com or http://localhost:5173 (scheme, host and "
                    "optional port, no path or trailing slash)."
                )
        if self.job_max_attempts < 1:
            raise InvalidParameterError(
                f"EXPLAINER_JOB_MAX_ATTEMPTS must be at least 1, got {self.job_max_attempts}."
            )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'explainer.db').resolve()}"

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "Settings":
        """Build settings from EXPLAINER_* variables, then apply ``overrides``."""
        environ = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            name = f"EXPLAINER_{item.name.upper()}"
            if name not in environ:
                continue
            text = environ[name]
            kind = str(item.type)
            try:
                if "bool" in kind:
                    values[item.name] = _parse_bool(name, text)
                elif kind.startswith("int"):
                    values[item.name] = int(text)
                elif kind.startswith("float"):
                    values[item.name] = float(text)
                elif "tuple" in kind:
                    values[item.name] = _parse_list(text)
                elif "Path" in kind:
                    values[item.name] = Path(text) if text else None
                else:
                    values[item.name] = text or None
            except ValueError as error:
                raise InvalidParameterError(f"{name} has an invalid value {text!r}: {error}.") from error
        unknown = sorted(set(overrides) - {item.name for item in fields(cls)})
        if unknown:
            raise InvalidParameterError(
                f"unknown setting(s) {unknown}; known settings: {[item.name for item in fields(cls)]}."
            )
        if "data_dir" in overrides:
            overrides["data_dir"] = Path(overrides["data_dir"])
        if overrides.get("demo_models") is not None:
            overrides["demo_models"] = Path(overrides["demo_models"])
        return replace(cls(**values), **overrides)
