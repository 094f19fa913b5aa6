"""Models in a model server: a real MLServer, a mock MLflow server, and failures.

The MLServer fixture installs MLServer into .venv-mlserver once (the install
script keeps a stamp file, so later sessions skip it), trains a scikit-learn
pipeline there, and serves it on a free loopback port. The same pipeline,
loaded locally from its skops file, gives the expected numbers.

Every server these tests call is one they start on 127.0.0.1. The allow-list
tests use the reserved name models.example.invalid and fail if any request is
sent at all.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest
import requests

from api import create_app
from explainer import (
    ForbiddenError,
    InvalidParameterError,
    RemoteModel,
    UnusableInputError,
    UpstreamError,
    UpstreamTimeoutError,
    check_allowed_url,
    explain,
    load_dataset,
    load_model,
)
from explainer.models._remote import BACKOFF_SECONDS
from tests.conftest import DATASETS, free_port, problem_of
from tests.model_server import MODEL_NAME, MLServerProcess, install_mlserver, train_served_model
from tests.test_api import upload_dataset

TARGET = "target"
CLASS_NAMES = ["0", "1"]
OUTSIDE_URL = "http://models.example.invalid:8080"


# Servers -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def mlserver_python():
    return install_mlserver()


@pytest.fixture(scope="session")
def served_model_files(mlserver_python, tmp_path_factory):
    """The MLServer model repository and the skops copy of its one model."""
    repository = tmp_path_factory.mktemp("mlserver")
    skops_path = train_served_model(mlserver_python, repository / MODEL_NAME)
    return repository, skops_path


@pytest.fixture(scope="session")
def mlserver(mlserver_python, served_model_files):
    repository, _ = served_model_files
    server = MLServerProcess(mlserver_python, repository).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_model(served_model_files):
    """The served pipeline, loaded in this process from its skops file."""
    _, skops_path = served_model_files
    return load_model(skops_path.read_bytes(), metadata={"class_names": CLASS_NAMES})


@pytest.fixture(scope="session")
def breast_cancer():
    return load_dataset(DATASETS / "breast_cancer.csv", target=TARGET)


def kserve_spec(url: str, frame: pd.DataFrame, **changes) -> dict:
    spec = {
        "url": url, "protocol": "kserve-v2", "model_name": MODEL_NAME, "output_name": "predict_proba",
        "feature_names": [name for name in frame.columns if name != TARGET],
        "task": "classification", "class_names": CLASS_NAMES,
    }
    spec.update(changes)
    return spec


class _StubServer:
    """A ThreadingHTTPServer on 127.0.0.1 whose POST responses come from ``respond``.

    ``respond(path, body)`` returns (status, JSON-serializable body). Every
    request path is recorded in ``paths``.
    """

    def __init__(self, respond):
        stub = self
        self.paths: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"null")
                stub.paths.append(self.path)
                status, answer = respond(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # A short poll interval makes shutdown() return quickly.
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "_StubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def mock_mlflow_server(estimator) -> _StubServer:
    """An imitation of MLflow's scoring server for ``estimator``.

    MLflow's own scoring server is not installed in the project's
    environments, so this stand-in serves ``/invocations`` the way MLflow 2
    does: a ``dataframe_split`` body in, ``{"predictions": [...]}`` out.
    """

    def respond(path, body):
        if path != "/invocations":
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"no endpoint {path}"}
        split = body["dataframe_split"]
        frame = pd.DataFrame(split["data"], columns=split["columns"])
        return 200, {"predictions": estimator.predict_proba(frame).tolist()}

    return _StubServer(respond)


class _SilentServer:
    """A loopback socket that accepts connections and never responds."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(16)
        # accept() wakes up this often to see whether the server is stopping.
        self.socket.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}"
        self.connections: list[socket.socket] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections.append(connection)

    def __enter__(self) -> "_SilentServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)
        self.socket.close()
        for connection in self.connections:
            connection.close()


@pytest.fixture
def remote_app(tmp_path):
    app = create_app({
        "data_dir": tmp_path / "service", "job_workers": 1,
        "remote_allowed_hosts": ("127.0.0.1",), "remote_timeout_seconds": 5.0, "remote_max_retries": 1,
    })
    yield app
    app.extensions["explainer.jobs"].shutdown()


