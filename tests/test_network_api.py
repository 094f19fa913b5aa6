"""Networks over HTTP: checkpoint series, training-health jobs, layer and neuron attribution jobs."""

from __future__ import annotations

import importlib.util
import io
import json

import pandas as pd
import pytest
import requests
import safetensors.torch
import torch

from explainer import layer_attributions, load_checkpoints, load_model, neuron_attributions, training_health
from explainer.models._base import sha256_digest
from tests.conftest import DATASETS, problem_of
from tests.test_api import upload_dataset, upload_model

TIMEOUT = 60
# Fields that differ between two runs of the same request.
RUN_FIELDS = {"elapsed_seconds", "job_id"}


def _files(checkpoints_dir, entry, architecture="architecture"):
    folder = checkpoints_dir / entry["name"]
    return (folder / entry[architecture]).read_bytes(), [(folder / name).read_bytes() for name in entry["weights"]]


def upload_series(client, architecture: bytes, weights: list[bytes], **fields):
    form = {"architecture": (io.BytesIO(architecture), "architecture.pt"),
            "weights": [(io.BytesIO(data), f"epoch-{position:03d}.safetensors") for position, data in enumerate(weights)]}
    for key, value in fields.items():
        form[key] = value if isinstance(value, str) else json.dumps(value)
    return client.post("/checkpoints", data=form, content_type="multipart/form-data")


def _register(client, checkpoints_dir, entry, *, with_dataset=True):
    """Upload a network's checkpoints (named after it) and its dataset; return the dataset's name or None."""
    architecture, weights = _files(checkpoints_dir, entry)
    uploaded = upload_series(client, architecture, weights, name=entry["name"], epochs=entry["epochs"])
    assert uploaded.status_code == 201, uploaded.json
    if not with_dataset:
        return None
    dataset = upload_dataset(client, open(entry["dataset_file"], "rb").read(), name=f"{entry['name']}-data",
                             target=entry["target"])
    assert dataset.status_code == 201, dataset.json
    return f"{entry['name']}-data"


def _direct_health(checkpoints_dir, entry, **options):
    """The library's training_health on the network's files and dataset, as the service's JSON."""
    architecture, weights = _files(checkpoints_dir, entry)
    series = load_checkpoints(architecture, weights, epochs=entry["epochs"])
    frame = pd.read_csv(entry["dataset_file"])
    data = open(entry["dataset_file"], "rb").read()
    result = training_health(series, frame.drop(columns=entry["target"]), frame[entry["target"]],
                             dataset_digest=sha256_digest(data), **options)
    return json.loads(json.dumps(result.to_dict()))


def _without_run_fields(result: dict) -> dict:
    return {name: value for name, value in result.items() if name not in RUN_FIELDS}


def _diagnose(client, name, body=None):
    response = client.post(f"/checkpoints/{name}/diagnoses?wait=60", json=body or {})
    assert response.status_code == 200, response.json
    job = response.json
    assert job["status"] == "succeeded", job
    return job


# Checkpoint series ---------------------------------------------------------------


def test_checkpoint_upload_describes_series(client, checkpoints_dir, checkpoint_networks):
    entry = checkpoint_networks["healthy"]
    architecture, weights = _files(checkpoints_dir, entry)

    response = upload_series(client, architecture, weights, name="healthy", epochs=entry["epochs"])

    assert response.status_code == 201, response.json
    series = response.json
    assert response.headers["Location"].endswith(f"/checkpoints/{series['id']}")
    assert series["format"] == "torchscript"
    assert series["digest"] == sha256_digest(architecture)
    assert series["epochs"] == entry["epochs"]
    assert [checkpoint["digest"] for checkpoint in series["checkpoints"]] == [sha256_digest(data) for data in weights]
    assert series["size_bytes"] == len(architecture) + sum(len(data) for data in weights)
    state = safetensors.torch.load(weights[0])
    described = {tensor["name"]: tensor for tensor in series["tensors"]}
    assert set(described) == set(state)
    assert described["layer1.weight"] == {"name": "layer1.weight", "shape": [16, 30], "dtype": "float32",
                                          "kind": "parameter"}
    assert described["standardize.mean"]["kind"] == "buffer"
    assert series["class_names"] == ["malignant", "benign"]
    assert client.get("/checkpoints/healthy").json == series
    assert client.get("/checkpoints").json == {"checkpoints": [series]}


