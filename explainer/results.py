"""Result types returned by the explanation methods.

Every result is a frozen dataclass with ``to_dict()`` returning plain JSON
types: arrays become nested lists and NaN becomes None.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field, fields
from functools import lru_cache

import numpy as np

__all__ = [
    "IntegratedGradientsResult",
    "PermutationImportanceResult",
    "ShapResult",
    "SweepResult",
    "WhatIfResult",
    "library_versions",
    "to_jsonable",
]


@lru_cache(maxsize=1)
def library_versions() -> dict:
    """Versions of the libraries whose numbers a result depends on."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("model-explainer", "numpy", "pandas", "scikit-learn", "shap", "captum", "torch"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            continue
    return versions


def to_jsonable(value):
    """Convert numpy types, arrays and NaN to JSON-ready Python values."""
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    try:
        import pandas as pd

        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


@dataclass(frozen=True, kw_only=True)
class _Result:
    """Fields every result carries, so that a number can be traced to its inputs."""

    method: str
    parameters: dict
    output_space: str
    model_digest: str
    dataset_digest: str | None = None
    elapsed_seconds: float = 0.0
    versions: dict = field(default_factory=library_versions)

    def to_dict(self) -> dict:
        return {item.name: to_jsonable(getattr(self, item.name)) for item in fields(self)}


@dataclass(frozen=True, kw_only=True)
class PermutationImportanceResult(_Result):
    """Decrease of a score when a feature (or a group) is permuted.

    ``importances`` has shape (n_features, n_repeats); the mean and standard
    deviation are over repeats, as in ``sklearn.inspection.permutation_importance``.
    """

    feature_names: tuple
    feature_groups: dict
    scoring: str
    baseline_score: float
    importances: np.ndarray
    importances_mean: np.ndarray
    importances_std: np.ndarray
    n_rows: int


@dataclass(frozen=True, kw_only=True)
class ShapResult(_Result):
    """SHAP values on the raw input features.

    Shapes: ``values`` is (n_rows, n_features) for regression and
    (n_rows, n_features, n_classes) for classification, binary included;
    ``base_values`` and ``predictions`` are (n_rows,) or (n_rows, n_classes);
    ``mean_abs`` is (n_features,) or (n_features, n_classes). Additivity:
    ``base_values + values.sum(axis=1) == predictions`` within
    ``max_additivity_error``, all in ``output_space``.
    """

    explainer: str
    feature_names: tuple
    class_names: tuple | None
    values: np.ndarray
    base_values: np.ndarray
    predictions: np.ndarray
    mean_abs: np.ndarray
    data: list
    row_indices: list | None
    background_size: int | None
    background_method: str | None
    max_additivity_error: float
    notes: tuple = ()


@dataclass(frozen=True, kw_only=True)
class IntegratedGradientsResult(_Result):
    """Integrated-gradients attributions for a differentiable model.

    ``attributions`` is (n_rows, n_features); ``targets`` the explained output
    index per row; ``convergence_delta`` (n_rows,) is
    ``sum(attributions) - (f(x) - f(baseline))``.
    """

    feature_names: tuple
    class_names: tuple | None
    targets: list
    attributions: np.ndarray
    baseline: np.ndarray
    outputs: np.ndarray
    baseline_outputs: np.ndarray
    convergence_delta: np.ndarray
    max_abs_convergence_delta: float
    mean_abs: np.ndarray
    row_indices: list | None


@dataclass(frozen=True, kw_only=True)
class WhatIfResult(_Result):
    """Prediction of a row before and after changing some of its values."""

    feature_names: tuple
    class_names: tuple | None
    changes: dict
    original_row: dict
    changed_row: dict
    prediction_before: np.ndarray
    prediction_after: np.ndarray
    prediction_change: np.ndarray
    explanation: dict | None
    notes: tuple = ()


@dataclass(frozen=True, kw_only=True)
class SweepResult(_Result):
    """Predictions of rows as one feature moves over a grid.

    ``predictions`` is (n_rows, n_grid) for regression and
    (n_rows, n_grid, n_classes) for classification (ICE curves);
    ``average`` is their mean over rows (partial dependence).
    """

    feature: str
    grid: list
    class_names: tuple | None
    predictions: np.ndarray
    average: np.ndarray
    row_indices: list | None
