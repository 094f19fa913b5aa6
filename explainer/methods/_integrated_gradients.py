"""Integrated gradients (captum) for differentiable PyTorch models.

Besides plain integrated gradients from one baseline row, this module runs
SmoothGrad-style noise tunnels around it, expected gradients over baseline
rows sampled from the data (captum's GradientShap), and integrated gradients
of models whose categorical inputs go through embedding layers.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from functools import lru_cache

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import IntegratedGradientsResult
from ._common import ProgressCallback, check_choice, check_positive_int, check_rows, report

BASELINES = ("zeros", "mean", "median")
# "sample" draws n_baselines rows of the reference data (expected gradients).
SAMPLED_BASELINE = "sample"
INTEGRATION_METHODS = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")
NOISE_TUNNEL_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")
NOISE_TUNNEL_KEYS = ("type", "n_samples", "stdev", "scale")
# The unit of the noise's stdev. "raw" is the inputs' own units, one value for
# all features. "std" is standard deviations of each feature in the
# reference data.
NOISE_SCALES = ("raw", "std")

# captum draws its noise and sampled baselines from the global torch and
# numpy generators (captum 0.9), so a seeded call seeds both. This lock keeps
# two seeded calls in one process from drawing from each other's streams.
_GLOBAL_GENERATORS_LOCK = threading.Lock()


@contextlib.contextmanager
def seeded_global_generators(seed: int):
    """Seed the global torch and numpy generators inside the block, then restore their state."""
    import torch

    with _GLOBAL_GENERATORS_LOCK, torch.random.fork_rng(devices=[]):
        numpy_state = np.random.get_state()
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)


def _seed_from(random_state) -> int:
    """Turn ``random_state`` into the integer seed captum's draws start from."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31))
    if random_state is None:
        return int(np.random.default_rng().integers(2**31))
    return check_positive_int("random_state", random_state, minimum=0, maximum=2**32 - 1)


def most_frequent_category(model: Model, name: str, reference: pd.DataFrame) -> int:
    """Return the index of the most frequent known category of ``name`` in ``reference``.

    Ties go to the category listed first in the metadata.
    """
    categories = model.categories[name]
    counts = reference[name].map(str).value_counts() if name in reference.columns else pd.Series()
    frequencies = [int(counts.get(category, 0)) for category in categories]
    return int(np.argmax(frequencies))


def _category_index(model: Model, name: str, value) -> int:
    categories = model.categories[name]
    if str(value) not in categories:
        raise InvalidParameterError(
            f"the baseline gives {value!r} for the categorical feature {name!r}; it must be one "
            f"of its categories {list(categories)}."
        )
    return categories.index(str(value))


def _baseline_vector(baseline, model: Model, reference: pd.DataFrame) -> np.ndarray:
    """Resolve the baseline to one float32 row of shape (n_features,).

    A categorical feature's baseline is the index of a category: the most
    frequent one in ``reference`` for the named baselines, the one given
    otherwise.
    """
    n_features = len(model.feature_names)
    categories = getattr(model, "categories", {})
    if isinstance(baseline, str):
        check_choice("baseline", baseline, BASELINES + (SAMPLED_BASELINE,))
        if baseline == "zeros":
            vector = np.zeros(n_features, dtype=np.float32)
        else:
            values = model.to_tensor(model.select_features(reference)).numpy()
            statistic = values.mean(axis=0) if baseline == "mean" else np.median(values, axis=0)
            vector = statistic.astype(np.float32)
        for name in categories:
            vector[model.feature_names.index(name)] = most_frequent_category(model, name, reference)
        return vector
    if isinstance(baseline, dict):
        unknown = sorted(set(baseline) - set(model.feature_names))
        missing = [name for name in model.feature_names if name not in baseline]
        if unknown or missing:
            raise InvalidParameterError(
                f"a baseline row must give a number for every feature; unknown: {unknown}, "
                f"missing: {missing}."
            )
        baseline = [baseline[name] for name in model.feature_names]
    if categories and isinstance(baseline, (list, tuple)) and len(baseline) == n_features:
        baseline = [
            _category_index(model, name, value) if name in categories else value
            for name, value in zip(model.feature_names, baseline)
        ]
    try:
        vector = np.asarray(baseline, dtype=np.float32).reshape(-1)
    except (TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"baseline must be one of {list(BASELINES)}, {SAMPLED_BASELINE!r}, a row as a dict of "
            f"feature to number, or a list of {n_features} numbers; got {baseline!r}."
        ) from error
    if vector.shape != (n_features,) or not np.isfinite(vector).all():
        raise InvalidParameterError(
            f"a baseline row needs {n_features} finite numbers, got {vector.shape[0]}."
        )
    return vector


