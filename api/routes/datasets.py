"""Datasets: upload, list, get with schema, delete."""

from __future__ import annotations

from flask import Blueprint, jsonify

from ..openapi import doc
from ..schemas import DatasetList, DatasetResource
from ._helpers import created, form_text, uploaded_file, workspace

blueprint = Blueprint("datasets", __name__, url_prefix="/datasets")


@blueprint.post("")
@doc(
    summary="Upload a CSV or Parquet dataset; returns its schema.",
    tag="datasets",
    multipart={
        "file": ("CSV with a header line, or Parquet; empty CSV fields are missing values.", True, True),
        "name": ("Unique name to refer to the dataset by.", False, False),
        "target": ("Column with the true labels or values (needed by permutation importance).",
                   False, False),
    },
    responses={201: DatasetResource},
    errors=(400, 409, 413, 415, 422),
)
def upload_dataset():
    data = uploaded_file("file")
    record = workspace().add_dataset(data, name=form_text("name"), target=form_text("target"))
    return created(record, "datasets.get_dataset")


@blueprint.get("")
@doc(summary="List the registered datasets.", tag="datasets", responses={200: DatasetList}, errors=())
def list_datasets():
    return jsonify(datasets=workspace().list_datasets())


@blueprint.get("/<reference>")
@doc(summary="Describe a dataset, with the schema of every column.", tag="datasets",
     responses={200: DatasetResource}, errors=(404,))
def get_dataset(reference: str):
    return jsonify(workspace().get_dataset(reference, with_schema=True))


@blueprint.get("/<reference>/schema")
@doc(summary="The dataset's column schema: kinds, missing values, ranges, categories.",
     tag="datasets", errors=(404,))
def get_schema(reference: str):
    return jsonify(workspace().get_dataset(reference, with_schema=True)["schema"])


@blueprint.delete("/<reference>")
@doc(summary="Delete a dataset and its file.", tag="datasets", responses={204: None}, errors=(404,))
def delete_dataset(reference: str):
    workspace().delete_dataset(reference)
    return "", 204
