from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from budportal import health
from clusterjobs.selectors import cluster_list
from pipelines.selectors import notification_list
from usecases.deployment_selectors import deployment_list
from usecases.selectors import template_visible_qs


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what the user has, what is moving, and where to go next."""
    deployments = deployment_list(user=request.user)
    # Counted in the database: the totals must not stop at however many rows a page would load.
    by_status = deployments.order_by().values_list("status").annotate(n=Count("pk"))
    context = {
        "recent": deployments[:6],
        "by_status": sorted(by_status),
        "deployment_count": sum(n for _, n in by_status),
        "template_count": template_visible_qs(user=request.user).count(),
        "clusters": list(cluster_list(user=request.user)),
        "notifications": list(notification_list(user=request.user, unread_only=True)[:5]),
    }
    return render(request, "budportal/home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """The database and the broker answer: 200, or 503 naming what is down, for as long as it is down."""
    healthy, body = health.report()
    return JsonResponse(body, status=200 if healthy else 503)


def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness probe of the portal's chart: take this web pod out of the Service while a dependency is down
    (liveness is a TCP check, so an outage elsewhere does not restart healthy pods)."""
    return healthz(request)
