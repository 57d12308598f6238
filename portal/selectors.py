"""Reads of tenants, users, memberships, environments, tokens, webhooks and the audit log,
scoped to the requesting user by the one rule in portal.scoping."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import (
    ApiToken,
    AuditEntry,
    Environment,
    Invitation,
    KeyPair,
    Membership,
    Notification,
    PolicyChange,
    Tenant,
    User,
    Webhook,
    WebhookDelivery,
)
from portal.permissions import Perm
from portal.scoping import member_tenant_ids, sees_all_tenants


def tenant_list(*, fetched_by: User) -> QuerySet[Tenant]:
    return Tenant.objects.visible_to(fetched_by)


def environment_list(*, fetched_by: User) -> QuerySet[Environment]:
    return Environment.objects.visible_to(fetched_by).select_related("tenant")


def membership_list(*, fetched_by: User) -> QuerySet[Membership]:
    return Membership.objects.visible_to(fetched_by).select_related("tenant", "user")


def user_list(*, fetched_by: User) -> QuerySet[User]:
    """Platform roles see every user; members the members of their tenants."""
    qs = User.objects.order_by("username")
    if sees_all_tenants(fetched_by):
        return qs
    tenants = Tenant.objects.visible_to(fetched_by)
    return qs.filter(memberships__tenant__in=tenants).distinct()


def user_email_visible_ids(*, fetched_by: User) -> set[int] | None:
    """Whose e-mail address `fetched_by` may see (None: everyone's, for platform roles).

    Themself and the members of the tenants they manage; to anybody else (a fellow member, a
    member of another tenant) an address is blank, in the API and on the pages alike.
    """
    if sees_all_tenants(fetched_by):
        return None
    managed = set(
        Membership.objects.unscoped()
        .filter(tenant_id__in=member_tenant_ids(fetched_by, Perm.MEMBERS_MANAGE))
        .values_list("user_id", flat=True)
    )
    return managed | {fetched_by.pk}


def token_list(*, fetched_by: User) -> QuerySet[ApiToken]:
    """Only ever one's own tokens, platform admins included."""
    return ApiToken.objects.visible_to(fetched_by)


def keypair_list(*, fetched_by: User) -> QuerySet[KeyPair]:
    """Only ever one's own key pairs, platform admins included."""
    return KeyPair.objects.visible_to(fetched_by).order_by("name", "id")


def audit_list(*, fetched_by: User) -> QuerySet[AuditEntry]:
    """Platform admins see every entry; tenant admins their tenants' entries; others none."""
    return AuditEntry.objects.visible_to(fetched_by, Perm.AUDIT_VIEW)


def webhook_list(*, fetched_by: User) -> QuerySet[Webhook]:
    """Tenant admins see their tenants' webhooks; platform admins all."""
    return Webhook.objects.visible_to(fetched_by, Perm.TENANT_MANAGE)


def webhook_delivery_list(*, fetched_by: User) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.visible_to(fetched_by, Perm.TENANT_MANAGE).select_related(
        "webhook"
    )


def policy_change_list(*, fetched_by: User) -> QuerySet[PolicyChange]:
    """Proposed approval-policy changes: tenant admins see their tenants', platform admins all."""
    return PolicyChange.objects.visible_to(fetched_by, Perm.ENVIRONMENTS_MANAGE).select_related(
        "environment", "proposed_by", "decided_by"
    )


def invitation_list(*, fetched_by: User) -> QuerySet[Invitation]:
    """Invitations to join a tenant: its admins see them, platform admins all."""
    return Invitation.objects.visible_to(fetched_by, Perm.MEMBERS_MANAGE).select_related(
        "tenant", "created_by", "accepted_by"
    )


def notification_list(*, fetched_by: User) -> QuerySet[Notification]:
    """The user's own notifications, newest first (nobody reads anyone else's)."""
    return Notification.objects.visible_to(fetched_by).order_by("-created_at", "-id")


def unread_count(*, fetched_by: User) -> int:
    return notification_list(fetched_by=fetched_by).filter(read_at__isnull=True).count()