@pytest.fixture
def remote_client(remote_app):
    return remote_app.test_client()


@pytest.fixture
def no_requests(monkeypatch):
    """Fail the test if any HTTP request is sent; yields the list of attempts."""
    attempts = []

    def fail_on_send(session, request, **kwargs):
        attempts.append(request.url)
        raise AssertionError(f"a request to {request.url} was sent")

    monkeypatch.setattr(requests.Session, "send", fail_on_send)
    return attempts


def register(client, spec: dict, *, name=None):
    body = dict(spec, name=name) if name else spec
    return client.post("/models/remote", json=body)


# Served explanations equal local ones -------------------------------------------

@pytest.mark.parametrize("layout", ["columns", "tensor"])
def test_mlserver_predictions_equal_local(mlserver, local_model, breast_cancer, layout):
    frame = breast_cancer.frame
    spec = kserve_spec(mlserver.url, frame, input_layout=layout, max_batch_rows=200)

    with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as remote:
        predictions = remote.predict(frame)

        np.testing.assert_allclose(predictions, local_model.predict(frame), rtol=0, atol=1e-12)
        assert predictions.shape == (len(frame), 2)
        assert remote.request_count == math.ceil(len(frame) / 200)


def test_mlserver_permutation_equals_local(remote_client, mlserver, local_model, breast_cancer):
    registered = register(remote_client, kserve_spec(mlserver.url, breast_cancer.frame, max_batch_rows=5000),
                          name="served-breast-cancer")
    assert registered.status_code == 201, registered.json
    assert registered.json["format"] == "remote-kserve-v2"
    assert registered.json["methods"] == ["permutation", "shap", "what-if"]
    dataset = upload_dataset(remote_client, (DATASETS / "breast_cancer.csv").read_bytes(),
                             name="breast_cancer", target=TARGET)
    parameters = {"n_repeats": 3, "random_state": 0, "scoring": "roc_auc"}

    response = remote_client.post("/explanations?wait=60", json={
        "model_id": "served-breast-cancer", "dataset_id": dataset.json["id"],
        "method": "permutation", "parameters": parameters,
    })

    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    served = response.json["result"]
    direct = explain(local_model, breast_cancer, method="permutation", parameters=parameters)
    np.testing.assert_allclose(served["importances"], direct.importances, rtol=0, atol=1e-9)
    assert served["baseline_score"] == pytest.approx(direct.baseline_score, abs=1e-12)


