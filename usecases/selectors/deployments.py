"""Reads for deployments, scoped to the user who asks (staff see all; someone else's deployment is a 404)."""

from __future__ import annotations

import functools
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, OuterRef, Prefetch, QuerySet, Subquery
from django.http import Http404

from usecases.models.deployments import ComponentDeployment, DeploymentRevision, RevisionStatus, UseCaseDeployment
from usecases.selectors import rows


def deployment_list(*, user, status: str | None = None, template: str | None = None) -> QuerySet[UseCaseDeployment]:
    latest = (
        DeploymentRevision.objects.filter(deployment=OuterRef("pk"))
        .exclude(status=RevisionStatus.DRAFT)
        .order_by("-number")
        .values("status")[:1]
    )
    qs = (
        UseCaseDeployment.objects.select_related("owner")
        .prefetch_related(Prefetch("components", queryset=ComponentDeployment.objects.order_by("position")))
        .annotate(latest_revision_status=Subquery(latest))
    )
    if not user.is_staff:
        qs = qs.filter(owner=user)
    if status:
        qs = qs.filter(status=status)
    if template:
        qs = qs.filter(template_name=template)
    return qs


def deployment_template_names(*, user) -> list[str]:
    """The templates the user's deployments use (the list page's template filter)."""
    return sorted(set(deployment_list(user=user).values_list("template_name", flat=True)))


def deployment_owner_names(*, user) -> list[str]:
    """Who owns the deployments ``user`` can see (staff filter by owner)."""
    return sorted(set(deployment_list(user=user).values_list("owner__username", flat=True)))


def deployment_namespaces(*, user, cluster) -> list[dict[str, object]]:
    """The namespaces the user's deployments hold on ``cluster``, each with its deployment's name and status."""
    rows = deployment_list(user=user).filter(cluster=cluster).order_by("namespace")
    return [
        {"namespace": ns, "deployment": name, "status": status}
        for ns, name, status in rows.values_list("namespace", "name", "status")
    ]


def deployment_get(*, user, deployment_id: uuid.UUID | str) -> UseCaseDeployment:
    """The deployment if ``user`` may see it; 404 otherwise."""
    try:
        return deployment_list(user=user).get(pk=deployment_id)
    except (UseCaseDeployment.DoesNotExist, ValueError, TypeError):
        raise Http404("deployment not found") from None


def deployment_detail_get(*, user, deployment_id: uuid.UUID | str) -> UseCaseDeployment:
    """``deployment_get`` for the API's detail GET, the portal's hottest read: the same deployment, its owner's
    name (``owner_name``), latest revision status and components (``component_rows``, by position) in one
    statement written once per process and prepared on PostgreSQL (``selectors.rows``). Through the ORM the
    query was rebuilt on every call and planned by PostgreSQL on every call: together most of the request's
    cost (tests/bench/README.md, web tier). 404 unless ``user`` may see it, as ``deployment_list``."""
    pk_field = UseCaseDeployment._meta.pk
    try:
        pk = pk_field.get_db_prep_value(pk_field.to_python(deployment_id), connection)
    except ValidationError:
        raise Http404("deployment not found") from None
    params = [RevisionStatus.DRAFT.value, pk] + ([] if user.is_staff else [user.pk])
    found = rows.fetch_rows(_detail_sql(staff=user.is_staff), params)
    if not found:
        raise Http404("deployment not found")
    width, component_pk = _detail_layout()
    deployment = rows.reader(UseCaseDeployment)(found[0][:width])
    deployment.owner_name, deployment.latest_revision_status = found[0][width : width + 2]  # type: ignore[attr-defined]
    read_component = rows.reader(ComponentDeployment)
    # A deployment without components is one row of NULLs on the components' side (LEFT JOIN).
    components = [read_component(row[width + 2 :]) for row in found if row[component_pk] is not None]
    deployment.component_rows = components  # type: ignore[attr-defined]  # this read's own attribute
    return deployment


def _column(model: type[Model], name: str, alias: str = "") -> str:
    column = _quote(str(model._meta.get_field(name).column))  # type: ignore[union-attr]
    return f"{alias}.{column}" if alias else column


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


@functools.cache
def _detail_layout() -> tuple[int, int]:
    """Where ``_detail_sql``'s row splits: the deployment's column count, and the component key's index."""
    width = len(UseCaseDeployment._meta.concrete_fields)
    return width, width + 2 + [f.primary_key for f in ComponentDeployment._meta.concrete_fields].index(True)


@functools.cache
def _detail_sql(*, staff: bool) -> str:
    """Deployment columns, owner name, latest revision status, then component columns (all NULL when the
    deployment has none). Column and table names come from the models' metadata, quoted; every
    value is a parameter."""
    user_model = get_user_model()
    columns = ", ".join(f"d.{_quote(str(f.column))}" for f in UseCaseDeployment._meta.concrete_fields)
    component_columns = ", ".join(f"c.{_quote(str(f.column))}" for f in ComponentDeployment._meta.concrete_fields)
    latest = (
        f"SELECT {_column(DeploymentRevision, 'status', 'r')} FROM {_quote(DeploymentRevision._meta.db_table)} r"
        f" WHERE {_column(DeploymentRevision, 'deployment', 'r')} = {_column(UseCaseDeployment, 'id', 'd')}"
        f" AND {_column(DeploymentRevision, 'status', 'r')} <> %s"
        f" ORDER BY {_column(DeploymentRevision, 'number', 'r')} DESC LIMIT 1"
    )
    owner = "" if staff else f" AND {_column(UseCaseDeployment, 'owner', 'd')} = %s"
    return (
        f"SELECT {columns}, {_column(user_model, user_model.USERNAME_FIELD, 'u')} AS owner_name,"
        f" ({latest}) AS latest_revision_status, {component_columns}"
        f" FROM {_quote(UseCaseDeployment._meta.db_table)} d"
        f" JOIN {_quote(user_model._meta.db_table)} u"
        f" ON {_column(user_model, user_model._meta.pk.name, 'u')} = {_column(UseCaseDeployment, 'owner', 'd')}"
        f" LEFT JOIN {_quote(ComponentDeployment._meta.db_table)} c"
        f" ON {_column(ComponentDeployment, 'deployment', 'c')} = {_column(UseCaseDeployment, 'id', 'd')}"
        f" WHERE {_column(UseCaseDeployment, 'id', 'd')} = %s{owner}"
        f" ORDER BY {_column(ComponentDeployment, 'position', 'c')}, {_column(ComponentDeployment, 'id', 'c')}"
    )


def revision_list(*, user, deployment_id: uuid.UUID | str) -> QuerySet[DeploymentRevision]:
    """The deployment's revisions, newest first (404 unless ``user`` may see the deployment)."""
    deployment = deployment_get(user=user, deployment_id=deployment_id)
    return deployment.revisions.select_related("created_by").order_by("-number")


def revision_get(*, user, deployment_id: uuid.UUID | str, number: int) -> DeploymentRevision:
    try:
        return revision_list(user=user, deployment_id=deployment_id).get(number=number)
    except DeploymentRevision.DoesNotExist:
        raise Http404("revision not found") from None
