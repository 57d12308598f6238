"""The one place API views get their querysets: every view is scoped by a selector."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from rest_framework import mixins, status, viewsets
from rest_framework.filters import OrderingFilter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import Serializer

from portal.models import User
from portal.security import client_ip as address_of


def client_ip(request: Request) -> str | None:
    return address_of(request)


def request_user(request: Request) -> User:
    """The authenticated user (IsAuthenticated has already refused anonymous requests)."""
    user = request.user
    assert isinstance(user, User)
    return user


class ScopedGenericViewSet(viewsets.GenericViewSet):
    """Views name a selector; the queryset always comes from it, for the requesting user.

    Another tenant's object is therefore never in the queryset, and every lookup of it is a 404.
    Subclasses cannot override get_queryset, so no view can opt out by accident.
    """

    selector: ClassVar[Callable[..., QuerySet[Any]]]
    # Actions that do not need everything `selector` loads (an action on one object that
    # answers with something else; a list built from plain values) may name a lighter
    # selector; it scopes the same way.
    action_selectors: ClassVar[dict[str, Callable[..., QuerySet[Any]]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset; set `selector`.")
        if "queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not set `queryset`; set `selector`.")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        # An extra action with a light selector finds its object by id alone: the list's
        # query-string filters do not apply to it (building their forms cost more than its
        # query). The list and the retrieve keep theirs (DRF's rule), whatever their selector.
        action = self.action
        if action not in ("list", "retrieve") and action in type(self).action_selectors:
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self) -> QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation, no real user
            model: type[Model] = getattr(self.get_serializer_class(), "Meta").model  # noqa: B009
            return model._default_manager.none()
        selector = type(self).action_selectors.get(str(self.action), type(self).selector)
        return selector(fetched_by=request_user(self.request))


class ScopedReadOnlyViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, ScopedGenericViewSet):
    pass


class ServiceCreateMixin(ScopedGenericViewSet):
    """POST validates with the view's serializer, then hands the data to `create_service`."""

    create_service: ClassVar[Callable[..., Model]]
    create_actor: ClassVar[str] = "created_by"

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = self.get_serializer(data=request.data)
        ser.is_valid(raise_exception=True)
        actor = {self.create_actor: request_user(request)}
        obj = type(self).create_service(
            **actor, **ser.validated_data, remote_addr=client_ip(request)
        )
        return Response(self.get_serializer(obj).data, status=status.HTTP_201_CREATED)


class ServiceUpdateMixin(ScopedGenericViewSet):
    """PATCH (and PUT, as a partial change): the object is found in scope first (another
    tenant's is a 404 before any validation), then the validated fields go to `update_service`.

    Views describe the request body with extend_schema_view(partial_update=..., update=...).
    """

    update_serializer_class: ClassVar[type[Serializer[Any]]]
    update_service: ClassVar[Callable[..., Model]]
    update_object: ClassVar[str]  # the service's keyword for the object, e.g. "host"

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        ser = self.update_serializer_class(
            data=request.data, partial=True, context=self.get_serializer_context()
        )
        ser.is_valid(raise_exception=True)
        obj = type(self).update_service(
            updated_by=request_user(request),
            remote_addr=client_ip(request),
            **{self.update_object: obj},
            **ser.validated_data,
        )
        return Response(self.get_serializer(obj).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)


class StableOrderingFilter(OrderingFilter):
    """`?ordering=` that always ends on the primary key, so pages never overlap or skip rows
    whose sort values tie (two VMs created in the same microsecond, two in the same state)."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: Any) -> list[str]:
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            last_descending = bool(ordering) and ordering[-1].startswith("-")
            ordering.append("-id" if last_descending else "id")
        return ordering
