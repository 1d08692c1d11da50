"""``manage.py metrics_server``: serve this host's multiprocess samples on a port of their own.

For a pod without a web process (the chart's worker pods): the django-q2 workers write their samples to
``PROMETHEUS_MULTIPROC_DIR`` and this small server reports them, to ``Authorization: Bearer <METRICS_TOKEN>``
only. ``--database`` adds the gauges counted in the database (the chart passes it on web pods only, or every
worker pod would report them again).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import CollectorRegistry, make_wsgi_app, multiprocess

from budportal.metrics import DatabaseCollector


def guarded(app: Callable[..., Iterable[bytes]], token: str) -> Callable[..., Iterable[bytes]]:
    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme, _, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not found\n"]
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"A bearer token is required.\n"]
        # No pruning of dead processes' live gauges here: in a pod this container does not see the other
        # containers' processes (no shared PID namespace). budportal.serve prunes its children as they die.
        return app(environ, start_response)

    return serve


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # one line per scrape is noise
        pass


class Command(BaseCommand):
    help = "Serve the multiprocess Prometheus samples of this host's workers on /metrics."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="0.0.0.0")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument("--database", action="store_true", help="also report the database gauges")

    def handle(self, *args: Any, **options: Any) -> None:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            raise CommandError("PROMETHEUS_MULTIPROC_DIR is not set: there is nothing to serve")
        if not settings.METRICS_TOKEN:
            raise CommandError("METRICS_TOKEN is not set: the metrics would be open to anyone")
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        if options["database"]:
            registry.register(DatabaseCollector())
        app = guarded(make_wsgi_app(registry), settings.METRICS_TOKEN)
        with make_server(options["host"], options["port"], app, handler_class=QuietHandler) as server:
            self.stdout.write(f"metrics on http://{options['host']}:{options['port']}/metrics")
            server.serve_forever()