def check_target(model: Model, target) -> int | None:
    """Return the output index that ``target`` names, or None for each row's predicted class.

    Raises InvalidParameterError, listing the classes, for anything but a
    class name or index of a classifier, or None or 0 for a regressor.
    """
    if not model.is_classifier:
        if target not in (None, 0):
            raise InvalidParameterError(f"a regressor has one output; target must be omitted, got {target!r}.")
        return 0
    if target is None:
        return None
    if isinstance(target, str):
        if target not in model.class_names:
            raise InvalidParameterError(
                f"target {target!r} is not a class of the model; classes: {list(model.class_names)}."
            )
        return model.class_names.index(target)
    if isinstance(target, bool) or not isinstance(target, (int, np.integer)) \
            or not 0 <= target < model.n_outputs:
        raise InvalidParameterError(
            f"target must be a class name {list(model.class_names)} or an index from 0 to "
            f"{model.n_outputs - 1}, got {target!r}."
        )
    return int(target)


def _resolve_targets(target, model: Model, outputs: np.ndarray) -> np.ndarray:
    """Return the explained output index of each row, given outputs of shape (n_rows, n_outputs)."""
    index = check_target(model, target)
    if index is None:
        return outputs.argmax(axis=1)
    return np.full(outputs.shape[0], index, dtype=np.int64)


def _check_noise_tunnel(noise_tunnel) -> dict | None:
    """Validate a noise tunnel {"type", "n_samples", "stdev", "scale"}; fill in the defaults."""
    if noise_tunnel is None:
        return None
    if not isinstance(noise_tunnel, dict) or set(noise_tunnel) - set(NOISE_TUNNEL_KEYS):
        raise InvalidParameterError(
            f"noise_tunnel must be a dict with keys {list(NOISE_TUNNEL_KEYS)}, got {noise_tunnel!r}."
        )
    checked = {
        "type": check_choice("noise_tunnel type", noise_tunnel.get("type", "smoothgrad"), NOISE_TUNNEL_TYPES),
        "n_samples": check_positive_int("noise_tunnel n_samples", noise_tunnel.get("n_samples", 10),
                                        maximum=1000),
    }
    stdev = noise_tunnel.get("stdev", 1.0)
    if isinstance(stdev, bool) or not isinstance(stdev, (int, float)) or not 0 < stdev < np.inf:
        raise InvalidParameterError(f"noise_tunnel stdev must be a positive number, got {stdev!r}.")
    checked["stdev"] = float(stdev)
    checked["scale"] = check_choice("noise_tunnel scale", noise_tunnel.get("scale", "raw"), NOISE_SCALES)
    return checked


def check_path_options(model: Model, *, n_steps, method, output_space, internal_batch_size,
                       method_parameter: str = "method") -> tuple[int, int | None]:
    """Check the path-integral options that every integrated-gradients method shares.

    Returns ``(n_steps, internal_batch_size)`` normalized. ``method_parameter``
    is the name the caller gives the integral rule, used in messages.
    """
    n_steps = check_positive_int("n_steps", n_steps, minimum=2, maximum=10_000)
    check_choice(method_parameter, method, INTEGRATION_METHODS)
    check_choice("output_space", output_space, ("raw", "probability"))
    if output_space == "probability" and not model.is_classifier:
        raise InvalidParameterError("output_space 'probability' is for classifiers; use 'raw'.")
    if internal_batch_size is not None:
        internal_batch_size = check_positive_int("internal_batch_size", internal_batch_size)
    return n_steps, internal_batch_size


