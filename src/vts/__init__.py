"""The VTS Python SDK: ``import vts; vts.RestClient(auth_id, auth_token)``.

See ``docs/sdk.md``. Depends on httpx only; imports nothing of the service.
"""

__version__ = "0.1.0"

from . import exceptions, models, signature
from .client import AsyncRestClient, RestClient
from .exceptions import (
    AuthenticationError,
    ForbiddenError,
    InvalidRequestError,
    RateLimitError,
    ResourceNotFoundError,
    ServerError,
    ValidationError,
    VTSConnectionError,
    VTSRestException,
)

__all__ = [
    "AsyncRestClient",
    "AuthenticationError",
    "ForbiddenError",
    "InvalidRequestError",
    "RateLimitError",
    "ResourceNotFoundError",
    "RestClient",
    "ServerError",
    "VTSConnectionError",
    "VTSRestException",
    "ValidationError",
    "__version__",
    "exceptions",
    "models",
    "signature",
]
