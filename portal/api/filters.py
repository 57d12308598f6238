"""The one way a query string names a tenant-owned object: an id looked up in scope.

django-filter's id filters (`?tenant=`, `?environment=`, `?user=`...) choose among every row
of the model by default, so another tenant's id filtered to an empty page while a made-up id
was a 400: the answer told them apart. Here every such filter chooses among the rows the
requesting user may see, so both get the same 400 ("Select a valid choice").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.db.models import Model, QuerySet
from django_filters.rest_framework import DjangoFilterBackend


def scoped_choices(model: type[Model]) -> Callable[[Any], QuerySet[Any]] | None:
    """The queryset callable (of the request) that scopes ids of `model`, if it is scoped."""
    from portal import selectors
    from portal.models import User

    if model is User:
        return lambda request: selectors.user_list(fetched_by=request.user)
    manager = model._default_manager
    if hasattr(manager, "visible_to"):
        return lambda request: manager.visible_to(request.user)
    return None


class ScopedFilterSet(django_filters.FilterSet):
    """A FilterSet whose generated id filters are scoped to the requesting user."""

    @classmethod
    def filter_for_field(cls, field: Any, field_name: str, lookup_expr: str | None = None) -> Any:
        found = super().filter_for_field(field, field_name, lookup_expr)
        if isinstance(
            found, django_filters.ModelChoiceFilter | django_filters.ModelMultipleChoiceFilter
        ):
            scoped = scoped_choices(field.related_model)
            if scoped is not None:
                found.queryset = scoped
        return found


# Query parameters that are not filters: the page, the order, the answer's format.
NOT_FILTERS = frozenset({"limit", "offset", "ordering", "format", "page"})


class ScopedFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend building `filterset_fields` on ScopedFilterSet."""

    filterset_base = ScopedFilterSet

    def filter_queryset(self, request: Any, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        # No filter asked for: the FilterSet (a class built per request from filterset_fields)
        # and its form would filter nothing, at more CPU than a page of rows.
        if not set(request.query_params) - NOT_FILTERS:
            return queryset
        return super().filter_queryset(request, queryset, view)
