"""The web frontend: one page and its assets, all served from api/static."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, send_from_directory

blueprint = Blueprint("frontend", __name__, url_prefix="/ui")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

# The page loads nothing from other origins. Chart.js sets canvas sizes
# through element.style, which style-src does not govern.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'"
)


@blueprint.get("/")
def index():
    response = send_from_directory(STATIC_DIR, "index.html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@blueprint.get("/<path:filename>")
def asset(filename: str):
    # send_from_directory returns 404 for paths that leave STATIC_DIR.
    return send_from_directory(STATIC_DIR, filename)
