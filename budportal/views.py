from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from clusterjobs.selectors import cluster_list
from pipelines.selectors import notification_list
from usecases.selectors.deployments import deployment_list
from usecases.selectors.templates import template_visible_qs


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
    """Liveness and readiness for load balancers and the portal's own chart: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
