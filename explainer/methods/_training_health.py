"""Training health: weight, activation and gradient statistics across checkpoints, and findings."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError
from ..checkpoints import CheckpointSeries
from ..results import TrainingHealthResult
from ._common import (
    ProgressCallback,
    check_positive_int,
    check_rows,
    encode_labels,
    regression_target,
    report,
)

PERCENTILES = (1, 5, 25, 50, 75, 95, 99)

# A weight counts as near zero below this absolute value. Default
# initializations of layers up to a few thousand inputs draw weights of size
# 1e-2 and more (an estimate from 1 / sqrt(fan_in)), so a large share under
# 1e-3 suggests a switched-off or pruned layer.
NEAR_ZERO_EPSILON = 1e-3

# A sigmoid output within this distance of 0 or 1, or a tanh output within it
# of -1 or 1, is saturated: the local derivative is then below 0.01.
SATURATION_DISTANCE = 0.01

# Thresholds of the findings. Each is crossed when the measured figure is
# beyond it (strictly).
#: A ReLU layer whose fraction of dead units (zero on every row) exceeds this.
DEAD_UNIT_FRACTION = 0.5
#: A sigmoid or tanh layer whose fraction of saturated activations exceeds this.
SATURATED_FRACTION = 0.5
#: A weight matrix whose gradient norm is below this multiple of the last
#: weight matrix's: layer-by-layer shrinking by 1000 leaves the early layers
#: practically untrained.
VANISHING_GRADIENT_RATIO = 1e-3
#: A weight matrix whose gradient norm is above this multiple of the last
#: weight matrix's, or whose gradient is not finite.
EXPLODING_GRADIENT_RATIO = 1e3
#: A weight matrix whose L2 norm grew beyond this factor of its norm at the
#: first checkpoint. The weight matrices of the healthy network that
#: datasets/train_checkpoints.py trains grow by at most 2 times in 10 epochs.
WEIGHT_GROWTH_FACTOR = 10.0
#: A weight matrix whose L2 norm shrank below this fraction of its norm at
#: the first checkpoint.
WEIGHT_COLLAPSE_FACTOR = 0.1
#: A loss at the last checkpoint above this multiple of the loss at the first.
#: A series in training order ends lower than it starts: the healthy,
#: vanishing and dead_relu networks of datasets/train_checkpoints.py end at
#: 0.05 to 0.97 times their first loss. A rise usually means checkpoints out
#: of order or a learning rate too high.
RISING_LOSS_FACTOR = 1.5
#: A loss above this multiple of the loss at the first checkpoint, at any
#: checkpoint, or a loss that is not finite: training diverges. The exploding
#: demo network passes it at its fifth epoch (1e7 times its first loss).
DIVERGING_LOSS_FACTOR = 1e3
#: A weight matrix whose gradient norm rises above this multiple of its norm
#: at the first checkpoint, or is not finite. Gradients of healthy training
#: can grow too, for example when dead units come alive: the demo networks
#: grow theirs by at most 100 times, the exploding one by 7e17 times.
DIVERGING_GRADIENT_FACTOR = 1e4

RELU_TYPES = ("ReLU", "ReLU6")
SATURATING_TYPES = {"Sigmoid": (0.0, 1.0), "Tanh": (-1.0, 1.0)}

DEFAULT_N_BINS = 20
DEFAULT_MAX_ROWS = 2000

REMEDIES = {
    "vanishing-gradients": [
        "use ReLU-family activations instead of sigmoid or tanh in hidden layers",
        "initialize with He (kaiming) or Xavier (glorot) initialization for the activation",
        "add batch or layer normalization, or residual connections",
        "use fewer layers",
    ],
    "exploding-gradients": [
        "lower the learning rate",
        "clip gradients (torch.nn.utils.clip_grad_norm_)",
        "standardize the inputs and the regression target",
        "add normalization layers or use a smaller initialization",
    ],
    "diverging-gradients": [
        "lower the learning rate",
        "clip gradients (torch.nn.utils.clip_grad_norm_)",
        "standardize the inputs and the regression target",
        "resume from an earlier checkpoint whose gradients were finite",
    ],
    "rising-loss": [
        "check that the checkpoints are listed in training order (epochs as labels, earliest first)",
        "lower the learning rate, or decay it during training",
        "check that the dataset is the one the network was trained on, with the same target",
        "add regularization (weight decay, dropout) if the loss rises on held-out data only",
    ],
    "diverging-loss": [
        "lower the learning rate, or use a learning-rate warm-up",
        "clip gradients (torch.nn.utils.clip_grad_norm_)",
        "standardize the inputs and the regression target",
        "look for a log of zero or a division by zero in the loss",
    ],
    "exploding-weights": [
        "lower the learning rate, or use a learning-rate warm-up",
        "add weight decay",
        "clip gradients",
        "standardize the inputs and the regression target",
    ],
    "collapsing-weights": [
        "lower the weight decay",
        "raise the learning rate if the loss has stopped falling",
        "check that the layer's output reaches the loss",
    ],
    "dead-relu-units": [
        "lower the learning rate",
        "initialize biases at zero or a small positive value",
        "use LeakyReLU, ELU or GELU",
        "add batch normalization before the activation",
    ],
    "saturated-units": [
        "standardize the inputs",
        "use Xavier (glorot) initialization",
        "add normalization before the activation, or use ReLU-family activations",
    ],
    "non-finite-weights": [
        "resume from the last checkpoint with finite weights at a lower learning rate",
        "clip gradients",
        "look for a log of zero or a division by zero in the loss",
        "train in float32 rather than float16, or use loss scaling",
    ],
}


def training_health(
    series: CheckpointSeries,
    X: pd.DataFrame | None = None,
    y=None,
    *,
    n_bins: int = DEFAULT_N_BINS,
    near_zero_epsilon: float = NEAR_ZERO_EPSILON,
    max_rows: int = DEFAULT_MAX_ROWS,
    random_state=0,
    dataset_digest: str | None = None,
    progress: ProgressCallback | None = None,
) -> TrainingHealthResult:
    """Compute per-layer statistics of every checkpoint and report what looks broken.

    Parameters
    ----------
    series : CheckpointSeries
        From :func:`explainer.load_checkpoints`.
    X : pandas.DataFrame of shape (n_rows, n_columns), optional
        Raw input rows, encoded as ``series.model.predict`` encodes them.
        Without ``X`` only the weight statistics are computed.
    y : array-like of shape (n_rows,), optional
        The target: class names (matched by their string form) or integer
        class indices for classifiers, numbers for regressors. Needed for the
        loss and its gradients.
    n_bins : int, default=20
        Histogram bins per tensor. The edges span the tensor's finite
        minimum and maximum over all checkpoints, so that the histograms of
        one tensor can be compared across checkpoints.
    near_zero_epsilon : float, default=1e-3
        A weight with ``|w| < near_zero_epsilon`` counts as near zero.
    max_rows : int, default=2000
        At most this many rows of ``X``, sampled with ``random_state``.
    random_state : int, numpy.random.Generator or None
        Seed of the row sample.

    Returns
    -------
    TrainingHealthResult
        Statistics as arrays with one entry per checkpoint, and ``findings``.

    Notes
    -----
    Activation statistics come from forward hooks on the layers that are
    modules. Activations applied as functions (``torch.relu(x)`` inside a
    forward) have no module, so they are not seen. Layers inside the compiled
    forward of a TorchScript module other than ``nn.Sequential`` are not seen
    either, because TorchScript modules accept no hooks.
    """
    started = time.perf_counter()
    if not isinstance(series, CheckpointSeries):
        raise InvalidParameterError(
            f"series must be a CheckpointSeries from load_checkpoints, got {type(series).__name__}."
        )
    n_bins = check_positive_int("n_bins", n_bins, maximum=1000)
    max_rows = check_positive_int("max_rows", max_rows)
    if isinstance(near_zero_epsilon, bool) or not isinstance(near_zero_epsilon, (int, float)) \
            or not 0 < near_zero_epsilon < np.inf:
        raise InvalidParameterError(
            f"near_zero_epsilon must be a positive number, got {near_zero_epsilon!r}."
        )
    model = series.model
    inputs = targets = None
    if X is not None:
        check_rows(X)
        X, y = _sample_rows(X, y, max_rows, random_state)
        inputs = model.to_tensor(model.select_features(X))
        targets = None if y is None else _loss_targets(model, y)
    elif y is not None:
        raise InvalidParameterError("y needs X: give the rows whose target y is.")

    view = model.layer_view()
    weights = _weight_statistics(series, view, n_bins, near_zero_epsilon)
    report(progress, 0.3, "weight statistics")

    activations, gradients, losses, notes = {}, {}, [], []
    if X is not None:
        for position, state in enumerate(series.states):
            _load_state(view, state)
            captured = _run_with_hooks(model, view, inputs, targets)
            for name, statistics in _activation_statistics(view, captured["activations"]).items():
                activations.setdefault(name, []).append(statistics)
            for name, norm in captured["gradient_norms"].items():
                gradients.setdefault(name, []).append(norm)
            losses.append(captured["loss"])
            report(progress, 0.3 + 0.6 * (position + 1) / len(series), f"checkpoint {series.epochs[position]}")
        if not activations:
            notes.append(
                "no activation statistics: " + (view.unreachable or "the module has no layers.")
            )
        if targets is None:
            notes.append("no gradient statistics: give the target y to compute the loss.")
    activations = {name: _stack(entries) for name, entries in activations.items()}
    gradients = {name: {"norm": np.asarray(norms, dtype=np.float64)} for name, norms in gradients.items()}

    loss = None if targets is None else np.asarray(losses, dtype=np.float64)
    findings = find_problems(series.epochs, weights, activations, gradients, loss)
    report(progress, 1.0, "done")
    return TrainingHealthResult(
        method="training-health",
        parameters={"n_bins": n_bins, "near_zero_epsilon": near_zero_epsilon, "max_rows": max_rows,
                    "random_state": random_state if not isinstance(random_state, np.random.Generator)
                    else None},
        output_space="raw",
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        epochs=list(series.epochs),
        checkpoint_digests=list(series.digests),
        percentiles=list(PERCENTILES),
        n_rows=0 if X is None else len(X),
        weights=weights,
        activations=activations,
        gradients=gradients,
        loss=loss,
        thresholds=thresholds(near_zero_epsilon),
        findings=findings,
        notes=tuple(notes),
    )


def thresholds(near_zero_epsilon: float = NEAR_ZERO_EPSILON) -> dict:
    """Return the thresholds of the findings by name, as reported in every result."""
    return {
        "near_zero_epsilon": near_zero_epsilon,
        "saturation_distance": SATURATION_DISTANCE,
        "dead_unit_fraction": DEAD_UNIT_FRACTION,
        "saturated_fraction": SATURATED_FRACTION,
        "vanishing_gradient_ratio": VANISHING_GRADIENT_RATIO,
        "exploding_gradient_ratio": EXPLODING_GRADIENT_RATIO,
        "weight_growth_factor": WEIGHT_GROWTH_FACTOR,
        "weight_collapse_factor": WEIGHT_COLLAPSE_FACTOR,
        "rising_loss_factor": RISING_LOSS_FACTOR,
        "diverging_loss_factor": DIVERGING_LOSS_FACTOR,
        "diverging_gradient_factor": DIVERGING_GRADIENT_FACTOR,
    }


def _sample_rows(X, y, max_rows, random_state):
    if y is not None and len(y) != len(X):
        raise InvalidParameterError(f"y must have one value per row of X ({len(X)}), got {len(y)}.")
    if len(X) <= max_rows:
        return X, y
    rng = np.random.default_rng(random_state)
    positions = np.sort(rng.choice(len(X), size=max_rows, replace=False))
    return X.iloc[positions], None if y is None else pd.Series(y).iloc[positions]


def _loss_targets(model, y):
    """Return class indices (classifiers) or float targets (regressors) as a tensor."""
    import torch

    if not model.is_classifier:
        # A copy, because torch warns about tensors on read-only arrays.
        return torch.from_numpy(np.array(regression_target(y), dtype=np.float32))
    labels = pd.Series(y).reset_index(drop=True)
    names = set(model.class_names)
    if not set(labels.map(str)) <= names and pd.api.types.is_integer_dtype(labels) \
            and labels.between(0, len(names) - 1).all():
        # Class indices, as a training script's target column often holds.
        return torch.from_numpy(labels.to_numpy(dtype=np.int64, copy=True))
    return torch.from_numpy(encode_labels(labels, model.class_names))


# --- weights ------------------------------------------------------------------


def _tensor_kind(name: str) -> tuple[str, str]:
    """Split a qualified tensor name into its layer and its kind (weight, bias...)."""
    layer, _, kind = name.rpartition(".")
    return layer, kind


def _weight_statistics(series, view, n_bins: int, epsilon: float) -> dict:
    """Describe every parameter tensor at every checkpoint; arrays have one row per checkpoint."""
    import torch

    statistics = {}
    for name in view.parameters:
        values = [state[name].detach().to(torch.float64).reshape(-1).numpy() for state in series.states]
        finite = [value[np.isfinite(value)] for value in values]
        low, high = _histogram_range(finite)
        edges = np.linspace(low, high, n_bins + 1)
        norms = np.array([np.linalg.norm(value) for value in values])
        previous = norms[:-1]
        changes = np.array([np.linalg.norm(values[i] - values[i - 1]) for i in range(1, len(values))])
        with np.errstate(divide="ignore", invalid="ignore"):
            update_ratio = np.concatenate([[np.nan], changes / previous])
        layer, kind = _tensor_kind(name)
        statistics[name] = {
            "layer": layer,
            "kind": kind,
            "shape": list(series.states[0][name].shape),
            "mean": _each(finite, np.mean),
            "std": _each(finite, np.std),
            "min": _each(finite, np.min),
            "max": _each(finite, np.max),
            # (n_checkpoints, len(PERCENTILES)), linear interpolation as numpy's default
            "percentiles": np.array([
                np.percentile(value, PERCENTILES) if value.size else np.full(len(PERCENTILES), np.nan)
                for value in finite
            ]),
            "l2_norm": norms,
            "near_zero_fraction": np.array([np.mean(np.abs(value) < epsilon) for value in values]),
            "nan_count": np.array([int(np.isnan(value).sum()) for value in values]),
            "inf_count": np.array([int(np.isinf(value).sum()) for value in values]),
            "histogram_edges": edges,
            # (n_checkpoints, n_bins)
            "histogram_counts": np.array([np.histogram(value, bins=edges)[0] for value in finite]),
            "update_ratio": update_ratio,
        }
    return statistics


def _each(values, statistic) -> np.ndarray:
    return np.array([statistic(value) if value.size else np.nan for value in values], dtype=np.float64)


def _histogram_range(finite) -> tuple[float, float]:
    """Return the finite minimum and maximum over all checkpoints, widened if equal."""
    non_empty = [value for value in finite if value.size]
    if not non_empty:
        return -0.5, 0.5
    low = min(float(value.min()) for value in non_empty)
    high = max(float(value.max()) for value in non_empty)
    if low == high:
        return low - 0.5, high + 0.5
    return low, high


# --- activations and gradients ------------------------------------------------


def _load_state(view, state: dict) -> None:
    import torch

    known = {**view.parameters, **view.buffers}
    with torch.no_grad():
        for name, tensor in state.items():
            known[name].copy_(tensor.to(known[name].dtype))


def _leaf_layers(view) -> dict:
    """Return the hookable layers that contain no other hookable layer."""
    names = list(view.layers)
    return {
        name: layer for name, layer in view.layers.items()
        if not any(other.startswith(name + ".") for other in names)
    }


def _run_with_hooks(model, view, inputs, targets) -> dict:
    """Run one forward (and backward, given targets) pass, capturing each leaf layer's output."""
    import torch

    captured = {}
    handles = []
    for name, layer in _leaf_layers(view).items():
        def hook(module, args, output, name=name):
            if isinstance(output, torch.Tensor):
                captured[name] = output.detach().to(torch.float64).reshape(output.shape[0], -1).numpy()
        handles.append(layer.register_forward_hook(hook))
    parameters = view.parameters
    for parameter in parameters.values():
        parameter.requires_grad_(True)
        parameter.grad = None
    try:
        with torch.set_grad_enabled(targets is not None):
            outputs = model.forward_outputs(inputs, space="raw", module=view.module)
            loss = None if targets is None else _loss(model, outputs, targets)
            if loss is not None:
                loss.backward()
    finally:
        for handle in handles:
            handle.remove()
    norms = {}
    if loss is not None:
        for name, parameter in parameters.items():
            gradient = parameter.grad
            norms[name] = 0.0 if gradient is None else float(gradient.detach().to(torch.float64).norm())
    return {"activations": captured, "gradient_norms": norms,
            "loss": None if loss is None else float(loss.detach())}