def test_checkpoint_default_epochs_and_delete(client, checkpoints_dir, checkpoint_networks):
    architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])
    series = upload_series(client, architecture, weights[:3]).json

    assert series["epochs"] == ["0", "1", "2"]
    assert series["name"] is None
    assert client.delete(f"/checkpoints/{series['id']}").status_code == 204
    assert problem_of(client.get(f"/checkpoints/{series['id']}"))["status"] == 404
    assert problem_of(client.post(f"/checkpoints/{series['id']}/diagnoses", json={}))["status"] == 404


def test_checkpoint_name_taken_is_409(client, checkpoints_dir, checkpoint_networks):
    architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])
    assert upload_series(client, architecture, weights[:2], name="run-1").status_code == 201

    body = problem_of(upload_series(client, architecture, weights[:2], name="run-1"))

    assert body["status"] == 409
    assert "DELETE /checkpoints/" in body["detail"]


def test_pickled_weights_are_415(client, checkpoints_dir, checkpoint_networks):
    architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])
    pickled = io.BytesIO()
    torch.save(safetensors.torch.load(weights[1]), pickled)

    body = problem_of(upload_series(client, architecture, [weights[0], pickled.getvalue()]))

    assert body["status"] == 415
    assert "checkpoint '1' are not a safetensors file" in body["detail"]
    assert "safetensors.torch.save_file" in body["detail"]
    assert client.get("/checkpoints").json == {"checkpoints": []}


def test_mismatched_tensors_are_422(client, checkpoints_dir, checkpoint_networks):
    architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])
    state = safetensors.torch.load(weights[1])
    state.pop("output.bias")
    state["layer2.weight"] = torch.zeros((3, 3))

    body = problem_of(upload_series(client, architecture, [weights[0], safetensors.torch.save(state)],
                                    epochs=["start", "end"]))

    assert body["status"] == 422
    assert "checkpoint 'end' do not match the architecture" in body["detail"]
    assert body["missing"] == ["output.bias"]
    assert body["shape_mismatches"] == ["layer2.weight: (3, 3) in the file, (8, 16) in the architecture"]


@pytest.mark.parametrize(
    ("fields", "weights_count", "fragment"),
    [
        ({"epochs": ["a", "b"]}, 3, "epochs must give one label per weights file (3), got 2"),
        ({"epochs": ["a", "a"]}, 2, "epochs must be unique labels"),
        ({"epochs": {"a": 1}}, 2, "form field 'epochs' must be a JSON list"),
        ({"epochs": [1.5, None]}, 2, "form field 'epochs' must be a JSON list of labels"),
        ({}, 0, "no file field 'weights'"),
        ({"metadata": "[1]"}, 2, "form field 'metadata' must be a JSON object"),
    ],
    ids=["epochs-too-short", "epochs-repeated", "epochs-not-list", "epochs-bad-labels", "no-weights",
         "metadata-not-object"],
)
def test_bad_checkpoint_upload_is_400(client, checkpoints_dir, checkpoint_networks, fields, weights_count,
                                      fragment):
    architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])

    body = problem_of(upload_series(client, architecture, weights[:weights_count], **fields))

    assert body["status"] == 400
    assert fragment in body["detail"]


def test_architecture_of_other_format_is_415(client, adult_model_bytes, checkpoints_dir, checkpoint_networks):
    _, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])

    body = problem_of(upload_series(client, adult_model_bytes, weights[:1]))

    assert body["status"] == 415
    assert "it must be TorchScript (torch.jit.save) or a torch.export program" in body["detail"]


def test_checkpoint_upload_over_limit_is_413(tmp_path, checkpoints_dir, checkpoint_networks):
    from api import create_app

    app = create_app({"data_dir": tmp_path / "small", "max_upload_bytes": 20_000, "job_workers": 1})
    try:
        architecture, weights = _files(checkpoints_dir, checkpoint_networks["healthy"])
        body = problem_of(upload_series(app.test_client(), architecture, weights))
        assert body["status"] == 413
        assert "20000" in body["detail"]
    finally:
        app.extensions["explainer.jobs"].shutdown()


