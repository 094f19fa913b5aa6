"""One entry point that runs any method on a model, or a series of checkpoints, and a dataset.

The service, its job workers and the command line all call :func:`explain`,
so that a method's parameters mean the same everywhere.
"""

from __future__ import annotations

import numpy as np

from ._errors import InvalidParameterError, UnusableInputError
from .checkpoints import CheckpointSeries
from .data import Dataset
from .methods import (
    integrated_gradients,
    layer_attributions,
    neuron_attributions,
    permutation_importance,
    shap_values,
    training_health,
)
from .methods._common import ProgressCallback, check_choice, check_positive_int
from .methods._integrated_gradients import (
    check_differentiable,
    check_integrated_gradients_options,
    check_target,
)
from .methods._layers import (
    LAYER_METHODS,
    NEURON_METHODS,
    check_layers,
    check_neuron_of_model,
    reject_interpolated_categories,
)
from .models import Model

METHODS = (
    "permutation", "shap", "integrated-gradients", "layer-attributions", "neuron-attributions",
    "training-health",
)
# Methods that differentiate a PyTorch model.
GRADIENT_METHODS = ("integrated-gradients", "layer-attributions", "neuron-attributions")
# Methods whose subject is a CheckpointSeries instead of a Model, and whose
# dataset is optional.
SERIES_METHODS = ("training-health",)

# Parameters each method accepts; anything else is rejected by name.
_ROW_PARAMETERS = {"n_rows", "row_indices", "random_state"}
_PATH_PARAMETERS = {"baseline", "n_steps", "target", "output_space", "internal_batch_size"}
ACCEPTED_PARAMETERS = {
    "permutation": {"scoring", "n_repeats", "random_state", "feature_groups", "max_rows"},
    "shap": _ROW_PARAMETERS | {"background_size", "output_space", "explainer", "max_evals"},
    # "method" is the integral rule here, kept for compatibility. The layer
    # methods call it integration_method, as the library functions do.
    "integrated-gradients": _ROW_PARAMETERS | _PATH_PARAMETERS | {"method", "noise_tunnel", "n_baselines"},
    "layer-attributions": _ROW_PARAMETERS | _PATH_PARAMETERS | {"layer", "layer_method", "integration_method"},
    "neuron-attributions": _ROW_PARAMETERS | _PATH_PARAMETERS
    | {"layer", "neuron", "neuron_method", "integration_method"},
    "training-health": {"n_bins", "near_zero_epsilon", "max_rows", "random_state"},
}
REQUIRED_PARAMETERS = {
    "layer-attributions": ("layer",),
    "neuron-attributions": ("layer", "neuron"),
}
DEFAULT_N_ROWS = 100


def select_rows(dataset: Dataset, *, n_rows=None, row_indices=None, random_state=0):
    """Pick the rows to explain: given indices, or a seeded sample of ``n_rows``.

    Returns (frame, indices) with indices into the dataset, in file order for
    a sample.
    """
    if row_indices is not None:
        indices = np.asarray(check_row_selection(dataset, n_rows=n_rows, row_indices=row_indices),
                             dtype=np.int64)
    else:
        n_rows = DEFAULT_N_ROWS if n_rows is None else check_positive_int("n_rows", n_rows)
        if n_rows >= len(dataset):
            indices = np.arange(len(dataset))
        else:
            rng = np.random.default_rng(random_state)
            indices = np.sort(rng.choice(len(dataset), size=n_rows, replace=False))
    return dataset.frame.iloc[indices].reset_index(drop=True), indices