def _loss(model, outputs, targets):
    """Cross-entropy on class indices for classifiers, mean squared error for regressors."""
    import torch

    functional = torch.nn.functional
    if not model.is_classifier:
        return functional.mse_loss(outputs[:, 0], targets)
    if model.metadata.get("output") == "probabilities":
        probabilities = outputs if outputs.shape[1] > 1 else torch.cat([1 - outputs, outputs], dim=1)
        return functional.nll_loss(torch.log(probabilities.clamp_min(1e-12)), targets)
    if outputs.shape[1] == 1:
        return functional.binary_cross_entropy_with_logits(outputs[:, 0], targets.to(outputs.dtype))
    return functional.cross_entropy(outputs, targets)


def _activation_statistics(view, captured: dict) -> dict:
    """Summarize each layer's output (n_rows, n_units) at one checkpoint."""
    statistics = {}
    for name, values in captured.items():
        kind = view.kinds.get(name, "")
        entry = {
            "kind": kind,
            "mean": float(values.mean()),
            "std": float(values.std()),
            "zero_fraction": float(np.mean(values == 0)),
            "dead_fraction": np.nan,
            "saturated_fraction": np.nan,
        }
        if kind in RELU_TYPES:
            # A unit is dead when it outputs zero on every row.
            entry["dead_fraction"] = float(np.mean(np.all(values == 0, axis=0)))
        if kind in SATURATING_TYPES:
            low, high = SATURATING_TYPES[kind]
            near_asymptote = (values < low + SATURATION_DISTANCE) | (values > high - SATURATION_DISTANCE)
            entry["saturated_fraction"] = float(np.mean(near_asymptote))
        statistics[name] = entry
    return statistics


