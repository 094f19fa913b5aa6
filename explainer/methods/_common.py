"""Helpers shared by the explanation methods."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from .._errors import InvalidParameterError, UnusableInputError

ProgressCallback = Callable[[float, str], None]


def report(progress: ProgressCallback | None, fraction: float, stage: str) -> None:
    """Call ``progress`` if given; fraction is in [0, 1]."""
    if progress is not None:
        progress(min(max(float(fraction), 0.0), 1.0), stage)


def check_positive_int(name: str, value, *, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidParameterError(f"{name} must be an integer, got {value!r}.")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise InvalidParameterError(f"{name} must be {bound}, got {value}.")
    return int(value)


def check_integer_range(feature: str, value, dtype) -> None:
    """Reject a whole number that an integer column of ``dtype`` cannot hold, rather than wrap it."""
    # Nullable pandas dtypes (Int64) name their NumPy dtype in numpy_dtype.
    limits = np.iinfo(getattr(dtype, "numpy_dtype", dtype))
    if not limits.min <= value <= limits.max:
        raise InvalidParameterError(
            f"feature {feature!r} contains {dtype} integers, from {limits.min} to {limits.max}; got "
            f"{value!r}, which does not fit. Give a value in that range."
        )


def check_choice(name: str, value, choices) -> str:
    if value not in choices:
        raise InvalidParameterError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def check_rows(frame: pd.DataFrame, name: str = "X") -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}.")
    if len(frame) == 0:
        raise UnusableInputError(f"{name} has no rows; give at least one row to explain.")
    return frame


def encode_labels(y, class_names) -> np.ndarray:
    """Map true labels to class indices, matching labels by their string form.

    Class names are the strings of the classifier's labels, so a CSV column
    of 0/1 integers matches a classifier fitted on 0/1. When no label is a
    class name and every label is a whole number from 0 to n_classes - 1, the
    labels are class indices, in the order of ``class_names``. A network
    whose classes are named in its metadata is often scored against a target
    of indices.
    """
    labels = pd.Series(y).reset_index(drop=True)
    if labels.isna().any():
        raise UnusableInputError(
            f"the target has {int(labels.isna().sum())} missing value(s); drop those rows first."
        )
    index = {name: position for position, name in enumerate(class_names)}
    as_text = labels.map(str)
    if not pd.api.types.is_bool_dtype(labels) and not set(as_text) & set(index):
        indices = pd.to_numeric(labels, errors="coerce")
        if indices.notna().all() and np.all(indices == np.round(indices)) \
                and indices.min() >= 0 and indices.max() < len(class_names):
            return indices.to_numpy(dtype=np.int64)
    unknown = sorted(set(as_text) - set(index))
    if unknown:
        raise UnusableInputError(
            f"the target contains label(s) {unknown[:10]} that are not classes of the model "
            f"{list(class_names)}; check the target column.",
        )
    return as_text.map(index).to_numpy(dtype=np.int64)


def regression_target(y) -> np.ndarray:
    values = pd.to_numeric(pd.Series(y), errors="coerce").to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise UnusableInputError(
            "the regression target has missing or non-numeric values; drop those rows first."
        )
    return values
