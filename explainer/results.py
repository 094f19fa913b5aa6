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
    "SurfaceResult",
    "SweepResult",
    "WhatIfBatchResult",
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
    ``sum(attributions) - (f(x) - f(baseline))``. ``notes`` say when the
    attributions are not expected to be complete (noise tunnels, sampled
    baselines).
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
    notes: tuple = ()


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
    ``average`` is their mean over rows (partial dependence);
    ``centered_predictions`` are the curves minus their first point
    (centered ICE), ``centered_average`` their mean. ``grid_dtype`` is the
    dtype the feature's column had in the predicted rows, and
    ``row_predictions`` are the rows predicted at their own ``row_values``.
    """

    feature: str
    feature_kind: str
    grid: list
    grid_dtype: str
    class_names: tuple | None
    predictions: np.ndarray
    average: np.ndarray
    centered_predictions: np.ndarray
    centered_average: np.ndarray
    row_values: list
    row_predictions: np.ndarray
    row_indices: list | None
    notes: tuple = ()


@dataclass(frozen=True, kw_only=True)
class SurfaceResult(_Result):
    """Predictions of rows as two features move over a grid of pairs.

    ``predictions`` is (n_rows, n_x, n_y) for regression and
    (n_rows, n_x, n_y, n_classes) for classification, x being the first of
    ``features``. ``average`` is their mean over rows (two-way partial
    dependence).
    """

    features: list
    feature_kinds: list
    grids: list
    grid_dtypes: list
    class_names: tuple | None
    predictions: np.ndarray
    average: np.ndarray
    row_indices: list | None


@dataclass(frozen=True, kw_only=True)
class WhatIfBatchResult(_Result):
    """Predictions of many changed copies of base rows, made in one batch.

    ``base_predictions`` is (n_rows, n_outputs). Each of ``variants`` contains
    its ``base`` position, ``changes``, full ``row``, ``prediction`` and
    ``change`` against its base (n_outputs,), and with ``explanation`` set,
    its SHAP ``values`` (n_features[, n_classes]) and ``base_values``.
    """

    feature_names: tuple
    class_names: tuple | None
    base_rows: list
    base_predictions: np.ndarray
    row_indices: list | None
    variants: list
    explanation: dict | None


@dataclass(frozen=True, kw_only=True)
class CounterfactualResult(_Result):
    """Rows near a base row whose prediction reaches a target, sorted by distance.

    ``target`` is ``{"class": name}`` or ``{"range": [low, high]}``. Each
    item of ``counterfactuals`` contains ``row`` (every feature), ``changes``
    (the changed features only), ``distance``, ``n_changed``, ``prediction``
    and ``reaches_target``. Predictions are (n_classes,) probabilities or a
    one-element array. ``message`` says what to relax when fewer than the
    requested number were found, and is None otherwise.
    """

    feature_names: tuple
    class_names: tuple | None
    target: dict
    original_row: dict
    original_prediction: np.ndarray
    counterfactuals: list
    n_found: int
    evaluations: int
    message: str | None


@dataclass(frozen=True, kw_only=True)
class OptimizationResult(_Result):
    """The best row found for an objective, starting from a base row.

    ``objective_value`` is the optimized probability or regression output
    of ``row``, and ``start_value`` that of ``original_row``. Predictions
    are (n_classes,) probabilities or a one-element array.
    """

    feature_names: tuple
    class_names: tuple | None
    original_row: dict
    original_prediction: np.ndarray
    row: dict
    changes: dict
    prediction: np.ndarray
    start_value: float
    objective_value: float
    evaluations: int


__all__ += ["CounterfactualResult", "OptimizationResult"]


@dataclass(frozen=True, kw_only=True)
class LayerAttributionResult(_Result):
    """Attributions to the units of one or more layers inside a PyTorch network.

    ``layers`` maps each layer's qualified name to a dict with
    ``unit_shape`` (the layer's output shape without the batch dimension),
    ``attributions`` of shape (n_rows, *unit_shape), ``mean_abs`` of shape
    unit_shape (mean |attribution| over rows), ``totals`` (n_rows,) the sum
    over units, and for integrated gradients and conductance
    ``convergence_delta`` (n_rows,), ``totals - (outputs - baseline_outputs)``,
    with ``max_abs_convergence_delta``. For ``activations`` the attributions
    are the layer's outputs, and the outputs and deltas are None.
    """

    layer_method: str
    feature_names: tuple
    class_names: tuple | None
    targets: list | None
    layers: dict
    baseline: np.ndarray | None
    outputs: np.ndarray | None
    baseline_outputs: np.ndarray | None
    row_indices: list | None


@dataclass(frozen=True, kw_only=True)
class NeuronAttributionResult(_Result):
    """Attributions of one unit of a layer to the input features.

    ``attributions`` is (n_rows, n_features) and ``mean_abs`` (n_features,).
    For integrated gradients ``convergence_delta`` (n_rows,) is
    ``sum(attributions) - (neuron_values - baseline_neuron_value)``; for
    conductance, which attributes the explained output through the unit,
    ``targets`` names the output and the delta is None.
    """

    neuron_method: str
    layer: str
    neuron: list
    feature_names: tuple
    class_names: tuple | None
    targets: list | None
    attributions: np.ndarray
    mean_abs: np.ndarray
    baseline: np.ndarray
    neuron_values: np.ndarray
    baseline_neuron_value: float
    convergence_delta: np.ndarray | None
    max_abs_convergence_delta: float | None
    row_indices: list | None


@dataclass(frozen=True, kw_only=True)
class TrainingHealthResult(_Result):
    """Weight, activation and gradient statistics of a network across checkpoints.

    Every per-checkpoint array has one entry per item of ``epochs``.
    ``weights`` maps each parameter tensor to its ``layer``, ``kind``,
    ``shape``, and per checkpoint ``mean``, ``std`` (population), ``min``,
    ``max`` (over finite values), ``percentiles`` (n_checkpoints,
    len(percentiles)), ``l2_norm``, ``near_zero_fraction``, ``nan_count``,
    ``inf_count``, ``histogram_counts`` (n_checkpoints, n_bins) over the shared
    ``histogram_edges`` (n_bins + 1,), and ``update_ratio``,
    ``||W_t - W_{t-1}|| / ||W_{t-1}||`` (None at the first checkpoint).
    ``activations`` maps each leaf layer to its ``kind`` and per checkpoint
    ``mean``, ``std``, ``zero_fraction``, ``dead_fraction`` (ReLU layers) and
    ``saturated_fraction`` (sigmoid and tanh layers). ``gradients`` maps each
    parameter tensor to the ``norm`` of the loss gradient per checkpoint, and
    ``loss`` is the loss per checkpoint. Each finding is a dict with
    ``problem``, ``layer``, ``checkpoint`` (where its figure is worst),
    ``checkpoints`` (every checkpoint past the threshold), ``measured``,
    ``threshold``, ``message`` and ``remedies``.
    """

    epochs: list
    checkpoint_digests: list
    percentiles: list
    n_rows: int
    weights: dict
    activations: dict
    gradients: dict
    loss: np.ndarray | None
    thresholds: dict
    findings: list
    notes: tuple = ()


__all__ += ["LayerAttributionResult", "NeuronAttributionResult", "TrainingHealthResult"]