def check_integrated_gradients_options(
    model: Model,
    *,
    baseline="zeros",
    n_steps: int = 50,
    method: str = "gausslegendre",
    target=None,
    output_space: str = "raw",
    internal_batch_size: int | None = None,
    noise_tunnel: dict | None = None,
    n_baselines: int = 10,
) -> dict:
    """Check the options of :func:`integrated_gradients` without running the model.

    Returns the options normalized: ``noise_tunnel`` with its defaults, and
    ``sampled`` telling whether the baselines are drawn (``baseline="sample"``).

    Raises
    ------
    InvalidParameterError
        An option out of range, a baseline row of the wrong length, an
        unknown target, or a noise tunnel with sampled baselines or
        categorical inputs.
    UnusableInputError
        The model is not differentiable, or a categorical feature has no
        embedding layer.
    """
    check_differentiable(model, "integrated gradients")
    n_steps, internal_batch_size = check_path_options(
        model, n_steps=n_steps, method=method, output_space=output_space, internal_batch_size=internal_batch_size,
    )
    check_target(model, target)
    noise_tunnel = _check_noise_tunnel(noise_tunnel)
    sampled = isinstance(baseline, str) and baseline == SAMPLED_BASELINE
    if sampled:
        n_baselines = check_positive_int("n_baselines", n_baselines, maximum=10_000)
        if noise_tunnel is not None:
            raise InvalidParameterError(
                "noise_tunnel applies to one baseline; with baseline='sample' the baselines are "
                "already random. Give one of them, not both."
            )
    categorical = bool(getattr(model, "categories", {}))
    if categorical:
        check_embeddings_declared(model)
        if sampled or noise_tunnel is not None:
            raise InvalidParameterError(
                "baseline='sample' and noise_tunnel are not available for models with categorical "
                f"inputs {list(model.categories)}, because both would move category indices off "
                "the integers; use a single baseline row."
            )
    if not isinstance(baseline, str):
        # A row given in full needs no reference data.
        _baseline_vector(baseline, model, None)
    return {"n_steps": n_steps, "internal_batch_size": internal_batch_size, "noise_tunnel": noise_tunnel,
            "n_baselines": n_baselines, "sampled": sampled, "categorical": categorical}


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
    noise_tunnel: dict | None = None,
    n_baselines: int = 10,
    random_state=None,
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
    baseline : {"zeros", "mean", "median", "sample"}, dict or sequence
        The reference input; ``mean`` and ``median`` are taken over
        ``reference`` (default ``X``); a dict or sequence gives one row.
        ``sample`` averages over ``n_baselines`` rows drawn from
        ``reference`` (expected gradients, captum's GradientShap). A
        categorical feature's baseline is its most frequent category in
        ``reference`` for the named baselines, and the category given in a
        row.
    n_steps : int, default=50
        Points on the path from the baseline to the input. With
        ``baseline="sample"``, the random points (a baseline row and a
        position on its path) per row, captum's ``n_samples``.
    method : str, default="gausslegendre"
        captum's integral approximation; unused with ``baseline="sample"``,
        whose result's parameters omit it.
    target : int, str or None
        Class index or name to explain; default the predicted class of
        each row. Regressors have one output.
    output_space : {"raw", "probability"}
        ``raw`` explains the module's own output (logits for most
        classifiers), as captum does when given the module; ``probability``
        explains the class probability.
    internal_batch_size : int, optional
        Rows per forward pass, to bound memory when ``n_steps`` is large.
    noise_tunnel : dict, optional
        Average integrated gradients over noisy copies of each row (captum's
        NoiseTunnel): ``{"type": "smoothgrad" | "smoothgrad_sq" | "vargrad",
        "n_samples": 10, "stdev": 1.0, "scale": "raw" | "std"}``. The noise
        is Gaussian. With ``scale="raw"`` its standard deviation is
        ``stdev`` in the raw units of the inputs, one value for all
        features. With ``scale="std"`` it is ``stdev`` times each feature's
        standard deviation in ``reference``: the path is integrated in
        standardized inputs ``z = (x - mean) / std``, which leaves the
        attributions of each copy unchanged, because integrated gradients
        is invariant under a per-feature affine change of variables. A
        feature that is constant in ``reference`` gets a standard deviation
        of 1.
    n_baselines : int, default=10
        Rows drawn from ``reference`` for ``baseline="sample"``.
    random_state : int, numpy.random.Generator or None
        Seed of the noise and of the sampled baselines. captum draws from
        the global torch and numpy generators, which are seeded with it
        inside the call and restored afterwards.

    Returns
    -------
    IntegratedGradientsResult
        ``attributions`` of shape (n_rows, n_features) and the convergence
        delta of each row, always ``attributions.sum(axis=1) - (outputs -
        baseline_outputs)``. With ``baseline="sample"``, ``baseline`` is the
        mean of the drawn rows, ``baseline_outputs`` the mean of their
        outputs, ``parameters["baseline_rows"]`` their positions in
        ``reference``, and ``parameters`` has no ``method``, because
        GradientShap takes one random point per path instead of an
        integral rule. Attributions from sampled baselines or a noise
        tunnel are not complete, so there the delta measures how far they
        are from completeness, not the integral's accuracy, and ``notes``
        state it.

    Examples
    --------
    >>> result = integrated_gradients(model, rows, baseline="mean", n_steps=200)  # doctest: +SKIP
    >>> result.attributions.shape  # doctest: +SKIP
    (100, 30)
    """
    started = time.perf_counter()
    checked = check_integrated_gradients_options(
        model, baseline=baseline, n_steps=n_steps, method=method, target=target, output_space=output_space,
        internal_batch_size=internal_batch_size, noise_tunnel=noise_tunnel, n_baselines=n_baselines,
    )
    check_rows(X)
    n_steps, internal_batch_size = checked["n_steps"], checked["internal_batch_size"]
    noise_tunnel, n_baselines = checked["noise_tunnel"], checked["n_baselines"]
    sampled, categorical = checked["sampled"], checked["categorical"]
    seed = _seed_from(random_state) if sampled or noise_tunnel is not None else None

    import torch
    from captum.attr import IntegratedGradients

    features = model.select_features(X).reset_index(drop=True)
    inputs = model.to_tensor(features)
    reference = X if reference is None else reference
    if sampled:
        check_rows(reference, "reference")
        positions = np.sort(np.random.default_rng(seed).choice(
            len(reference), size=min(n_baselines, len(reference)), replace=False))
        baselines = model.to_tensor(model.select_features(reference.iloc[positions]))
        baseline_row = baselines.numpy().mean(axis=0)
    else:
        baseline_row = _baseline_vector(baseline, model, reference)
        baselines = torch.from_numpy(np.tile(baseline_row, (len(features), 1)))

    def forward(batch):
        return model.forward_outputs(batch, space=output_space)

    with torch.no_grad():
        outputs = forward(inputs).to(torch.float64).numpy()
        baseline_outputs = forward(baselines).to(torch.float64).numpy().mean(axis=0) if sampled \
            else forward(baselines[:1]).to(torch.float64).numpy()[0]
    targets = _resolve_targets(target, model, outputs)
    target_tensor = torch.from_numpy(targets)

    report(progress, 0.1, "integrating gradients")
    if categorical:
        attributions, delta = _embedding_attributions(
            model, inputs, baselines, target_tensor, output_space=output_space, n_steps=n_steps,
            method=method, internal_batch_size=internal_batch_size,
        )
    elif sampled:
        attributions = _expected_gradients(forward, inputs, baselines, target_tensor, n_steps, seed)
    elif noise_tunnel is not None:
        path = (forward, inputs, baselines)
        if noise_tunnel["scale"] == "std":
            path = standardized_path(forward, inputs, baselines, *_feature_center_and_spread(model, reference))
        attributions = _noise_tunnel_attributions(
            *path, target_tensor, noise_tunnel, seed,
            n_steps=n_steps, method=method, internal_batch_size=internal_batch_size,
        )
    else:
        attributions, delta = IntegratedGradients(forward).attribute(
            inputs,
            baselines=baselines,
            target=target_tensor,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )
        attributions = attributions.detach().to(torch.float64).numpy()
        delta = delta.detach().to(torch.float64).numpy()
    report(progress, 1.0, "done")
    rows = np.arange(len(features))
    explained_outputs = outputs[rows, targets]
    explained_baseline_outputs = baseline_outputs[targets]
    notes = ()
    if sampled or noise_tunnel is not None:
        # The delta describes the attributions returned, which average over
        # random draws and so are not complete.
        delta = attributions.sum(axis=1) - (explained_outputs - explained_baseline_outputs)
        notes = (_incompleteness_note(noise_tunnel, n_baselines=len(positions) if sampled else None,
                                      n_steps=n_steps),)

    parameters = {
        "baseline": baseline if isinstance(baseline, str) else baseline_row.tolist(),
        "n_steps": n_steps,
        "method": method,
        "target": target,
        "output_space": output_space,
        "internal_batch_size": internal_batch_size,
    }
    if noise_tunnel is not None:
        parameters.update(noise_tunnel=noise_tunnel, random_state=seed)
    if sampled:
        del parameters["method"]
        parameters.update(n_baselines=n_baselines, baseline_rows=positions.tolist(), random_state=seed)
    if categorical:
        parameters["baseline_categories"] = {
            name: model.categories[name][int(baseline_row[model.feature_names.index(name)])]
            for name in model.categories
        }
    return IntegratedGradientsResult(
        method="integrated-gradients",
        parameters=parameters,
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
        outputs=explained_outputs,
        baseline_outputs=explained_baseline_outputs,
        convergence_delta=delta,
        max_abs_convergence_delta=float(np.max(np.abs(delta))),
        mean_abs=np.abs(attributions).mean(axis=0),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
        notes=notes,
    )


def _incompleteness_note(noise_tunnel: dict | None, *, n_baselines: int | None, n_steps: int) -> str:
    """Say why the attributions of a noise tunnel or of sampled baselines are not complete."""
    if noise_tunnel is None:
        return (
            f"Expected gradients average gradient x (input - baseline) at {n_steps} random points, each "
            f"on the path from one of {n_baselines} baseline rows drawn from the data. They are complete "
            "only in expectation, against the mean output of the drawn baselines (baseline_outputs), so "
            "convergence_delta measures how far this estimate is from it; expect large values with few "
            "baselines or points."
        )
    averaged = {
        "smoothgrad": "the mean of the integrated gradients of",
        "smoothgrad_sq": "the mean of the squared integrated gradients of",
        "vargrad": "the variance of the integrated gradients of",
    }[noise_tunnel["type"]]
    return (
        f"{noise_tunnel['type']} attributions are {averaged} {noise_tunnel['n_samples']} noisy copies "
        "of each row. They are not complete: convergence_delta measures how far their sum is from the "
        "output minus the baseline output, not the accuracy of the integral."
    )


def _feature_center_and_spread(model: Model, reference: pd.DataFrame):
    """Return each feature's mean and standard deviation in ``reference`` as float32 tensors of shape (n_features,).

    A feature that is constant in ``reference`` gets a standard deviation of 1.
    """
    import torch

    values = model.to_tensor(model.select_features(reference)).to(torch.float64)
    spread = values.std(dim=0, correction=0)
    spread = torch.where(spread > 0, spread, torch.ones_like(spread))
    return values.mean(dim=0).to(torch.float32), spread.to(torch.float32)


def standardized_path(forward, inputs, baselines, center, spread):
    """Move a path integral to standardized inputs ``z = (x - center) / spread``.

    Returns ``(forward_z, inputs_z, baselines_z)``, where ``forward_z(z)`` is
    ``forward(center + z * spread)``. Integrated gradients of ``forward_z``
    from ``baselines_z`` to ``inputs_z`` equal those of ``forward`` from
    ``baselines`` to ``inputs`` (up to float32 rounding), because the chain
    rule multiplies each gradient by ``spread`` and the path length divides
    by it. Noise added to ``inputs_z`` is in standard deviations of each
    feature.
    """

    def forward_z(batch):
        return forward(center + batch * spread)

    return forward_z, (inputs - center) / spread, (baselines - center) / spread


def check_differentiable(model: Model, method_name: str) -> None:
    """Raise an error listing the applicable methods unless ``model`` has a torch module."""
    if not model.supports_gradients:
        raise UnusableInputError(
            f"{method_name} needs a differentiable PyTorch model, but this is a "
            f"{model.format} model without gradients. Methods that apply to it: "
            f"{list(model.applicable_methods())}.",
            details={"applicable_methods": list(model.applicable_methods())},
        )


def check_embeddings_declared(model: Model) -> None:
    """Raise an error unless every categorical feature names its embedding layer."""
    without = [name for name in model.categories if name not in model.embeddings]
    if without:
        raise UnusableInputError(
            f"categorical feature(s) {without} have no embedding layer in the metadata, and "
            "integrated gradients cannot interpolate category indices. Declare the layer that "
            'embeds each one, for example {"embeddings": {"' + without[0] + '": "embed"}}.'
        )


def _noise_tunnel_attributions(forward, inputs, baselines, targets, noise_tunnel, seed, **options) -> np.ndarray:
    """Average integrated gradients over noisy copies of each row (captum's NoiseTunnel)."""
    import torch
    from captum.attr import IntegratedGradients, NoiseTunnel

    with seeded_global_generators(seed):
        attributions = NoiseTunnel(IntegratedGradients(forward)).attribute(
            inputs,
            nt_type=noise_tunnel["type"],
            nt_samples=noise_tunnel["n_samples"],
            stdevs=noise_tunnel["stdev"],
            baselines=baselines,
            target=targets,
            **options,
        )
    return attributions.detach().to(torch.float64).numpy()


def _expected_gradients(forward, inputs, baselines, targets, n_samples: int, seed: int) -> np.ndarray:
    """Average gradient x (input - baseline) over random baselines and path points (GradientShap)."""
    import torch
    from captum.attr import GradientShap

    with seeded_global_generators(seed):
        attributions = GradientShap(forward).attribute(
            inputs, baselines=baselines, target=targets, n_samples=n_samples, stdevs=0.0
        )
    return attributions.detach().to(torch.float64).numpy()


@lru_cache(maxsize=1)
def _joint_path_class():
    """Define the joint-path module class once torch is imported."""
    from torch import nn

    class NumericColumns(nn.Module):
        """Select the numeric columns, so that a hook can replace them."""

        def __init__(self, index):
            super().__init__()
            self.register_buffer("index", index, persistent=False)

        def forward(self, inputs):
            return inputs[:, self.index]

        def merge(self, inputs, numeric):
            return inputs.index_copy(1, self.index, numeric)

    class JointPath(nn.Module):
        """Run ``module`` on the input with its numeric columns routed through one layer.

        Integrated gradients over this layer and the embedding layers moves
        numeric values and embedding vectors along one path, while the
        category indices the module embeds stay those of the input.
        """

        def __init__(self, module, numeric_index):
            super().__init__()
            self.numeric = NumericColumns(numeric_index)
            self.module = module

        def forward(self, inputs):
            return self.module(self.numeric.merge(inputs, self.numeric(inputs)))

    return JointPath


def _embedding_attributions(model, inputs, baselines, targets, *, output_space, n_steps, method,
                            internal_batch_size):
    """Integrate along numeric inputs and embedding outputs; sum embedding dimensions per feature.

    Returns attributions (n_rows, n_features) and the convergence delta
    (n_rows,) of all features together.
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    view = model.layer_view()
    categorical = list(model.categories)
    numeric_positions = [i for i, name in enumerate(model.feature_names) if name not in categorical]
    joint = _joint_path_class()(view.module, torch.tensor(numeric_positions, dtype=torch.long))
    layers = [view.layer(model.embeddings[name]) for name in categorical]
    if numeric_positions:
        layers.insert(0, joint.numeric)

    def forward(batch):
        return model.forward_outputs(batch, space=output_space, module=joint)

    with warnings.catch_warnings():
        # captum warns about every list of layers; these are parallel (no
        # layer's output feeds another of them), which is the supported case.
        warnings.filterwarnings("ignore", message="Multiple layers provided")
        layer_attributions, delta = LayerIntegratedGradients(forward, layers).attribute(
            inputs,
            baselines=baselines,
            target=targets,
            n_steps=n_steps,
            method=method,
            internal_batch_size=internal_batch_size,
            return_convergence_delta=True,
        )

    # (n_rows, n_numeric) for the numeric layer, (n_rows, ..., embedding_dim)
    # for each embedding, summed back onto its feature.
    attributions = np.zeros((len(inputs), len(model.feature_names)))
    parts = [part.detach().to(torch.float64).numpy() for part in layer_attributions]
    if numeric_positions:
        attributions[:, numeric_positions] = parts.pop(0)
    for name, part in zip(categorical, parts):
        attributions[:, model.feature_names.index(name)] = part.reshape(len(inputs), -1).sum(axis=1)
    return attributions, delta.detach().to(torch.float64).numpy()
