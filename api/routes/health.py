"""Liveness, readiness and the API description."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify, redirect, request, url_for
from sqlalchemy import text

from ..openapi import build_openapi, doc
from ..schemas import Health
from ._helpers import workspace

logger = logging.getLogger(__name__)
blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
@doc(summary="Liveness: the process answers.", tag="health", responses={200: Health}, errors=())
def healthz():
    return jsonify(status="ok")


@blueprint.get("/readyz")
@doc(summary="Readiness: database, artifact store and job workers work.", tag="health",
     responses={200: Health, 503: Health}, errors=())
def readyz():
    checks = {}
    try:
        with workspace().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as error:  # any driver error means not ready
        logger.warning("readiness: database check failed: %s", error)
        checks["database"] = f"failed: {type(error).__name__}"
    root = workspace().artifacts.root
    checks["artifacts"] = "ok" if root.is_dir() else f"failed: {root} is not a directory"
    checks["job_workers"] = current_app.extensions["explainer.jobs"].health()
    # A degraded part still lets the service respond, because jobs wait for it.
    ready = all(value == "ok" or value.startswith("degraded") for value in checks.values())
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.status_code = 200 if ready else 503
    return response


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(build_openapi(current_app))


@blueprint.get("/")
def index():
    # Browsers, whose Accept header prefers HTML, go to the web frontend;
    # API clients (Accept: application/json, */* or none) get the index.
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = redirect(url_for("frontend.index"))
    else:
        response = jsonify(
            service="model explanation service",
            openapi="/openapi.json",
            frontend=url_for("frontend.index"),
            resources=["/models", "/datasets", "/explanations", "/what-if", "/what-if/batch",
                       "/what-if/sweep", "/what-if/sweep-2d", "/what-if/counterfactuals",
                       "/what-if/optimize", "/checkpoints", "/explain"],
        )
    response.vary.add("Accept")
    return response
