"""What-if queries: synchronous, on cached models."""

from __future__ import annotations

import pandas as pd
from flask import Blueprint, jsonify

from explainer import InvalidParameterError
from explainer.methods import sweep, sweep_2d, what_if, what_if_batch

from ..openapi import doc
from ..schemas import Result, SurfaceRequest, SweepRequest, WhatIfBatchRequest, WhatIfRequest
from ._helpers import frame_from_records, json_body, workspace

blueprint = Blueprint("whatif", __name__, url_prefix="/what-if")


def _base_rows(body, *, allow_many: bool = False):
    """Resolve (model record, model, base rows, dataset or None, row indices)."""
    record, model = workspace().load_model(body.model_id)
    dataset = None
    if body.dataset_id is not None:
        _, dataset = workspace().load_dataset(body.dataset_id)
    sources = ("row_index", "row") + (("row_indices", "rows") if allow_many else ())
    given = [name for name in sources if getattr(body, name, None) is not None]
    if len(given) != 1:
        raise InvalidParameterError(
            f"give exactly one base row source: row_index (with dataset_id), row (a JSON object of "
            f"feature values){', row_indices or rows' if allow_many else ''}; got {given or 'none'}."
        )
    like = None if dataset is None else dataset.frame
    if body.row is not None:
        return record, model, frame_from_records([body.row], like=like), dataset, None
    if getattr(body, "rows", None) is not None:
        return record, model, frame_from_records(body.rows, like=like), dataset, None
    if dataset is None:
        raise InvalidParameterError(f"{given[0]} needs dataset_id to say which dataset the rows come from.")
    if body.row_index is not None:
        return record, model, dataset.row(body.row_index), dataset, [body.row_index]
    indices = body.row_indices
    rows = [dataset.row(index) for index in indices]
    return record, model, pd.concat(rows, ignore_index=True), dataset, list(indices)


@blueprint.post("")
@doc(summary="Predict a row with changed values, with the changed row's SHAP explanation.",
     tag="what-if", request=WhatIfRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def what_if_query():
    body = WhatIfRequest.model_validate(json_body())
    record, model, row, dataset, _ = _base_rows(body)
    result = what_if(
        model, row, body.changes,
        explain=body.explain,
        background=None if dataset is None else dataset.frame,
        background_size=body.background_size,
        output_space=body.output_space,
        random_state=body.random_state,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    result["row_index"] = body.row_index
    return jsonify(result)


@blueprint.post("/sweep")
@doc(summary="Predict rows as one feature moves over a grid (ICE curves and partial dependence).",
     tag="what-if", request=SweepRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def sweep_query():
    body = SweepRequest.model_validate(json_body())
    record, model, rows, dataset, indices = _base_rows(body, allow_many=True)
    result = sweep(
        model, rows, body.feature,
        grid=body.grid,
        n_points=body.n_points,
        include_missing=body.include_missing,
        reference=None if dataset is None else dataset.frame,
        row_indices=indices,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    return jsonify(result)


@blueprint.post("/sweep-2d")
@doc(summary="Predict rows as two features move over a grid of pairs (a two-way surface).",
     tag="what-if", request=SurfaceRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def surface_query():
    body = SurfaceRequest.model_validate(json_body())
    record, model, rows, dataset, indices = _base_rows(body, allow_many=True)
    result = sweep_2d(
        model, rows, body.features,
        grids=body.grids,
        n_points=body.n_points,
        include_missing=body.include_missing,
        reference=None if dataset is None else dataset.frame,
        row_indices=indices,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    return jsonify(result)


@blueprint.post("/batch")
@doc(summary="Predict many changed copies of base rows in one batch, each with its change.",
     tag="what-if", request=WhatIfBatchRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def batch_query():
    body = WhatIfBatchRequest.model_validate(json_body())
    record, model, rows, dataset, indices = _base_rows(body, allow_many=True)
    result = what_if_batch(
        model, rows, [variant.model_dump() for variant in body.variants],
        explain=body.explain,
        background=None if dataset is None else dataset.frame,
        background_size=body.background_size,
        output_space=body.output_space,
        random_state=body.random_state,
        row_indices=indices,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    return jsonify(result)
