"""One way to page and filter a list, shared by every app's API and pages.

The API answers ``{items, total, page, page_size}`` (the shape the original BudUseCases API used) with
``?page=&page_size=``; ``page_size`` is bounded so one request cannot ask for the whole table (out of range is
a 422 naming the parameter). Filters are django-filter FilterSets (one ``filters.py`` per app) applied to the
query string by both the API and the page, so ``?status=failed&sort=-created_at`` means the same thing in both.

This lives in the bottom layer so every app can import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import django_filters
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, QueryDict
from ninja import Field, Schema
from ninja.pagination import PaginationBase

from budportal.errors import ServiceValidationError

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Deep pages of a big table are slow offset scans; nobody pages that far by hand.
MAX_PAGE = 10_000
PAGE_SIZE_CHOICES = (10, 20, 50, 100)

M = TypeVar("M", bound=Model)


class PagePagination(PaginationBase):
    """ninja pagination producing ``{items, total, page, page_size}``; use with ``@paginate(PagePagination)``."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE)
        page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)

    class Output(Schema):
        items: list[Any]
        total: int
        page: int
        page_size: int

    def paginate_queryset(self, queryset: Any, pagination: Input, request: HttpRequest, **params: Any) -> Any:
        offset = (pagination.page - 1) * pagination.page_size
        return {
            "items": queryset[offset : offset + pagination.page_size],
            "total": self._items_count(queryset),
            "page": pagination.page,
            "page_size": pagination.page_size,
        }


def filter_openapi(filterset_class: type[django_filters.FilterSet]) -> dict[str, Any]:
    """The FilterSet's parameters for the API docs (the endpoint reads them from ``request.GET`` itself, so the
    page and the API parse them with the same code)."""
    parameters = []
    for name, flt in filterset_class.base_filters.items():
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(flt, django_filters.BooleanFilter):
            schema = {"type": "boolean"}
        elif isinstance(flt, django_filters.NumberFilter):
            schema = {"type": "integer"}
        elif isinstance(flt, django_filters.OrderingFilter):
            schema = {"type": "string", "enum": [v for v, _ in flt.extra["choices"]]}
        elif isinstance(flt, django_filters.ChoiceFilter):
            schema = {"type": "string", "enum": [v for v, _ in flt.extra["choices"]]}
        description = "Search" if name == "q" else str(flt.label or name)
        parameters.append(
            {"in": "query", "name": name, "required": False, "schema": schema, "description": description}
        )
    return {"parameters": parameters}


def filter_queryset(
    filterset_class: type[django_filters.FilterSet],
    data: QueryDict,
    queryset: QuerySet[M],
    *,
    request: HttpRequest | None = None,
) -> QuerySet[M]:
    """``queryset`` narrowed by the FilterSet; a bad value is a ``ServiceValidationError`` at
    ``["query", <parameter>]`` (a 422 in the API), never a 500 or a silently ignored filter."""
    filterset = filterset_class(data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ServiceValidationError(
            [
                {"loc": ["query", field], "msg": " ".join(str(m) for m in messages)}
                for field, messages in filterset.errors.items()
            ]
        )
    return filterset.qs


@dataclass(frozen=True)
class PageOf:
    """One page of a list for a template: the rows and what the pager needs."""

    items: list[Any]
    total: int
    page: int
    page_size: int
    pages: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return max(low, min(number, high))


def page_of(queryset: QuerySet[Any], data: QueryDict) -> PageOf:
    """The page a page view shows. Pages are forgiving where the API is strict: a hand-edited ``?page=999``
    shows the last page and a bad ``page_size`` the default, rather than an error page."""
    page_size = _int(data.get("page_size"), DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    paginator = Paginator(queryset, page_size)
    page = paginator.get_page(_int(data.get("page"), 1, 1, MAX_PAGE))
    return PageOf(
        items=list(page.object_list),
        total=paginator.count,
        page=page.number,
        page_size=page_size,
        pages=paginator.num_pages,
    )


@dataclass(frozen=True)
class ListPage:
    """What a list page renders: the FilterSet (its form holds the current values and errors), the page of
    rows, and the query string without ``page`` for the pager links."""

    filterset: django_filters.FilterSet
    page: PageOf
    query: str
    errors: list[str]

    @property
    def filtered(self) -> bool:
        """Whether a filter or search narrows the list (sorting and paging do not)."""
        data = self.filterset.data
        return any(data.get(name) for name in self.filterset.filters if name != "sort")


def list_page(
    filterset_class: type[django_filters.FilterSet], request: HttpRequest, queryset: QuerySet[Any]
) -> ListPage:
    """The same FilterSet as the API, forgiving: a bad value (a hand-edited URL) is reported above an empty
    list instead of an error page."""
    filterset = filterset_class(request.GET, queryset=queryset, request=request)
    valid = filterset.is_valid()
    rows = filterset.qs if valid else queryset.none()
    errors = [f"{name}: {' '.join(map(str, messages))}" for name, messages in filterset.errors.items()]
    return ListPage(
        filterset=filterset, page=page_of(rows, request.GET), query=query_without(request.GET, "page"), errors=errors
    )


def query_without(data: QueryDict, *names: str) -> str:
    """The query string minus ``names`` (the pager links keep the filters and replace only the page)."""
    kept = data.copy()
    for name in names:
        kept.pop(name, None)
    return kept.urlencode()
