import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "budportal.settings")
# daphne serves no static files by itself: the portal's few (htmx, its SSE extension, one CSS, one JS) are
# served here under STATIC_URL, so the pages work with no CDN and no separate web server.
django_asgi_app = ASGIStaticFilesHandler(get_asgi_application())

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded above)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from budportal.routing import sse_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(URLRouter([*sse_urlpatterns, re_path(r"", django_asgi_app)])),
    }
)
