"""Template context shared by every page: what the navigation may show."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpRequest

from portal import selectors, twofactor
from portal.choices import Role
from portal.models import Notification, User
from portal.permissions import Perm, platform_perms, user_memberships
from portal.scoping import sees_all_tenants
from portal.tenancy import current_tenant

# What the navigation counts for approvers (compute plugs in the count of the requests waiting
# for them, as SQL and its parameters, so that portal does not import compute); asked only of
# users who approve somewhere.
_pending_approvals: Callable[[User], tuple[str, list[Any]]] | None = None


def plug_pending_approvals(pending: Callable[[User], tuple[str, list[Any]]]) -> None:
    global _pending_approvals
    _pending_approvals = pending


def _badges(user: User, *, can_approve: bool) -> tuple[int, int]:
    """Unread notifications (the user's own: `notification_list`) and requests waiting for
    the user, in one statement written out (the ORM's building of it cost 2 ms a page)."""
    pending: str = "SELECT 0"
    params: list[Any] = []
    if can_approve and _pending_approvals is not None:
        pending, params = _pending_approvals(user)
    notifications = Notification._meta.db_table
    # The model's table; the count's SQL is compute's; every value a parameter.
    unread = f"SELECT COUNT(*) FROM {notifications} WHERE user_id = %s AND read_at IS NULL"  # noqa: S608
    sql = f"SELECT ({unread}), ({pending})"
    with connection.cursor() as cursor:
        cursor.execute(sql, [user.pk, *params])
        row = cursor.fetchone()
    return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)


def nav(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"oidc_enabled": settings.OIDC_ENABLED}
    if getattr(request, "nuage_partial", False):  # a polled partial shows no navigation
        return {}
    if not twofactor.satisfied(request):
        # The second step of signing in is owed: no links to pages that would send back to it.
        return {"oidc_enabled": settings.OIDC_ENABLED, "nav_two_factor_pending": True}
    # The request's one read of the user's memberships answers the roles and the tenants.
    memberships = user_memberships(user) or []
    roles = {m.role for m in memberships}
    can_approve = user.is_platform_admin or bool(roles & {Role.APPROVER, Role.ADMIN})
    # Tenant admins read their tenants' audit log and invoices.
    tenant_admin = Role.ADMIN in roles
    can_audit = user.is_platform_admin or tenant_admin
    can_invoices = Perm.INVOICE_VIEW in platform_perms(user) or tenant_admin
    unread, pending = _badges(user, can_approve=can_approve)
    tenants = (
        list(selectors.tenant_list(fetched_by=user))
        if sees_all_tenants(user)
        else [m.tenant for m in memberships]
    )
    return {
        "nav_tenants": tenants if len(tenants) > 1 or sees_all_tenants(user) else [],
        "nav_current_tenant": current_tenant(request),
        "nav_sees_all_tenants": sees_all_tenants(user),
        "nav_can_approve": can_approve,
        "nav_can_audit": can_audit,
        "nav_can_invoices": can_invoices,
        "nav_is_platform_admin": user.is_platform_admin,
        "nav_can_finance": Perm.USAGE_VIEW_ALL in platform_perms(user),
        "nav_unread": unread,
        "nav_pending_approvals": pending,
    }
