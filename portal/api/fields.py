"""The one way a request body names a tenant-owned object: by an id looked up in scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model, QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.permissions import Perm


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """An id resolved among the objects the requesting user may see.

    The queryset is `model.objects.visible_to(request.user, perm)` (or, for models that are not
    owned by a tenant such as flavors and images, the `selector` named), so another tenant's id
    fails exactly as an id that does not exist: 'Invalid pk "7" - object does not exist.' It
    says nothing about who may *do* what: services check that and answer 403.
    """

    default_error_messages = {
        # As the IntegerFields these ids were before: a name instead of an id says so.
        "incorrect_type": _("A valid integer is required."),
    }

    def __init__(
        self,
        model: type[Model],
        *,
        perm: Perm | None = None,
        selector: Callable[..., QuerySet[Any]] | None = None,
        select_related: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.scoped_model = model
        self.perm = perm
        self.selector = selector
        # What the service reads from the object next (an environment's tenant), in the lookup.
        self.related = select_related
        if not kwargs.get("read_only"):
            # Schema generators read `queryset.model`; the lookup itself is get_queryset's.
            kwargs.setdefault("queryset", model._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        request = self.context.get("request")
        if request is None:
            raise AssertionError(
                f"{type(self).__name__} needs the request in the serializer's context."
            )
        user = request.user
        if self.selector is not None:
            qs = self.selector(fetched_by=user)
        else:
            qs = self.scoped_model._default_manager.visible_to(user, self.perm)  # type: ignore[attr-defined]
        return qs.select_related(*self.related) if self.related else qs
