"""One entry point that runs any method on a model and a dataset.

The service, its job workers and the command line all call :func:`explain`,
so that a method's parameters mean the same everywhere.
"""

from __future__ import annotations

import numpy as np

from ._errors import InvalidParameterError, UnusableInputError
from .data import Dataset
from .methods import integrated_gradients, permutation_importance, shap_values
from .methods._common import ProgressCallback, check_positive_int
from .models import Model

METHODS = ("permutation", "shap", "integrated-gradients")

# Parameters each method accepts; anything else is rejected by name.
_ROW_PARAMETERS = {"n_rows", "row_indices", "random_state"}
ACCEPTED_PARAMETERS = {
    "permutation": {"scoring", "n_repeats", "random_state", "feature_groups", "max_rows"},
    "shap": _ROW_PARAMETERS | {"background_size", "output_space", "explainer", "max_evals"},
    "integrated-gradients": _ROW_PARAMETERS
    | {"baseline", "n_steps", "method", "target", "output_space", "internal_batch_size"},
}
DEFAULT_N_ROWS = 100


def select_rows(dataset: Dataset, *, n_rows=None, row_indices=None, random_state=0):
    """Pick the rows to explain: given indices, or a seeded sample of ``n_rows``.

    Returns (frame, indices) with indices into the dataset, in file order for
    a sample.
    """
    if row_indices is not None and n_rows is not None:
        raise InvalidParameterError("give either row_indices or n_rows, not both.")
    if row_indices is not None:
        if not isinstance(row_indices, (list, tuple)) or not row_indices:
            raise InvalidParameterError(f"row_indices must be a non-empty list of integers, got {row_indices!r}.")
        indices = [check_positive_int("row_indices item", index, minimum=0) for index in row_indices]
        out_of_range = [index for index in indices if index >= len(dataset)]
        if out_of_range:
            raise UnusableInputError(
                f"row_indices {out_of_range[:10]} are out of range: the dataset has {len(dataset)} "
                f"rows, numbered 0 to {len(dataset) - 1}."
            )
        indices = np.asarray(indices, dtype=np.int64)
    else:
        n_rows = DEFAULT_N_ROWS if n_rows is None else check_positive_int("n_rows", n_rows)
        if n_rows >= len(dataset):
            indices = np.arange(len(dataset))
        else:
            rng = np.random.default_rng(random_state)
            indices = np.sort(rng.choice(len(dataset), size=n_rows, replace=False))
    return dataset.frame.iloc[indices].reset_index(drop=True), indices


def check_parameters(model: Model, dataset: Dataset, method: str, parameters: dict | None) -> dict:
    """Reject an unknown method or parameter; returns a copy with the default seed set."""
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {list(METHODS)}, got {method!r}.")
    parameters = dict(parameters or {})
    unknown = sorted(set(parameters) - ACCEPTED_PARAMETERS[method])
    if unknown:
        raise InvalidParameterError(
            f"unknown parameter(s) {unknown} for method {method!r}; accepted: "
            f"{sorted(ACCEPTED_PARAMETERS[method])}."
        )
    # Check the columns once, before any expensive work.
    model.select_features(dataset.frame)
    # Seeded unless the caller says otherwise, so that the same request gives
    # the same numbers from the library, the service and the command line.
    if method != "integrated-gradients":
        parameters.setdefault("random_state", 0)
    return parameters


def permutation_inputs(dataset: Dataset, parameters: dict):
    """The rows and labels permutation importance scores on, and its options.

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
    model: Model,
    dataset: Dataset,
    *,
    method: str,
    parameters: dict | None = None,
    progress: ProgressCallback | None = None,
):
    """Run ``method`` on ``model`` over ``dataset`` and return its result.

    Parameters
    ----------
    model : Model
    dataset : Dataset
        For ``permutation`` it must have a target column.
    method : {"permutation", "shap", "integrated-gradients"}
    parameters : dict
        The method's keyword options (see each method), plus ``n_rows`` or
        ``row_indices`` choosing the rows that local methods explain
        (default: a seeded sample of 100 rows), and ``max_rows`` capping
        the rows permutation importance scores on.
    """
    parameters = check_parameters(model, dataset, method, parameters)
    if method == "permutation":
        frame, y, options = permutation_inputs(dataset, parameters)
        return permutation_importance(
            model, frame, y, dataset_digest=dataset.digest, progress=progress, **options
        )

    random_state = parameters.get("random_state", 0)
    rows, indices = select_rows(
        dataset,
        n_rows=parameters.pop("n_rows", None),
        row_indices=parameters.pop("row_indices", None),
        random_state=random_state,
    )
    if method == "shap":
        return shap_values(
            model, rows, background=dataset.frame, row_indices=indices,
            dataset_digest=dataset.digest, progress=progress, **parameters,
        )
    parameters.pop("random_state", None)
    return integrated_gradients(
        model, rows, reference=dataset.frame, row_indices=indices,
        dataset_digest=dataset.digest, progress=progress, **parameters,
    )
