"""Writes to tenants, users and memberships; each one audited in its own transaction."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from portal.audit import audit_record
from portal.choices import PlatformRole, Role
from portal.models import Environment, Membership, Tenant, User
from portal.permissions import require_platform_admin

# New tenants start with these environments; production waits for an approver.
DEFAULT_ENVIRONMENTS: tuple[tuple[str, bool], ...] = (
    ("development", False),
    ("qualification", False),
    ("production", True),
)


@transaction.atomic
def tenant_create(*, created_by: User, name: str, slug: str) -> Tenant:
    require_platform_admin(created_by)
    tenant = Tenant(name=name, slug=slug)
    tenant.full_clean()
    tenant.save()
    for env_name, approval in DEFAULT_ENVIRONMENTS:
        # One by one (not bulk_create) so that post_save gives each its quota row.
        Environment.objects.create(tenant=tenant, name=env_name, requires_approval=approval)
    audit_record(
        actor=created_by,
        action="tenant.create",
        obj=tenant,
        tenant=tenant,
        changes={"name": name, "slug": slug},
    )
    return tenant


@transaction.atomic
def user_create(
    *,
    created_by: User | None,
    username: str,
    password: str,
    email: str = "",
    platform_role: str = PlatformRole.NONE,
) -> User:
    """Create a user; created_by is None only for the seed command and createsuperuser."""
    if created_by is not None:
        require_platform_admin(created_by)
    if platform_role not in PlatformRole.values:
        raise ValidationError({"platform_role": _("Unknown platform role.")})
    user = User(username=username, email=email, platform_role=platform_role)
    user.set_password(password)
    user.full_clean()
    user.save()
    audit_record(
        actor=created_by,
        action="user.create",
        obj=user,
        changes={"username": username, "platform_role": platform_role},
    )
    return user


@transaction.atomic
def membership_create(
    *, created_by: User | None, tenant: Tenant, user: User, role: str
) -> Membership:
    if created_by is not None:
        require_platform_admin(created_by)
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise ValidationError({"user": _("This user is already a member of the tenant.")})
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    audit_record(
        actor=created_by,
        action="membership.create",
        obj=membership,
        tenant=tenant,
        changes={"user": user.username, "role": role},
    )
    return membership


@transaction.atomic
def membership_delete(*, deleted_by: User, membership: Membership) -> None:
    require_platform_admin(deleted_by)
    audit_record(
        actor=deleted_by,
        action="membership.delete",
        obj=membership,
        tenant=membership.tenant,
        changes={"user": membership.user.username},
    )
    membership.delete()
