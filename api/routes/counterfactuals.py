"""Counterfactual search and input optimization: synchronous, on cached models."""

from __future__ import annotations

from flask import Blueprint, jsonify

from explainer.methods import counterfactuals, optimize_inputs

from ..openapi import doc
from ..schemas import CounterfactualRequest, OptimizationRequest, Result
from ._helpers import json_body
from .whatif import _base_rows

blueprint = Blueprint("counterfactuals", __name__, url_prefix="/what-if")


@blueprint.post("/counterfactuals")
@doc(summary="Find rows near a base row whose prediction reaches a target class or output range. "
             "Returns up to n_counterfactuals rows with their changes, distances and predictions, sorted "
             "by distance; when fewer are found within max_evaluations, a message says what to relax.",
     tag="what-if", request=CounterfactualRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def counterfactual_query():
    body = CounterfactualRequest.model_validate(json_body())
    record, model, row, dataset, _ = _base_rows(body)
    result = counterfactuals(
        model, row,
        target_class=body.target_class,
        target_range=body.target_range,
        min_probability=body.min_probability,
        frozen=body.frozen,
        bounds=body.bounds,
        allowed_categories=body.allowed_categories,
        steps=body.steps,
        n_counterfactuals=body.n_counterfactuals,
        max_evaluations=body.max_evaluations,
        reference=None if dataset is None else dataset.frame,
        random_state=body.random_state,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    result["row_index"] = body.row_index
    return jsonify(result)


@blueprint.post("/optimize")
@doc(summary="Search the inputs that maximize or minimize a class probability or a regression output, "
             "moving only the given features within bounds. Returns the best row found within "
             "max_evaluations, never worse than the base row.",
     tag="what-if", request=OptimizationRequest, responses={200: Result},
     errors=(400, 404, 422, 502, 504))
def optimization_query():
    body = OptimizationRequest.model_validate(json_body())
    record, model, row, dataset, _ = _base_rows(body)
    result = optimize_inputs(
        model, row,
        objective=body.objective,
        target_class=body.target_class,
        features=body.features,
        bounds=body.bounds,
        allowed_categories=body.allowed_categories,
        steps=body.steps,
        max_evaluations=body.max_evaluations,
        reference=None if dataset is None else dataset.frame,
        random_state=body.random_state,
        dataset_digest=None if dataset is None else dataset.digest,
    ).to_dict()
    result["model_id"] = record["id"]
    result["row_index"] = body.row_index
    return jsonify(result)
