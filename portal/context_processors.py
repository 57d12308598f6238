"""Template context shared by every page: what the navigation may show."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest

from portal.choices import Role
from portal.models import Membership


def nav(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    if not user.is_authenticated:
        return {"oidc_enabled": settings.OIDC_ENABLED}
    can_approve = (
        user.is_platform_admin
        or Membership.objects.filter(user=user, role__in=[Role.APPROVER, Role.ADMIN]).exists()
    )
    can_audit = (
        user.is_platform_admin or Membership.objects.filter(user=user, role=Role.ADMIN).exists()
    )
    return {
        "nav_can_approve": can_approve,
        "nav_can_audit": can_audit,
        "nav_is_platform_admin": user.is_platform_admin,
    }
