"""Models that live in a model server and predict over HTTP.

Two protocols are supported:

- ``kserve-v2``: the Open Inference Protocol (KServe v2), which MLServer,
  KServe and Triton speak: ``POST {url}/v2/models/{model_name}/infer``.
- ``mlflow``: MLflow's scoring server: ``POST {url}/invocations`` with a
  ``dataframe_split`` body.

Only explanation methods that call ``predict`` (permutation importance,
model-agnostic SHAP, what-if) apply to such a model. A URL is checked
against an operator's allow-list of hosts before any connection is made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from urllib.parse import quote, urlsplit

import numpy as np
import pandas as pd
import requests

from .._errors import (
    ForbiddenError,
    InvalidParameterError,
    UnusableInputError,
    UpstreamError,
    UpstreamTimeoutError,
)
from ._base import TASKS, Model

logger = logging.getLogger(__name__)

KSERVE_V2 = "kserve-v2"
MLFLOW = "mlflow"
PROTOCOLS = (KSERVE_V2, MLFLOW)

# Layouts of the rows in a kserve-v2 request. "columns" sends one 1-D input
# per feature, named after it, plus the request parameter content_type "pd",
# which MLServer decodes into a pandas DataFrame. "tensor" sends one 2-D FP64
# input of shape (n_rows, n_features), as Triton and numpy-based runtimes take.
INPUT_LAYOUTS = ("columns", "tensor")

# Open Inference Protocol datatypes that a feature column can be sent as.
DATATYPES = ("FP64", "FP32", "INT64", "INT32", "BOOL", "BYTES")
_LABEL_DATATYPES = ("BOOL", "BYTES", "INT8", "INT16", "INT32", "INT64",
                    "UINT8", "UINT16", "UINT32", "UINT64")

# Seconds slept before the first retry; each further retry doubles it.
BACKOFF_SECONDS = 0.5
# Fields that change how requests are sent, not which model is called or
# what its outputs mean. The digest leaves them out, so that a lower timeout
# keeps the model's identity.
_TRANSPORT_FIELDS = ("max_batch_rows", "timeout_seconds", "max_retries")
# Characters of a model server's error message kept in our messages.
MAX_SERVER_MESSAGE_CHARS = 300
# Probability rows may sum to 1 within this, for float32 models.
_PROBABILITY_SUM_TOLERANCE = 1e-3


# Allow-list ---------------------------------------------------------------------

def _parse_allow_entry(entry: str, allow_list_name: str) -> tuple[str, int | None]:
    """Split an allow-list entry ``host``, ``host:port``, ``*.domain`` or ``[v6]:port``."""
    text = str(entry).strip().lower()
    problem = None
    try:
        parsed = urlsplit(f"//{text}")
        host, port = parsed.hostname, parsed.port
    except ValueError as error:
        problem, host, port = str(error), None, None
    if not host or any(character in text for character in "/@?#"):
        raise InvalidParameterError(
            f"entry {entry!r} of {allow_list_name} is invalid{f' ({problem})' if problem else ''}; "
            "each entry is a host name or address, optionally with :port, without a scheme "
            "or path, for example models.internal:8080. It is a server setting, so the "
            "operator must correct it."
        )
    return host, port


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


def check_allowed_url(url: str, allowed_hosts: Sequence[str], *,
                      allow_list_name: str = "the allow-list of model servers") -> None:
    """Check that ``url`` may be called, without connecting to it.

    Parameters
    ----------
    url : str
        An http or https URL.
    allowed_hosts : sequence of str
        Entries ``host`` (any port), ``host:port``, ``*.domain`` (any
        subdomain of ``domain``) or ``[IPv6 address]:port``. The host in the
        URL is compared as written: names are not resolved, so an operator who
        allows a name trusts whatever address it resolves to.
    allow_list_name : str
        The list's name in error messages, for example the setting that
        contains it.

    Raises
    ------
    InvalidParameterError
        If the URL is not an http or https URL with a host, or carries
        credentials, a query or a fragment.
    ForbiddenError
        If the URL's host (and port, where the entry gives one) matches no
        entry of ``allowed_hosts``.
    """
    # Every entry is parsed first, so that a bad entry is reported whatever the URL.
    entries = [_parse_allow_entry(entry, allow_list_name) for entry in allowed_hosts]
    parsed = _split_url(url)
    host = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    for allowed_host, allowed_port in entries:
        if _host_matches(host, allowed_host) and allowed_port in (None, port):
            return
    if not allowed_hosts:
        raise ForbiddenError(
            f"remote models are disabled here: {allow_list_name} is empty, so {url} cannot be "
            "called. Ask the operator to add the model server's host to it."
        )
    raise ForbiddenError(
        f"host {host!r} (port {port}) of {url} is not on {allow_list_name}; ask the operator "
        "to add it, or use a model server that is on it.",
        details={"host": host, "port": port},
    )


def _split_url(url):
    """Parse and check a model server URL; messages never repeat its credentials."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidParameterError(f"url must be an http or https URL, got {url!r}.")
    shown = re.sub(r"//[^/?#]*@", "//***@", url.strip())
    try:
        parsed = urlsplit(url.strip())
        # Reading the port raises ValueError when it is not a number from 0 to 65535.
        _ = parsed.port
    except ValueError as error:
        raise InvalidParameterError(f"url {shown!r} is invalid: {error}.") from error
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise InvalidParameterError(
            f"url must be an http or https URL with a host, such as http://models.internal:8080, "
            f"got {shown!r}."
        )
    if parsed.username is not None or parsed.password is not None:
        raise InvalidParameterError(
            "url must not contain credentials (user:password@): they would be stored with the "
            "model and shown in its description. Remove them from the URL."
        )
    if parsed.query or parsed.fragment:
        raise InvalidParameterError(
            f"url must be the server's base URL without a query or fragment, got {shown!r}."
        )
    return parsed