# Diagnosis jobs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("network", "problem", "layer"),
    [
        ("vanishing", "vanishing-gradients", "layer1.weight"),
        ("exploding", "exploding-weights", "layer1.weight"),
        ("dead_relu", "dead-relu-units", "relu1"),
    ],
)
def test_diagnosis_names_broken_layer(client, checkpoints_dir, checkpoint_networks, network, problem, layer):
    entry = checkpoint_networks[network]
    dataset = _register(client, checkpoints_dir, entry)

    job = _diagnose(client, network, {"dataset_id": dataset})

    findings = {(finding["problem"], finding["layer"]): finding for finding in job["result"]["findings"]}
    assert (problem, layer) in findings, sorted(findings)
    finding = findings[(problem, layer)]
    assert finding["checkpoint"] in entry["epochs"]
    assert finding["remedies"]
    assert layer in finding["message"]
    assert job["checkpoints_id"] == client.get(f"/checkpoints/{network}").json["id"]
    assert job["model_id"] is None


def test_diagnosis_of_healthy_network_equals_library(client, checkpoints_dir, checkpoint_networks):
    entry = checkpoint_networks["healthy"]
    dataset = _register(client, checkpoints_dir, entry)

    job = _diagnose(client, "healthy", {"dataset_id": dataset, "parameters": {"n_bins": 12}})

    result = job["result"]
    assert result["findings"] == []
    assert job["progress"] == 1.0
    assert job["chunks_total"] == 1
    expected = _direct_health(checkpoints_dir, entry, n_bins=12)
    assert _without_run_fields(result) == _without_run_fields(expected)
    histogram = result["weights"]["layer1.weight"]
    assert len(histogram["histogram_edges"]) == 13
    assert len(histogram["histogram_counts"]) == len(entry["epochs"])
    assert all(sum(counts) == 16 * 30 for counts in histogram["histogram_counts"])
    assert set(result["activations"]) >= {"relu1", "relu2"}
    assert len(result["gradients"]["layer1.weight"]["norm"]) == len(entry["epochs"])
    assert len(result["loss"]) == len(entry["epochs"])


def test_diagnosis_without_dataset_describes_weights(client, checkpoints_dir, checkpoint_networks):
    _register(client, checkpoints_dir, checkpoint_networks["exploding"], with_dataset=False)

    job = _diagnose(client, "exploding")

    result = job["result"]
    assert job["dataset_id"] is None
    assert result["n_rows"] == 0
    assert result["activations"] == {}
    assert result["loss"] is None
    assert {finding["problem"] for finding in result["findings"]} == {"exploding-weights"}


def test_diagnosis_job_listed_and_streamed(client, checkpoints_dir, checkpoint_networks):
    dataset = _register(client, checkpoints_dir, checkpoint_networks["dead_relu"])
    created = client.post("/checkpoints/dead_relu/diagnoses", json={"dataset_id": dataset})

    assert created.status_code == 202
    assert created.headers["Location"].endswith(f"/explanations/{created.json['id']}")
    events = client.get(f"/explanations/{created.json['id']}/events").get_data(as_text=True)
    blocks = [block for block in events.split("\n\n") if block.strip()]
    assert blocks[-1].startswith("event: end")
    assert json.loads(blocks[-1].split("data: ", 1)[1])["status"] == "succeeded"
    listed = client.get("/checkpoints/dead_relu/diagnoses").json["jobs"]
    assert [job["id"] for job in listed] == [created.json["id"]]
    job = client.get(f"/explanations/{created.json['id']}").json
    assert job["method"] == "training-health"
    assert job["stage"] == "succeeded"
    assert job["result"]["findings"][0]["problem"] == "dead-relu-units"


