from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from budportal import health
from clusterjobs.selectors import cluster_list
from pipelines.selectors import notification_list, notification_unread_count
from usecases.selectors.deployments import deployment_list
from usecases.selectors.templates import template_visible_qs

# The smallest catalog template (one Valkey release): the demo a newcomer deploys to the sandbox cluster.
DEMO_TEMPLATE = "valkey-cache"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what the user has, what is moving, and where to go next."""
    deployments = deployment_list(user=request.user)
    # Counted in the database: the totals must not stop at however many rows a page would load.
    by_status = deployments.order_by().values_list("status").annotate(n=Count("pk"))
    templates = template_visible_qs(user=request.user)
    clusters = list(cluster_list(user=request.user))
    sandbox = next((c for c in clusters if c.is_sandbox), None)
    context = {
        "recent": deployments[:6],
        "by_status": sorted(by_status),
        "deployment_count": sum(n for _, n in by_status),
        "template_count": templates.count(),
        "clusters": clusters,
        "sandbox": sandbox,
        # The wizard preselects the sandbox cluster by itself; the demo is offered only when both exist.
        "demo_template": DEMO_TEMPLATE if sandbox and templates.filter(name=DEMO_TEMPLATE).exists() else "",
        "notifications": list(notification_list(user=request.user, unread_only=True)[:5]),
        "unread_count": notification_unread_count(user=request.user),
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


def login_locked_out(
    request: HttpRequest, original_response: object = None, credentials: object = None
) -> HttpResponse:
    """django-axes' lockout answer (``AXES_LOCKOUT_CALLABLE``): the login form again, with why and for how long.

    Axes' async middleware passes the credentials where its sync one passes the original response, so neither
    argument is relied on; the username is read back from the form post.
    """
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {
        "form": form,
        "next": request.POST.get("next") or request.GET.get("next", ""),
        "locked_out": True,
        "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
