"""Exceptions raised by the library.

Each exception carries the HTTP status that the service maps it to, so the
library stays free of any web framework while the service needs one error
handler only.
"""

from __future__ import annotations

__all__ = [
    "ExplainerError",
    "InvalidParameterError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "PayloadTooLargeError",
    "UnsupportedFormatError",
    "UnusableInputError",
    "UpstreamError",
    "UpstreamTimeoutError",
]


class ExplainerError(Exception):
    """Base class of every error the library raises on bad input.

    Parameters
    ----------
    message : str
        What failed, on which value, and what to do instead.
    details : dict, optional
        Machine-readable fields added to the problem document (for example the
        list of missing columns).
    """

    status = 400
    title = "Bad request"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = dict(details or {})


class InvalidParameterError(ExplainerError):
    """A parameter is malformed or out of its allowed range."""

    status = 400
    title = "Invalid parameter"


class ForbiddenError(ExplainerError):
    """The request is well-formed but the operator's configuration does not permit it.

    Example: a remote model whose URL names a host that is not on the
    operator's allow-list of model servers.
    """

    status = 403
    title = "Forbidden"


class NotFoundError(ExplainerError):
    """A model, dataset, job or row does not exist."""

    status = 404
    title = "Not found"


class ConflictError(ExplainerError):
    """The request conflicts with the current state of a resource."""

    status = 409
    title = "Conflict"


class PayloadTooLargeError(ExplainerError):
    """An upload or a requested amount of work exceeds a configured limit."""

    status = 413
    title = "Payload too large"


class UnsupportedFormatError(ExplainerError):
    """A file is in a format the library cannot or will not load."""

    status = 415
    title = "Unsupported format"


class UnusableInputError(ExplainerError):
    """The input is well-formed but cannot be used for this request.

    Examples: a dataset that lacks columns the model needs, or a method that
    does not apply to the model.
    """

    status = 422
    title = "Unprocessable input"


class UpstreamError(ExplainerError):
    """A remote model server failed or returned an error."""

    status = 502
    title = "Bad gateway"


class UpstreamTimeoutError(ExplainerError):
    """A remote model server did not respond in time."""

    status = 504
    title = "Gateway timeout"
