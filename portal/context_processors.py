"""Template context shared by every page: what the navigation may show."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from portal import selectors, twofactor
from portal.choices import Role
from portal.permissions import Perm, platform_perms, user_memberships
from portal.scoping import sees_all_tenants
from portal.tenancy import current_tenant


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
        "nav_unread": selectors.unread_count(fetched_by=user),
    }
