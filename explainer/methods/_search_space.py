"""The values that a counterfactual search or an input optimization may give each feature.

A search space is built once per query from the base row, the caller's
constraints (bounds, allowed categories, steps, the features that may move)
and a reference dataset that supplies the defaults. Candidate rows are held
column-wise, as one array per feature: float64 for numeric features, with NaN
for a missing value, and object for categorical and boolean features, with
None for a missing value. They become DataFrames in the base row's dtypes
only to be predicted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError
from ..models import Model
from ..results import to_jsonable
from ._common import check_rows

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"

# Categories listed in an error message about an unknown category.
MAX_LISTED_CATEGORIES = 50

Candidates = dict[str, np.ndarray]


@dataclass(frozen=True)
class FeatureSpace:
    """The values one feature may take in a search.

    ``original`` is the base row's value: a float (NaN when missing) for a
    numeric feature, else a category or bool (None when missing). A numeric
    feature moves within [``low``, ``high``], on multiples of ``step`` from
    ``low`` when ``step`` is set, and its changes are divided by ``scale``
    in distances. A categorical or boolean feature may change to one of
    ``categories``, which never contains the original value.
    """

    name: str
    kind: str
    dtype: object
    original: object
    movable: bool
    low: float | None = None
    high: float | None = None
    step: float | None = None
    scale: float = 1.0
    categories: tuple = ()

    @property
    def is_numeric(self) -> bool:
        return self.kind == NUMERIC


def is_numeric_dtype(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def one_row(model: Model, row: pd.DataFrame) -> pd.DataFrame:
    """Return the model's columns of a one-row frame, with a fresh index."""
    row = model.select_features(check_rows(row, "row")).reset_index(drop=True)
    if len(row) != 1:
        raise InvalidParameterError(f"row must be one base row, got {len(row)} rows.")
    return row