# Spec ---------------------------------------------------------------------------

@dataclass(frozen=True)
class RemoteModelSpec:
    """Location, inputs and outputs of a model in a model server.

    Build it with :meth:`from_dict`, which validates every field; its
    :meth:`to_dict` is the JSON form the service stores.

    Attributes
    ----------
    url : str
        Base URL of the server, such as ``http://mlserver:8080``; the
        protocol's path is appended.
    protocol : {"kserve-v2", "mlflow"}
    feature_names : tuple of str
        The input columns, in the order the model takes them.
    task : {"classification", "regression"}
    class_names : tuple of str or None
        Classes in the order of the probability columns the server returns.
    model_name : str or None
        The served model's name (kserve-v2 only, required there).
    model_version : str or None
        A version of it (kserve-v2 only); None calls the server's default.
    feature_types : dict or None
        Open Inference Protocol datatype per feature (``FP64``, ``FP32``,
        ``INT64``, ``INT32``, ``BOOL``, ``BYTES``). Features not listed are
        sent by their pandas dtype: integers as INT64, other numbers as FP64,
        booleans as BOOL, anything else as BYTES strings.
    output_name : str or None
        The output to request and read. None reads the first output (or the
        whole ``predictions`` of MLflow). MLServer's scikit-learn runtime
        returns class labels unless asked for ``predict_proba``.
    input_layout : {"columns", "tensor"}
        kserve-v2 request layout (see ``INPUT_LAYOUTS``).
    input_name : str
        Name of the one input of the ``tensor`` layout.
    max_batch_rows : int
        Rows sent in one request.
    timeout_seconds : float
        Limit on connecting, and on each wait for response data, per attempt.
    max_retries : int
        Further attempts after a connection error, a timeout or a 5xx status.
    """

    url: str
    protocol: str
    feature_names: tuple[str, ...]
    task: str
    class_names: tuple[str, ...] | None = None
    model_name: str | None = None
    model_version: str | None = None
    feature_types: dict | None = None
    output_name: str | None = None
    input_layout: str = "columns"
    input_name: str = "input-0"
    max_batch_rows: int = 1000
    timeout_seconds: float = 10.0
    max_retries: int = 2

    @classmethod
    def from_dict(cls, data: dict) -> "RemoteModelSpec":
        """Validate a JSON-style dict and build the spec.

        Raises
        ------
        InvalidParameterError
            Naming the first invalid field, what it must be and what it got.
        """
        if isinstance(data, RemoteModelSpec):
            return data
        if not isinstance(data, dict):
            raise InvalidParameterError(f"a remote model spec must be a dict, got {type(data).__name__}.")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidParameterError(
                f"unknown remote model field(s) {unknown}; known fields: {sorted(known)}."
            )
        missing = [name for name in ("url", "protocol", "feature_names", "task") if data.get(name) is None]
        if missing:
            raise InvalidParameterError(f"a remote model spec is missing the required field(s) {missing}.")

        def value_or_default(name):
            value = data.get(name)
            return cls.__dataclass_fields__[name].default if value is None else value

        url = data["url"].strip().rstrip("/") if isinstance(data["url"], str) else data["url"]
        _split_url(url)
        protocol = _check_in("protocol", data["protocol"], PROTOCOLS)
        task = _check_in("task", data["task"], TASKS)
        feature_names = _check_names("feature_names", data["feature_names"])
        class_names = data.get("class_names")
        if class_names is not None:
            class_names = _check_names("class_names", class_names)

        model_name = _optional_text("model_name", data.get("model_name"))
        model_version = _optional_text("model_version", data.get("model_version"))
        input_layout = _check_in("input_layout", value_or_default("input_layout"), INPUT_LAYOUTS)
        if protocol == KSERVE_V2 and model_name is None:
            raise InvalidParameterError(
                "model_name is required for protocol 'kserve-v2': it is the {model_name} of "
                "/v2/models/{model_name}/infer."
            )
        if protocol == MLFLOW:
            given = [name for name in ("model_name", "model_version") if data.get(name) is not None]
            if input_layout != "columns":
                given.append("input_layout")
            if given:
                raise InvalidParameterError(
                    f"{given} apply to protocol 'kserve-v2' only; an MLflow server serves one "
                    "model at {url}/invocations."
                )

        feature_types = data.get("feature_types")
        if feature_types is not None:
            if not isinstance(feature_types, dict):
                raise InvalidParameterError(
                    f"feature_types must be an object of {{feature: datatype}}, got {feature_types!r}."
                )
            strangers = sorted(set(feature_types) - set(feature_names))
            if strangers:
                raise InvalidParameterError(
                    f"feature_types lists {strangers}, which are not in feature_names; "
                    "remove them or correct their names."
                )
            for name, datatype in feature_types.items():
                _check_in(f"feature_types[{name!r}]", datatype, DATATYPES)
            feature_types = dict(feature_types)

        return cls(
            url=url,
            protocol=protocol,
            feature_names=feature_names,
            task=task,
            class_names=class_names,
            model_name=model_name,
            model_version=model_version,
            feature_types=feature_types,
            output_name=_optional_text("output_name", data.get("output_name")),
            input_layout=input_layout,
            input_name=_optional_text("input_name", value_or_default("input_name")),
            max_batch_rows=_check_number("max_batch_rows", value_or_default("max_batch_rows"),
                                         minimum=1, maximum=100_000, integer=True),
            timeout_seconds=_check_number("timeout_seconds", value_or_default("timeout_seconds"),
                                          minimum=0.001, maximum=600),
            max_retries=_check_number("max_retries", value_or_default("max_retries"),
                                      minimum=0, maximum=10, integer=True),
        )

    def to_dict(self) -> dict:
        """Return the spec as JSON types, with lists for tuples."""
        data = asdict(self)
        data["feature_names"] = list(self.feature_names)
        data["class_names"] = None if self.class_names is None else list(self.class_names)
        return data

    @property
    def endpoint(self) -> str:
        """The URL that predictions are posted to."""
        if self.protocol == MLFLOW:
            return f"{self.url}/invocations"
        path = f"/v2/models/{quote(self.model_name, safe='')}"
        if self.model_version is not None:
            path += f"/versions/{quote(self.model_version, safe='')}"
        return f"{self.url}{path}/infer"


