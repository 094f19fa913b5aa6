"""Models: upload, list, get, delete, predict."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..openapi import doc
from ..schemas import ModelList, ModelResource, Predictions, PredictRequest, RemoteModelRequest
from ._helpers import created, form_json, form_text, frame_from_records, json_body, uploaded_file, workspace

blueprint = Blueprint("models", __name__, url_prefix="/models")


@blueprint.post("")
@doc(
    summary="Upload a model file (skops, XGBoost, LightGBM, CatBoost, ONNX, TorchScript, "
            "torch.export; pickle only where the operator allows it).",
    tag="models",
    multipart={
        "file": ("The serialized model; the format is detected from its content.", True, True),
        "name": ("Unique name to refer to the model by, instead of its id.", False, False),
        "metadata": ("JSON object: feature_names, task, class_names, output (logits or "
                     "probabilities) where the file does not record them.", False, False),
    },
    responses={201: ModelResource},
    errors=(400, 409, 413, 415, 422),
)
def upload_model():
    data = uploaded_file("file")
    record = workspace().add_model(data, name=form_text("name"), metadata=form_json("metadata"))
    return created(workspace().describe_model(record["id"]), "models.get_model")


@blueprint.post("/remote")
@doc(
    summary="Register a model served by a model server (Open Inference Protocol or MLflow). "
            "The server is not contacted: one that cannot be reached fails the first prediction "
            "or explanation with 502 or 504.",
    tag="models",
    request=RemoteModelRequest,
    responses={201: ModelResource},
    errors=(400, 403, 409),
)
def register_remote_model():
    body = RemoteModelRequest.model_validate(json_body())
    spec = body.model_dump(exclude={"name"}, exclude_none=True)
    record = workspace().add_remote_model(spec, name=body.name)
    return created(workspace().describe_model(record["id"]), "models.get_model")


@blueprint.get("")
@doc(summary="List the registered models.", tag="models", responses={200: ModelList}, errors=())
def list_models():
    return jsonify(models=workspace().list_models())


@blueprint.get("/<reference>")
@doc(summary="Describe a model: format, task, features, classes, and the layers of a PyTorch model.",
     tag="models", responses={200: ModelResource}, errors=(404,))
def get_model(reference: str):
    return jsonify(workspace().describe_model(reference))


@blueprint.delete("/<reference>")
@doc(summary="Delete a model and its file.", tag="models", responses={204: None}, errors=(404,))
def delete_model(reference: str):
    workspace().delete_model(reference)
    return "", 204


@blueprint.post("/<reference>/predict")
@doc(summary="Predict rows given as JSON objects of raw feature values.", tag="models",
     request=PredictRequest, responses={200: Predictions}, errors=(400, 404, 422, 502, 504))
def predict(reference: str):
    body = PredictRequest.model_validate(json_body())
    record, model = workspace().load_model(reference)
    predictions = model.predict(frame_from_records(body.rows))
    return jsonify(model_id=record["id"], output_space=model.output_space,
                   class_names=record["class_names"], predictions=predictions.tolist())
