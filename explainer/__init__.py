"""Explain tabular models: permutation importance, SHAP, integrated gradients, what-if."""

from ._errors import (
    ConflictError,
    ExplainerError,
    ForbiddenError,
    InvalidParameterError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedFormatError,
    UnusableInputError,
    UpstreamError,
    UpstreamTimeoutError,
)
from ._explain import METHODS, explain
from .checkpoints import CheckpointSeries, load_checkpoints
from .data import Dataset, load_dataset
from .methods import (
    counterfactuals,
    integrated_gradients,
    layer_attributions,
    neuron_attributions,
    optimize_inputs,
    permutation_importance,
    shap_values,
    sweep,
    sweep_2d,
    training_health,
    what_if,
    what_if_batch,
)
from .models import Model, RemoteModel, RemoteModelSpec, check_allowed_url, load_model

__all__ = [
    "ConflictError",
    "Dataset",
    "ExplainerError",
    "ForbiddenError",
    "METHODS",
    "InvalidParameterError",
    "Model",
    "NotFoundError",
    "PayloadTooLargeError",
    "RemoteModel",
    "RemoteModelSpec",
    "UnsupportedFormatError",
    "UnusableInputError",
    "UpstreamError",
    "UpstreamTimeoutError",
    "check_allowed_url",
    "load_dataset",
    "load_model",
    "explain",
    "counterfactuals",
    "integrated_gradients",
    "layer_attributions",
    "load_checkpoints",
    "neuron_attributions",
    "training_health",
    "CheckpointSeries",
    "optimize_inputs",
    "permutation_importance",
    "shap_values",
    "sweep",
    "sweep_2d",
    "what_if",
    "what_if_batch",
]
