"""Request parsing shared by the views."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from flask import current_app, jsonify, request, url_for

from explainer import InvalidParameterError
from explainer.methods._common import check_integer_range

from ..workspace import Workspace


def workspace() -> Workspace:
    return current_app.extensions["explainer.workspace"]


def created(record: dict, endpoint: str):
    """Return a 201 response with the new resource and its Location."""
    response = jsonify(record)
    response.status_code = 201
    response.headers["Location"] = url_for(endpoint, reference=record["id"])
    return response


def json_body() -> dict:
    if not request.is_json:
        raise InvalidParameterError(
            f"the request body must be JSON sent with Content-Type: application/json, got "
            f"Content-Type {request.content_type or 'none'!r}."
        )
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError as error:
        raise InvalidParameterError(f"the request body is not valid JSON: {error}.") from error
    if not isinstance(body, dict):
        raise InvalidParameterError(f"the request body must be a JSON object, got {type(body).__name__}.")
    return body


def uploaded_file(field: str) -> bytes:
    upload = request.files.get(field)
    if upload is None:
        raise InvalidParameterError(
            f"the multipart form has no file field {field!r}; send the file as "
            f"-F {field}=@path/to/file."
        )
    return upload.read()


def form_json(field: str, *, kind: type = dict):
    """Parse a form field holding a JSON object, or a JSON list with ``kind=list``. Returns None when it is absent."""
    what = "a JSON object" if kind is dict else "a JSON list"
    text = request.form.get(field)
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InvalidParameterError(f"form field {field!r} must be {what}: {error}.") from error
    if not isinstance(value, kind):
        raise InvalidParameterError(f"form field {field!r} must be {what}, got {text[:100]!r}.")
    return value


def form_text(field: str) -> str | None:
    text = request.form.get(field)
    return text.strip() or None if text is not None else None


def query_seconds(name: str, *, maximum: float) -> float:
    """Read a duration in seconds from the query string; 0 when absent.

    Values above ``maximum`` are lowered to it, as long polls usually are.
    """
    text = request.args.get(name)
    if text is None:
        return 0.0
    try:
        value = float(text)
    except ValueError as error:
        raise InvalidParameterError(f"query parameter {name} must be a number of seconds, got {text!r}.") from error
    if not value >= 0 or value == float("inf"):
        raise InvalidParameterError(f"query parameter {name} must be a finite number of seconds >= 0, got {text!r}.")
    return min(value, maximum)


def frame_from_records(records: list[dict], like: pd.DataFrame | None = None) -> pd.DataFrame:
    """Build a DataFrame from JSON rows, in the dtypes of ``like`` where given.

    JSON null becomes a missing value. Without ``like``, a column holding only
    nulls becomes float so that numeric preprocessing accepts it.
    """
    if not all(isinstance(record, dict) for record in records):
        raise InvalidParameterError("each row must be a JSON object of {feature: value}.")
    frame = pd.DataFrame.from_records(records)
    for column in frame.columns:
        if like is not None and column in like.columns:
            dtype = like[column].dtype
            if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
                converted = pd.to_numeric(frame[column], errors="coerce")
                bad = frame[column][converted.isna() & frame[column].notna()]
                if len(bad):
                    raise InvalidParameterError(
                        f"column {column!r} is numeric, but got {bad.iloc[0]!r}; send a number or null."
                    )
                if pd.api.types.is_integer_dtype(dtype) and converted.notna().all() \
                        and np.all(converted == np.round(converted)):
                    check_integer_range(column, converted.min(), dtype)
                    check_integer_range(column, converted.max(), dtype)
                    converted = converted.astype(dtype)
                frame[column] = converted
            elif pd.api.types.is_bool_dtype(dtype):
                frame[column] = _boolean_column(column, frame[column])
            else:
                frame[column] = frame[column].astype(dtype) if not frame[column].isna().all() \
                    else pd.Series([None] * len(frame), dtype=dtype)
        elif frame[column].isna().all():
            frame[column] = frame[column].astype(np.float64)
    return frame


def _boolean_column(name: str, values: pd.Series) -> pd.Series:
    """Convert JSON true, false and null to a bool column, or object with NaN when a value is missing."""
    wrong = [value for value in values if value is not None and not isinstance(value, bool)
             and not (isinstance(value, float) and np.isnan(value))]
    if wrong:
        raise InvalidParameterError(f"column {name!r} is boolean, but got {wrong[0]!r}; send true, false or null.")
    if values.isna().any():
        return pd.Series([np.nan if pd.isna(value) else bool(value) for value in values], dtype=object)
    return values.astype(bool)
