"""Errors as values: the exact customer-facing text and the HTTP status it maps to."""

from __future__ import annotations


class ApiError(Exception):
    """A refusal the API reports as ``{"api_id": ..., "error": message}``."""

    status: int = 400
    #: seconds (as sent in ``Retry-After``) after which the same request may succeed
    retry_after: str | None = None

    def __init__(
        self, message: str, status: int | None = None, *, retry_after: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if retry_after is not None:
            self.retry_after = retry_after


class InvalidParameter(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class RateLimited(ApiError):
    status = 429

    def __init__(self, retry_after: str) -> None:
        super().__init__(
            "Too many requests. Retry after the time in Retry-After.", retry_after=retry_after
        )


def out_of_range(name: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter. {name} is outside the allowed range.")


def missing(name: str) -> InvalidParameter:
    return InvalidParameter(f"Mandatory parameter missing. {name} must be present.")


def allowed_values(name: str, values: tuple[str, ...]) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter. {name} allowed values are {' or '.join(values)}.")


def invalid(name: str, what: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid parameter. {name} {what}.")


SESSION_NOT_FOUND = "Session not found."
SESSION_ALREADY_EXPIRED = "Session already expired."
POOL_EXHAUSTED = "Number pool exhausted or not available."