def test_cancel_queued_diagnosis(tmp_path, checkpoints_dir, checkpoint_networks):
    from api import create_app

    # No worker thread runs: the job stays queued until cancelled.
    app = create_app({"data_dir": tmp_path / "service", "job_workers": 1})
    client = app.test_client()
    try:
        _register(client, checkpoints_dir, checkpoint_networks["healthy"], with_dataset=False)
        app.extensions["explainer.jobs"].submit = lambda job_id: None
        job = client.post("/checkpoints/healthy/diagnoses", json={}).json

        cancelled = client.delete(f"/explanations/{job['id']}")

        assert cancelled.status_code == 202
        assert client.get(f"/explanations/{job['id']}").json["status"] == "cancelled"
    finally:
        app.extensions["explainer.jobs"].shutdown()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"dataset_id": "missing"}, 404, "dataset 'missing' does not exist"),
        ({"parameters": {"n_bins": 0}}, 400, "n_bins"),
        ({"parameters": {"bins": 10}}, 400, "bins"),
        ({"dataset_id": "adult"}, 422, "the data lacks 30 column(s) that the model needs"),
    ],
    ids=["unknown-dataset", "zero-bins", "unknown-parameter", "dataset-without-features"],
)
def test_bad_diagnosis_request(client, checkpoints_dir, checkpoint_networks, body, status, fragment):
    _register(client, checkpoints_dir, checkpoint_networks["healthy"], with_dataset=False)
    upload_dataset(client, (DATASETS / "adult.csv").read_bytes(), name="adult", target="income")

    problem = problem_of(client.post("/checkpoints/healthy/diagnoses", json=body))

    assert problem["status"] == status
    assert fragment in problem["detail"]


def test_diagnosis_of_unknown_series_is_404(client):
    problem = problem_of(client.post("/checkpoints/nothing/diagnoses", json={}))

    assert problem["status"] == 404
    assert "GET /checkpoints" in problem["detail"]


# Layer and neuron attribution jobs -------------------------------------------------


@pytest.fixture(scope="module")
def healthy_program(checkpoints_dir, checkpoint_networks) -> bytes:
    """The healthy network at its last checkpoint, exported with torch.export."""
    spec = importlib.util.spec_from_file_location("train_checkpoints", DATASETS / "train_checkpoints.py")
    training = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(training)
    entry = checkpoint_networks["healthy"]
    frame = pd.read_csv(entry["dataset_file"])
    inputs = torch.tensor(frame.drop(columns=entry["target"]).to_numpy(dtype="float32"))
    module = training._classifier(inputs, [16, 8], torch.nn.ReLU)
    module.load_state_dict(safetensors.torch.load_file(checkpoints_dir / "healthy" / entry["weights"][-1]))
    program = torch.export.export(module.eval(), (inputs[:4],), dynamic_shapes=({0: torch.export.Dim("batch")},))
    buffer = io.BytesIO()
    torch.export.save(program, buffer, extra_files={"explainer.json": json.dumps(entry["metadata"])})
    return buffer.getvalue()


@pytest.fixture
def healthy_ids(client, healthy_program, checkpoint_networks):
    model = upload_model(client, healthy_program, name="healthy-pt2")
    assert model.status_code == 201, model.json
    assert {"layer-attributions", "neuron-attributions"} <= set(model.json["methods"])
    entry = checkpoint_networks["healthy"]
    dataset = upload_dataset(client, open(entry["dataset_file"], "rb").read(), name="breast", target="target")
    return model.json["id"], dataset.json["id"]