def test_mlserver_shap_equals_local(remote_client, mlserver, local_model, breast_cancer):
    registered = register(remote_client, kserve_spec(mlserver.url, breast_cancer.frame, max_batch_rows=5000))
    dataset = upload_dataset(remote_client, (DATASETS / "breast_cancer.csv").read_bytes(), target=TARGET)
    parameters = {"n_rows": 3, "background_size": 20, "max_evals": 200, "random_state": 0}

    response = remote_client.post("/explanations?wait=60", json={
        "model_id": registered.json["id"], "dataset_id": dataset.json["id"],
        "method": "shap", "parameters": parameters,
    })

    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    served = response.json["result"]
    # The local pipeline would get linear SHAP. A remote model gets the
    # permutation explainer, so the local run requests that one.
    direct = explain(local_model, breast_cancer, method="shap",
                     parameters={**parameters, "explainer": "permutation"})
    assert served["explainer"] == "permutation"
    np.testing.assert_allclose(served["values"], direct.values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(served["base_values"], direct.base_values, rtol=0, atol=1e-9)
    assert served["max_additivity_error"] < 1e-9


def test_mlserver_whatif_and_predict_over_http(remote_client, mlserver, local_model, breast_cancer):
    registered = register(remote_client, kserve_spec(mlserver.url, breast_cancer.frame))
    model_id = registered.json["id"]
    rows = breast_cancer.frame.drop(columns=TARGET).iloc[:4]

    predicted = remote_client.post(f"/models/{model_id}/predict", json={"rows": rows.to_dict(orient="records")})

    assert predicted.status_code == 200, predicted.json
    np.testing.assert_allclose(predicted.json["predictions"], local_model.predict(rows), rtol=0, atol=1e-12)


# Allow-list ----------------------------------------------------------------------

def test_host_off_allow_list_is_403(remote_client, breast_cancer, no_requests):
    response = register(remote_client, kserve_spec(OUTSIDE_URL, breast_cancer.frame))

    assert response.status_code == 403
    problem = problem_of(response)
    assert "models.example.invalid" in problem["detail"]
    assert "EXPLAINER_REMOTE_ALLOWED_HOSTS" in problem["detail"]
    assert no_requests == []
    assert remote_client.get("/models").json["models"] == []


def test_remote_models_disabled_by_default(client, breast_cancer, no_requests):
    response = register(client, kserve_spec("http://127.0.0.1:8080", breast_cancer.frame))

    assert response.status_code == 403
    assert "is empty" in problem_of(response)["detail"]
    assert no_requests == []


def test_host_removed_later_is_403(tmp_path, breast_cancer, no_requests):
    data_dir = tmp_path / "service"
    allowing = create_app({"data_dir": data_dir, "remote_allowed_hosts": ("127.0.0.1",)})
    model_id = register(allowing.test_client(), kserve_spec("http://127.0.0.1:9", breast_cancer.frame)).json["id"]
    allowing.extensions["explainer.jobs"].shutdown()
    narrowed = create_app({"data_dir": data_dir, "remote_allowed_hosts": ("models.internal",)})
    rows = breast_cancer.frame.drop(columns=TARGET).iloc[:2].to_dict(orient="records")

    response = narrowed.test_client().post(f"/models/{model_id}/predict", json={"rows": rows})
    narrowed.extensions["explainer.jobs"].shutdown()

    assert response.status_code == 403
    assert "127.0.0.1" in problem_of(response)["detail"]
    assert no_requests == []


@pytest.mark.parametrize("url, allowed_hosts", [
    ("http://127.0.0.1:8080", ["127.0.0.1"]),
    ("http://127.0.0.1:8080/", ["127.0.0.1:8080"]),
    ("http://MLServer.Internal:8080", ["mlserver.internal"]),
    ("http://mlserver.models.svc.cluster.local:8080", ["*.svc.cluster.local"]),
    ("http://mlserver", ["mlserver:80"]),
    ("https://mlserver", ["mlserver:443"]),
    ("http://[::1]:8080", ["[::1]:8080"]),
])
def test_allow_list_accepts_matching_host(url, allowed_hosts):
    check_allowed_url(url, allowed_hosts)


@pytest.mark.parametrize("url, allowed_hosts", [
    ("http://127.0.0.1:8081", ["127.0.0.1:8080"]),
    ("http://localhost:8080", ["127.0.0.1"]),
    ("http://svc.cluster.local:8080", ["*.svc.cluster.local"]),
    ("http://mlserver.internal.example.invalid", ["mlserver.internal"]),
    ("https://mlserver", ["mlserver:80"]),
    (OUTSIDE_URL, []),
])
def test_allow_list_rejects_other_host(url, allowed_hosts):
    with pytest.raises(ForbiddenError):
        check_allowed_url(url, allowed_hosts)


@pytest.mark.parametrize("url, fragment", [
    ("ftp://127.0.0.1/model", "http or https"),
    ("127.0.0.1:8080", "http or https"),
    ("http://user:secret@127.0.0.1:8080", "credentials"),
    ("ftp://user:secret@127.0.0.1", "http or https"),
    ("http://user:secret@127.0.0.1:99999", "invalid"),
    ("http://127.0.0.1:8080/?token=1", "query"),
    ("http://127.0.0.1:99999", "invalid"),
])
def test_allow_list_rejects_malformed_url(url, fragment):
    with pytest.raises(InvalidParameterError, match=fragment) as raised:
        check_allowed_url(url, ["127.0.0.1"])

    assert "secret" not in str(raised.value)


def test_allow_list_invalid_entry_names_it():
    with pytest.raises(InvalidParameterError, match="http://127.0.0.1"):
        check_allowed_url("http://127.0.0.1:8080", ["127.0.0.1", "http://127.0.0.1"])


# Failures of the server ----------------------------------------------------------

def test_stopped_server_is_502_within_timeout(remote_client, breast_cancer):
    # Nothing listens on this loopback port: the connection is refused.
    url = f"http://127.0.0.1:{free_port()}"
    registered = register(remote_client, kserve_spec(url, breast_cancer.frame, timeout_seconds=2.0))
    assert registered.status_code == 201, registered.json
    rows = breast_cancer.frame.drop(columns=TARGET).iloc[:2].to_dict(orient="records")

    started = time.monotonic()
    response = remote_client.post(f"/models/{registered.json['id']}/predict", json={"rows": rows})
    elapsed = time.monotonic() - started

    assert response.status_code == 502
    detail = problem_of(response)["detail"]
    assert url in detail
    assert "connection refused" in detail
    assert "2 attempt(s)" in detail
    # Two attempts, each at most 2 s, and one backoff sleep; 1 s of slack.
    assert elapsed < 2 * 2.0 + BACKOFF_SECONDS + 1.0


def test_stopped_server_fails_job_with_502(remote_client, breast_cancer):
    url = f"http://127.0.0.1:{free_port()}"
    model_id = register(remote_client, kserve_spec(url, breast_cancer.frame)).json["id"]
    dataset = upload_dataset(remote_client, (DATASETS / "breast_cancer.csv").read_bytes(), target=TARGET)

    response = remote_client.post("/explanations?wait=30", json={
        "model_id": model_id, "dataset_id": dataset.json["id"], "method": "permutation",
        "parameters": {"n_repeats": 1},
    })

    assert response.status_code == 200
    assert response.json["status"] == "failed"
    assert response.json["error"]["status"] == 502
    assert url in response.json["error"]["detail"]


def test_silent_server_is_504_within_timeout(tmp_path, breast_cancer):
    timeout, retries = 0.5, 1
    app = create_app({"data_dir": tmp_path / "service", "remote_allowed_hosts": ("127.0.0.1",),
                      "remote_timeout_seconds": timeout, "remote_max_retries": retries})
    rows = breast_cancer.frame.drop(columns=TARGET).iloc[:2].to_dict(orient="records")
    with _SilentServer() as server:
        client = app.test_client()
        model_id = register(client, kserve_spec(server.url, breast_cancer.frame)).json["id"]

        started = time.monotonic()
        response = client.post(f"/models/{model_id}/predict", json={"rows": rows})
        elapsed = time.monotonic() - started
    app.extensions["explainer.jobs"].shutdown()

    assert response.status_code == 504
    detail = problem_of(response)["detail"]
    assert "timed out" in detail
    assert "no response within 0.5 s" in detail
    attempts = retries + 1
    assert elapsed >= attempts * timeout
    assert elapsed < attempts * timeout + BACKOFF_SECONDS + 1.0


def test_server_error_is_retried_then_502():
    def respond(path, body):
        return 503, {"error": "model is loading"}

    with _StubServer(respond) as server:
        spec = {"url": server.url, "protocol": "mlflow", "feature_names": ["x"],
                "task": "regression", "max_retries": 2, "timeout_seconds": 5}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            with pytest.raises(UpstreamError, match="status 503 Service Unavailable: model is loading") as raised:
                model.predict(pd.DataFrame({"x": [1.0, 2.0]}))

            assert model.request_count == 3
    assert server.url in raised.value.message
    assert not isinstance(raised.value, UpstreamTimeoutError)


def test_client_error_is_not_retried(mlserver, breast_cancer):
    spec = kserve_spec(mlserver.url, breast_cancer.frame, model_name="no-such-model")

    with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
        with pytest.raises(UpstreamError, match="status 404") as raised:
            model.predict(breast_cancer.frame.iloc[:2])

        assert model.request_count == 1
    assert "no-such-model" in raised.value.message
    assert "model_name" in raised.value.message


def test_class_labels_instead_of_probabilities_rejected(mlserver, breast_cancer):
    # Without output_name, MLServer's scikit-learn runtime returns predict().
    spec = kserve_spec(mlserver.url, breast_cancer.frame, output_name=None)

    with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
        with pytest.raises(UpstreamError, match="class labels, not probabilities"):
            model.predict(breast_cancer.frame.iloc[:3])


@pytest.mark.parametrize("answer, fragment", [
    ({"predictions": "oops"}, "expected a JSON object"),
    ({"predictions": [0.5]}, "shape \\[1\\] for 3 rows"),
    ({"predictions": [[0.2, 0.3]] * 3}, "not class probabilities"),
    ({"predictions": [[0.5, 0.5, 0.0]] * 3}, "3 values per row"),
    ({"predictions": [0, 1, 1]}, "class labels"),
    ({"predictions": [{"label": 1}] * 3}, "set output_name"),
    (["a", "b", "c"], "not numbers"),
])
def test_malformed_response_says_what_was_expected(answer, fragment):
    with _StubServer(lambda path, body: (200, answer)) as server:
        spec = {"url": server.url, "protocol": "mlflow", "feature_names": ["x"],
                "task": "classification", "class_names": ["no", "yes"]}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            with pytest.raises(UpstreamError, match=fragment):
                model.predict(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))


