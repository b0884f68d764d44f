"""The web console: the API's rules in a browser, under ``/console`` (docs/console.md).

Server-rendered pages (Jinja2 templates in ``templates/``) with htmx for the parts that
update themselves (calls in progress, a retried delivery); every asset is in
``static/``, so the console works with no network beyond the service. The routes call
the same store operations and tenant checks as ``api/``; the console writes no SQL.

The router is ``console.routes.router`` (imported by ``service.py``; this package's
``__init__`` stays empty so ``vts-masking console`` commands start without the web stack).
"""
