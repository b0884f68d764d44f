"""VTS Number Masking: the service (HTTP API, SIP edge, media relay, event delivery)."""

__version__ = "0.1.0"
