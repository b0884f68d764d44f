"""Events: the outbox delivery worker, its metrics and operator commands.

Wiring (done by ``service.py`` and ``cli.py``):

* ``events.worker.start_worker`` / ``stop_worker``: app startup/shutdown hooks;
* ``events.api.router``: ``GET /metrics``;
* ``events.cli.events_app`` (``vts-masking events``) and ``events.cli.worker_command``
  (``vts-masking worker``).
"""
