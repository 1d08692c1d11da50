import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "budportal.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry loaded above)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from pipelines.routing import sse_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": AuthMiddlewareStack(URLRouter([*sse_urlpatterns, re_path(r"", django_asgi_app)])),
    }
)
