"""django-filter FilterSets of the usecases lists, shared by the API and the pages (``pipelines.listing``).

Query parameters: ``q`` searches, ``sort`` orders (``-`` for descending), the rest filter exactly.
"""

from __future__ import annotations

import django_filters
from django.db import connection
from django.db.models import Q, QuerySet

from usecases.models import UseCaseTemplate
from usecases.models.deployments import DeploymentStatus, UseCaseDeployment


class DeploymentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=DeploymentStatus.choices)
    template = django_filters.CharFilter(field_name="template_name")
    cluster = django_filters.UUIDFilter(field_name="cluster_id")
    # Everyone else's deployments are already out of a non-staff user's queryset, so this only narrows.
    owner = django_filters.CharFilter(field_name="owner__username")
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("name", "name"), ("status", "status"), ("template_name", "template"))
    )

    class Meta:
        model = UseCaseDeployment
        fields: list[str] = []

    def search(self, queryset: QuerySet[UseCaseDeployment], name: str, value: str) -> QuerySet[UseCaseDeployment]:
        return queryset.filter(Q(name__icontains=value) | Q(template_name__icontains=value))


class TemplateFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    category = django_filters.CharFilter()
    source = django_filters.ChoiceFilter(choices=UseCaseTemplate.Source.choices)
    tag = django_filters.CharFilter(method="with_tag")
    sort = django_filters.OrderingFilter(
        fields=(("name", "name"), ("display_name", "title"), ("created_at", "created"), ("updated_at", "updated"))
    )

    class Meta:
        model = UseCaseTemplate
        fields: list[str] = []

    def search(self, queryset: QuerySet[UseCaseTemplate], name: str, value: str) -> QuerySet[UseCaseTemplate]:
        return queryset.filter(
            Q(name__icontains=value) | Q(display_name__icontains=value) | Q(description__icontains=value)
        )

    def with_tag(self, queryset: QuerySet[UseCaseTemplate], name: str, value: str) -> QuerySet[UseCaseTemplate]:
        if connection.features.supports_json_field_contains:
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment lookup; the quoted string inside the JSON text is close enough and
        # exact after the check below (a tag is a plain slug, validated when the template is saved).
        ids = [t.pk for t in queryset.filter(tags__icontains=f'"{value}"') if value in t.tags]
        return queryset.filter(pk__in=ids)
