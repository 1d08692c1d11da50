"""django-filter FilterSets of the pipelines lists, shared by the API and the pages (``pipelines.listing``)."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet

from pipelines.models import Event, ExecutionStatus, Notification, NotificationLevel, PipelineExecution


def _either_case(choices: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Execution statuses are upper case; ``?status=failed`` means FAILED as well."""
    return [*choices, *((value.lower(), label) for value, label in choices)]


class ExecutionFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Search")
    status = django_filters.ChoiceFilter(choices=_either_case(ExecutionStatus.choices), method="with_status")
    deployment = django_filters.UUIDFilter(field_name="deployment_id")
    sort = django_filters.OrderingFilter(
        fields=(("created_at", "created"), ("status", "status"), ("completed_at", "completed"))
    )

    class Meta:
        model = PipelineExecution
        fields: list[str] = []

    def with_status(self, queryset: QuerySet[PipelineExecution], name: str, value: str) -> QuerySet[PipelineExecution]:
        return queryset.filter(status=value.upper())


class EventFilter(django_filters.FilterSet):
    after = django_filters.NumberFilter(field_name="id", lookup_expr="gt", min_value=0)
    execution = django_filters.UUIDFilter(field_name="execution_id")
    deployment = django_filters.UUIDFilter(field_name="deployment_id")
    type = django_filters.CharFilter()
    sort = django_filters.OrderingFilter(fields=(("id", "id"),))

    class Meta:
        model = Event
        fields: list[str] = []


class NotificationFilter(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(method="only_unread")
    level = django_filters.ChoiceFilter(choices=NotificationLevel.choices)
    q = django_filters.CharFilter(method="search", label="Search")
    sort = django_filters.OrderingFilter(fields=(("created_at", "created"),))

    class Meta:
        model = Notification
        fields: list[str] = []

    def only_unread(self, queryset: QuerySet[Notification], name: str, value: bool) -> QuerySet[Notification]:
        # ``unread=false`` means "not only the unread ones", as it did before there were FilterSets.
        return queryset.filter(read_at=None) if value else queryset

    def search(self, queryset: QuerySet[Notification], name: str, value: str) -> QuerySet[Notification]:
        return queryset.filter(title__icontains=value) | queryset.filter(message__icontains=value)