def check_feature_list(name: str, value, model: Model) -> list[str]:
    """Validate a list of feature names of the model; None means an empty list."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple, set)) \
            or not all(isinstance(item, str) for item in value):
        raise InvalidParameterError(f"{name} must be a list of feature names, got {value!r}.")
    _check_known(name, value, model)
    return list(dict.fromkeys(value))


def _check_known(name: str, features, model: Model) -> None:
    unknown = sorted(set(features) - set(model.feature_names))
    if unknown:
        raise UnusableInputError(
            f"{name} names feature(s) {unknown} that the model does not take; its features are "
            f"{list(model.feature_names)}.",
            details={"unknown_features": unknown},
        )


def _check_mapping(name: str, value, model: Model, expected: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameterError(f"{name} must map feature names to {expected}, got {value!r}.")
    _check_known(name, value, model)
    return value


def check_finite(name: str, value) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)) \
            or not math.isfinite(value):
        raise InvalidParameterError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def build_space(
    model: Model,
    row: pd.DataFrame,
    *,
    movable: list[str],
    fixed_by: str,
    bounds=None,
    allowed_categories=None,
    steps=None,
    reference: pd.DataFrame | None = None,
) -> list[FeatureSpace]:
    """Resolve every feature's allowed values from the constraints and the reference.

    Parameters
    ----------
    model : Model
    row : pandas.DataFrame with one row
        The base row, already restricted to the model's features.
    movable : list of str
        Features that may change.
    fixed_by : str
        How the caller fixes the other features, as it appears in messages,
        such as ``"is frozen"``.
    bounds, allowed_categories, steps : dict, optional
        Constraints by feature name, as documented on ``counterfactuals``.
    reference : pandas.DataFrame, optional
        The dataset that supplies default bounds, categories and scales.

    Returns
    -------
    list of FeatureSpace
        One per model feature, in the model's order.
    """
    bounds = _check_mapping("bounds", bounds, model, "[low, high] pairs")
    allowed_categories = _check_mapping("allowed_categories", allowed_categories, model, "lists of values")
    steps = _check_mapping("steps", steps, model, "positive numbers")
    if reference is not None:
        reference = model.select_features(check_rows(reference, "reference"))

    for name, constrained in (("bounds", bounds), ("allowed_categories", allowed_categories),
                              ("steps", steps)):
        fixed = [feature for feature in model.feature_names if feature in constrained and feature not in movable]
        if fixed:
            raise InvalidParameterError(
                f"{name} constrains feature(s) {fixed}, which cannot change because each {fixed_by}; "
                f"drop them from {name}, or let them change."
            )

    space = []
    for feature in model.feature_names:
        column = row[feature]
        known = None if reference is None else reference[feature].dropna()
        if is_numeric_dtype(column.dtype):
            if feature in allowed_categories:
                raise InvalidParameterError(
                    f"allowed_categories apply to categorical and boolean features, but {feature!r} is "
                    "numeric; limit it with bounds instead."
                )
            space.append(_numeric_space(feature, column, known, feature in movable,
                                        bounds.get(feature), steps.get(feature)))
        else:
            for name, constrained in (("bounds", bounds), ("steps", steps)):
                if feature in constrained:
                    raise InvalidParameterError(
                        f"{name} apply to numeric features, but {feature!r} is categorical; limit it with "
                        "allowed_categories instead."
                    )
            space.append(_categorical_space(feature, column, known, feature in movable,
                                            allowed_categories.get(feature)))
    return space


def _numeric_space(feature: str, column: pd.Series, known: pd.Series | None, movable: bool,
                   given_bounds, given_step) -> FeatureSpace:
    original = column.iloc[0]
    original = np.nan if pd.isna(original) else float(original)
    values = np.empty(0) if known is None else known.to_numpy(dtype=np.float64)
    is_integer_dtype = pd.api.types.is_integer_dtype(column.dtype)

    # Default bounds: the reference's range, widened to include the original value.
    limits = [float(values.min()), float(values.max())] if len(values) else []
    limits += [original] if math.isfinite(original) else []
    low = min(limits) if limits else None
    high = max(limits) if limits else None
    if given_bounds is not None:
        if not isinstance(given_bounds, (list, tuple)) or len(given_bounds) != 2:
            raise InvalidParameterError(
                f"bounds of feature {feature!r} must be [low, high], either null for the dataset's "
                f"limit, got {given_bounds!r}."
            )
        if given_bounds[0] is not None:
            low = check_finite(f"the low bound of feature {feature!r}", given_bounds[0])
        if given_bounds[1] is not None:
            high = check_finite(f"the high bound of feature {feature!r}", given_bounds[1])
        if low is not None and high is not None and low > high:
            raise InvalidParameterError(
                f"bounds of feature {feature!r} must have low <= high, got [{low}, {high}] "
                f"(a null side takes the dataset's limit)."
            )

    step = None
    if given_step is not None:
        step = check_finite(f"the step of feature {feature!r}", given_step)
        if step <= 0:
            raise InvalidParameterError(f"the step of feature {feature!r} must be positive, got {given_step!r}.")
        if is_integer_dtype and step != round(step):
            raise InvalidParameterError(
                f"feature {feature!r} takes whole numbers ({column.dtype}), so its step must be a whole "
                f"number, got {given_step!r}."
            )
    elif is_integer_dtype or (len(values) > 0 and np.all(values == np.round(values))
                              and (not math.isfinite(original) or original == round(original))):
        step = 1.0

    if is_integer_dtype and low is not None and high is not None:
        low, high = float(math.ceil(low)), float(math.floor(high))
        if low > high:
            raise InvalidParameterError(
                f"feature {feature!r} takes whole numbers ({column.dtype}), but its bounds "
                f"{list(given_bounds)} contain none."
            )
    if step is not None and low is not None and high is not None:
        high = _snap_down(low, high, step)

    scale = _median_absolute_deviation(values)
    if scale == 0:
        scale = float(values.max() - values.min()) if len(values) else 0.0
    if scale == 0 and low is not None and high is not None:
        scale = high - low
    if scale == 0:
        scale = 1.0

    can_move = movable and low is not None and high is not None and (high > low or low != original)
    return FeatureSpace(name=feature, kind=NUMERIC, dtype=column.dtype, original=original,
                        movable=can_move, low=low, high=high, step=step, scale=scale)


def _snap_down(low: float, high: float, step: float) -> float:
    """Return the largest multiple of ``step`` above ``low`` that is at most ``high``."""
    n_steps = math.floor((high - low) / step + 1e-9)
    return float(_round_to_step(np.array([low + n_steps * step]), step)[0])


def _round_to_step(values: np.ndarray, step: float) -> np.ndarray:
    # Removes float noise such as 0.30000000000000004 from low + k * step.
    decimals = max(0, -math.floor(math.log10(step))) + 6
    return np.round(values, decimals)


def _median_absolute_deviation(values: np.ndarray) -> float:
    if len(values) == 0:
        return 0.0
    return float(np.median(np.abs(values - np.median(values))))


def _categorical_space(feature: str, column: pd.Series, known: pd.Series | None, movable: bool,
                       given) -> FeatureSpace:
    is_boolean = pd.api.types.is_bool_dtype(column.dtype)
    original = column.iloc[0]
    if pd.isna(original):
        original = None
    elif is_boolean:
        original = bool(original)
    seen = [] if known is None else list(pd.unique(known.astype(object)))
    if is_boolean:
        seen = [bool(value) for value in seen]

    if given is None:
        allowed = seen + ([original] if original is not None else [])
    else:
        if not isinstance(given, (list, tuple)) or len(given) == 0:
            raise InvalidParameterError(
                f"allowed_categories of feature {feature!r} must be a non-empty list of values, got {given!r}."
            )
        for value in given:
            _check_category(feature, value, is_boolean, seen, original, known is not None)
        allowed = list(given)

    categories = tuple(value for value in dict.fromkeys(allowed) if not same_value(value, original))
    return FeatureSpace(name=feature, kind=BOOLEAN if is_boolean else CATEGORICAL, dtype=column.dtype,
                        original=original, movable=movable and len(categories) > 0,
                        categories=categories)


def same_value(first, second) -> bool:
    if first is None or second is None:
        return first is second
    return bool(first == second)


def _check_category(feature: str, value, is_boolean: bool, seen: list, original, has_reference: bool) -> None:
    if value is None:
        return
    if is_boolean and not isinstance(value, (bool, np.bool_)):
        raise InvalidParameterError(
            f"feature {feature!r} is boolean, so allowed_categories must list true, false or null, "
            f"got {value!r}."
        )
    if not is_boolean and not isinstance(value, str):
        raise InvalidParameterError(
            f"feature {feature!r} is categorical, so allowed_categories must list categories as strings "
            f"or null, got {value!r}."
        )
    if has_reference and value not in seen and not same_value(value, original):
        listed = sorted(map(str, seen))
        shown = listed[:MAX_LISTED_CATEGORIES] + (["..."] if len(listed) > MAX_LISTED_CATEGORIES else [])
        raise UnusableInputError(
            f"allowed_categories of feature {feature!r} lists {value!r}, which does not occur in the "
            f"dataset; its categories are {shown}.",
            details={"unknown_categories": {feature: value}},
        )


# Candidates ------------------------------------------------------------------

def originals(space: list[FeatureSpace], n_rows: int) -> Candidates:
    """Return ``n_rows`` copies of the base row."""
    return {
        feature.name: np.full(n_rows, feature.original, dtype=np.float64 if feature.is_numeric else object)
        for feature in space
    }


def object_array(values: list) -> np.ndarray:
    """Return a 1-D object array of ``values``, which numpy would otherwise try to nest or convert."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def take(candidates: Candidates, index) -> Candidates:
    return {name: values[index] for name, values in candidates.items()}


