"""What the database holds, for tests that check what a request wrote, not only what it answered.

A status code alone passes when the server writes the bad row and then answers 422, or deletes another
user's object and then answers 404. Take a snapshot before the request and compare it after:

    before = rows()                      # every row of the portal's apps
    response = owner_api.post(...)       # refused
    assert rows() == before              # ... and nothing was written

    before = stored(job)                 # every column of one object
    response = other_api.post(...)       # someone else's: 404
    assert stored(job) == before         # ... and it was not changed either

    before = everything()                # every column of every row: nothing created, changed or deleted
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model

# budportal is left out: its one model (ApiToken) records when a token was last used, on every request.
PORTAL_APPS = ("usecases", "clusterjobs", "pipelines")


def _models(models: tuple[type[Model], ...]) -> list[type[Model]]:
    return list(models) or [model for label in PORTAL_APPS for model in apps.get_app_config(label).get_models()]


def rows(*models: type[Model]) -> dict[str, list[str]]:
    """The primary keys of every row of ``models`` (by default every model of the portal's apps), by model."""
    chosen = _models(models)
    return {
        model._meta.label: sorted(str(pk) for pk in model._default_manager.values_list("pk", flat=True))
        for model in chosen
    }


def stored(obj: Model) -> dict[str, Any]:
    """Every column of ``obj`` as the database holds it now (a deleted row raises DoesNotExist)."""
    return _columns(type(obj)._default_manager.get(pk=obj.pk))


def _columns(row: Model) -> dict[str, Any]:
    return {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}


def everything(*models: type[Model]) -> dict[str, list[dict[str, Any]]]:
    """Every column of every row of ``models`` (by default every model of the portal's apps), by model."""
    return {
        model._meta.label: [_columns(row) for row in model._default_manager.order_by("pk")] for model in _models(models)
    }
