"""Explain a model file on a data file in one synchronous request."""

from __future__ import annotations

from flask import Blueprint, jsonify

import explainer
from explainer import InvalidParameterError, PayloadTooLargeError, load_dataset, load_model

from ..openapi import doc
from ..schemas import (
    IntegratedGradientsParameters,
    LayerAttributionsParameters,
    NeuronAttributionsParameters,
    PermutationParameters,
    Result,
    ShapParameters,
)
from ._helpers import form_json, form_text, uploaded_file, workspace

blueprint = Blueprint("oneshot", __name__)

PARAMETER_SCHEMAS = {
    "permutation": PermutationParameters,
    "shap": ShapParameters,
    "integrated-gradients": IntegratedGradientsParameters,
    "layer-attributions": LayerAttributionsParameters,
    "neuron-attributions": NeuronAttributionsParameters,
}


@blueprint.post("/explain")
@doc(
    summary="Explain a model file on a data file in one synchronous request; nothing is stored.",
    tag="explanations",
    multipart={
        "model": ("The serialized model.", True, True),
        "data": ("CSV or Parquet data.", True, True),
        "method": ("permutation (default), shap, integrated-gradients, layer-attributions or "
                   "neuron-attributions.", False, False),
        "target": ("Target column of the data (needed by permutation).", False, False),
        "parameters": ("JSON object of the method's parameters.", False, False),
        "metadata": ("JSON object of model metadata (feature_names, task, class_names).", False, False),
    },
    responses={200: Result},
    errors=(400, 413, 415, 422),
)
def explain_once():
    settings = workspace().settings
    method = form_text("method") or "permutation"
    if method not in PARAMETER_SCHEMAS:
        raise InvalidParameterError(f"method must be one of {list(PARAMETER_SCHEMAS)}, got {method!r}.")
    parameters = PARAMETER_SCHEMAS[method].model_validate(form_json("parameters") or {}).model_dump()
    model = load_model(uploaded_file("model"), metadata=form_json("metadata"),
                       allow_pickle=settings.allow_pickle, trusted_types=settings.skops_trusted_types)
    dataset = load_dataset(uploaded_file("data"), target=form_text("target"))
    if len(dataset) > settings.oneshot_max_rows:
        raise PayloadTooLargeError(
            f"the data has {len(dataset)} rows, over the one-shot limit of {settings.oneshot_max_rows}; "
            "register the model and dataset and start a job with POST /explanations instead.",
        )
    result = explainer.explain(model, dataset, method=method, parameters=parameters)
    return jsonify(result.to_dict())
