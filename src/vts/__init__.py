"""The VTS Python SDK: ``import vts; vts.RestClient(auth_id, auth_token)``."""

__version__ = "0.1.0"
