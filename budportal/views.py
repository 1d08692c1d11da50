from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from clusterjobs.selectors import cluster_list
from pipelines.selectors import notification_list
from usecases.deployment_selectors import deployment_list
from usecases.selectors import template_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what the user has, what is moving, and where to go next."""
    deployments = list(deployment_list(user=request.user)[:200])
    by_status: dict[str, int] = {}
    for deployment in deployments:
        by_status[deployment.status] = by_status.get(deployment.status, 0) + 1
    context = {
        "recent": deployments[:6],
        "by_status": sorted(by_status.items()),
        "deployment_count": len(deployments),
        "template_count": len(template_list(user=request.user)),
        "clusters": list(cluster_list(user=request.user)),
        "notifications": list(notification_list(user=request.user, unread_only=True)[:5]),
    }
    return render(request, "budportal/home.html", context)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers and the portal's own chart: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
