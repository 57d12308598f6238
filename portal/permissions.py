"""Who may do what: every permission is declared here once and checked by the services."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from enum import StrEnum
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from portal.choices import PlatformRole, Role
from portal.models import Membership, Tenant, User


class Perm(StrEnum):
    VM_VIEW = "vm.view"
    VM_REQUEST = "vm.request"
    VM_APPROVE = "vm.approve"
    VM_OPERATE_OWN = "vm.operate_own"
    VM_OPERATE_ANY = "vm.operate_any"
    TENANT_MANAGE = "tenant.manage"
    AUDIT_VIEW = "audit.view"
    MEMBERS_MANAGE = "tenant.members"
    ENVIRONMENTS_MANAGE = "tenant.environments"
    # Platform-wide (not per tenant): keep the price lists.
    PRICE_MANAGE = "billing.price_manage"
    QUOTA_VIEW = "quota.view"
    QUOTA_REQUEST = "quota.request"
    # Setting limits and deciding increase requests: platform admins only (no tenant role has it).
    QUOTA_MANAGE = "quota.manage"
    # A tenant's monthly budget and whether it blocks new requests: tenant admins.
    BUDGET_MANAGE = "billing.budget_manage"
    # Platform-wide: every tenant's usage and cost on the finance page.
    USAGE_VIEW_ALL = "billing.usage_view_all"
    # Platform-wide: draft, issue and credit invoices of every tenant (finance, platform admins).
    INVOICE_MANAGE = "billing.invoice_manage"
    # Per tenant: read the tenant's invoices (tenant admins; the platform roles above see all).
    INVOICE_VIEW = "billing.invoice_view"
    # Platform-wide: a tenant's billing details, cost centre and VAT rate (finance, admins).
    TENANT_BILLING_MANAGE = "tenant.billing_manage"


_MEMBER = frozenset(
    {Perm.VM_VIEW, Perm.VM_REQUEST, Perm.VM_OPERATE_OWN, Perm.QUOTA_VIEW, Perm.QUOTA_REQUEST}
)
ROLE_PERMS: dict[str, frozenset[Perm]] = {
    Role.MEMBER: _MEMBER,
    Role.APPROVER: _MEMBER | {Perm.VM_APPROVE},
    Role.ADMIN: _MEMBER
    | {
        Perm.VM_APPROVE,
        Perm.VM_OPERATE_ANY,
        Perm.TENANT_MANAGE,
        Perm.AUDIT_VIEW,
        Perm.MEMBERS_MANAGE,
        Perm.ENVIRONMENTS_MANAGE,
        Perm.BUDGET_MANAGE,
        Perm.INVOICE_VIEW,
    },
}
PLATFORM_PERMS: dict[str, frozenset[Perm]] = {
    PlatformRole.ADMIN: frozenset(Perm),
    PlatformRole.FINANCE: frozenset(
        {
            Perm.VM_VIEW,
            Perm.PRICE_MANAGE,
            Perm.QUOTA_VIEW,
            Perm.USAGE_VIEW_ALL,
            Perm.INVOICE_MANAGE,
            Perm.INVOICE_VIEW,
            Perm.TENANT_BILLING_MANAGE,
        }
    ),
}


# A request reads the user's memberships (with their tenants) once: the navigation, the
# current tenant and every permission check of its rows share them, whatever the rows' number.
# Only within a request (the middleware below opens the memo); any write to a membership
# forgets it. Outside a request (tasks, shell) every check reads the database.
_MEMBERSHIPS: ContextVar[dict[int, list[Membership]] | None] = ContextVar(
    "nuage_memberships", default=None
)


def request_memo_middleware(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        token = _MEMBERSHIPS.set({})
        try:
            return get_response(request)
        finally:
            _MEMBERSHIPS.reset(token)

    return middleware


@receiver(post_save, sender=Membership)
@receiver(post_delete, sender=Membership)
def _forget_memberships(**_kwargs: Any) -> None:
    memo = _MEMBERSHIPS.get()
    if memo is not None:
        memo.clear()


def user_memberships(user: User) -> list[Membership] | None:
    """The user's memberships with their tenants (by tenant name), read once per request; None
    outside a request."""
    memo = _MEMBERSHIPS.get()
    if memo is None or user.pk is None:
        return None
    found = memo.get(user.pk)
    if found is None:
        found = memo[user.pk] = sorted(
            Membership.objects.unscoped().filter(user=user).select_related("tenant"),
            key=lambda m: (m.tenant.name, m.tenant.pk),
        )
    return found


def tenant_role(user: User, tenant: Tenant) -> str | None:
    memberships = user_memberships(user)
    if memberships is not None:
        return next((m.role for m in memberships if m.tenant_id == tenant.pk), None)
    return (
        Membership.objects.unscoped()
        .filter(user=user, tenant=tenant)
        .values_list("role", flat=True)
        .first()
    )


def perms_in(user: User, tenant: Tenant) -> frozenset[Perm]:
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    return perms_for_role(user, tenant_role(user, tenant))


def perms_for_role(user: User, role: str | None) -> frozenset[Perm]:
    """What the user may do in a tenant where their role is `role` (None: not a member)."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    platform = frozenset(Perm) if user.is_superuser else PLATFORM_PERMS.get(user.platform_role)
    return (platform or frozenset()) | ROLE_PERMS.get(role or "", frozenset())


def perm_condition(user: User, perm: Perm, *, tenant_column: str = "tenant_id") -> Q | None:
    """`perm` as a condition on a tenant-owned row (its tenant in `tenant_column`), for a
    write's own WHERE clause (one statement, no membership read before it): the user's role in
    the row's tenant grants it. None: the user's platform role grants it everywhere; a user who
    may not act at all matches no row."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    if perm in platform_perms(user):
        return None
    roles = [role for role, perms in ROLE_PERMS.items() if perm in perms]
    return Q(
        Exists(
            Membership.objects.unscoped().filter(
                tenant_id=OuterRef(tenant_column), user_id=user.pk, role__in=roles
            )
        )
    )


def has_perm(user: User, tenant: Tenant, perm: Perm) -> bool:
    return perm in perms_in(user, tenant)


def require_perm(user: User, tenant: Tenant, perm: Perm) -> None:
    if not has_perm(user, tenant, perm):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))


def platform_perms(user: User) -> frozenset[Perm]:
    """What the user's platform role allows everywhere, whatever their tenants."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    if user.is_superuser:
        return frozenset(Perm)
    return PLATFORM_PERMS.get(user.platform_role, frozenset())


def require_platform_perm(user: User, perm: Perm) -> None:
    if perm not in platform_perms(user):
        raise PermissionDenied(_("Your platform role does not allow this action."))


def require_platform_admin(user: User) -> None:
    if not (user.is_authenticated and user.is_platform_admin):
        raise PermissionDenied(_("Only platform admins can do this."))
