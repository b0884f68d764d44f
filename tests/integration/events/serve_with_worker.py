"""``vts-masking serve`` with the event worker registered, for the restart tests.

Until ``service.build_app`` registers ``start_worker``/``stop_worker`` itself this adds
them; once it does, this is exactly ``python -m vts_masking.cli``.
"""

from __future__ import annotations

import vts_masking.service as service
from vts_masking.cli import app
from vts_masking.events.worker import start_worker, stop_worker

_build_app = service.build_app


def build_app(settings):  # type: ignore[no-untyped-def]
    application = _build_app(settings)
    if start_worker not in application.state.startup_hooks:
        application.state.startup_hooks.append(start_worker)
    if stop_worker not in application.state.shutdown_hooks:
        application.state.shutdown_hooks.append(stop_worker)
    return application


service.build_app = build_app

if __name__ == "__main__":
    app()
