"""What-if queries: change a row and see the prediction move; sweep a feature."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import SurfaceResult, SweepResult, WhatIfBatchResult, WhatIfResult, to_jsonable
from ._common import check_integer_range, check_positive_int, check_rows
from ._shap import shap_values

MAX_GRID_POINTS = 1000
# A sweep, surface or batch predicts all its rows in one call. Past this many
# rows the request is rejected, because it would run for minutes.
MAX_PREDICTED_ROWS = 1_000_000
MAX_VARIANTS = 10_000
MAX_EXPLAINED_VARIANTS = 500


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
        try:
            finite = bool(np.isfinite(float(value)))
        except OverflowError:
            finite = False
        if not finite:
            raise InvalidParameterError(f"feature {feature!r} needs a finite number, got {value!r}.")
        if pd.api.types.is_integer_dtype(dtype):
            if value != round(value):
                raise InvalidParameterError(
                    f"feature {feature!r} takes whole numbers ({dtype}), as in the training data; "
                    f"got {value!r}. Give a whole number."
                )
            check_integer_range(feature, value, dtype)
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
    if pd.api.types.is_bool_dtype(dtype):
        if not has_missing:
            return pd.Series(repeated.astype(bool))
        # A bool column cannot hold a missing value (pandas would turn it into
        # False), so the column becomes object with NaN, as read_csv makes it.
        return pd.Series([np.nan if value is None else bool(value) for value in repeated], dtype=object)
    return pd.Series(repeated, dtype=dtype)


def _check_changes(model: Model, changes) -> None:
    if not isinstance(changes, dict):
        raise InvalidParameterError(f"changes must map feature names to values, got {changes!r}.")
    unknown = sorted(set(changes) - set(model.feature_names))
    if unknown:
        raise UnusableInputError(
            f"changes name feature(s) {unknown} that the model does not take; its features are "
            f"{list(model.feature_names)}.",
            details={"unknown_features": unknown},
        )


def apply_changes(model: Model, row: pd.DataFrame, changes: dict) -> pd.DataFrame:
    """Return a copy of a one-row frame with ``changes`` ({feature: value}) applied."""
    _check_changes(model, changes)
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


def _unseen_categories(changes, reference: pd.DataFrame) -> list[str]:
    """Describe new categorical values that never occur in ``reference``.

    ``changes`` is {feature: value} or a sequence of (feature, value) pairs.
    """
    pairs = changes.items() if isinstance(changes, dict) else changes
    notes = []
    for feature, value in pairs:
        if not isinstance(value, str) or feature not in reference.columns:
            continue
        column = reference[feature]
        if _is_numeric(column.dtype) or (column == value).any():
            continue
        notes.append(
            f"value {value!r} of feature {feature!r} does not occur in the dataset, so the model "
            "may treat it as an unknown category (a one-hot encoder that ignores unknown values "
            "encodes it as none of the known categories)."
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


def _check_feature(model: Model, feature) -> str:
    if feature not in model.feature_names:
        raise UnusableInputError(
            f"feature {feature!r} is not an input of the model; its features are {list(model.feature_names)}."
        )
    return feature


def _check_size(n_predictions: int, what: str) -> None:
    if n_predictions > MAX_PREDICTED_ROWS:
        raise InvalidParameterError(
            f"{what} needs {n_predictions:,} predictions, more than the {MAX_PREDICTED_ROWS:,} one "
            "request may make; give fewer rows, a smaller grid or fewer variants."
        )


def _feature_kind(dtype) -> str:
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    return "numeric" if _is_numeric(dtype) else "categorical"


def _default_grid(column: pd.Series, n_points: int) -> list:
    """The values a sweep tries when no grid is given, of the column's own kind."""
    values = column.dropna()
    if len(values) == 0:
        raise UnusableInputError(
            f"feature {column.name!r} has no values in the reference data to build a grid from; "
            "give the grid explicitly."
        )
    if pd.api.types.is_bool_dtype(column.dtype):
        return sorted(bool(value) for value in values.unique())
    if not _is_numeric(column.dtype):
        # Past n_points categories, the most frequent ones.
        counts = values.astype(object).value_counts()
        return sorted(counts.index[:n_points].tolist(), key=str)
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


