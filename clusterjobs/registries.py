"""Chart registry credentials: an owner stores, replaces and deletes them per host; nobody reads them back.

Services and selectors of one small domain (the ``ChartRegistry`` model); the API is in ``clusterjobs.api``.
"""

from __future__ import annotations

import re
import uuid

from cryptography import x509
from django.db.models import QuerySet
from django.http import Http404
from django.views.decorators.debug import sensitive_variables

from budportal.errors import ServiceValidationError
from clusterjobs.charts.fetch import ChartFetchError, RegistryAuth, available_versions, chart_host
from clusterjobs.charts.versions import newest_first, newest_matching
from clusterjobs.models import ChartRegistry

HOST_RE = re.compile(r"^(?=.{1,253}(:|$))[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:\d{1,5})?$")


def _clean_host(host: str) -> str:
    host = host.strip().lower()
    if not HOST_RE.match(host) or ".." in host or (":" in host and not 0 < int(host.rsplit(":", 1)[1]) < 65536):
        raise ServiceValidationError.at(("body", "payload", "host"), "enter host[:port] as in the chart ref")
    return host


def _clean_ca(ca_pem: str) -> str:
    if not ca_pem.strip():
        return ""
    try:
        x509.load_pem_x509_certificates(ca_pem.encode())
    except ValueError:
        raise ServiceValidationError.at(("body", "payload", "ca_pem"), "not a PEM certificate") from None
    return ca_pem.strip() + "\n"


@sensitive_variables("password")
def registry_put(*, owner, host: str, username: str, password: str, ca_pem: str) -> ChartRegistry:
    """Create or replace the owner's credentials for ``host``."""
    host, ca_pem = _clean_host(host), _clean_ca(ca_pem)
    registry = ChartRegistry.objects.filter(owner=owner, host=host).first() or ChartRegistry(owner=owner, host=host)
    registry.username = username
    registry.password = password
    registry.ca_pem = ca_pem
    registry.save()
    return registry


def registry_delete(*, owner, registry_id: uuid.UUID) -> None:
    registry_get(owner=owner, registry_id=registry_id).delete()


def registry_list(*, owner) -> QuerySet[ChartRegistry]:
    return ChartRegistry.objects.filter(owner=owner)


def registry_get(*, owner, registry_id: uuid.UUID) -> ChartRegistry:
    """Only the owner's own: another user's registry does not exist for you (404)."""
    try:
        return registry_list(owner=owner).get(pk=registry_id)
    except ChartRegistry.DoesNotExist:
        raise Http404("registry not found") from None


@sensitive_variables()
def registry_auth_for(*, owner_id: int, ref: str) -> RegistryAuth | None:
    """The owner's stored credentials for the host of ``ref``, if any: never another user's."""
    if not ref.startswith(("https://", "oci://", "git+https://")):
        return None
    stored = ChartRegistry.objects.filter(owner_id=owner_id, host=chart_host(ref)).first()
    if stored is None:
        return None
    return RegistryAuth(username=stored.username, password=stored.password, ca_pem=stored.ca_pem)


def chart_version_problem(*, owner_id: int, ref: str, constraint: str | None) -> str | None:
    """Why ``constraint`` cannot be installed from the remote ``ref`` (no such version: the versions there are
    listed; the repository cannot be read: its answer), or None. Asked when a template is saved."""
    if not constraint or not ref.startswith(("https://", "oci://")):
        return None
    try:
        versions = available_versions(ref, auth=registry_auth_for(owner_id=owner_id, ref=ref))
    except (ChartFetchError, OSError) as exc:  # OutboundRefused is an OSError
        return f"cannot check the version: {exc}"
    if newest_matching(versions, constraint) is None:
        return f"no version matching {constraint!r}; available: {', '.join(newest_first(versions)[:20]) or 'none'}"
    return None
