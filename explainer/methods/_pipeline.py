"""Look inside scikit-learn pipelines: preprocessing, final model, column mapping."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline


class UnmappableColumnsError(Exception):
    """The preprocessing's output columns cannot be traced to single raw columns."""


def split_pipeline(estimator):
    """Return (preprocessor or None, final estimator) of a fitted estimator.

    The preprocessor is a Pipeline of every step but the last; steps set to
    None or "passthrough" are skipped.
    """
    if not isinstance(estimator, Pipeline):
        return None, estimator
    steps = [(name, step) for name, step in estimator.steps if step not in (None, "passthrough")]
    if len(steps) == 1:
        return None, steps[0][1]
    return Pipeline(steps[:-1]), steps[-1][1]


def transform_dense(preprocessor, frame: pd.DataFrame) -> np.ndarray:
    """Apply the preprocessing and return a dense float64 matrix."""
    transformed = preprocessor.transform(frame)
    if hasattr(transformed, "toarray"):
        transformed = transformed.toarray()
    return np.asarray(transformed, dtype=np.float64)


def _resolve_columns(columns, names: list[str]) -> list[str]:
    """ColumnTransformer column selections (names, indices, masks, slices) as names."""
    if callable(columns):
        raise UnmappableColumnsError("callable column selections are not resolved")
    if isinstance(columns, slice):
        return list(pd.Index(names)[columns])
    if isinstance(columns, str | int | np.integer):
        columns = [columns]
    columns = list(columns)
    if not columns:
        return []
    if all(isinstance(item, bool | np.bool_) for item in columns):
        return [name for name, keep in zip(names, columns) if keep]
    if all(isinstance(item, int | np.integer) for item in columns):
        return [names[index] for index in columns]
    return [str(item) for item in columns]


def _map_outputs(output_names, input_columns: list[str]) -> list[str]:
    """Assign each output column of one transformer to one of its input columns.

    An output named after an input (scalers, imputers) maps to it; a one-hot
    output ``<input>_<category>`` maps to the longest input name it starts with.
    """
    if len(input_columns) == 1:
        return [input_columns[0]] * len(output_names)
    by_length = sorted(input_columns, key=len, reverse=True)
    mapped = []
    for output in output_names:
        output = str(output)
        if output in input_columns:
            mapped.append(output)
            continue
        owner = next((name for name in by_length if output.startswith(name + "_")), None)
        if owner is None:
            owner = next((name for name in by_length if name in output), None)
        if owner is None:
            raise UnmappableColumnsError(f"output column {output!r} matches no input column")
        mapped.append(owner)
    return mapped


def _column_transformer_map(transformer: ColumnTransformer, raw_names: list[str]) -> list[str]:
    names_in = [str(name) for name in getattr(transformer, "feature_names_in_", raw_names)]
    mapped: list[str] = []
    for name, step, columns in transformer.transformers_:
        columns = _resolve_columns(columns, names_in)
        if step == "drop" or not columns:
            continue
        if step == "passthrough":
            mapped.extend(columns)
            continue
        try:
            output_names = step.get_feature_names_out()
        except (AttributeError, ValueError, TypeError) as error:
            raise UnmappableColumnsError(f"transformer {name!r} has no output names: {error}") from error
        mapped.extend(_map_outputs(output_names, columns))
    return mapped


def raw_feature_index(preprocessor, raw_names, sample: pd.DataFrame) -> np.ndarray:
    """Return, per transformed column, the index of the raw feature it comes from.

    Supports a ColumnTransformer (optionally followed by steps that keep the
    number of columns, such as scalers), or a single column-wise transformer.

    Raises
    ------
    UnmappableColumnsError
        If some transformed column cannot be traced to exactly one raw column.
    """
    raw_names = [str(name) for name in raw_names]
    n_outputs = transform_dense(preprocessor, sample.iloc[:1]).shape[1]
    steps = [step for _, step in preprocessor.steps]
    first = steps[0]
    if isinstance(first, ColumnTransformer):
        mapped = _column_transformer_map(first, raw_names)
    else:
        try:
            output_names = first.get_feature_names_out()
        except (AttributeError, ValueError, TypeError) as error:
            raise UnmappableColumnsError(f"the first step has no output names: {error}") from error
        mapped = _map_outputs(output_names, raw_names)
    if len(mapped) != n_outputs:
        raise UnmappableColumnsError(
            f"the preprocessing returns {n_outputs} columns but {len(mapped)} were traced; "
            "later steps probably change the number of columns"
        )
    position = {name: index for index, name in enumerate(raw_names)}
    unknown = sorted(set(mapped) - set(position))
    if unknown:
        raise UnmappableColumnsError(f"columns {unknown} are not model features")
    return np.array([position[name] for name in mapped], dtype=np.int64)


def sum_onto_raw(values: np.ndarray, index: np.ndarray, n_raw: int) -> np.ndarray:
    """Sum attributions of transformed columns (axis 1) onto their raw feature."""
    # values: (n_rows, n_transformed, ...) -> (n_rows, n_raw, ...)
    out = np.zeros((values.shape[0], n_raw) + values.shape[2:], dtype=np.float64)
    for raw in range(n_raw):
        out[:, raw] = values[:, index == raw].sum(axis=1)
    return out
