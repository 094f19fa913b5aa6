"""CORS: a page on a configured origin may call the API, and other origins get no CORS headers."""

from __future__ import annotations

import pytest
import requests

from api import Settings
from explainer import InvalidParameterError

TEAM_ORIGIN = "http://localhost:5173"


@pytest.fixture
def server(live_server_factory, demo_dir):
    return live_server_factory(env={"EXPLAINER_CORS_ORIGINS": f"{TEAM_ORIGIN}, https://team.example.com"},
                               demo_models=demo_dir)


def test_cors_preflight_from_configured_origin(server):
    response = requests.options(f"{server.url}/what-if", headers={
        "Origin": TEAM_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }, timeout=10)

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == TEAM_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Origin" in response.headers["Vary"]


def test_cors_answer_and_error_carry_the_origin(server):
    answer = requests.post(f"{server.url}/what-if", headers={"Origin": TEAM_ORIGIN}, json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 0, "changes": {"age": 50},
        "explain": False,
    }, timeout=30)
    error = requests.post(f"{server.url}/what-if", headers={"Origin": TEAM_ORIGIN}, json={
        "model_id": "adult-gbm", "dataset_id": "adult", "row_index": 0, "changes": {"salary": 1},
    }, timeout=30)

    assert answer.status_code == 200
    assert answer.headers["Access-Control-Allow-Origin"] == TEAM_ORIGIN
    assert "X-Request-ID" in answer.headers["Access-Control-Expose-Headers"]
    assert error.status_code == 422
    assert error.headers["Access-Control-Allow-Origin"] == TEAM_ORIGIN


def test_cors_other_origin_gets_no_headers(server):
    response = requests.options(f"{server.url}/what-if", headers={
        "Origin": "http://elsewhere.example.org",
        "Access-Control-Request-Method": "POST",
    }, timeout=10)

    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Origin" in response.headers["Vary"]


def test_cors_wildcard_allows_any_origin(app):
    from api import create_app

    wildcard = create_app({"data_dir": app.extensions["explainer.settings"].data_dir, "cors_origins": ("*",)})
    try:
        response = wildcard.test_client().get("/healthz", headers={"Origin": "http://anywhere.test"})
    finally:
        wildcard.extensions["explainer.jobs"].shutdown()

    assert response.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origin", ["localhost:5173", "http://localhost:5173/", "https://team.example.com/app"])
def test_cors_origin_setting_must_be_an_origin(origin):
    with pytest.raises(InvalidParameterError, match=r"EXPLAINER_CORS_ORIGINS contains the invalid origin .*scheme, host and optional port"):
        Settings.from_env({"EXPLAINER_CORS_ORIGINS": origin})
