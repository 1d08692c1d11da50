import gc
import os

import django
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "budportal.settings")
# What django.core.asgi.get_asgi_application() does, with each request's sync work in one hop to a thread pool.
django.setup(set_prefix=False)

from budportal.asgi_handler import PooledSyncASGIHandler  # noqa: E402  (needs the settings configured above)

# The ASGI servers serve no static files by themselves: the portal's few (htmx, its SSE extension, one CSS, one
# JS) are served here under STATIC_URL, so the pages work with no CDN and no separate web server.
django_app = PooledSyncASGIHandler()

from budportal.metrics import HttpMetricsApp  # noqa: E402  (needs the app registry loaded above)

# Every Django request is timed by its URL pattern for /metrics; the SSE streams are counted, not timed.
django_asgi_app = ASGIStaticFilesHandler(HttpMetricsApp(django_app))

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded above)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import URLPattern, re_path  # noqa: E402

from budportal.routing import sse_urlpatterns  # noqa: E402
from budportal.sse_auth import BearerTokenMiddleware  # noqa: E402

# The streams know the session user (channels' auth stack) and also accept the API's bearer token. Only they:
# Django's pages and the API check their own auth, so their requests skip the stack's database hop.
sse_routes = [
    URLPattern(p.pattern, AuthMiddlewareStack(BearerTokenMiddleware(p.callback)), p.default_args, p.name)
    for p in sse_urlpatterns
]

application = ProtocolTypeRouter({"http": URLRouter([*sse_routes, re_path(r"", django_asgi_app)])})

# A full garbage collection walked every object Django and the portal loaded, 80-135 ms in which the process
# answered nothing (tests/bench/README.md, web tier). What exists now lives as long as the process: frozen,
# later collections skip it.
gc.collect()
gc.freeze()
