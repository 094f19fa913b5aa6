"""What-if queries: change a row and see the prediction move; sweep a feature."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import SweepResult, WhatIfResult, to_jsonable
from ._common import check_positive_int, check_rows
from ._shap import shap_values

MAX_GRID_POINTS = 1000


def _is_numeric(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _check_value(feature: str, value, dtype):
    """Validate one new value for a column of ``dtype``; None means missing."""
    if value is None:
        return None
    if pd.api.types.is_bool_dtype(dtype):
        if not isinstance(value, (bool, np.bool_)):
            raise InvalidParameterError(f"feature {feature!r} is boolean; give true or false, got {value!r}.")
        return bool(value)
    if _is_numeric(dtype):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise InvalidParameterError(
                f"feature {feature!r} is numeric; give a number or null, got {value!r}."
            )
        if not np.isfinite(value):
            raise InvalidParameterError(f"feature {feature!r} needs a finite number, got {value!r}.")
        if pd.api.types.is_integer_dtype(dtype) and value != round(value):
            raise InvalidParameterError(
                f"feature {feature!r} takes whole numbers ({dtype}), as in the training data; "
                f"got {value!r}. Give a whole number."
            )
        return value
    if not isinstance(value, str):
        raise InvalidParameterError(
            f"feature {feature!r} is categorical; give one of its categories as a string or "
            f"null, got {value!r}."
        )
    return value


def _column_of(values: list, dtype, n_repeat: int = 1) -> pd.Series:
    """Build a column of ``values`` (each repeated ``n_repeat`` times) in ``dtype`` where possible."""
    repeated = np.repeat(np.asarray(values, dtype=object), n_repeat)
    has_missing = any(value is None for value in values)
    if _is_numeric(dtype):
        as_float = np.array([np.nan if v is None else float(v) for v in repeated], dtype=np.float64)
        if pd.api.types.is_integer_dtype(dtype) and not has_missing \
                and np.all(as_float == np.round(as_float)):
            return pd.Series(as_float.astype(dtype))
        return pd.Series(as_float)
    if pd.api.types.is_bool_dtype(dtype) and not has_missing:
        return pd.Series(repeated.astype(bool))
    return pd.Series(repeated, dtype=dtype)


def apply_changes(model: Model, row: pd.DataFrame, changes: dict) -> pd.DataFrame:
    """Return a copy of a one-row frame with ``changes`` ({feature: value}) applied."""
    if not isinstance(changes, dict):
        raise InvalidParameterError(f"changes must map feature names to values, got {changes!r}.")
    unknown = sorted(set(changes) - set(model.feature_names))
    if unknown:
        raise UnusableInputError(
            f"changes name feature(s) {unknown} that the model does not take; its features are "
            f"{list(model.feature_names)}.",
            details={"unknown_features": unknown},
        )
    changed = row.copy()
    for feature, value in changes.items():
        dtype = row[feature].dtype
        value = _check_value(feature, value, dtype)
        changed[feature] = _column_of([value], dtype)
    return changed


def predict_changes(model: Model, row: pd.DataFrame, changes: dict):
    """Predict a row before and after changes in one batch; returns (changed, before, after)."""
    row = model.select_features(check_rows(row, "row")).reset_index(drop=True)
    if len(row) != 1:
        raise InvalidParameterError(f"a what-if query takes one base row, got {len(row)}.")
    changed = apply_changes(model, row, changes)
    predictions = model.predict(pd.concat([row, changed], ignore_index=True))
    return row, changed, predictions[0], predictions[1]


def _unseen_categories(changes: dict, reference: pd.DataFrame) -> list[str]:
    """Describe new categorical values that never occur in ``reference``."""
    notes = []
    for feature, value in changes.items():
        if not isinstance(value, str) or feature not in reference.columns:
            continue
        column = reference[feature]
        if _is_numeric(column.dtype) or (column == value).any():
            continue
        notes.append(
            f"value {value!r} of feature {feature!r} does not occur in the dataset, so the model "
            "may treat it as an unknown category (a one-hot encoder that ignores unknown values "
            "leaves the prediction unchanged)."
        )
    return notes


def what_if(
    model: Model,
    row: pd.DataFrame,
    changes: dict,
    *,
    explain: bool = True,
    background: pd.DataFrame | None = None,
    background_size: int = 100,
    output_space: str = "auto",
    random_state=0,
    dataset_digest: str | None = None,
) -> WhatIfResult:
    """Predict a row with some values changed, and explain the changed row.

    Parameters
    ----------
    model : Model
    row : pandas.DataFrame with one row
        The base row, as raw columns.
    changes : dict
        New values by feature name; None sets a value missing.
    explain : bool, default=True
        Add the SHAP explanation of the changed row.
    background : pandas.DataFrame, optional
        Background rows for SHAP (usually the dataset); defaults to the row.

    Returns
    -------
    WhatIfResult
        Predictions are (n_classes,) probabilities or a one-element array.
    """
    started = time.perf_counter()
    row, changed, before, after = predict_changes(model, row, changes)
    notes = _unseen_categories(changes, background) if background is not None else []
    explanation = None
    if explain:
        explanation = shap_values(
            model,
            changed,
            background=background if background is not None else row,
            background_size=background_size,
            output_space=output_space,
            random_state=random_state,
            dataset_digest=dataset_digest,
        ).to_dict()
    return WhatIfResult(
        method="what-if",
        parameters={"explain": explain, "background_size": background_size,
                    "output_space": output_space, "random_state": random_state},
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature_names=model.feature_names,
        class_names=model.class_names,
        changes={key: to_jsonable(value) for key, value in changes.items()},
        original_row=to_jsonable(row.iloc[0].to_dict()),
        changed_row=to_jsonable(changed.iloc[0].to_dict()),
        prediction_before=np.atleast_1d(before),
        prediction_after=np.atleast_1d(after),
        prediction_change=np.atleast_1d(after - before),
        explanation=explanation,
        notes=tuple(notes),
    )


def _default_grid(column: pd.Series, n_points: int) -> list:
    values = column.dropna()
    if len(values) == 0:
        raise UnusableInputError(
            f"feature {column.name!r} has no values in the reference data to build a grid from; "
            "give the grid explicitly."
        )
    if not _is_numeric(column.dtype):
        counts = values.astype(object).value_counts()
        return sorted(counts.index.tolist(), key=str)[:n_points] if len(counts) > n_points \
            else sorted(counts.index.tolist(), key=str)
    unique = np.unique(values.to_numpy(dtype=np.float64))
    is_integer = bool(np.all(unique == np.round(unique)))
    if len(unique) <= n_points:
        grid = unique
    else:
        grid = np.linspace(unique[0], unique[-1], n_points)
        if is_integer:
            grid = np.unique(np.round(grid))
    if is_integer:
        return [int(value) for value in grid]
    return [float(value) for value in grid]


def sweep(
    model: Model,
    rows: pd.DataFrame,
    feature: str,
    *,
    grid: list | None = None,
    n_points: int = 20,
    include_missing: bool = False,
    reference: pd.DataFrame | None = None,
    row_indices=None,
    dataset_digest: str | None = None,
) -> SweepResult:
    """Predict each row with one feature set to every value of a grid.

    Gives individual conditional expectation (ICE) curves per row and their
    average, the partial dependence.

    Parameters
    ----------
    model : Model
    rows : pandas.DataFrame of shape (n_rows, n_columns)
    feature : str
    grid : list, optional
        Values to try. Default: the distinct values of ``reference`` when
        there are at most ``n_points`` of them, else ``n_points`` evenly
        spaced numbers from its minimum to its maximum (whole numbers for
        integer features); for categorical features, the categories.
    n_points : int, default=20
    include_missing : bool, default=False
        Append a missing value (None) to the grid.
    reference : pandas.DataFrame, optional
        Data the default grid is taken from; defaults to ``rows``.

    Returns
    -------
    SweepResult
        ``predictions`` of shape (n_rows, n_grid) or (n_rows, n_grid, n_classes).
    """
    started = time.perf_counter()
    rows = model.select_features(check_rows(rows, "rows")).reset_index(drop=True)
    if feature not in model.feature_names:
        raise UnusableInputError(
            f"feature {feature!r} is not an input of the model; its features are {list(model.feature_names)}."
        )
    n_points = check_positive_int("n_points", n_points, minimum=2, maximum=MAX_GRID_POINTS)
    dtype = rows[feature].dtype
    if grid is None:
        source = rows if reference is None else model.select_features(reference)
        grid = _default_grid(source[feature], n_points)
    else:
        if not isinstance(grid, (list, tuple)) or not 1 <= len(grid) <= MAX_GRID_POINTS:
            raise InvalidParameterError(
                f"grid must be a list of 1 to {MAX_GRID_POINTS} values, got {grid!r}."
            )
        grid = [_check_value(feature, value, dtype) for value in grid]
    if include_missing and None not in grid:
        grid = list(grid) + [None]

    # stacked: grid value g for every row, g-major: (n_grid * n_rows) rows.
    n_rows, n_grid = len(rows), len(grid)
    stacked = rows.iloc[np.tile(np.arange(n_rows), n_grid)].reset_index(drop=True)
    stacked[feature] = _column_of(list(grid), dtype, n_repeat=n_rows)
    predictions = model.predict(stacked)
    # (n_grid * n_rows[, k]) -> (n_grid, n_rows[, k]) -> (n_rows, n_grid[, k])
    predictions = predictions.reshape((n_grid, n_rows) + predictions.shape[1:]).swapaxes(0, 1)

    return SweepResult(
        method="sweep",
        parameters={"feature": feature, "n_points": n_points, "include_missing": include_missing},
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature=feature,
        grid=to_jsonable(list(grid)),
        class_names=model.class_names,
        predictions=predictions,
        average=predictions.mean(axis=0),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
    )
