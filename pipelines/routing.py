"""ASGI routes served by Channels consumers (Server-Sent Events); everything else goes to Django."""

sse_urlpatterns: list = []
