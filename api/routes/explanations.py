"""Explanation jobs: create, poll (optionally waiting), cancel."""

from __future__ import annotations

import time

import json

from flask import Blueprint, Response, current_app, jsonify, stream_with_context, url_for

from ..openapi import doc
from ..schemas import ExplanationRequest, JobList, JobResource
from ..storage import FINAL_STATES
from ._helpers import json_body, query_seconds, workspace

blueprint = Blueprint("explanations", __name__, url_prefix="/explanations")

# How often a waiting request re-reads the job, in seconds.
POLL_SECONDS = 0.1
# How often an event stream re-reads the job, and how long one stream lasts
# at most, in seconds. A client reconnects to follow a longer job.
EVENT_POLL_SECONDS = 0.25
MAX_STREAM_SECONDS = 600.0

_WAIT_QUERY = {"wait": ({"type": "number", "minimum": 0},
                        "Seconds to block until the job ends (bounded by the server's maximum).")}


def _job_with_result(job_id: str, wait: float) -> dict:
    deadline = time.monotonic() + wait
    job = workspace().get_job(job_id)
    runner = current_app.extensions["explainer.jobs"]
    # A stopping service returns at once instead of holding up its shutdown.
    while job["status"] not in FINAL_STATES and time.monotonic() < deadline and not runner.stopping:
        time.sleep(POLL_SECONDS)
        job = workspace().get_job(job_id)
    if job["status"] == "succeeded":
        job["result"] = workspace().job_result(job_id)
    return job


@blueprint.post("")
@doc(summary="Start an explanation job; returns its id at once (or its result, with wait).",
     tag="explanations", request=ExplanationRequest, query=_WAIT_QUERY,
     responses={202: JobResource, 200: JobResource}, errors=(400, 404, 422, 503))
def create_explanation():
    request_body = ExplanationRequest.model_validate(json_body()).root
    wait = query_seconds("wait", maximum=workspace().settings.max_wait_seconds)
    job = workspace().create_job(
        request_body.model_id, request_body.dataset_id, request_body.method,
        request_body.parameters.model_dump(),
    )
    return submitted(job, wait)


def submitted(job: dict, wait: float):
    """Send a queued job to the workers, and respond 202 with it, or 200 when it ends within ``wait`` seconds."""
    current_app.extensions["explainer.jobs"].submit(job["id"])
    if wait:
        job = _job_with_result(job["id"], wait)
    response = jsonify(job)
    response.status_code = 200 if job["status"] in FINAL_STATES else 202
    response.headers["Location"] = url_for("explanations.get_explanation", job_id=job["id"])
    return response


@blueprint.get("")
@doc(summary="List recent explanation jobs, newest first.", tag="explanations",
     responses={200: JobList}, errors=())
def list_explanations():
    return jsonify(jobs=workspace().list_jobs())


@blueprint.get("/<job_id>")
@doc(summary="A job's status, progress and, once it succeeded, its result.", tag="explanations",
     query=_WAIT_QUERY, responses={200: JobResource}, errors=(400, 404))
def get_explanation(job_id: str):
    wait = query_seconds("wait", maximum=workspace().settings.max_wait_seconds)
    return jsonify(_job_with_result(job_id, wait))


@blueprint.delete("/<job_id>")
@doc(summary="Cancel a queued or running job.", tag="explanations",
     responses={202: JobResource}, errors=(404, 409))
def cancel_explanation(job_id: str):
    response = jsonify(workspace().cancel_job(job_id))
    response.status_code = 202
    return response


def _job_events(job_id: str, runner):
    """Yield server-sent events: one per change of status, progress or stage."""
    deadline = time.monotonic() + MAX_STREAM_SECONDS
    last = None
    while True:
        job = workspace().get_job(job_id)
        state = {key: job[key] for key in ("id", "status", "progress", "stage", "error")}
        if state != last:
            yield f"event: progress\ndata: {json.dumps(state)}\n\n"
            last = state
        if job["status"] in FINAL_STATES:
            yield f"event: end\ndata: {json.dumps(state)}\n\n"
            return
        if runner.stopping or time.monotonic() > deadline:
            return
        time.sleep(EVENT_POLL_SECONDS)


@blueprint.get("/<job_id>/events")
@doc(summary="Stream a job's status and progress as server-sent events until it ends.",
     tag="explanations", errors=(404,))
def stream_explanation(job_id: str):
    workspace().get_job(job_id)  # 404 before the stream starts
    runner = current_app.extensions["explainer.jobs"]
    response = Response(stream_with_context(_job_events(job_id, runner)), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"
    return response