def _run_job(client, model_id, dataset_id, method, parameters) -> dict:
    response = client.post("/explanations?wait=60", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": method, "parameters": parameters})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "succeeded", response.json
    return response.json["result"]


ROWS = [3, 10, 57, 200, 411, 568]


@pytest.mark.parametrize(("method", "parameters"), [
    ("layer-attributions", {"layer": ["layer1", "relu2"], "baseline": "mean", "n_steps": 64, "target": "benign"}),
    ("layer-attributions", {"layer": "relu1", "layer_method": "conductance", "baseline": "median", "n_steps": 40}),
    ("layer-attributions", {"layer": "layer2", "layer_method": "activations"}),
    ("neuron-attributions", {"layer": "layer2", "neuron": 3, "baseline": "mean", "n_steps": 64}),
    ("neuron-attributions", {"layer": "relu2", "neuron": [5], "neuron_method": "conductance", "target": 1,
                             "n_steps": 40}),
], ids=["layer-ig", "layer-conductance", "layer-activations", "neuron-ig", "neuron-conductance"])
def test_layer_job_equals_library(client, healthy_ids, healthy_program, breast_cancer_frame, method, parameters):
    model_id, dataset_id = healthy_ids

    served = _run_job(client, model_id, dataset_id, method, {"row_indices": ROWS, **parameters})

    function, algorithm = {"layer-attributions": (layer_attributions, "layer_method"),
                           "neuron-attributions": (neuron_attributions, "neuron_method")}[method]
    options = {name: value for name, value in parameters.items() if name != algorithm}
    direct = function(
        load_model(healthy_program), breast_cancer_frame.iloc[ROWS].reset_index(drop=True),
        method=parameters.get(algorithm, "integrated-gradients"), reference=breast_cancer_frame,
        row_indices=ROWS, dataset_digest=sha256_digest((DATASETS / "breast_cancer.csv").read_bytes()), **options,
    )
    assert _without_run_fields(served) == _without_run_fields(json.loads(json.dumps(direct.to_dict())))
    assert served["row_indices"] == ROWS


def test_layer_attributions_through_embedding(client, checkpoints_dir, checkpoint_networks, categorical_model,
                                              categorical_frame):
    entry = checkpoint_networks["categorical"]
    model = upload_model(client, (checkpoints_dir / "categorical" / entry["exported_architecture"]).read_bytes())
    dataset = upload_dataset(client, open(entry["dataset_file"], "rb").read(), target="y")

    served = _run_job(client, model.json["id"], dataset.json["id"], "layer-attributions",
                      {"row_indices": [0, 1, 2, 3], "layer": "body.relu", "n_steps": 100})

    direct = layer_attributions(categorical_model, categorical_frame.iloc[:4], layer="body.relu", n_steps=100,
                                reference=categorical_frame)
    assert served["layers"]["body.relu"]["attributions"] == json.loads(
        json.dumps(direct.to_dict()))["layers"]["body.relu"]["attributions"]
    assert served["layers"]["body.relu"]["max_abs_convergence_delta"] < 1e-4


@pytest.mark.parametrize(
    ("parameters", "status", "fragment", "field"),
    [
        ({"layer": "hidden"}, 400, "layer must be the qualified name of one of the module's layers", "available_layers"),
        ({"layer": ["relu1", "relu1"]}, 400, "layer lists a name more than once", None),
        ({"layer": "relu1", "layer_method": "gradcam"}, 400, "layer_method", None),
        ({"layer_method": "conductance"}, 400, "layer", None),
    ],
    ids=["unknown-layer", "repeated-layer", "unknown-layer-method", "no-layer"],
)
def test_bad_layer_request_is_4xx(client, healthy_ids, parameters, status, fragment, field):
    model_id, dataset_id = healthy_ids

    problem = problem_of(client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": "layer-attributions", "parameters": parameters}))

    assert problem["status"] == status
    assert fragment in problem["detail"]
    if field:
        assert "layer1" in problem[field]


def test_neuron_request_on_categorical_model_is_422(client, checkpoints_dir, checkpoint_networks):
    entry = checkpoint_networks["categorical"]
    model = upload_model(client, (checkpoints_dir / "categorical" / entry["exported_architecture"]).read_bytes())
    dataset = upload_dataset(client, open(entry["dataset_file"], "rb").read(), target="y")

    problem = problem_of(client.post("/explanations", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "neuron-attributions",
        "parameters": {"layer": "body.relu", "neuron": 0}}))

    assert problem["status"] == 422
    assert "categorical inputs ['color'] are indices" in problem["detail"]


def test_layer_request_on_scripted_forward_names_fix(client, mlp_bytes, breast_cancer_frame):
    model = upload_model(client, mlp_bytes)
    dataset = upload_dataset(client, (DATASETS / "breast_cancer.csv").read_bytes(), target="target")

    assert "layer-attributions" not in model.json["methods"]
    problem = problem_of(client.post("/explanations", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "layer-attributions",
        "parameters": {"layer": "hidden"}}))

    assert problem["status"] == 422
    assert "accepts no forward hooks" in problem["detail"]
    assert "torch.export" in problem["detail"]


def test_layer_request_on_tree_model_is_422(client, adult_model_bytes):
    model = upload_model(client, adult_model_bytes)
    dataset = upload_dataset(client, (DATASETS / "adult.csv").read_bytes(), target="income")

    problem = problem_of(client.post("/explanations", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "neuron-attributions",
        "parameters": {"layer": "hidden", "neuron": 0}}))

    assert problem["status"] == 422
    assert problem["applicable_methods"] == ["permutation", "shap", "what-if"]


