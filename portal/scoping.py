"""The one tenant-scope rule: which rows of a tenant-owned model a user may see.

Platform roles (platform admins, finance, superusers) see every tenant's rows where their
platform permissions include the permission asked for (any platform role when none is asked);
everyone else sees the rows of the tenants they are a member of, with a role that grants the
permission when one is asked. Every selector reads through `visible_to`; code that must read
across tenants on Nuage's own behalf (services, tasks, checks) says so with `unscoped()`, so
that `grep -rn "unscoped()"` lists every read that bypasses the scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from django.db import models

if TYPE_CHECKING:
    from portal.models import User
    from portal.permissions import Perm

_M = TypeVar("_M", bound=models.Model)


def sees_all_tenants(user: Any, perm: Perm | None = None) -> bool:
    """Whether the user's platform role shows every tenant (for `perm`, when given)."""
    from portal.permissions import platform_perms

    if not getattr(user, "is_authenticated", False):
        return False
    perms = platform_perms(user)
    return perm in perms if perm is not None else bool(perms)


def member_tenant_ids(user: User, perm: Perm | None = None) -> models.QuerySet[Any, int]:
    """The ids of the tenants the user belongs to (with a role granting `perm`, when given)."""
    from portal.models import Membership
    from portal.permissions import ROLE_PERMS

    memberships = Membership.objects.unscoped().filter(user=user)
    if perm is not None:
        memberships = memberships.filter(
            role__in=[role for role, perms in ROLE_PERMS.items() if perm in perms]
        )
    return memberships.values_list("tenant_id", flat=True)


class _AnyOf(models.Func):
    """`column = ANY(ARRAY(subquery))` on PostgreSQL, `column IN (subquery)` elsewhere."""

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, column: models.F, values: models.QuerySet[Any, Any]) -> None:
        super().__init__(column, models.Subquery(values))

    def as_sql(  # type: ignore[override]  # Func's template arguments are not used
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        (column, column_params), (values, values_params) = (
            compiler.compile(e) for e in self.get_source_expressions()
        )
        template = "%s = ANY(ARRAY%s)" if connection.vendor == "postgresql" else "%s IN %s"
        return template % (column, values), (*column_params, *values_params)


class TenantScopedQuerySet(models.QuerySet[_M, _M]):
    """The manager of every model owned by a tenant (directly or through another row).

    The model names the lookup from itself to its tenant in `tenant_path` ("tenant" unless
    said otherwise; "" for the Tenant itself).
    """

    default_tenant_path: ClassVar[str] = "tenant"

    def _tenant_lookup(self) -> str:
        path = getattr(self.model, "tenant_path", self.default_tenant_path)
        return f"{path}_id__in" if path else "pk__in"

    def visible_to(self, user: Any, perm: Perm | None = None, *, by_id: bool = False) -> Self:
        """The rows `user` may see (and use `perm` on, when given): the single tenant scope.

        `by_id`: for a read of one row by its id (then filtered so), the same rows with the
        member's tenants as `= ANY(ARRAY(subquery))` on PostgreSQL: planned once as a constant
        rather than as one more table in every join order (a VM with six relations: 5-8 ms of
        planning for a 0.3 ms query, more as the tables grow). Lists keep the join, whose row
        estimate their plans need."""
        if sees_all_tenants(user, perm):
            return self.all()
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        lookup = self._tenant_lookup()
        if by_id:
            column = lookup.removesuffix("__in")
            return self.filter(_AnyOf(models.F(column), member_tenant_ids(user, perm)))
        return self.filter(**{lookup: member_tenant_ids(user, perm)})

    def unscoped(self) -> Self:
        """Every tenant's rows, on purpose: for Nuage's own work, never for a user's page."""
        return self.all()


class OwnedQuerySet(models.QuerySet[_M, _M]):
    """Rows that belong to one user (API tokens): everyone, platform admins too, sees only their
    own. `owner_path` on the model names the user lookup ("user" unless said otherwise)."""

    def visible_to(self, user: Any, perm: Perm | None = None) -> Self:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        path = getattr(self.model, "owner_path", "user")
        return self.filter(**{path: user})

    def unscoped(self) -> Self:
        return self.all()
