"""Load tabular datasets and describe their columns."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._errors import InvalidParameterError, UnsupportedFormatError, UnusableInputError
from .models._base import sha256_digest

__all__ = ["ColumnSchema", "Dataset", "load_dataset"]

NUMERIC = "numeric"
CATEGORICAL = "categorical"
BOOLEAN = "boolean"

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# Columns with more distinct strings than this report the most frequent ones.
MAX_REPORTED_CATEGORIES = 200


@dataclass(frozen=True)
class ColumnSchema:
    """Summary of one column: what a what-if control needs to be built."""

    name: str
    kind: str
    dtype: str
    n_missing: int
    missing_fraction: float
    is_integer: bool = False
    minimum: float | None = None
    maximum: float | None = None
    mean: float | None = None
    quantiles: dict | None = None
    categories: tuple | None = None
    n_categories: int | None = None

    def to_dict(self) -> dict:
        out = {
            "name": self.name,
            "kind": self.kind,
            "dtype": self.dtype,
            "n_missing": self.n_missing,
            "missing_fraction": self.missing_fraction,
        }
        if self.kind == NUMERIC:
            out.update(
                is_integer=self.is_integer,
                min=self.minimum,
                max=self.maximum,
                mean=self.mean,
                quantiles=self.quantiles,
            )
        else:
            out.update(
                categories=[{"value": value, "count": count} for value, count in self.categories],
                n_categories=self.n_categories,
            )
        return out


def _describe_column(name: str, column: pd.Series) -> ColumnSchema:
    n_missing = int(column.isna().sum())
    missing_fraction = n_missing / len(column) if len(column) else 0.0
    common = dict(name=name, dtype=str(column.dtype), n_missing=n_missing,
                  missing_fraction=missing_fraction)

    if pd.api.types.is_bool_dtype(column):
        counts = column.value_counts(dropna=True)
        return ColumnSchema(kind=BOOLEAN, categories=tuple((bool(k), int(v)) for k, v in counts.items()),
                            n_categories=len(counts), **common)

    if pd.api.types.is_numeric_dtype(column):
        values = column.dropna().to_numpy(dtype=np.float64)
        if len(values) == 0:
            return ColumnSchema(kind=NUMERIC, **common)
        is_integer = pd.api.types.is_integer_dtype(column) or bool(np.all(values == np.round(values)))
        quantiles = {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(values, QUANTILES))}
        return ColumnSchema(kind=NUMERIC, is_integer=is_integer, minimum=float(values.min()),
                            maximum=float(values.max()), mean=float(values.mean()),
                            quantiles=quantiles, **common)

    counts = column.astype(object).value_counts(dropna=True)
    reported = counts.iloc[:MAX_REPORTED_CATEGORIES]
    return ColumnSchema(kind=CATEGORICAL,
                        categories=tuple((str(k), int(v)) for k, v in reported.items()),
                        n_categories=len(counts), **common)


class Dataset:
    """A table of raw feature columns, with an optional target column.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows. Column names are converted to strings.
    name : str, optional
    target : str, optional
        Name of the column holding the true labels or values.
    digest : str, optional
        ``sha256:<hex>`` of the file it came from; computed from the frame's
        content when not given.
    """

    def __init__(self, frame: pd.DataFrame, *, name: str | None = None,
                 target: str | None = None, digest: str | None = None):
        if frame.shape[1] == 0 or len(frame) == 0:
            raise UnusableInputError(
                f"the dataset is empty ({len(frame)} rows, {frame.shape[1]} columns); "
                "upload a file with a header line and at least one row."
            )
        frame = frame.copy()
        frame.columns = [str(column) for column in frame.columns]
        duplicated = sorted({c for c in frame.columns if list(frame.columns).count(c) > 1})
        if duplicated:
            raise UnusableInputError(f"the dataset has duplicated column names {duplicated}; rename them.")
        if target is not None and target not in frame.columns:
            raise UnusableInputError(
                f"target column {target!r} is not in the dataset; its columns are "
                f"{list(frame.columns)}.",
                details={"missing_columns": [target]},
            )
        self.frame = frame.reset_index(drop=True)
        self.name = name
        self.target = target
        if digest is None:
            hashed = pd.util.hash_pandas_object(self.frame, index=False).to_numpy()
            digest = sha256_digest(hashed.tobytes() + "\x1f".join(self.frame.columns).encode())
        self.digest = digest

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[str]:
        return list(self.frame.columns)

    @property
    def features(self) -> pd.DataFrame:
        """All columns but the target."""
        if self.target is None:
            return self.frame
        return self.frame.drop(columns=[self.target])

    def target_values(self) -> pd.Series:
        if self.target is None:
            raise UnusableInputError(
                "this method needs the true labels, but the dataset has no target column; "
                "name it with the target parameter."
            )
        return self.frame[self.target]

    def row(self, index: int) -> pd.DataFrame:
        """Return row ``index`` as a one-row DataFrame."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise InvalidParameterError(f"row_index must be an integer, got {index!r}.")
        if not 0 <= index < len(self.frame):
            raise UnusableInputError(
                f"row_index {index} is out of range: the dataset has {len(self.frame)} rows, "
                f"so it must be between 0 and {len(self.frame) - 1}."
            )
        return self.frame.iloc[[int(index)]].reset_index(drop=True)

    def sample(self, n_rows: int | None, *, random_state=None) -> pd.DataFrame:
        """Return up to ``n_rows`` rows drawn without replacement, in file order."""
        if n_rows is None or n_rows >= len(self.frame):
            return self.frame
        rng = np.random.default_rng(random_state)
        picked = np.sort(rng.choice(len(self.frame), size=n_rows, replace=False))
        return self.frame.iloc[picked].reset_index(drop=True)

    def schema(self) -> dict:
        """Describe every column: kind, dtype, missing values, ranges or categories."""
        return {
            "name": self.name,
            "digest": self.digest,
            "n_rows": len(self.frame),
            "target": self.target,
            "columns": [_describe_column(name, self.frame[name]).to_dict() for name in self.frame.columns],
        }