def test_open_inference_response_without_outputs_rejected():
    with _StubServer(lambda path, body: (200, {"model_name": "m"})) as server:
        spec = {"url": server.url, "protocol": "kserve-v2", "model_name": "m",
                "feature_names": ["x"], "task": "regression"}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            with pytest.raises(UpstreamError, match="non-empty list 'outputs'"):
                model.predict(pd.DataFrame({"x": [1.0]}))


# Request layouts ------------------------------------------------------------------

def test_open_inference_request_per_column():
    received = []

    def respond(path, body):
        received.append((path, body))
        return 200, {"outputs": [{"name": "out", "datatype": "FP32", "shape": [2, 1], "data": [1.5, 2.5]}]}

    frame = pd.DataFrame({"size": [1.0, np.nan], "rooms": [3, 4], "city": ["Oslo", None]})
    with _StubServer(respond) as server:
        spec = {"url": server.url, "protocol": "kserve-v2", "model_name": "house price",
                "model_version": "2", "feature_names": ["size", "rooms", "city"], "task": "regression"}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            predictions = model.predict(frame)

    np.testing.assert_array_equal(predictions, [1.5, 2.5])
    path, body = received[0]
    assert path == "/v2/models/house%20price/versions/2/infer"
    assert body["parameters"] == {"content_type": "pd"}
    assert body["inputs"] == [
        {"name": "size", "datatype": "FP64", "shape": [2], "data": [1.0, None]},
        {"name": "rooms", "datatype": "INT64", "shape": [2], "data": [3, 4]},
        {"name": "city", "datatype": "BYTES", "shape": [2], "data": ["Oslo", None],
         "parameters": {"content_type": "str"}},
    ]
    assert "outputs" not in body