def _check_in(name: str, value, choices) -> str:
    if value not in choices:
        raise InvalidParameterError(f"{name} must be one of {list(choices)}, got {value!r}.")
    return value


def _check_names(name: str, value) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value or \
            not all(isinstance(item, str) and item for item in value):
        raise InvalidParameterError(f"{name} must be a non-empty list of non-empty strings, got {value!r}.")
    return tuple(value)


def _optional_text(name: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"{name} must be a non-empty string, got {value!r}.")
    return value.strip()


def _check_number(name: str, value, *, minimum, maximum, integer: bool = False):
    wanted = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, wanted) or \
            (not integer and not math.isfinite(value)) or not minimum <= value <= maximum:
        kind = "an integer" if integer else "a number"
        raise InvalidParameterError(f"{name} must be {kind} between {minimum} and {maximum}, got {value!r}.")
    return value


# The model ------------------------------------------------------------------------

class RemoteModel(Model):
    """A model served over HTTP, behind the batch-prediction interface.

    Each ``predict`` call sends its rows in requests of at most
    ``spec.max_batch_rows`` rows. The object keeps one ``requests.Session``
    per thread, so that job threads can share it.

    Parameters
    ----------
    spec : RemoteModelSpec or dict
        Where the model is and what it takes; a dict is validated with
        :meth:`RemoteModelSpec.from_dict`.
    allowed_hosts : sequence of str
        The hosts this process may call (see :func:`check_allowed_url`),
        checked here, before any connection.
    allow_list_name : str
        How error messages name ``allowed_hosts``.

    Examples
    --------
    >>> model = RemoteModel(
    ...     {"url": "http://127.0.0.1:8080", "protocol": "kserve-v2",
    ...      "model_name": "breast-cancer", "output_name": "predict_proba",
    ...      "feature_names": ["mean radius", "mean texture"],
    ...      "task": "classification", "class_names": ["0", "1"]},
    ...     allowed_hosts=["127.0.0.1"])  # doctest: +SKIP
    >>> probabilities = model.predict(frame)  # doctest: +SKIP
    >>> probabilities.shape  # doctest: +SKIP
    (569, 2)
    """

    def __init__(self, spec, *, allowed_hosts: Sequence[str],
                 allow_list_name: str = "the allow-list of model servers"):
        spec = RemoteModelSpec.from_dict(spec)
        check_allowed_url(spec.url, allowed_hosts, allow_list_name=allow_list_name)
        if spec.task != "classification" and spec.class_names is not None:
            raise InvalidParameterError(
                f"class_names apply to task 'classification' only, got them for task {spec.task!r}."
            )
        data = spec.to_dict()
        identity = {key: value for key, value in data.items() if key not in _TRANSPORT_FIELDS}
        super().__init__(
            task=spec.task,
            feature_names=spec.feature_names,
            class_names=spec.class_names,
            format=f"remote-{spec.protocol}",
            digest="sha256:" + hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest(),
            metadata=data,
        )
        self.spec = spec
        self._codec = _CODECS[spec.protocol]
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()
        self._request_count = 0

    @property
    def request_count(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._request_count

    def close(self) -> None:
        """Close the HTTP sessions of every thread; a later call opens new ones."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._local = threading.local()
        for session in sessions:
            session.close()

    def __enter__(self) -> "RemoteModel":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _predict_array(self, features: pd.DataFrame) -> np.ndarray:
        step = self.spec.max_batch_rows
        parts = []
        for start in range(0, len(features), step):
            batch = features.iloc[start : start + step]
            body = self._codec.encode(self.spec, batch)
            payload = self._post(body)
            parts.append(self._codec.decode(self, payload, len(batch)))
        return np.concatenate(parts, axis=0)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _post(self, body: dict):
        """Post ``body`` as JSON with retries, and return the decoded JSON response.

        An attempt waits up to ``timeout_seconds`` to connect and up to
        ``timeout_seconds`` for each read of the response, because requests
        applies its timeout to each. A server that never completes the
        connection, or never sends a response, is therefore given up on after
        ``(max_retries + 1) * timeout_seconds`` plus the backoff sleeps
        (0.5 s, 1 s, 2 s...).

        NOTE: a server that keeps sending bytes slower than the timeout but
        never finishes can hold an attempt longer than ``timeout_seconds``.
        """
        spec = self.spec
        endpoint = spec.endpoint
        data = json.dumps(body, allow_nan=False).encode()
        attempts = spec.max_retries + 1
        failure = ""
        timed_out = False
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                delay = BACKOFF_SECONDS * 2 ** (attempt - 2)
                logger.warning("model server %s: attempt %d of %d failed (%s); retrying in %.1f s",
                               endpoint, attempt - 1, attempts, failure, delay)
                time.sleep(delay)
            with self._lock:
                self._request_count += 1
            try:
                response = self._session().post(
                    endpoint, data=data, timeout=spec.timeout_seconds, allow_redirects=False,
                    headers={"Content-Type": "application/json", "Accept": "application/json"},
                )
            except requests.Timeout:
                failure, timed_out = f"no response within {spec.timeout_seconds:g} s", True
                continue
            except requests.RequestException as error:
                failure, timed_out = _connection_failure(error), False
                continue

            if response.status_code >= 500:
                failure, timed_out = _status_failure(response), False
                continue
            if not 200 <= response.status_code < 300:
                raise UpstreamError(
                    f"the model server at {endpoint} rejected the request: "
                    f"{_status_failure(response)}.{_client_error_hint(response.status_code)}",
                    details={"upstream_status": response.status_code},
                )
            try:
                return response.json()
            except ValueError as error:
                raise UpstreamError(
                    f"the model server at {endpoint} returned a response that is not JSON "
                    f"(Content-Type {response.headers.get('Content-Type')!r}): "
                    f"{_shorten(response.text)!r}."
                ) from error

        logger.warning("model server %s: giving up after %d attempt(s): %s", endpoint, attempts, failure)
        if timed_out:
            raise UpstreamTimeoutError(
                f"the request to the model server at {endpoint} timed out after {attempts} "
                f"attempt(s), the last with {failure}. Check that the server is up and not "
                "overloaded, or register the model with a larger timeout_seconds.",
            )
        raise UpstreamError(
            f"the request to the model server at {endpoint} failed after {attempts} attempt(s), "
            f"the last with {failure}. Check that the server is running at that address.",
        )


def _shorten(text: str) -> str:
    text = " ".join(str(text).split())
    if len(text) <= MAX_SERVER_MESSAGE_CHARS:
        return text
    return text[: MAX_SERVER_MESSAGE_CHARS - 3] + "..."


def _server_message(response: requests.Response) -> str:
    """Extract the error text of a response: its JSON error field where there is one."""
    try:
        body = response.json()
    except ValueError:
        return _shorten(response.text)
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return _shorten(body[key])
    return _shorten(json.dumps(body))


def _status_failure(response: requests.Response) -> str:
    text = f"status {response.status_code} {response.reason or ''}".rstrip()
    if 300 <= response.status_code < 400:
        return f"{text}, a redirect to {response.headers.get('Location')!r}, which is not followed"
    message = _server_message(response)
    return f"{text}: {message}" if message else text


def _client_error_hint(status: int) -> str:
    if status == 404:
        return " Check the url, model_name and model_version."
    if 300 <= status < 400:
        return " Register the URL the server redirects to."
    if status in (400, 422):
        return " Check feature_names, feature_types and input_layout against the served model."
    return ""


def _connection_failure(error: requests.RequestException) -> str:
    """Describe a connection failure briefly ("connection refused"), without urllib3's object dumps."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", str(error))
    if found:
        return found.group(1).strip().lower()
    return f"a connection error ({type(error).__name__})"


# Request and response layouts ------------------------------------------------------

def _column_datatype(column: pd.Series, declared: str | None) -> str:
    if declared is not None:
        return declared
    if pd.api.types.is_bool_dtype(column):
        return "BOOL"
    if pd.api.types.is_integer_dtype(column):
        return "INT64"
    if pd.api.types.is_numeric_dtype(column):
        return "FP64"
    return "BYTES"


def _column_values(column: pd.Series, datatype: str) -> list:
    """Convert a column to JSON values of ``datatype``; missing numbers become null."""
    name = column.name
    if datatype in ("FP64", "FP32"):
        try:
            values = column.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as error:
            raise UnusableInputError(
                f"column {name!r} is sent as {datatype} but contains non-numeric values ({error}); "
                "fix feature_types or the data."
            ) from error
        if np.isinf(values).any():
            raise UnusableInputError(
                f"column {name!r} has infinite values, which JSON cannot carry; clip or drop them."
            )
        if np.isnan(values).any():
            return [None if math.isnan(value) else value for value in values.tolist()]
        return values.tolist()
    if datatype in ("INT64", "INT32"):
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isnan(values).any() or not np.all(values == np.round(values)):
            raise UnusableInputError(
                f"column {name!r} is sent as {datatype} but contains missing or non-integer values; "
                "fill them, or declare the column FP64 in feature_types."
            )
        return [int(value) for value in values]
    if datatype == "BOOL":
        if column.isna().any():
            raise UnusableInputError(f"column {name!r} is sent as BOOL but has missing values.")
        return [bool(value) for value in column]
    return [None if pd.isna(value) else str(value) for value in column.tolist()]


class _OpenInferenceCodec:
    """Requests and responses of the Open Inference Protocol (KServe v2)."""

    @staticmethod
    def encode(spec: RemoteModelSpec, features: pd.DataFrame) -> dict:
        n_rows = len(features)
        declared = spec.feature_types or {}
        if spec.input_layout == "tensor":
            non_numeric = [name for name in features.columns
                           if _column_datatype(features[name], None) == "BYTES"]
            if non_numeric:
                raise UnusableInputError(
                    f"the tensor layout sends one FP64 tensor, but column(s) {non_numeric} are not "
                    "numeric; register the model with input_layout 'columns'."
                )
            # (n_rows, n_features) sent row-major as a flat list.
            values = [_column_values(features[name], "FP64") for name in features.columns]
            flat = [value for row in zip(*values) for value in row]
            inputs = [{"name": spec.input_name, "datatype": "FP64",
                       "shape": [n_rows, features.shape[1]], "data": flat}]
            body = {"inputs": inputs}
        else:
            inputs = []
            for name in features.columns:
                datatype = _column_datatype(features[name], declared.get(name))
                entry = {"name": name, "datatype": datatype, "shape": [n_rows],
                         "data": _column_values(features[name], datatype)}
                if datatype == "BYTES":
                    # MLServer decodes BYTES with content_type "str" as text.
                    entry["parameters"] = {"content_type": "str"}
                inputs.append(entry)
            body = {"parameters": {"content_type": "pd"}, "inputs": inputs}
        if spec.output_name is not None:
            body["outputs"] = [{"name": spec.output_name}]
        return body

    @staticmethod
    def decode(model: RemoteModel, payload, n_rows: int) -> np.ndarray:
        spec = model.spec
        endpoint = spec.endpoint
        outputs = payload.get("outputs") if isinstance(payload, dict) else None
        if not isinstance(outputs, list) or not outputs or not all(isinstance(item, dict) for item in outputs):
            raise UpstreamError(
                f"the model server at {endpoint} returned {_shorten(json.dumps(payload))!r}; expected "
                "a JSON object with a non-empty list 'outputs', as the Open Inference Protocol defines."
            )
        if spec.output_name is None:
            output = outputs[0]
        else:
            named = [item for item in outputs if item.get("name") == spec.output_name]
            if not named:
                raise UpstreamError(
                    f"the model server at {endpoint} returned outputs "
                    f"{[item.get('name') for item in outputs]}, without {spec.output_name!r}; "
                    "fix output_name."
                )
            output = named[0]

        description = f"output {output.get('name')!r}"
        try:
            values = np.asarray(output.get("data"), dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise UpstreamError(
                f"the model server at {endpoint} returned non-numeric data in {description}; "
                "expected numbers (class probabilities or regression values)."
            ) from error
        shape = output.get("shape")
        if isinstance(shape, list) and all(isinstance(size, int) and size >= 0 for size in shape) \
                and values.size == math.prod(shape):
            values = values.reshape(shape)
        elif shape is not None:
            raise UpstreamError(
                f"the model server at {endpoint} returned {description} with shape {shape!r} "
                f"but {values.size} values; expected shape [{n_rows}], [{n_rows}, 1] or "
                f"[{n_rows}, n_classes] with that many values."
            )
        labels = str(output.get("datatype", "")).upper() in _LABEL_DATATYPES
        return _to_model_output(model, values, n_rows, description=description, labels=labels)


class _MlflowCodec:
    """Requests and responses of MLflow's scoring server (``/invocations``)."""

    @staticmethod
    def encode(spec: RemoteModelSpec, features: pd.DataFrame) -> dict:
        declared = spec.feature_types or {}
        columns = [
            _column_values(features[name], _column_datatype(features[name], declared.get(name)))
            for name in features.columns
        ]
        rows = [list(row) for row in zip(*columns)] if columns else []
        return {"dataframe_split": {"columns": list(features.columns), "data": rows}}

    @staticmethod
    def decode(model: RemoteModel, payload, n_rows: int) -> np.ndarray:
        spec = model.spec
        endpoint = spec.endpoint
        # MLflow 2 and later wrap the predictions in {"predictions": ...}, with a
        # DataFrame result as one object per row (scoring_server.predictions_to_json).
        # A bare list is accepted too, for servers that send one.
        predictions = payload.get("predictions") if isinstance(payload, dict) else payload
        if not isinstance(predictions, list):
            raise UpstreamError(
                f"the model server at {endpoint} returned {_shorten(json.dumps(payload))!r}; expected "
                "a JSON object {\"predictions\": [...]} with one prediction per row."
            )
        if predictions and all(isinstance(item, dict) for item in predictions):
            if spec.output_name is None or not all(spec.output_name in item for item in predictions):
                raise UpstreamError(
                    f"the model server at {endpoint} returned one object per row with keys "
                    f"{sorted(predictions[0])}; set output_name to the key that holds the "
                    "probabilities or values."
                )
            predictions = [item[spec.output_name] for item in predictions]
            description = f"predictions[*][{spec.output_name!r}]"
        else:
            description = "predictions"
        try:
            values = np.asarray(predictions, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise UpstreamError(
                f"the model server at {endpoint} returned {description} that are not numbers "
                f"({_shorten(json.dumps(predictions[:3]))}...); expected class probabilities "
                "or regression values."
            ) from error
        # JSON integers or booleans for every row are class labels, not probabilities.
        labels = values.ndim == 1 and all(isinstance(item, (int, bool)) for item in predictions)
        return _to_model_output(model, values, n_rows, description=description, labels=labels)


_CODECS = {KSERVE_V2: _OpenInferenceCodec, MLFLOW: _MlflowCodec}


def _to_model_output(model: RemoteModel, values: np.ndarray, n_rows: int, *,
                     description: str, labels: bool) -> np.ndarray:
    """Check a server's output and bring it to the layout of ``Model.predict``.

    ``values`` may be (n_rows,), (n_rows, 1) or (n_rows, n_classes). Returns
    (n_rows,) for regression and (n_rows, n_classes) probabilities.
    """
    where = f"the model server at {model.spec.endpoint} returned {description}"
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.ndim not in (1, 2) or values.shape[0] != n_rows:
        raise UpstreamError(
            f"{where} of shape {list(values.shape)} for {n_rows} rows; expected [{n_rows}], "
            f"[{n_rows}, 1] or [{n_rows}, n_classes]."
        )
    if not np.all(np.isfinite(values)):
        raise UpstreamError(f"{where} with NaN or infinite values; expected finite numbers.")

    if not model.is_classifier:
        if values.ndim != 1:
            raise UpstreamError(
                f"{where} with {values.shape[1]} values per row; a regression model must return one."
            )
        return values

    n_classes = len(model.class_names)
    if values.ndim == 1:
        if labels:
            raise UpstreamError(
                f"{where} as class labels, not probabilities. Set output_name to the output "
                "that holds class probabilities ('predict_proba' for MLServer's scikit-learn "
                "runtime), or serve a model that returns them."
            )
        if n_classes != 2:
            raise UpstreamError(
                f"{where} with one value per row, but the model has {n_classes} classes; expected "
                f"[{n_rows}, {n_classes}] class probabilities."
            )
        # One value per row is the probability of the second (positive) class.
        values = np.stack([1.0 - values, values], axis=1)
    elif values.shape[1] != n_classes:
        raise UpstreamError(
            f"{where} with {values.shape[1]} values per row, but class_names lists {n_classes} "
            f"classes {list(model.class_names)}; fix class_names or output_name."
        )
    if values.min() < 0 or values.max() > 1 or \
            np.max(np.abs(values.sum(axis=1) - 1)) > _PROBABILITY_SUM_TOLERANCE:
        raise UpstreamError(
            f"{where} that are not class probabilities (values in [0, 1] summing to 1 per row); "
            "set output_name to the output that holds probabilities, not scores or logits."
        )
    return values