def check_row_selection(dataset: Dataset, *, n_rows=None, row_indices=None) -> list[int] | None:
    """Check ``n_rows`` and ``row_indices`` against ``dataset``; return the indices, or None without them.

    Raises InvalidParameterError for both given or a malformed list, and
    UnusableInputError for an index past the dataset's last row.
    """
    if row_indices is not None and n_rows is not None:
        raise InvalidParameterError("give either row_indices or n_rows, not both.")
    if n_rows is not None:
        check_positive_int("n_rows", n_rows)
    if row_indices is None:
        return None
    if not isinstance(row_indices, (list, tuple)) or not row_indices:
        raise InvalidParameterError(f"row_indices must be a non-empty list of integers, got {row_indices!r}.")
    indices = [check_positive_int("row_indices item", index, minimum=0) for index in row_indices]
    out_of_range = [index for index in indices if index >= len(dataset)]
    if out_of_range:
        raise UnusableInputError(
            f"row_indices {out_of_range[:10]} are out of range: the dataset has {len(dataset)} "
            f"rows, numbered 0 to {len(dataset) - 1}."
        )
    return indices


def check_parameters(subject, dataset: Dataset | None, method: str, parameters: dict | None) -> dict:
    """Check a request before any expensive work, and return a copy of the parameters with the default seed.

    Parameters
    ----------
    subject : Model or CheckpointSeries
        A CheckpointSeries for ``training-health``, a Model otherwise.
    dataset : Dataset or None
        None only for ``training-health``, which then describes the weights alone.
    method : str
        One of :data:`METHODS`.
    parameters : dict or None

    Raises
    ------
    InvalidParameterError
        An unknown method or parameter, a missing required parameter, or an
        unknown layer name. Also a neuron outside its layer's unit shape, a
        target that is not a class, a noise tunnel with sampled baselines or
        categorical inputs, or another option out of range.
    UnusableInputError
        The method does not apply to the model, a layer accepts no hooks,
        ``row_indices`` go past the dataset's rows, or the dataset lacks the
        model's features.
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {list(METHODS)}, got {method!r}.")
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - ACCEPTED_PARAMETERS[method])
    if unknown:
        raise InvalidParameterError(
            f"unknown parameter(s) {unknown} for method {method!r}; accepted: "
            f"{sorted(ACCEPTED_PARAMETERS[method])}."
        )
    missing = [name for name in REQUIRED_PARAMETERS.get(method, ()) if parameters.get(name) is None]
    if missing:
        raise InvalidParameterError(f"method {method!r} needs the parameter(s) {missing}; add them to the parameters.")

    if method in SERIES_METHODS:
        if not isinstance(subject, CheckpointSeries):
            raise InvalidParameterError(
                f"method {method!r} explains a CheckpointSeries from load_checkpoints, got "
                f"{type(subject).__name__}."
            )
        model = subject.model
    else:
        if not isinstance(subject, Model):
            raise InvalidParameterError(f"method {method!r} explains a Model, got {type(subject).__name__}.")
        if dataset is None:
            raise InvalidParameterError(f"method {method!r} needs a dataset.")
        model = subject
    if method in GRADIENT_METHODS:
        check_differentiable(model, method)
        check_target(model, parameters.get("target"))
    if method == "integrated-gradients":
        options = {name: parameters[name] for name in (
            "baseline", "n_steps", "method", "output_space", "internal_batch_size", "noise_tunnel", "n_baselines",
        ) if parameters.get(name) is not None}
        check_integrated_gradients_options(model, **options)
    if method == "layer-attributions":
        algorithm = check_choice("layer_method", parameters.get("layer_method") or "integrated-gradients",
                                 LAYER_METHODS)
        check_layers(model, parameters["layer"])
        if algorithm == "conductance":
            reject_interpolated_categories(model, "layer conductance")
    if method == "neuron-attributions":
        algorithm = check_choice("neuron_method", parameters.get("neuron_method") or "integrated-gradients",
                                 NEURON_METHODS)
        if not isinstance(parameters["layer"], str):
            raise InvalidParameterError(f"layer must be one layer's qualified name, got {parameters['layer']!r}.")
        check_layers(model, parameters["layer"])
        reject_interpolated_categories(model, f"neuron {algorithm}")
        check_neuron_of_model(model, parameters["layer"], parameters["neuron"])

    # Check the rows and columns once, before any expensive work.
    if dataset is not None:
        if method in ("shap", *GRADIENT_METHODS):
            check_row_selection(dataset, n_rows=parameters.get("n_rows"), row_indices=parameters.get("row_indices"))
        model.select_features(dataset.frame)
    # Seeded unless the caller says otherwise, so that the same request gives
    # the same numbers from the library, the service and the command line.
    parameters.setdefault("random_state", 0)
    return parameters


def permutation_inputs(dataset: Dataset, parameters: dict):
    """Select the rows and labels that permutation importance scores on, and its options.

    Returns (frame, y, options); ``max_rows`` picks a seeded sample of rows.
    """
    options = dict(parameters)
    max_rows = options.pop("max_rows", None)
    y = dataset.target_values()
    if max_rows is None:
        return dataset.frame, y, options
    frame = dataset.sample(check_positive_int("max_rows", max_rows), random_state=options.get("random_state"))
    return frame, frame[dataset.target], options


def explain(
    subject,
    dataset: Dataset | None,
    *,
    method: str,
    parameters: dict | None = None,
    progress: ProgressCallback | None = None,
):
    """Run ``method`` on ``subject`` over ``dataset`` and return its result.

    Parameters
    ----------
    subject : Model or CheckpointSeries
        The model to explain; for ``training-health``, the checkpoints of
        :func:`explainer.load_checkpoints`.
    dataset : Dataset or None
        For ``permutation`` it must have a target column. For
        ``training-health`` it is optional: its rows give the activation
        statistics, and its target the loss and gradient norms.
    method : str
        ``permutation``, ``shap``, ``integrated-gradients``,
        ``layer-attributions``, ``neuron-attributions`` or ``training-health``.
    parameters : dict
        The method's keyword options (see each method), plus ``n_rows`` or
        ``row_indices`` choosing the rows that local methods explain
        (default: a seeded sample of 100 rows), and ``max_rows`` capping
        the rows permutation importance and training health use. The layer
        methods take their algorithm as ``layer_method`` or
        ``neuron_method`` and their integral rule as ``integration_method``;
        integrated gradients keeps the name ``method`` for its rule.
    """
    parameters = check_parameters(subject, dataset, method, parameters)
    if method == "training-health":
        return _training_health(subject, dataset, parameters, progress)
    if method == "permutation":
        frame, y, options = permutation_inputs(dataset, parameters)
        return permutation_importance(
            subject, frame, y, dataset_digest=dataset.digest, progress=progress, **options
        )

    rows, indices = select_rows(
        dataset,
        n_rows=parameters.pop("n_rows", None),
        row_indices=parameters.pop("row_indices", None),
        random_state=parameters["random_state"],
    )
    if method == "shap":
        return shap_values(
            subject, rows, background=dataset.frame, row_indices=indices,
            dataset_digest=dataset.digest, progress=progress, **parameters,
        )
    provenance = {"reference": dataset.frame, "row_indices": indices, "dataset_digest": dataset.digest,
                  "progress": progress}
    if method == "integrated-gradients":
        # random_state also seeds the noise tunnel and the sampled baselines.
        return integrated_gradients(subject, rows, **provenance, **parameters)

    # The layer methods draw nothing at random: the seed chose the rows.
    parameters.pop("random_state")
    if method == "layer-attributions":
        algorithm = parameters.pop("layer_method", None) or "integrated-gradients"
        return layer_attributions(subject, rows, method=algorithm, **provenance, **_without_none(parameters))
    algorithm = parameters.pop("neuron_method", None) or "integrated-gradients"
    return neuron_attributions(subject, rows, method=algorithm, **provenance, **_without_none(parameters))


def _without_none(parameters: dict) -> dict:
    """Drop options given as None, so that the method's defaults apply."""
    return {name: value for name, value in parameters.items() if value is not None}


def _training_health(series: CheckpointSeries, dataset: Dataset | None, parameters: dict, progress):
    """Run training_health on the dataset's feature rows and, when it has one, its target."""
    X = y = None
    if dataset is not None:
        X = dataset.features
        y = None if dataset.target is None else dataset.target_values()
    options = {name: value for name, value in parameters.items() if value is not None}
    return training_health(
        series, X, y, dataset_digest=None if dataset is None else dataset.digest, progress=progress, **options,
    )