def test_open_inference_request_as_tensor():
    received = []

    def respond(path, body):
        received.append(body)
        return 200, {"outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [2, 2],
                                  "data": [0.25, 0.75, 1.0, 0.0]}]}

    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3, 4]})
    with _StubServer(respond) as server:
        spec = {"url": server.url, "protocol": "kserve-v2", "model_name": "m", "input_layout": "tensor",
                "input_name": "dense_input", "output_name": "probabilities",
                "feature_names": ["a", "b"], "task": "classification", "class_names": ["no", "yes"]}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            predictions = model.predict(frame)

    np.testing.assert_array_equal(predictions, [[0.25, 0.75], [1.0, 0.0]])
    assert received[0] == {
        "inputs": [{"name": "dense_input", "datatype": "FP64", "shape": [2, 2], "data": [1.0, 3.0, 2.0, 4.0]}],
        "outputs": [{"name": "probabilities"}],
    }


def test_declared_feature_types_are_sent():
    received = []

    def respond(path, body):
        received.append(body)
        return 200, {"outputs": [{"name": "out", "datatype": "FP64", "shape": [1], "data": [0.0]}]}

    with _StubServer(respond) as server:
        spec = {"url": server.url, "protocol": "kserve-v2", "model_name": "m", "feature_names": ["a", "b"],
                "feature_types": {"a": "INT32", "b": "FP32"}, "task": "regression"}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            model.predict(pd.DataFrame({"a": [2.0], "b": [1]}))
            with pytest.raises(UnusableInputError, match="non-integer"):
                model.predict(pd.DataFrame({"a": [2.5], "b": [1]}))

    assert [(item["datatype"], item["data"]) for item in received[0]["inputs"]] == [("INT32", [2]), ("FP32", [1.0])]


