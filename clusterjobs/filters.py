"""django-filter FilterSets of the clusterjobs lists, shared by the API and the pages (``pipelines.listing``)."""

from __future__ import annotations

import django_filters
from django.db.models import Q, QuerySet

from clusterjobs.models import Cluster, Job, JobStatus, JobType


class ClusterFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    sandbox = django_filters.BooleanFilter(field_name="is_sandbox")
    sort = django_filters.OrderingFilter(fields=(("name", "name"), ("created_at", "created")))

    class Meta:
        model = Cluster
        fields: list[str] = []

    def search(self, queryset: QuerySet[Cluster], name: str, value: str) -> QuerySet[Cluster]:
        return queryset.filter(Q(name__icontains=value) | Q(server_url__icontains=value))


class JobFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    status = django_filters.ChoiceFilter(choices=JobStatus.choices)
    job_type = django_filters.ChoiceFilter(choices=JobType.choices)
    source_id = django_filters.CharFilter()
    cluster = django_filters.UUIDFilter(field_name="cluster_id")
    # The name the API used before it had FilterSets.
    cluster_id = django_filters.UUIDFilter(field_name="cluster_id")
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("status", "status"), ("completed_at", "completed"))
    )

    class Meta:
        model = Job
        fields: list[str] = []
