"""Integrated gradients (captum) for differentiable PyTorch models."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import IntegratedGradientsResult
from ._common import ProgressCallback, check_choice, check_positive_int, check_rows, report

BASELINES = ("zeros", "mean", "median")
INTEGRATION_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def _baseline_vector(baseline, model: Model, reference: pd.DataFrame) -> np.ndarray:
    """Resolve the baseline to one float32 row of shape (n_features,)."""
    n_features = len(model.feature_names)
    if isinstance(baseline, str):
        check_choice("baseline", baseline, BASELINES)
        if baseline == "zeros":
            return np.zeros(n_features, dtype=np.float32)
        values = model.to_tensor(model.select_features(reference)).numpy()
        statistic = values.mean(axis=0) if baseline == "mean" else np.median(values, axis=0)
        return statistic.astype(np.float32)
    if isinstance(baseline, dict):
        unknown = sorted(set(baseline) - set(model.feature_names))
        missing = [name for name in model.feature_names if name not in baseline]
        if unknown or missing:
            raise InvalidParameterError(
                f"a baseline row must give a number for every feature; unknown: {unknown}, "
                f"missing: {missing}."
            )
        baseline = [baseline[name] for name in model.feature_names]
    try:
        vector = np.asarray(baseline, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"baseline must be one of {list(BASELINES)}, a row as a dict of feature to number, "
            f"or a list of {n_features} numbers; got {baseline!r}."
        ) from error
    if vector.shape != (n_features,) or not np.isfinite(vector).all():
        raise InvalidParameterError(
            f"a baseline row needs {n_features} finite numbers, got {vector.shape[0]}."
        )
    return vector


def _resolve_targets(target, model: Model, outputs: np.ndarray) -> np.ndarray:
    """Return the explained output index of each row, given outputs of shape (n_rows, n_outputs)."""
    n_rows = outputs.shape[0]
    if not model.is_classifier:
        if target not in (None, 0):
            raise InvalidParameterError(f"a regressor has one output; target must be omitted, got {target!r}.")
        return np.zeros(n_rows, dtype=np.int64)
    if target is None:
        return outputs.argmax(axis=1)
    if isinstance(target, str):
        if target not in model.class_names:
            raise InvalidParameterError(
                f"target {target!r} is not a class of the model; classes: {list(model.class_names)}."
            )
        return np.full(n_rows, model.class_names.index(target), dtype=np.int64)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) \
            or not 0 <= target < model.n_outputs:
        raise InvalidParameterError(
            f"target must be a class name {list(model.class_names)} or an index from 0 to "
            f"{model.n_outputs - 1}, got {target!r}."
        )
    return np.full(n_rows, int(target), dtype=np.int64)


def integrated_gradients(
    model: Model,
    X: pd.DataFrame,
    *,
    baseline="zeros",
    reference: pd.DataFrame | None = None,
    n_steps: int = 50,
    method: str = "gausslegendre",
    target=None,
    output_space: str = "raw",
    internal_batch_size: int | None = None,
    row_indices=None,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> IntegratedGradientsResult:
    """Attribute a PyTorch model's output to its inputs with integrated gradients.

    Parameters
    ----------
    model : Model
        A model with a differentiable ``torch_module``.
    X : pandas.DataFrame of shape (n_rows, n_columns)
    baseline : {"zeros", "mean", "median"}, dict or sequence of float
        The reference input; ``mean`` and ``median`` are taken over
        ``reference`` (default ``X``); a dict or sequence gives one row.
    n_steps : int, default=50
        Points on the path from the baseline to the input.
    method : str, default="gausslegendre"
        captum's integral approximation.
    target : int, str or None
        Class index or name to explain; default the predicted class of
        each row. Regressors have one output.
    output_space : {"raw", "probability"}
        ``raw`` explains the module's own output (logits for most
        classifiers), as captum does when given the module; ``probability``
        explains the class probability.
    internal_batch_size : int, optional
        Rows per forward pass, to bound memory when ``n_steps`` is large.

    Returns
    -------
    IntegratedGradientsResult
        ``attributions`` of shape (n_rows, n_features) and the convergence
        delta of each row.
    """
    started = time.perf_counter()
    if not model.supports_gradients:
        raise UnusableInputError(
            f"integrated gradients needs a differentiable PyTorch model, but this is a "
            f"{model.format} model without gradients. Methods that apply to it: "
            f"{list(model.applicable_methods())}.",
            details={"applicable_methods": list(model.applicable_methods())},
        )
    check_rows(X)
    n_steps = check_positive_int("n_steps", n_steps, minimum=2, maximum=10_000)
    check_choice("method", method, INTEGRATION_METHODS)
    check_choice("output_space", output_space, ("raw", "probability"))
    if output_space == "probability" and not model.is_classifier:
        raise InvalidParameterError("output_space 'probability' is for classifiers; use 'raw'.")
    if internal_batch_size is not None:
        internal_batch_size = check_positive_int("internal_batch_size", internal_batch_size)

    import torch
    from captum.attr import IntegratedGradients

    features = model.select_features(X).reset_index(drop=True)
    inputs = model.to_tensor(features)
    baseline_row = _baseline_vector(baseline, model, X if reference is None else reference)
    baselines = torch.from_numpy(np.tile(baseline_row, (len(features), 1)))

    def forward(batch):
        return model.forward_outputs(batch, space=output_space)

    with torch.no_grad():
        outputs = forward(inputs).to(torch.float64).numpy()
        baseline_outputs = forward(baselines[:1]).to(torch.float64).numpy()[0]
    targets = _resolve_targets(target, model, outputs)

    report(progress, 0.1, "integrating gradients")
    attributions, delta = IntegratedGradients(forward).attribute(
        inputs,
        baselines=baselines,
        target=torch.from_numpy(targets),
        n_steps=n_steps,
        method=method,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    report(progress, 1.0, "done")
    attributions = attributions.detach().to(torch.float64).numpy()
    delta = delta.detach().to(torch.float64).numpy()
    rows = np.arange(len(features))

    return IntegratedGradientsResult(
        method="integrated-gradients",
        parameters={
            "baseline": baseline if isinstance(baseline, str) else baseline_row.tolist(),
            "n_steps": n_steps,
            "method": method,
            "target": target,
            "output_space": output_space,
            "internal_batch_size": internal_batch_size,
        },
        output_space=output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature_names=model.feature_names,
        class_names=model.class_names,
        targets=[
            model.class_names[index] if model.is_classifier else None for index in targets
        ],
        attributions=attributions,
        baseline=baseline_row.astype(np.float64),
        outputs=outputs[rows, targets],
        baseline_outputs=baseline_outputs[targets],
        convergence_delta=delta,
        max_abs_convergence_delta=float(np.max(np.abs(delta))),
        mean_abs=np.abs(attributions).mean(axis=0),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
    )
