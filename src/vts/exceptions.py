"""The exceptions the SDK raises: one base class, one subclass per kind of answer.

Every error the server answers carries the HTTP ``status``, the server's ``error`` text and
the request's ``api_id`` (quote it when asking the operator about a request). Errors found
before anything is sent (no credentials, a malformed auth id) have ``status`` ``None``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ForbiddenError",
    "InvalidRequestError",
    "RateLimitError",
    "ResourceNotFoundError",
    "ServerError",
    "VTSConnectionError",
    "VTSRestException",
    "ValidationError",
]


class VTSRestException(Exception):
    """Base class of every error the SDK raises (the name the seed's PHP example catches)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        api_id: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: HTTP status of the server's answer, ``None`` when no answer was involved.
        self.status = status
        #: The server's ``error`` text (``None`` when it sent none).
        self.error = error
        #: The ``api_id`` of the failed request, as the server sent it.
        self.api_id = api_id
        #: The decoded JSON body (or the text, when the body was not JSON).
        self.body = body

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, error={self.error!r}, "
            f"api_id={self.api_id!r})"
        )


class ValidationError(VTSRestException):
    """400: a parameter is invalid or missing, or the request was refused (e.g. pool empty)."""


class AuthenticationError(VTSRestException):
    """401, or no usable credentials on the client side."""


class ForbiddenError(VTSRestException):
    """403: authenticated, but not allowed to touch this resource."""


class ResourceNotFoundError(VTSRestException):
    """404: unknown session, number, call, recording or subaccount."""


class InvalidRequestError(VTSRestException):
    """405, 409, 422 and any other 4xx the SDK has no dedicated class for."""


class RateLimitError(VTSRestException):
    """429: too many requests; ``retry_after`` is the server's ``Retry-After`` in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(VTSRestException):
    """5xx: the server failed (GET/DELETE and creates were retried before this was raised)."""


class VTSConnectionError(VTSRestException):
    """The server could not be reached, or the connection failed mid-request."""


_BY_STATUS: dict[int, type[VTSRestException]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: ResourceNotFoundError,
    405: InvalidRequestError,
    409: InvalidRequestError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def exception_class_for(status: int) -> type[VTSRestException]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    if status >= 400:
        return InvalidRequestError
    return VTSRestException