def concatenate(parts: list[Candidates], space: list[FeatureSpace]) -> Candidates:
    if not parts:
        return originals(space, 0)
    return {feature.name: np.concatenate([part[feature.name] for part in parts]) for feature in space}


def count(candidates: Candidates) -> int:
    return len(next(iter(candidates.values()))) if candidates else 0


def to_frame(space: list[FeatureSpace], candidates: Candidates) -> pd.DataFrame:
    """Build the candidates' DataFrame in the base row's dtypes.

    An integer column stays integer because its values lie on whole steps;
    a column that has to hold a missing value becomes float (numeric) or
    keeps its dtype's missing marker (categorical).
    """
    columns = {}
    for feature in space:
        values = candidates[feature.name]
        if feature.is_numeric:
            if pd.api.types.is_integer_dtype(feature.dtype) and not np.isnan(values).any():
                columns[feature.name] = pd.Series(values.astype(feature.dtype))
            else:
                columns[feature.name] = pd.Series(values, dtype=np.float64)
            continue
        missing = np.array([value is None for value in values], dtype=bool)
        # scikit-learn's imputers recognise NaN, not None, as missing in object columns.
        with_nan = np.where(missing, np.nan, values)
        if feature.kind == BOOLEAN:
            columns[feature.name] = pd.Series(values.astype(bool) if not missing.any() else with_nan)
        elif isinstance(feature.dtype, pd.CategoricalDtype):
            categories = [value for value in dict.fromkeys([*feature.dtype.categories, *feature.categories])
                          if value is not None]
            columns[feature.name] = pd.Series(pd.Categorical(with_nan, categories=categories))
        else:
            columns[feature.name] = pd.Series(with_nan, dtype=feature.dtype)
    return pd.DataFrame(columns)


