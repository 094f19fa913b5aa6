"""The Flask service around the explainer library."""

from __future__ import annotations

import atexit
import logging
import time
import uuid

from flask import Flask, g, request

from .config import Settings
from .errors import register_error_handlers
from .jobs import JobRunner
from .routes import (
    checkpoints,
    counterfactuals,
    datasets,
    explanations,
    frontend,
    health,
    models,
    oneshot,
    whatif,
)
from .workspace import Workspace

__all__ = ["Settings", "create_app"]

logger = logging.getLogger(__name__)


# Seconds a browser may cache a preflight response.
CORS_MAX_AGE_SECONDS = 600


def _add_cors(app: Flask, origins: tuple[str, ...]) -> None:
    """Let pages served from ``origins`` call the API from a browser.

    Flask responds to preflight OPTIONS requests itself. This adds the CORS
    headers to every response, errors included, so that a page on another
    origin can read a problem's detail.
    """
    allow_any = "*" in origins

    @app.after_request
    def allow_origin(response):
        response.vary.add("Origin")
        origin = request.headers.get("Origin")
        if not origin or not (allow_any or origin in origins):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
        response.headers["Access-Control-Expose-Headers"] = "Location, Retry-After, X-Request-ID"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-Request-ID, Last-Event-ID"
            response.headers["Access-Control-Max-Age"] = str(CORS_MAX_AGE_SECONDS)
        return response


def _add_request_ids(app: Flask) -> None:
    @app.before_request
    def start_request():
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        elapsed_ms = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        logger.info("%s %s %d %.1fms request_id=%s", request.method, request.path,
                    response.status_code, elapsed_ms, g.get("request_id"))
        return response


def create_app(config: dict | None = None) -> Flask:
    """Create the service.

    Parameters
    ----------
    config : dict, optional
        Settings by field name (see :class:`api.config.Settings`); they
        override the EXPLAINER_* environment variables.
    """
    if not logging.getLogger().handlers:
        # Under a bare `gunicorn "api:create_app()"` nothing configures
        # logging, and the service's records would be dropped.
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(**(config or {}))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_upload_bytes
    # Form fields that are not files (metadata, parameters) are small JSON.
    app.config["MAX_FORM_MEMORY_SIZE"] = 16 * 1024 * 1024
    app.json.sort_keys = False

    workspace = Workspace(settings)
    if settings.demo_models is not None:
        workspace.register_demo(settings.demo_models)
    if settings.job_backend == "celery":
        from .scaleout import CeleryBackend

        runner = CeleryBackend(workspace)
    else:
        runner = JobRunner(workspace, workers=settings.job_workers)
    runner.start()
    atexit.register(runner.shutdown)
    app.extensions["explainer.workspace"] = workspace
    app.extensions["explainer.jobs"] = runner
    app.extensions["explainer.settings"] = settings

    for module in (health, models, datasets, checkpoints, explanations, whatif, counterfactuals, oneshot,
                   frontend):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    _add_request_ids(app)
    if settings.cors_origins:
        _add_cors(app, settings.cors_origins)
    jobs = (f"Celery workers via {settings.broker_url.split('@')[-1]}" if settings.job_backend == "celery"
            else f"{settings.job_workers} job threads")
    logger.info("service created: data directory %s, database %s, %s",
                settings.data_dir, settings.resolved_database_url.split("@")[-1], jobs)
    return app
