"""Explain tabular models: permutation importance, SHAP, integrated gradients, what-if."""

from ._errors import (
    ConflictError,
    ExplainerError,
    InvalidParameterError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedFormatError,
    UnusableInputError,
)
from .data import Dataset, load_dataset
from .methods import permutation_importance
from .models import Model, load_model

__all__ = [
    "ConflictError",
    "Dataset",
    "ExplainerError",
    "InvalidParameterError",
    "Model",
    "NotFoundError",
    "PayloadTooLargeError",
    "UnsupportedFormatError",
    "UnusableInputError",
    "load_dataset",
    "load_model",
    "permutation_importance",
]