def _stack(entries: list) -> dict:
    """Turn one dict per checkpoint into one dict of arrays over checkpoints."""
    stacked = {"kind": entries[0]["kind"]}
    for key in entries[0]:
        if key != "kind":
            stacked[key] = np.array([entry[key] for entry in entries], dtype=np.float64)
    return stacked


# --- findings -----------------------------------------------------------------


def find_problems(epochs, weights: dict, activations: dict, gradients: dict, loss=None) -> list:
    """Compare the statistics with the thresholds; return one finding per problem and layer.

    A finding names the checkpoint where its figure is worst, and lists in
    ``checkpoints`` every checkpoint where the threshold is crossed. The
    findings on the loss (``rising-loss``, ``diverging-loss``) describe the
    whole network, so their ``layer`` is None. ``loss`` has one value per
    checkpoint, or is None without a target.
    """
    findings = _loss_problems(epochs, loss)
    matrices = [name for name, entry in weights.items() if len(entry["shape"]) >= 2]

    for name, entry in weights.items():
        bad = entry["nan_count"] + entry["inf_count"]
        _add(findings, "non-finite-weights", name, epochs, bad, bad > 0, np.argmax(bad), 0,
             lambda value, epoch: f"{name} has {int(value)} NaN or infinite value(s) at checkpoint "
             f"{epoch}; training has diverged.")

    for name in matrices:
        norms = weights[name]["l2_norm"]
        if not norms[0] > 0:
            continue
        with np.errstate(invalid="ignore", over="ignore"):
            growth = norms / norms[0]
        finite = np.where(np.isfinite(growth), growth, np.inf)
        _add(findings, "exploding-weights", name, epochs, growth, finite > WEIGHT_GROWTH_FACTOR,
             np.argmax(finite), WEIGHT_GROWTH_FACTOR,
             lambda value, epoch: f"the L2 norm of {name} grew to {value:.3g} times its norm at the "
             f"first checkpoint by checkpoint {epoch}, above the limit of {WEIGHT_GROWTH_FACTOR:g}.")
        _add(findings, "collapsing-weights", name, epochs, growth, growth < WEIGHT_COLLAPSE_FACTOR,
             np.nanargmin(growth) if np.isfinite(growth).any() else 0, WEIGHT_COLLAPSE_FACTOR,
             lambda value, epoch: f"the L2 norm of {name} shrank to {value:.3g} times its norm at "
             f"the first checkpoint by checkpoint {epoch}, below {WEIGHT_COLLAPSE_FACTOR:g}.")

    gradient_matrices = [name for name in matrices if name in gradients]
    if len(gradient_matrices) >= 2:
        last = gradients[gradient_matrices[-1]]["norm"]
        for name in gradient_matrices[:-1]:
            norms = gradients[name]["norm"]
            # NaN where the last layer has no gradient; infinite where this
            # layer's gradient is not finite.
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where(last > 0, norms / last, np.nan)
            ratio = np.where(np.isfinite(norms), ratio, np.inf)
            vanishing = ratio < VANISHING_GRADIENT_RATIO
            _add(findings, "vanishing-gradients", name, epochs, ratio, vanishing,
                 np.nanargmin(ratio) if vanishing.any() else 0, VANISHING_GRADIENT_RATIO,
                 lambda value, epoch: f"the gradient norm of {name} is {value:.3g} times that of the "
                 f"last layer {gradient_matrices[-1]} at checkpoint {epoch}, below "
                 f"{VANISHING_GRADIENT_RATIO:g}: this layer barely learns.")
            comparable = np.where(np.isnan(ratio), 0.0, ratio)
            _add(findings, "exploding-gradients", name, epochs, ratio,
                 comparable > EXPLODING_GRADIENT_RATIO, np.argmax(comparable), EXPLODING_GRADIENT_RATIO,
                 lambda value, epoch: f"the gradient norm of {name} is {value:.3g} times that of the "
                 f"last layer {gradient_matrices[-1]} at checkpoint {epoch}, above "
                 f"{EXPLODING_GRADIENT_RATIO:g}.")

    for name in gradient_matrices:
        growth = _growth(gradients[name]["norm"])
        if growth is not None:
            _add(findings, "diverging-gradients", name, epochs, growth, growth > DIVERGING_GRADIENT_FACTOR,
                 np.argmax(growth), DIVERGING_GRADIENT_FACTOR,
                 lambda value, epoch: f"the gradient norm of {name} grew to {value:.3g} times its norm at "
                 f"the first checkpoint by checkpoint {epoch}, above {DIVERGING_GRADIENT_FACTOR:g}: "
                 "training diverges.")

    for name, entry in activations.items():
        dead = entry["dead_fraction"]
        if not np.isnan(dead).all():
            _add(findings, "dead-relu-units", name, epochs, dead, dead > DEAD_UNIT_FRACTION,
                 np.nanargmax(dead), DEAD_UNIT_FRACTION,
                 lambda value, epoch: f"{value:.0%} of the units of {name} ({entry['kind']}) output "
                 f"zero on every row at checkpoint {epoch}, above {DEAD_UNIT_FRACTION:.0%}; they "
                 "pass no gradient and no longer learn.")
        saturated = entry["saturated_fraction"]
        if not np.isnan(saturated).all():
            _add(findings, "saturated-units", name, epochs, saturated,
                 saturated > SATURATED_FRACTION, np.nanargmax(saturated), SATURATED_FRACTION,
                 lambda value, epoch: f"{value:.0%} of the activations of {name} ({entry['kind']}) are "
                 f"within {SATURATION_DISTANCE:g} of an asymptote at checkpoint {epoch}, above "
                 f"{SATURATED_FRACTION:.0%}; their gradients nearly vanish.")
    return findings


