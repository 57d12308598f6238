"""The tenant a browser session works in: chosen in the header, kept in the session."""

from __future__ import annotations

from django.http import HttpRequest

from portal.models import Tenant, User
from portal.permissions import user_memberships
from portal.scoping import sees_all_tenants
from portal.selectors import tenant_list

SESSION_KEY = "nuage_tenant"
_MEMO = "_nuage_current_tenant"


def current_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant the pages follow; None is "all tenants", for platform roles only.

    A tenant the user no longer belongs to is forgotten; a member always has one.
    """
    if hasattr(request, _MEMO):  # asked by the view and the navigation: found once
        return getattr(request, _MEMO)
    user = request.user
    assert isinstance(user, User)
    pk = request.session.get(SESSION_KEY)
    memberships = None if sees_all_tenants(user) else user_memberships(user)
    if memberships is not None:
        tenants = [m.tenant for m in memberships]
        chosen = next((t for t in tenants if t.pk == pk), tenants[0] if tenants else None)
    else:
        found = tenant_list(fetched_by=user)
        chosen = found.filter(pk=pk).first() if pk else None
        if chosen is None and not sees_all_tenants(user):
            chosen = found.first()
    setattr(request, _MEMO, chosen)
    return chosen


def current_tenant_set(request: HttpRequest, tenant: Tenant | None) -> None:
    setattr(request, _MEMO, tenant)
    if tenant is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = tenant.pk
