"""Endpoint discovery: the release's Services become in-cluster URLs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# In order of preference; a port with none of these names is used only when nothing better exists.
HTTP_PORT_NAMES = ("http", "web", "api", "https")


def _ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    ports = (service.get("spec") or {}).get("ports") or []
    return [
        {"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol") or "TCP"}
        for p in ports
        if isinstance(p, dict) and p.get("port")
    ]


def _preferred_port(ports: list[dict[str, Any]]) -> dict[str, Any] | None:
    for name in HTTP_PORT_NAMES:
        for port in ports:
            if port["name"] == name:
                return port
    return ports[0] if ports else None


def discover_services(resources: Iterable[dict[str, Any] | None], namespace: str) -> list[dict[str, Any]]:
    """``[{name, namespace, ports: [{name, port, protocol}], url}]`` for every Service in the manifest."""
    services = []
    for resource in resources:
        if not isinstance(resource, dict) or resource.get("kind") != "Service":
            continue
        metadata = resource.get("metadata") or {}
        name, ns = metadata.get("name"), metadata.get("namespace") or namespace
        ports = _ports(resource)
        port = _preferred_port(ports)
        url = f"http://{name}.{ns}.svc.cluster.local:{port['port']}" if port else None
        services.append({"name": name, "namespace": ns, "ports": ports, "url": url})
    return services


def primary_endpoint(services: list[dict[str, Any]]) -> str | None:
    """The URL a component is reached at: the first Service with an HTTP-named port, else the first with any."""
    for service in services:
        if any(port["name"] in HTTP_PORT_NAMES for port in service["ports"]):
            return service["url"]
    return next((service["url"] for service in services if service["url"]), None)