def _check_csv_header(data: bytes) -> None:
    """Reject duplicated header names, which pandas would silently rename."""
    first_line = data.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r")
    names = next(csv.reader([first_line]), [])
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise UnusableInputError(
            f"the CSV header repeats column name(s) {duplicated}; give every column a unique name."
        )


def load_dataset(source, *, name: str | None = None, target: str | None = None) -> Dataset:
    """Read a CSV or Parquet file into a :class:`Dataset`.

    The format is detected from the content (Parquet files start with
    ``PAR1``), so the file name does not matter. Empty CSV fields are read
    as missing values.

    Parameters
    ----------
    source : str, os.PathLike or bytes
    name : str, optional
    target : str, optional
        Name of the target column.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise UnusableInputError(f"dataset file {str(path)!r} does not exist.")
        data = path.read_bytes()
        name = name or path.stem
    else:
        data = bytes(source)
    if not data.strip():
        raise UnusableInputError("the dataset file is empty; upload a CSV or Parquet file with a header and rows.")

    if data[:4] == b"PAR1":
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as error:  # pyarrow raises several error types
            reason = str(error).rstrip(".")
            raise UnsupportedFormatError(f"the Parquet file cannot be read: {reason}.") from error
    else:
        if b"\x00" in data[:4096]:
            raise UnsupportedFormatError(
                "the dataset is neither CSV (text) nor Parquet; upload one of those."
            )
        _check_csv_header(data)
        try:
            frame = pd.read_csv(io.BytesIO(data))
        except pd.errors.EmptyDataError as error:
            raise UnusableInputError("the CSV file has no columns; it needs a header line.") from error
        except (pd.errors.ParserError, UnicodeDecodeError) as error:
            raise UnsupportedFormatError(
                f"the CSV file cannot be parsed: {error}. Upload UTF-8 CSV with a header line."
            ) from error
    return Dataset(frame, name=name, target=target, digest=sha256_digest(data))
