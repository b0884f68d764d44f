"""Assembles the whole service for ``vts-masking serve``: API, sweeper, and (as they
land) the SIP edge, the media relay and the event worker."""

from __future__ import annotations

from fastapi import FastAPI

from .api.app import create_app
from .config import Settings


def build_app(settings: Settings) -> FastAPI:
    return create_app(settings)