def _resolve_grid(rows: pd.DataFrame, feature: str, grid, *, n_points: int, include_missing: bool,
                  reference: pd.DataFrame | None, name: str = "grid") -> list:
    """Check a given grid against the feature's dtype, or build the default one."""
    dtype = rows[feature].dtype
    if grid is None:
        source = rows if reference is None else reference
        grid = _default_grid(source[feature], n_points)
    else:
        if not isinstance(grid, (list, tuple)) or not 1 <= len(grid) <= MAX_GRID_POINTS:
            raise InvalidParameterError(
                f"{name} must be a list of 1 to {MAX_GRID_POINTS} values, got {grid!r}."
            )
        grid = [_check_value(feature, value, dtype) for value in grid]
    if include_missing and None not in grid:
        grid = list(grid) + [None]
    return list(grid)


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

    Gives individual conditional expectation (ICE) curves per row, their
    average (the partial dependence) and the centered ICE curves, each
    curve minus its value at the first grid point.

    Parameters
    ----------
    model : Model
    rows : pandas.DataFrame of shape (n_rows, n_columns)
    feature : str
    grid : list, optional
        Values to try. Default: the distinct values of ``reference`` when
        there are at most ``n_points`` of them (so a two-valued feature gets
        a grid of two), else ``n_points`` evenly spaced numbers from its
        minimum to its maximum, whole numbers for integer features; for
        categorical features, the categories (the ``n_points`` most frequent
        when there are more); for boolean features, false and true.
    n_points : int, default=20
    include_missing : bool, default=False
        Append a missing value (None) to the grid.
    reference : pandas.DataFrame, optional
        Data the default grid is taken from; defaults to ``rows``.

    Returns
    -------
    SweepResult
        ``predictions`` and ``centered_predictions`` of shape
        (n_rows, n_grid) or (n_rows, n_grid, n_classes); ``row_predictions``
        of shape (n_rows,) or (n_rows, n_classes), at each row's own value.
    """
    started = time.perf_counter()
    rows = model.select_features(check_rows(rows, "rows")).reset_index(drop=True)
    _check_feature(model, feature)
    n_points = check_positive_int("n_points", n_points, minimum=2, maximum=MAX_GRID_POINTS)
    reference = None if reference is None else model.select_features(reference)
    grid = _resolve_grid(rows, feature, grid, n_points=n_points, include_missing=include_missing,
                         reference=reference)
    n_rows, n_grid = len(rows), len(grid)
    _check_size(n_rows * n_grid, f"a sweep of {n_rows} row(s) over {n_grid} grid values")

    # stacked: grid value g for every row, g-major: (n_grid * n_rows) rows.
    dtype = rows[feature].dtype
    stacked = rows.iloc[np.tile(np.arange(n_rows), n_grid)].reset_index(drop=True)
    stacked[feature] = _column_of(grid, dtype, n_repeat=n_rows)
    predictions = model.predict(stacked)
    # (n_grid * n_rows[, k]) -> (n_grid, n_rows[, k]) -> (n_rows, n_grid[, k])
    predictions = predictions.reshape((n_grid, n_rows) + predictions.shape[1:]).swapaxes(0, 1)
    centered = predictions - predictions[:, :1]

    return SweepResult(
        method="sweep",
        parameters={"feature": feature, "n_points": n_points, "include_missing": include_missing},
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature=feature,
        feature_kind=_feature_kind(dtype),
        grid=to_jsonable(grid),
        grid_dtype=str(stacked[feature].dtype),
        class_names=model.class_names,
        predictions=predictions,
        average=predictions.mean(axis=0),
        centered_predictions=centered,
        centered_average=centered.mean(axis=0),
        row_values=to_jsonable(rows[feature].tolist()),
        row_predictions=model.predict(rows),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
        notes=tuple(_unseen_categories([(feature, value) for value in grid], reference))
        if reference is not None else (),
    )


def sweep_2d(
    model: Model,
    rows: pd.DataFrame,
    features,
    *,
    grids: list | None = None,
    n_points: int = 10,
    include_missing: bool = False,
    reference: pd.DataFrame | None = None,
    row_indices=None,
    dataset_digest: str | None = None,
) -> SurfaceResult:
    """Predict each row with two features set to every pair of grid values.

    Parameters
    ----------
    model : Model
    rows : pandas.DataFrame of shape (n_rows, n_columns)
    features : sequence of two str
    grids : list of two lists (or None), optional
        The values of each feature; None or a missing entry builds the
        default grid as :func:`sweep` does.
    n_points : int, default=10
        Default grid size of each feature.
    include_missing : bool, default=False
        Append a missing value to both grids.
    reference : pandas.DataFrame, optional
        Data the default grids are taken from; defaults to ``rows``.

    Returns
    -------
    SurfaceResult
        ``predictions`` of shape (n_rows, n_x, n_y) or (n_rows, n_x, n_y,
        n_classes), where x is the first feature. ``average`` is their mean
        over rows, the two-way partial dependence.
    """
    started = time.perf_counter()
    rows = model.select_features(check_rows(rows, "rows")).reset_index(drop=True)
    if not isinstance(features, (list, tuple)) or len(features) != 2 or features[0] == features[1]:
        raise InvalidParameterError(f"features must name two different features, got {features!r}.")
    for feature in features:
        _check_feature(model, feature)
    if grids is None:
        grids = [None, None]
    if not isinstance(grids, (list, tuple)) or len(grids) != 2:
        raise InvalidParameterError(f"grids must be a list of two grids (or nulls), got {grids!r}.")
    n_points = check_positive_int("n_points", n_points, minimum=2, maximum=MAX_GRID_POINTS)
    reference = None if reference is None else model.select_features(reference)
    resolved = [
        _resolve_grid(rows, feature, grid, n_points=n_points, include_missing=include_missing,
                      reference=reference, name=f"the grid of {feature!r}")
        for feature, grid in zip(features, grids)
    ]
    n_rows, n_x, n_y = len(rows), len(resolved[0]), len(resolved[1])
    _check_size(n_rows * n_x * n_y, f"a surface of {n_rows} row(s) over {n_x} x {n_y} grid values")

    # stacked: x-major, then y, then rows: row ((i * n_y) + j) * n_rows + r.
    stacked = rows.iloc[np.tile(np.arange(n_rows), n_x * n_y)].reset_index(drop=True)
    x, y = features
    stacked[x] = _column_of(resolved[0], rows[x].dtype, n_repeat=n_y * n_rows)
    y_values = np.tile(np.repeat(np.asarray(resolved[1], dtype=object), n_rows), n_x)
    stacked[y] = _column_of(list(y_values), rows[y].dtype)
    predictions = model.predict(stacked)
    # (n_x * n_y * n_rows[, k]) -> (n_x, n_y, n_rows[, k]) -> (n_rows, n_x, n_y[, k])
    predictions = np.moveaxis(predictions.reshape((n_x, n_y, n_rows) + predictions.shape[1:]), 2, 0)

    return SurfaceResult(
        method="sweep-2d",
        parameters={"features": list(features), "n_points": n_points, "include_missing": include_missing},
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        features=list(features),
        feature_kinds=[_feature_kind(rows[feature].dtype) for feature in features],
        grids=to_jsonable(resolved),
        grid_dtypes=[str(stacked[feature].dtype) for feature in features],
        class_names=model.class_names,
        predictions=predictions,
        average=predictions.mean(axis=0),
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
    )


def _check_variants(variants, n_rows: int) -> list[tuple[int, dict]]:
    """Validate variants ({"base": position, "changes": {...}}) into (base, changes) pairs."""
    if not isinstance(variants, (list, tuple)) or not 1 <= len(variants) <= MAX_VARIANTS:
        raise InvalidParameterError(
            f"variants must be a list of 1 to {MAX_VARIANTS} objects, got "
            f"{variants if not isinstance(variants, (list, tuple)) else f'{len(variants)} items'!r}."
        )
    checked = []
    for position, variant in enumerate(variants):
        if not isinstance(variant, dict) or set(variant) - {"base", "changes"}:
            raise InvalidParameterError(
                f"variant {position} must be an object with 'changes' and optionally 'base', "
                f"got {variant!r}."
            )
        base = variant.get("base", 0)
        if isinstance(base, bool) or not isinstance(base, (int, np.integer)) or not 0 <= base < n_rows:
            raise InvalidParameterError(
                f"variant {position} has base {base!r}; it must be the position of one of the "
                f"{n_rows} base row(s), from 0 to {n_rows - 1}."
            )
        checked.append((int(base), variant.get("changes", {})))
    return checked


def _apply_variants(model: Model, rows: pd.DataFrame, variants: list[tuple[int, dict]]) -> pd.DataFrame:
    """Build one row per variant: its base row with its changes, dtypes kept where possible."""
    changed = rows.iloc[[base for base, _ in variants]].reset_index(drop=True)
    new_values: dict[str, dict[int, object]] = {}
    for position, (_, changes) in enumerate(variants):
        _check_changes(model, changes)
        for feature, value in changes.items():
            value = _check_value(feature, value, rows[feature].dtype)
            new_values.setdefault(feature, {})[position] = value
    for feature, by_position in new_values.items():
        values = [None if _is_missing(value) else value for value in changed[feature].tolist()]
        for position, value in by_position.items():
            values[position] = value
        changed[feature] = _column_of(values, rows[feature].dtype)
    return changed


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def what_if_batch(
    model: Model,
    rows: pd.DataFrame,
    variants: list,
    *,
    explain: bool = False,
    background: pd.DataFrame | None = None,
    background_size: int = 100,
    output_space: str = "auto",
    random_state=0,
    row_indices=None,
    dataset_digest: str | None = None,
) -> WhatIfBatchResult:
    """Predict many changed copies of one or more base rows in one batch.

    Parameters
    ----------
    model : Model
    rows : pandas.DataFrame of shape (n_rows, n_columns)
        The base rows, as raw columns.
    variants : list of dict
        Each ``{"base": position in rows (default 0), "changes": {feature:
        value}}``; None sets a value missing. At most 10,000.
    explain : bool, default=False
        Add each variant's SHAP values (at most 500 variants).
    background : pandas.DataFrame, optional
        Background rows for SHAP (usually the dataset); defaults to the base rows.

    Returns
    -------
    WhatIfBatchResult
        ``base_predictions`` of shape (n_rows, n_outputs); per variant, its
        row, ``prediction`` and ``change`` (n_outputs,), where n_outputs is
        the number of classes, or 1 for regression.
    """
    started = time.perf_counter()
    rows = model.select_features(check_rows(rows, "rows")).reset_index(drop=True)
    variants = _check_variants(variants, len(rows))
    if explain and len(variants) > MAX_EXPLAINED_VARIANTS:
        raise InvalidParameterError(
            f"explain is limited to {MAX_EXPLAINED_VARIANTS} variants, got {len(variants)}; "
            "send fewer variants, or set explain to false."
        )
    changed = _apply_variants(model, rows, variants)

    # One batch: the base rows, then the variants.
    predictions = model.predict(pd.concat([rows, changed], ignore_index=True))
    # (n_rows + n_variants,[ k]) -> (n_rows + n_variants, n_outputs)
    predictions = predictions.reshape(len(predictions), -1)
    before, after = predictions[:len(rows)], predictions[len(rows):]
    bases = np.array([base for base, _ in variants])

    explanation = None
    if explain:
        explanation = shap_values(
            model, changed,
            background=background if background is not None else rows,
            background_size=background_size,
            output_space=output_space,
            random_state=random_state,
            dataset_digest=dataset_digest,
        )
    results = []
    for position, (base, changes) in enumerate(variants):
        item = {
            "base": base,
            "changes": to_jsonable(changes),
            "row": to_jsonable(changed.iloc[position].to_dict()),
            "prediction": to_jsonable(after[position]),
            "change": to_jsonable(after[position] - before[base]),
        }
        if explanation is not None:
            item["explanation"] = {
                "values": to_jsonable(explanation.values[position]),
                "base_values": to_jsonable(explanation.base_values[position]),
            }
        results.append(item)

    return WhatIfBatchResult(
        method="what-if-batch",
        parameters={"explain": explain, "background_size": background_size,
                    "output_space": output_space, "random_state": random_state},
        output_space=model.output_space,
        model_digest=model.digest,
        dataset_digest=dataset_digest,
        elapsed_seconds=time.perf_counter() - started,
        feature_names=model.feature_names,
        class_names=model.class_names,
        base_rows=[to_jsonable(rows.iloc[i].to_dict()) for i in range(len(rows))],
        base_predictions=before,
        row_indices=None if row_indices is None else [int(i) for i in row_indices],
        variants=results,
        explanation=None if explanation is None else {
            "explainer": explanation.explainer,
            "output_space": explanation.output_space,
            "background_size": explanation.background_size,
            "max_additivity_error": explanation.max_additivity_error,
        },
    )
