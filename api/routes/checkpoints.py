"""Checkpoint series: upload, list, get, delete, and diagnose as a training-health job."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from explainer import InvalidParameterError

from ..openapi import doc
from ..schemas import CheckpointSeriesList, CheckpointSeriesResource, DiagnosisRequest, JobList, JobResource
from ._helpers import created, form_json, form_text, json_body, query_seconds, uploaded_file, workspace
from .explanations import _WAIT_QUERY, submitted

blueprint = Blueprint("checkpoints", __name__, url_prefix="/checkpoints")


def _weights_files() -> list[bytes]:
    files = request.files.getlist("weights")
    if not files:
        raise InvalidParameterError(
            "the multipart form has no file field 'weights'; send one safetensors file per checkpoint, "
            "in training order: -F weights=@epoch-000.safetensors -F weights=@epoch-001.safetensors."
        )
    return [upload.read() for upload in files]


def _epoch_labels() -> list | None:
    labels = form_json("epochs", kind=list)
    if labels is not None and not all(
        isinstance(label, (str, int)) and not isinstance(label, bool) for label in labels
    ):
        raise InvalidParameterError(
            f"form field 'epochs' must be a JSON list of labels (strings or integers), one per weights "
            f"file, got {labels!r:.200}."
        )
    return labels


@blueprint.post("")
@doc(
    summary="Upload a network's architecture and its weights at each checkpoint of training.",
    tag="checkpoints",
    multipart={
        "architecture": ("TorchScript (torch.jit.save) or torch.export program (.pt2) of the network. "
                         "Layer statistics need hooks: a .pt2 program, or a scripted nn.Sequential.",
                         True, True),
        "weights": ("One safetensors file per checkpoint (safetensors.torch.save_file(model.state_dict(), "
                    "path)); repeat the field, in training order.", True, True),
        "epochs": ("JSON list of checkpoint labels, one per weights file; default 0, 1, 2...", False, False),
        "name": ("Unique name to refer to the series by, instead of its id.", False, False),
        "metadata": ("JSON object: feature_names, task, class_names, output, as for model uploads.",
                     False, False),
    },
    responses={201: CheckpointSeriesResource},
    errors=(400, 409, 413, 415, 422),
)
def upload_checkpoints():
    architecture = uploaded_file("architecture")
    weights = _weights_files()
    record = workspace().add_checkpoints(
        architecture, weights, epochs=_epoch_labels(), name=form_text("name"), metadata=form_json("metadata"),
    )
    return created(record, "checkpoints.get_checkpoints")


@blueprint.get("")
@doc(summary="List the checkpoint series.", tag="checkpoints", responses={200: CheckpointSeriesList}, errors=())
def list_checkpoints():
    return jsonify(checkpoints=workspace().list_checkpoints())


@blueprint.get("/<reference>")
@doc(summary="Describe a checkpoint series: epochs, the digest of each file, tensor names and shapes.",
     tag="checkpoints", responses={200: CheckpointSeriesResource}, errors=(404,))
def get_checkpoints(reference: str):
    return jsonify(workspace().get_checkpoints(reference))


@blueprint.delete("/<reference>")
@doc(summary="Delete a checkpoint series and its files.", tag="checkpoints", responses={204: None},
     errors=(404,))
def delete_checkpoints(reference: str):
    workspace().delete_checkpoints(reference)
    return "", 204


@blueprint.post("/<reference>/diagnoses")
@doc(summary="Start a training-health job on the series: weight statistics and histograms per tensor and "
             "checkpoint, activation statistics and gradient norms on the dataset, and findings. Follow it "
             "at /explanations/{id}.",
     tag="checkpoints", request=DiagnosisRequest, query=_WAIT_QUERY,
     responses={202: JobResource, 200: JobResource}, errors=(400, 404, 422, 503))
def create_diagnosis(reference: str):
    body = DiagnosisRequest.model_validate(json_body())
    wait = query_seconds("wait", maximum=workspace().settings.max_wait_seconds)
    job = workspace().create_diagnosis_job(reference, body.dataset_id, body.parameters.model_dump())
    return submitted(job, wait)


@blueprint.get("/<reference>/diagnoses")
@doc(summary="List the training-health jobs of the series, newest first.", tag="checkpoints",
     responses={200: JobList}, errors=(404,))
def list_diagnoses(reference: str):
    series = workspace().get_checkpoints(reference)
    return jsonify(jobs=workspace().list_jobs(checkpoints_id=series["id"]))
