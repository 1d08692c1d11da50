"""``GET /metrics`` for Prometheus, and the HTTP latency of every request (``HttpMetricsApp``).

Only with ``METRICS_TOKEN`` set, and only for ``Authorization: Bearer <METRICS_TOKEN>``: without a token the
address does not exist (404), a wrong or missing token gets 401. Samples come from every process of this host
when ``PROMETHEUS_MULTIPROC_DIR`` is set (web processes and django-q2 workers write there), plus gauges
counted in the database at scrape time: steps by status, the queue's depth and age, deployments by status and
health. Those are a handful of COUNT/MIN queries over indexed columns, exact whatever process restarted.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Min
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, Histogram, multiprocess
from prometheus_client.django import PrometheusDjangoView
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from pipelines.models import StepExecution, StepStatus
from pipelines.queueing import queue_depth
from usecases.models import ComponentStatus, UseCaseDeployment

HTTP_SECONDS = Histogram(
    "budportal_http_request_duration_seconds",
    "Time from the first middleware to the response, by route pattern (never the raw path), method and class.",
    ["route", "method", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class DatabaseCollector:
    """Gauges read from the database when Prometheus scrapes."""

    def collect(self) -> Iterator[Metric]:
        yield from self._steps()
        yield from self._queue()
        yield from self._deployments()

    def _steps(self) -> Iterator[Metric]:
        steps = GaugeMetricFamily("budportal_steps", "Pipeline steps by status.", labels=["status"])
        counts = dict(StepExecution.objects.order_by().values_list("status").annotate(n=Count("pk")))
        for status in StepStatus:
            steps.add_metric([status.value], counts.get(status.value, 0))
        yield steps

    def _queue(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("budportal_queue_depth", "Tasks waiting in the django-q2 broker.", value=queue_depth())
        queued = StepExecution.objects.filter(status=StepStatus.PENDING, enqueued_at__isnull=False)
        oldest = queued.aggregate(oldest=Min("enqueued_at"))["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "budportal_queue_oldest_age_seconds", "Age of the oldest step queued and not started yet.", value=age
        )

    def _deployments(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "budportal_deployments",
            "Deployments by status and health (degraded: at least one component failed).",
            labels=["status", "health"],
        )
        deployments = UseCaseDeployment.objects.order_by()
        totals = dict(deployments.values_list("status").annotate(n=Count("pk")))
        degraded = dict(
            deployments.filter(components__status=ComponentStatus.FAILED)
            .values_list("status")
            .annotate(n=Count("pk", distinct=True))
        )
        for status, total in sorted(totals.items()):
            family.add_metric([status, "healthy"], total - degraded.get(status, 0))
            family.add_metric([status, "degraded"], degraded.get(status, 0))
        yield family


class _ProcessCollector:
    """This process's own metrics, when there is no multiprocess directory to read them from."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _build_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        forget_dead_processes(directory)
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector())
    return registry


def forget_dead_processes(directory: str) -> None:
    """Drop the live gauges (SSE streams open) of processes that are gone, or a crashed web process's open
    streams would be counted for ever. Counters and histograms of dead workers are kept: they are totals."""
    for name in os.listdir(directory):
        if not name.startswith("gauge_live"):
            continue
        pid = name.rsplit("_", 1)[-1].removesuffix(".db")
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class MetricsView(PrometheusDjangoView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        token = settings.METRICS_TOKEN
        if not token:
            raise Http404
        if not token_matches(request, token):
            response = HttpResponse("A bearer token is required.\n", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        self.registry = _build_registry()
        return super().dispatch(request, *args, **kwargs)


metrics_view = MetricsView.as_view()


class HttpMetricsApp:
    """ASGI wrapper observing every Django request's duration under its URL pattern
    (``api/deployments/<deployment_id>``), so that ids and scanners' made-up addresses do not each become a time
    series. An ASGI wrapper rather than a Django middleware: it adds no frame to the request thread's stack, whose
    depth bounds how deeply nested a JSON body Python can parse (see tests/pipelines/test_sandbox_limits.py)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        began = time.perf_counter()
        status = 500

        async def send_and_watch(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            # The handler notes the pattern it resolved (budportal/asgi_handler.py); resolving again is the fallback.
            route = scope.get(ROUTE_KEY) or route_of(scope.get("path", ""))
            observe_request(route, scope.get("method", ""), status, time.perf_counter() - began)


ROUTE_KEY = "budportal.route"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    HTTP_SECONDS.labels(route=route, method=_method(method), status=f"{status // 100}xx").observe(seconds)


def route_of(path: str) -> str:
    """The URL pattern ``path`` matches, or ``unmatched``."""
    try:
        match = resolve(path)
    except Resolver404:
        return "unmatched"
    return match.route or match.view_name or "unnamed"


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _method(method: str) -> str:
    return method if method in KNOWN_METHODS else "other"  # clients choose the method too
