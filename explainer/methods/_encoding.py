"""Numeric encoding of raw columns for explainers that take NumPy arrays.

Model-agnostic explainers mix rows of a float matrix. Raw tables hold
strings, categories and missing values, so each non-numeric column is
replaced by its category code (float, NaN for missing) and decoded back to
a DataFrame with the original dtypes before every model call.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class RawColumnEncoder:
    """Encode a DataFrame's columns as floats and decode them back.

    Parameters
    ----------
    reference : pandas.DataFrame
        Every row that will be encoded (background and explained rows), so
        that all categories are known.
    """

    def __init__(self, reference: pd.DataFrame):
        self.columns = list(reference.columns)
        self.dtypes = reference.dtypes.to_dict()
        self.categories: dict[str, np.ndarray] = {}
        for name in self.columns:
            column = reference[name]
            if self._is_numeric(column):
                continue
            if isinstance(column.dtype, pd.CategoricalDtype):
                values = np.asarray(column.cat.categories, dtype=object)
            else:
                values = np.asarray(sorted(set(column.dropna()), key=str), dtype=object)
            self.categories[name] = values

    @staticmethod
    def _is_numeric(column: pd.Series) -> bool:
        return pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a float64 matrix (n_rows, n_columns)."""
        out = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for position, name in enumerate(self.columns):
            column = frame[name]
            if name not in self.categories:
                out[:, position] = column.to_numpy(dtype=np.float64, na_value=np.nan)
                continue
            lookup = {value: code for code, value in enumerate(self.categories[name])}
            codes = column.astype(object).map(lambda value: lookup.get(value, np.nan)
                                              if not pd.isna(value) else np.nan)
            out[:, position] = codes.to_numpy(dtype=np.float64)
        return out

    def decode(self, matrix: np.ndarray) -> pd.DataFrame:
        """Rebuild a DataFrame with the reference's column names and dtypes."""
        data = {}
        for position, name in enumerate(self.columns):
            values = matrix[:, position]
            dtype = self.dtypes[name]
            if name not in self.categories:
                if pd.api.types.is_integer_dtype(dtype) and not np.isnan(values).any():
                    data[name] = pd.Series(np.round(values).astype(dtype))
                else:
                    data[name] = pd.Series(values)
                continue
            missing = np.isnan(values)
            codes = np.where(missing, 0, values).astype(np.int64)
            decoded = self.categories[name][codes].copy() if len(self.categories[name]) else \
                np.full(len(values), None, dtype=object)
            decoded[missing] = None
            if pd.api.types.is_bool_dtype(dtype) and not missing.any():
                data[name] = pd.Series(decoded.astype(bool))
            else:
                data[name] = pd.Series(decoded, dtype=dtype)
        return pd.DataFrame(data, columns=self.columns)
