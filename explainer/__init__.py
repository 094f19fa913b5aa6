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
from .data import Dataset, load_dataset
from .methods import integrated_gradients, permutation_importance, shap_values, sweep, what_if
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
    "integrated_gradients",
    "permutation_importance",
    "shap_values",
    "sweep",
    "what_if",
]
