"""Every error as application/problem+json (RFC 9457), from one place."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from explainer import ExplainerError

logger = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, **extra):
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail,
            "instance": request.path}
    request_id = getattr(g, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM_JSON
    return response


def _describe_validation_error(error: ValidationError) -> tuple[str, list[dict]]:
    errors = []
    for item in error.errors(include_url=False, include_context=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        errors.append({"field": location, "message": item["msg"], "input": _short(item.get("input"))})
    detail = "; ".join(f"{entry['field']}: {entry['message']}" for entry in errors)
    return f"the request is invalid: {detail}.", errors


def _short(value):
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ExplainerError)
    def handle_library_error(error: ExplainerError):
        logger.info("request %s %s rejected (%d): %s", request.method, request.path, error.status, error.message)
        response = problem(error.status, error.title, error.message, **error.details)
        if error.status == 503:
            response.headers["Retry-After"] = "30"
        return response

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError):
        detail, errors = _describe_validation_error(error)
        logger.info("request %s %s rejected (400): %s", request.method, request.path, detail)
        return problem(400, "Invalid request", detail, errors=errors)

    @app.errorhandler(RequestEntityTooLarge)
    def handle_too_large(error: RequestEntityTooLarge):
        limit = app.config.get("MAX_CONTENT_LENGTH")
        logger.info("request %s %s rejected (413): body over %s bytes", request.method, request.path, limit)
        return problem(
            413, "Payload too large",
            f"the request body exceeds this server's upload limit of {limit} bytes; upload a "
            "smaller file, or ask the operator to raise EXPLAINER_MAX_UPLOAD_BYTES.",
            limit_bytes=limit,
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        detail = error.description or error.name
        if error.code == 404:
            detail = f"no resource at {request.path}; the API is described at /openapi.json."
        elif error.code == 405:
            detail = f"{request.method} is not allowed on {request.path}; allowed: {', '.join(error.valid_methods or [])}."
        return problem(error.code or 500, error.name, detail)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        logger.exception("request %s %s failed unexpectedly (request id %s)",
                         request.method, request.path, getattr(g, "request_id", None))
        return problem(
            500, "Internal server error",
            "the server failed while handling this request; the error is logged under this "
            "request_id. Report it with the request_id if it persists.",
        )