@pytest.mark.parametrize(
    ("method", "parameters", "status", "fragments"),
    [
        ("neuron-attributions", {"layer": "layer2", "neuron": 12}, 400,
         ["layer 'layer2'", "unit shape [8]", "0 to 7", "got 12"]),
        ("neuron-attributions", {"layer": "layer1", "neuron": [1, 2]}, 400, ["unit shape [16]", "0 to 15"]),
        ("integrated-gradients", {"target": "healthy"}, 400, ["classes: ['malignant', 'benign']"]),
        ("layer-attributions", {"layer": "relu1", "target": 2}, 400, ["an index from 0 to 1, got 2"]),
        ("integrated-gradients", {"row_indices": [0, 569]}, 422, ["row_indices [569] are out of range", "0 to 568"]),
        ("neuron-attributions", {"layer": "layer1", "neuron": 0, "row_indices": [10_000]}, 422,
         ["row_indices [10000] are out of range"]),
        ("integrated-gradients", {"baseline": "sample", "noise_tunnel": {"n_samples": 2}}, 400,
         ["noise_tunnel applies to one baseline"]),
        ("integrated-gradients", {"baseline": [0.0, 1.0]}, 400, ["a baseline row needs 30 finite numbers, got 2"]),
    ],
    ids=["neuron-out-of-range", "neuron-wrong-dimension", "unknown-target", "target-index", "row-out-of-range",
         "neuron-row-out-of-range", "noise-with-sampled-baselines", "short-baseline-row"],
)
def test_bad_network_request_rejected_at_submission(client, healthy_ids, method, parameters, status, fragments):
    model_id, dataset_id = healthy_ids

    problem = problem_of(client.post("/explanations", json={
        "model_id": model_id, "dataset_id": dataset_id, "method": method, "parameters": parameters}))

    assert problem["status"] == status
    for fragment in fragments:
        assert fragment in problem["detail"]
    assert client.get("/explanations").json["jobs"] == [], "no job is queued"


def test_noise_tunnel_on_categorical_model_rejected(client, checkpoints_dir, checkpoint_networks):
    entry = checkpoint_networks["categorical"]
    model = upload_model(client, (checkpoints_dir / "categorical" / entry["exported_architecture"]).read_bytes())
    dataset = upload_dataset(client, open(entry["dataset_file"], "rb").read(), target="y")

    problem = problem_of(client.post("/explanations", json={
        "model_id": model.json["id"], "dataset_id": dataset.json["id"], "method": "integrated-gradients",
        "parameters": {"noise_tunnel": {"stdev": 0.1}}}))

    assert problem["status"] == 400
    assert "not available for models with categorical inputs ['color']" in problem["detail"]
    assert client.get("/explanations").json["jobs"] == []


def test_model_resource_lists_layers(client, healthy_ids, healthy_program, mlp_bytes, adult_model_bytes):
    model_id, _ = healthy_ids

    described = client.get(f"/models/{model_id}").json
    scripted = upload_model(client, mlp_bytes)
    tree = upload_model(client, adult_model_bytes)

    assert described["layers"] == load_model(healthy_program).describe_layers()
    assert {"name": "layer2", "type": "Linear", "unit_shape": [8]} in described["layers"]
    assert scripted.json["layers"] == [], "a TorchScript forward hides its layers"
    assert client.get(f"/models/{scripted.json['id']}").json == scripted.json
    assert tree.json["layers"] is None
    assert "layers" not in client.get("/models").json["models"][0]


def test_layer_listed_by_model_accepted(client, healthy_ids):
    model_id, dataset_id = healthy_ids
    layers = client.get(f"/models/{model_id}").json["layers"]
    last = layers[-1]

    result = _run_job(client, model_id, dataset_id, "neuron-attributions", {
        "layer": last["name"], "neuron": last["unit_shape"][0] - 1, "row_indices": [0, 1], "n_steps": 8})

    assert result["layer"] == last["name"]
    assert result["neuron"] == [last["unit_shape"][0] - 1]


