"""Reads of tenants, users, memberships and environments, scoped to the requesting user."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.choices import PlatformRole
from portal.models import (
    ApiToken,
    AuditEntry,
    Environment,
    KeyPair,
    Membership,
    Tenant,
    User,
    Webhook,
    WebhookDelivery,
)
from portal.permissions import ROLE_PERMS, Perm


def sees_all_tenants(user: User) -> bool:
    return user.is_superuser or user.platform_role in (PlatformRole.ADMIN, PlatformRole.FINANCE)


def tenant_ids_of(user: User) -> QuerySet[Membership, int]:
    return Membership.objects.filter(user=user).values_list("tenant_id", flat=True)


def tenant_list(*, fetched_by: User) -> QuerySet[Tenant]:
    qs = Tenant.objects.all()
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(id__in=tenant_ids_of(fetched_by))


def environment_list(*, fetched_by: User) -> QuerySet[Environment]:
    qs = Environment.objects.select_related("tenant")
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(tenant_id__in=tenant_ids_of(fetched_by))


def membership_list(*, fetched_by: User) -> QuerySet[Membership]:
    qs = Membership.objects.select_related("tenant", "user")
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(tenant_id__in=tenant_ids_of(fetched_by))


def user_list(*, fetched_by: User) -> QuerySet[User]:
    qs = User.objects.order_by("username")
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(memberships__tenant_id__in=tenant_ids_of(fetched_by)).distinct()


def token_list(*, fetched_by: User) -> QuerySet[ApiToken]:
    """Only ever one's own tokens, platform admins included."""
    return (
        ApiToken.objects.filter(user=fetched_by)
        if fetched_by.is_authenticated
        else ApiToken.objects.none()
    )


def keypair_list(*, fetched_by: User) -> QuerySet[KeyPair]:
    """Only ever one's own key pairs, platform admins included."""
    if not fetched_by.is_authenticated:
        return KeyPair.objects.none()
    return KeyPair.objects.filter(owner=fetched_by).order_by("name", "id")


def audit_list(*, fetched_by: User) -> QuerySet[AuditEntry]:
    """Platform admins see every entry; tenant admins their tenants' entries; others none."""
    if not fetched_by.is_authenticated:
        return AuditEntry.objects.none()
    if fetched_by.is_platform_admin:
        return AuditEntry.objects.all()
    roles = [role for role, perms in ROLE_PERMS.items() if Perm.AUDIT_VIEW in perms]
    tenants = Membership.objects.filter(user=fetched_by, role__in=roles).values("tenant_id")
    return AuditEntry.objects.filter(tenant_id__in=tenants)


def _managed_tenant_ids(user: User, perm: Perm) -> QuerySet[Membership, int]:
    roles = [role for role, perms in ROLE_PERMS.items() if perm in perms]
    return Membership.objects.filter(user=user, role__in=roles).values_list("tenant_id", flat=True)


def webhook_list(*, fetched_by: User) -> QuerySet[Webhook]:
    """Tenant admins see their tenants' webhooks; platform admins all."""
    if not fetched_by.is_authenticated:
        return Webhook.objects.none()
    if fetched_by.is_platform_admin:
        return Webhook.objects.all()
    return Webhook.objects.filter(tenant_id__in=_managed_tenant_ids(fetched_by, Perm.TENANT_MANAGE))


def webhook_delivery_list(*, fetched_by: User) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(
        webhook__in=webhook_list(fetched_by=fetched_by)
    ).select_related("webhook")