def test_one_probability_per_row_is_positive_class():
    answer = {"outputs": [{"name": "p", "datatype": "FP64", "shape": [2], "data": [0.2, 0.9]}]}
    with _StubServer(lambda path, body: (200, answer)) as server:
        spec = {"url": server.url, "protocol": "kserve-v2", "model_name": "m", "feature_names": ["x"],
                "task": "classification", "class_names": ["no", "yes"]}
        with RemoteModel(spec, allowed_hosts=["127.0.0.1"]) as model:
            predictions = model.predict(pd.DataFrame({"x": [1.0, 2.0]}))

    np.testing.assert_allclose(predictions, [[0.8, 0.2], [0.1, 0.9]])


# MLflow --------------------------------------------------------------------------

def test_mlflow_permutation_equals_local(remote_client, local_model, breast_cancer):
    with mock_mlflow_server(local_model.estimator) as server:
        spec = kserve_spec(server.url, breast_cancer.frame, protocol="mlflow", max_batch_rows=20_000)
        del spec["model_name"], spec["output_name"]
        registered = register(remote_client, spec)
        assert registered.status_code == 201, registered.json
        assert registered.json["format"] == "remote-mlflow"
        dataset = upload_dataset(remote_client, (DATASETS / "breast_cancer.csv").read_bytes(), target=TARGET)
        parameters = {"n_repeats": 2, "random_state": 1, "scoring": "neg_log_loss"}

        response = remote_client.post("/explanations?wait=60", json={
            "model_id": registered.json["id"], "dataset_id": dataset.json["id"],
            "method": "permutation", "parameters": parameters,
        })

    assert response.json["status"] == "succeeded", response.json
    direct = explain(local_model, breast_cancer, method="permutation", parameters=parameters)
    np.testing.assert_allclose(response.json["result"]["importances"], direct.importances, rtol=0, atol=1e-9)
    assert set(server.paths) == {"/invocations"}


# Registration --------------------------------------------------------------------

def test_registration_does_not_contact_server(remote_client, breast_cancer, no_requests):
    response = register(remote_client, kserve_spec("http://127.0.0.1:9", breast_cancer.frame), name="later")

    assert response.status_code == 201, response.json
    assert response.json["metadata"]["url"] == "http://127.0.0.1:9"
    assert response.json["metadata"]["timeout_seconds"] == 5.0
    assert response.json["metadata"]["max_retries"] == 1
    assert remote_client.get("/models/later").json == response.json
    assert no_requests == []


@pytest.mark.parametrize("changes, fragment", [
    ({"protocol": "grpc"}, "protocol"),
    ({"url": "ftp://127.0.0.1/model"}, "http or https"),
    ({"url": "http://admin:hunter2@127.0.0.1:8080"}, "credentials"),
    ({"model_name": None}, "model_name is required"),
    ({"protocol": "mlflow"}, "apply to protocol 'kserve-v2' only"),
    ({"feature_types": {"unknown column": "FP64"}}, "not in feature_names"),
    ({"feature_types": {"mean radius": "FLOAT"}}, "feature_types"),
    ({"timeout_seconds": 60}, "at most 5.0"),
    ({"max_retries": 5}, "at most 1"),
    ({"class_names": ["only"]}, "class_names"),
    ({"task": "regression"}, "class_names apply to task 'classification' only"),
    ({"headers": {"Authorization": "x"}}, "headers"),
])
def test_registration_invalid_spec_is_400(remote_client, breast_cancer, no_requests, changes, fragment):
    spec = {**kserve_spec("http://127.0.0.1:8080", breast_cancer.frame), **changes}
    spec = {key: value for key, value in spec.items() if value is not None}

    response = register(remote_client, spec)

    assert response.status_code == 400, response.json
    detail = problem_of(response)["detail"]
    assert fragment in detail
    assert "hunter2" not in json.dumps(response.json)
    assert no_requests == []


def test_openapi_documents_remote_registration(remote_client):
    document = remote_client.get("/openapi.json").json

    operation = document["paths"]["/models/remote"]["post"]
    assert "403" in operation["responses"]
    assert "RemoteModelRequest" in document["components"]["schemas"]