def _growth(values) -> np.ndarray | None:
    """Return ``values`` over their first value, infinite where not finite; None unless the first is positive."""
    values = np.asarray(values, dtype=np.float64)
    if not (np.isfinite(values[0]) and values[0] > 0):
        return None
    with np.errstate(over="ignore"):
        return np.where(np.isfinite(values), values / values[0], np.inf)


def _loss_problems(epochs, loss) -> list:
    """Find a loss that diverges or, failing that, one that ends higher than it started.

    ``rising-loss`` is left out when ``diverging-loss`` is found, because the
    divergence is the stronger statement about the same curve.
    """
    findings = []
    growth = None if loss is None or len(loss) < 2 else _growth(loss)
    if growth is None:
        return findings
    _add(findings, "diverging-loss", None, epochs, growth, growth > DIVERGING_LOSS_FACTOR, np.argmax(growth),
         DIVERGING_LOSS_FACTOR,
         lambda value, epoch: f"the loss grew to {value:.3g} times its value at the first checkpoint by "
         f"checkpoint {epoch}, above {DIVERGING_LOSS_FACTOR:g}: training diverges.")
    if findings:
        return findings
    # The rule compares the last checkpoint with the first; the finding then
    # lists every checkpoint above the threshold.
    rising = growth > RISING_LOSS_FACTOR if growth[-1] > RISING_LOSS_FACTOR else np.zeros(len(growth), bool)
    _add(findings, "rising-loss", None, epochs, growth, rising, np.argmax(growth), RISING_LOSS_FACTOR,
         lambda value, epoch: f"the loss at checkpoint {epoch} is {value:.3g} times the loss at the first "
         f"checkpoint {epochs[0]}, above {RISING_LOSS_FACTOR:g}. Training lowers the loss, so the "
         "checkpoints may be out of order, or training went wrong.")
    return findings


def _add(findings, problem, layer, epochs, measured, crossed, worst, threshold, describe) -> None:
    """Append a finding if ``crossed`` is true at any checkpoint."""
    crossed = np.asarray(crossed, dtype=bool)
    if not crossed.any():
        return
    worst = int(worst)
    value = float(np.asarray(measured, dtype=np.float64)[worst])
    findings.append({
        "problem": problem,
        "layer": layer,
        "checkpoint": epochs[worst],
        "checkpoints": [epochs[position] for position in np.flatnonzero(crossed)],
        "measured": value,
        "threshold": float(threshold),
        "message": describe(value, epochs[worst]),
        "remedies": list(REMEDIES[problem]),
    })