def row_values(frame: pd.DataFrame, position: int) -> dict:
    """Return one row of ``frame`` as JSON values, column by column so that integers stay ints."""
    return {name: to_jsonable(frame[name].iloc[position]) for name in frame.columns}


def change_matrix(space: list[FeatureSpace], candidates: Candidates) -> np.ndarray:
    """Return which features each candidate changes, shape (n_candidates, n_features)."""
    return np.stack([_differs(feature, candidates[feature.name], feature.original) for feature in space],
                    axis=1) if space else np.zeros((count(candidates), 0), dtype=bool)


def cost_matrix(space: list[FeatureSpace], candidates: Candidates) -> np.ndarray:
    """Return each feature's share of the distance to the base row, shape (n_candidates, n_features)."""
    return np.stack([_cost(feature, candidates[feature.name], feature.original) for feature in space],
                    axis=1) if space else np.zeros((count(candidates), 0))


def pairwise_cost(space: list[FeatureSpace], candidates: Candidates, position: int) -> np.ndarray:
    """Return the distance of every candidate to candidate ``position``, shape (n_candidates,)."""
    total = np.zeros(count(candidates))
    for feature in space:
        values = candidates[feature.name]
        total += _cost(feature, values, values[position])
    return total


def _differs(feature: FeatureSpace, values: np.ndarray, reference) -> np.ndarray:
    if feature.is_numeric:
        both_missing = np.isnan(values) & np.isnan(reference)
        return ~both_missing & (values != reference)
    return np.array([not same_value(value, reference) for value in values], dtype=bool)


def _cost(feature: FeatureSpace, values: np.ndarray, reference) -> np.ndarray:
    if not feature.is_numeric:
        return _differs(feature, values, reference).astype(np.float64)
    one_missing = np.isnan(values) != np.isnan(reference)
    scaled = np.abs(values - reference) / feature.scale
    return np.where(one_missing, 1.0, np.nan_to_num(scaled, nan=0.0))


def snap(feature: FeatureSpace, values: np.ndarray) -> np.ndarray:
    """Move numeric values into the bounds and onto the step grid."""
    values = np.clip(values, feature.low, feature.high)
    if feature.step is None:
        return values
    n_steps = np.round((values - feature.low) / feature.step)
    return _round_to_step(feature.low + n_steps * feature.step, feature.step)


def sample(feature: FeatureSpace, rng: np.random.Generator, n_rows: int, *, radius: float = 1.0,
           around=None, include_original: bool = False) -> np.ndarray:
    """Draw ``n_rows`` allowed values of a movable feature.

    Numeric values are uniform within ``radius`` times the bounds' width of
    ``around`` (default the original value, or anywhere when it is missing);
    categories are uniform over the allowed ones.
    """
    if not feature.is_numeric:
        choices = list(feature.categories) + ([feature.original] if include_original else [])
        return object_array(choices)[rng.integers(len(choices), size=n_rows)]

    center = feature.original if around is None else around
    width = radius * (feature.high - feature.low)
    low, high = feature.low, feature.high
    if isinstance(center, np.ndarray) or math.isfinite(center):
        low = np.maximum(feature.low, np.asarray(center) - width)
        high = np.minimum(feature.high, np.asarray(center) + width)
    if feature.step is None:
        return rng.uniform(low, high, n_rows)
    # Uniform over the grid points in [low, high], endpoints included.
    first = np.ceil((low - feature.low) / feature.step - 1e-9)
    last = np.floor((high - feature.low) / feature.step + 1e-9)
    n_steps = first + np.floor(rng.random(n_rows) * (last - first + 1))
    return snap(feature, feature.low + n_steps * feature.step)
