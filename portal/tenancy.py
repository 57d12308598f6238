"""The tenant a browser session works in: chosen in the header, kept in the session."""

from __future__ import annotations

from django.http import HttpRequest

from portal.models import Tenant, User
from portal.scoping import sees_all_tenants
from portal.selectors import tenant_list

SESSION_KEY = "nuage_tenant"


def current_tenant(request: HttpRequest) -> Tenant | None:
    """The tenant the pages follow; None is "all tenants", for platform roles only.

    A tenant the user no longer belongs to is forgotten; a member always has one.
    """
    user = request.user
    assert isinstance(user, User)
    tenants = tenant_list(fetched_by=user)
    pk = request.session.get(SESSION_KEY)
    chosen = tenants.filter(pk=pk).first() if pk else None
    if chosen is None and not sees_all_tenants(user):
        chosen = tenants.first()
    return chosen


def current_tenant_set(request: HttpRequest, tenant: Tenant | None) -> None:
    if tenant is None:
        request.session.pop(SESSION_KEY, None)
    else:
        request.session[SESSION_KEY] = tenant.pk