def test_openapi_documents_network_requests(client):
    document = client.get("/openapi.json").json

    assert {"/checkpoints", "/checkpoints/{reference}", "/checkpoints/{reference}/diagnoses"} <= set(
        document["paths"])
    upload = document["paths"]["/checkpoints"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["required"] == ["architecture", "weights"]
    schemas = document["components"]["schemas"]
    assert {"LayerAttributionsParameters", "NeuronAttributionsParameters", "TrainingHealthParameters",
            "NoiseTunnel", "DiagnosisRequest"} <= set(schemas)
    assert "sample" in json.dumps(schemas["IntegratedGradientsParameters"]["properties"]["baseline"])


# A real server ---------------------------------------------------------------------


def test_live_server_diagnoses_uploaded_series(live_server_factory, checkpoints_dir, checkpoint_networks):
    server = live_server_factory()
    entry = checkpoint_networks["vanishing"]
    architecture, weights = _files(checkpoints_dir, entry)
    files = [("architecture", ("architecture.pt", architecture))]
    files += [("weights", (name, data)) for name, data in zip(entry["weights"], weights)]

    uploaded = requests.post(f"{server.url}/checkpoints", files=files,
                             data={"name": "vanishing", "epochs": json.dumps(entry["epochs"])}, timeout=TIMEOUT)
    dataset = requests.post(f"{server.url}/datasets", files={"file": ("data.csv", open(entry["dataset_file"], "rb"))},
                            data={"name": "breast", "target": entry["target"]}, timeout=TIMEOUT)
    created = requests.post(f"{server.url}/checkpoints/vanishing/diagnoses", json={"dataset_id": "breast"},
                            timeout=TIMEOUT)
    job = requests.get(f"{server.url}/explanations/{created.json()['id']}?wait=60", timeout=TIMEOUT).json()

    assert uploaded.status_code == 201, uploaded.text
    assert dataset.status_code == 201, dataset.text
    assert created.status_code == 202, created.text
    assert job["status"] == "succeeded", job
    assert _without_run_fields(job["result"]) == _without_run_fields(_direct_health(checkpoints_dir, entry))
    assert "vanishing-gradients" in {finding["problem"] for finding in job["result"]["findings"]}


DEMO_SERIES = ["demo-healthy", "demo-vanishing", "demo-exploding", "demo-dead-relu"]


def test_demo_series_registered_on_start(live_server_factory, demo_dir, checkpoint_networks):
    server = live_server_factory(demo_models=demo_dir)

    listed = requests.get(f"{server.url}/checkpoints", timeout=TIMEOUT).json()["checkpoints"]
    created = requests.post(f"{server.url}/checkpoints/demo-vanishing/diagnoses?wait=60", json={
        "dataset_id": "breast_cancer"}, timeout=TIMEOUT).json()

    assert [series["name"] for series in listed] == DEMO_SERIES
    by_name = {series["name"]: series for series in listed}
    assert by_name["demo-vanishing"]["epochs"] == checkpoint_networks["vanishing"]["epochs"]
    assert by_name["demo-vanishing"]["metadata"]["dataset"] == "breast_cancer"
    assert "dataset" not in by_name["demo-exploding"]["metadata"], "its synthetic dataset is not a demo dataset"
    assert created["status"] == "succeeded", created
    findings = created["result"]["findings"]
    assert "layer1.weight" in {finding["layer"] for finding in findings if finding["problem"] == "vanishing-gradients"}


def test_demo_series_registered_once(live_server_factory, demo_dir):
    first = live_server_factory(demo_models=demo_dir)
    ids = [series["id"] for series in requests.get(f"{first.url}/checkpoints", timeout=TIMEOUT).json()["checkpoints"]]
    first.stop()

    restarted = live_server_factory(demo_models=demo_dir)
    listed = requests.get(f"{restarted.url}/checkpoints", timeout=TIMEOUT).json()["checkpoints"]

    assert [series["id"] for series in listed] == ids
    assert [series["name"] for series in listed] == DEMO_SERIES


def test_demo_without_checkpoints_registers_models_only(tmp_path, demo_dir):
    from api import create_app

    models_only = tmp_path / "demo"
    models_only.mkdir()
    for path in demo_dir.iterdir():
        if path.is_file():
            (models_only / path.name).symlink_to(path)
    app = create_app({"data_dir": tmp_path / "service", "job_workers": 1, "demo_models": models_only})
    try:
        client = app.test_client()
        assert client.get("/checkpoints").json["checkpoints"] == []
        assert len(client.get("/models").json["models"]) == 3
    finally:
        app.extensions["explainer.jobs"].shutdown()
