"""Writes to tenants, users and memberships; each one audited in its own transaction."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.audit import audit_record, changed_fields, created_fields, snapshot
from portal.choices import PlatformRole, Role
from portal.errors import ConflictError, RateLimited
from portal.models import (
    ApiToken,
    Environment,
    Invitation,
    KeyPair,
    Membership,
    PolicyChange,
    Tenant,
    User,
    Webhook,
    WebhookDelivery,
)
from portal.permissions import Perm, require_perm, require_platform_admin, require_platform_perm
from portal.signals import lease_policy_changed
from portal.sshkeys import parse_public_key

# New tenants start with these environments; production waits for an approver.
DEFAULT_ENVIRONMENTS: tuple[tuple[str, bool], ...] = (
    ("development", False),
    ("qualification", False),
    ("production", True),
)


@transaction.atomic
def tenant_create(
    *,
    created_by: User,
    name: str,
    slug: str,
    timezone: str = "UTC",
    remote_addr: str | None = None,
) -> Tenant:
    require_platform_admin(created_by)
    tenant = Tenant(name=name, slug=slug, timezone=timezone)
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
        changes={"name": name, "slug": slug, "timezone": timezone},
        remote_addr=remote_addr,
    )
    return tenant


TENANT_BILLING_FIELDS = (
    "billing_legal_name",
    "billing_address",
    "billing_country",
    "vat_number",
    "billing_email",
    "cost_centre",
    "vat_rate",
)


def _vat_number_normalized(value: str) -> str:
    """FR 40 303.265-045 -> FR40303265045: how it is printed and checked."""
    return "".join(ch for ch in value.upper() if ch not in " .-\t")


@transaction.atomic
def tenant_billing_update(
    *,
    updated_by: User,
    tenant: Tenant,
    remote_addr: str | None = None,
    **fields: Any,
) -> Tenant:
    """Change a tenant's billing details (printed on the invoices issued from now on; issued
    ones keep the details they were issued with), its cost centre and VAT rate."""
    require_platform_perm(updated_by, Perm.TENANT_BILLING_MANAGE)
    unknown = set(fields) - set(TENANT_BILLING_FIELDS)
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in sorted(unknown)})
    locked = Tenant.objects.unscoped().select_for_update().get(pk=tenant.pk)
    before = snapshot(locked, TENANT_BILLING_FIELDS)
    for key, value in fields.items():
        if isinstance(value, str):
            value = value.strip()
        if key == "vat_number":
            value = _vat_number_normalized(value)
        elif key == "billing_country":
            value = value.upper()
        elif key == "billing_address":
            value = "\n".join(line.strip() for line in value.splitlines() if line.strip())
        setattr(locked, key, value)
    locked.full_clean()
    locked.save(update_fields=list(TENANT_BILLING_FIELDS))
    changes = changed_fields(before, snapshot(locked, TENANT_BILLING_FIELDS))
    if changes:
        audit_record(
            actor=updated_by,
            action="tenant.billing_update",
            obj=locked,
            tenant=locked,
            changes=changes,
            remote_addr=remote_addr,
        )
    return locked


@transaction.atomic
def user_create(
    *,
    created_by: User | None,
    username: str,
    password: str | None,
    email: str = "",
    platform_role: str = PlatformRole.NONE,
    remote_addr: str | None = None,
) -> User:
    """Create a user; created_by is None only for the seed command and createsuperuser."""
    if created_by is not None:
        require_platform_admin(created_by)
    if platform_role not in PlatformRole.values:
        raise ValidationError({"platform_role": _("Unknown platform role.")})
    user = User(username=username, email=email, platform_role=platform_role)
    if password is None:  # signs in through single sign-on only
        user.set_unusable_password()
    else:
        if created_by is not None:  # people's accounts (seeds and benches set their own)
            _password_validate(password, user)
        user.set_password(password)
    user.full_clean()
    user.save()
    audit_record(
        actor=created_by,
        action="user.create",
        obj=user,
        changes={"username": username, "platform_role": platform_role},
        remote_addr=remote_addr,
    )
    return user


def _password_validate(password: str, user: User) -> None:
    """AUTH_PASSWORD_VALIDATORS, as field messages on `password`."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


@transaction.atomic
def user_password_set(*, user: User, password: str, remote_addr: str | None = None) -> User:
    """A new password for `user`, chosen by themself (the caller checked the old one)."""
    _password_validate(password, user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="user.password_change", obj=user, remote_addr=remote_addr)
    return user


@transaction.atomic
def membership_create(
    *,
    created_by: User | None,
    tenant: Tenant,
    user: User,
    role: str,
    remote_addr: str | None = None,
) -> Membership:
    if created_by is not None:
        require_perm(created_by, tenant, Perm.MEMBERS_MANAGE)
        # Tenant admins invite (invitation_create): people join by accepting, never by being
        # added under a name or address they typed. Platform admins may still add directly.
        if not created_by.is_platform_admin:
            raise PermissionDenied(
                _("Tenant admins add members by invitation: invite them by e-mail.")
            )
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if Membership.objects.unscoped().filter(tenant=tenant, user=user).exists():
        raise ValidationError({"user": _("This user is already a member of the tenant.")})
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    audit_record(
        actor=created_by,
        action="membership.create",
        obj=membership,
        tenant=tenant,
        changes={"user": user.username, "role": role},
        remote_addr=remote_addr,
    )
    return membership


def _keep_an_admin(membership: Membership, *, new_role: str | None) -> None:
    """A tenant always keeps one tenant admin: the last one can be neither removed nor demoted."""
    if membership.role != Role.ADMIN or new_role == Role.ADMIN:
        return
    admins = (
        Membership.objects.unscoped()
        .select_for_update()
        .filter(tenant=membership.tenant, role=Role.ADMIN)
    )
    if not admins.exclude(pk=membership.pk).exists():
        raise ValidationError(
            {
                "role": _("%(user)s is the tenant's last admin: make someone else admin first.")
                % {"user": membership.user.username}
            }
        )


@transaction.atomic
def membership_update(
    *, updated_by: User, membership: Membership, role: str, remote_addr: str | None = None
) -> Membership:
    require_perm(updated_by, membership.tenant, Perm.MEMBERS_MANAGE)
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    _keep_an_admin(membership, new_role=role)
    old = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    audit_record(
        actor=updated_by,
        action="membership.update",
        obj=membership,
        tenant=membership.tenant,
        changes={"role": [old, role]},
        remote_addr=remote_addr,
    )
    return membership


@transaction.atomic
def membership_delete(
    *, deleted_by: User, membership: Membership, remote_addr: str | None = None
) -> None:
    require_perm(deleted_by, membership.tenant, Perm.MEMBERS_MANAGE)
    _keep_an_admin(membership, new_role=None)
    audit_record(
        actor=deleted_by,
        action="membership.delete",
        obj=membership,
        tenant=membership.tenant,
        changes={"user": membership.user.username, "role": membership.role},
        remote_addr=remote_addr,
    )
    membership.delete()


# --- personal API tokens ---------------------------------------------------------------------

TOKEN_PREFIX_LENGTH = 8


def token_hash(secret: str) -> str:
    """Tokens are long random strings: one SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    expires_at: datetime | None = None,
    remote_addr: str | None = None,
) -> tuple[ApiToken, str]:
    """A new token for `user`; returns it with its secret, which is shown this once only."""
    now = timezone.now()
    max_days = int(settings.NUAGE["TOKEN_MAX_DAYS"])
    if expires_at is None:
        expires_at = now + timedelta(days=int(settings.NUAGE["TOKEN_DEFAULT_DAYS"]))
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("Give the token a name, to recognise it later.")
    elif len(name) > 100:
        errors["name"] = _("At most 100 characters.")
    if expires_at <= now:
        errors["expires_at"] = _("The expiry must be in the future.")
    elif expires_at > now + timedelta(days=max_days):
        errors["expires_at"] = _("A token lives at most %(days)s days.") % {"days": max_days}
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=name.strip(),
        prefix=secret[:TOKEN_PREFIX_LENGTH],
        secret_hash=token_hash(secret),
        expires_at=expires_at,
    )
    audit_record(
        actor=user,
        action="token.create",
        obj=token,
        changes={"name": token.name, "prefix": token.prefix, "expires_at": expires_at.isoformat()},
        remote_addr=remote_addr,
    )
    return token, secret


@transaction.atomic
def token_revoke(*, token: ApiToken, revoked_by: User, remote_addr: str | None = None) -> ApiToken:
    if token.user_id != revoked_by.pk and not revoked_by.is_platform_admin:
        raise PermissionDenied(_("Only the token's owner can revoke it."))
    now = timezone.now()
    if (
        not ApiToken.objects.unscoped()
        .filter(pk=token.pk, revoked_at__isnull=True)
        .update(revoked_at=now)
    ):
        raise ConflictError(_("This token is already revoked."))
    token.revoked_at = now
    audit_record(
        actor=revoked_by,
        action="token.revoke",
        obj=token,
        changes={"revoked_at": now.isoformat()},
        remote_addr=remote_addr,
    )
    return token


@cache
def _token_sql(vendor: str) -> str:
    token, user = ApiToken._meta, User._meta
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    columns = [f"t.{quote(str(f.column))}" for f in token.concrete_fields] + [
        f"u.{quote(str(f.column))}" for f in user.concrete_fields
    ]
    return (
        f"SELECT {', '.join(columns)} FROM {quote(token.db_table)} t "  # noqa: S608 - no input
        f"INNER JOIN {quote(user.db_table)} u ON u.{quote(str(user.pk.column))} = t.user_id "
        "WHERE t.prefix = %s ORDER BY t.created_at DESC, t.id DESC"
    )


def _tokens_with_prefix(prefix: str) -> list[ApiToken]:
    """The tokens whose secret starts with `prefix`, with their users: what
    `ApiToken.objects.unscoped().select_related("user").filter(prefix=prefix)` gives. Every API
    request asks, so on PostgreSQL (whose rows need no conversion for these fields) the query
    is written out once rather than built and compiled by the ORM each time, which cost five
    times the query."""
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return list(ApiToken.objects.unscoped().select_related("user").filter(prefix=prefix))
    width = len(ApiToken._meta.concrete_fields)
    token_names = [f.attname for f in ApiToken._meta.concrete_fields]
    user_names = [f.attname for f in User._meta.concrete_fields]
    with db.cursor() as cursor:
        cursor.execute(_token_sql(db.vendor), [prefix])
        rows = cursor.fetchall()
    found = []
    for row in rows:
        token = ApiToken.from_db(DEFAULT_DB_ALIAS, token_names, row[:width])
        token.user = User.from_db(DEFAULT_DB_ALIAS, user_names, row[width:])
        found.append(token)
    return found


def token_authenticate(secret: str) -> tuple[User, ApiToken]:
    """The user a token secret stands for; AuthenticationFailed-worthy errors as ValueError."""
    now = timezone.now()
    digest = token_hash(secret)
    token = next(
        (
            t
            for t in _tokens_with_prefix(secret[:TOKEN_PREFIX_LENGTH])
            if hmac.compare_digest(t.secret_hash, digest)
        ),
        None,
    )
    if token is None:
        raise ValueError(_("Invalid token."))
    if token.revoked_at is not None:
        raise ValueError(_("This token was revoked."))
    if token.expires_at <= now:
        raise ValueError(_("This token expired on %(date)s.") % {"date": token.expires_at.date()})
    if not token.user.is_active:
        raise ValueError(_("The token's user is disabled."))
    # Written at most once a minute per token: reads stay cheap under load.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.unscoped().filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


# --- environments ----------------------------------------------------------------------------

ENVIRONMENT_FIELDS = (
    "name",
    "requires_approval",
    "justification_required",
    "auto_approve_max_vcpus",
    "auto_approve_max_ram_mib",
    "lease_default_days",
    "lease_max_days",
)
LEASE_FIELDS = ("lease_default_days", "lease_max_days")


def _environment_clean(environment: Environment) -> None:
    try:
        environment.full_clean(exclude=["tenant"])
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from exc
    duplicate = Environment.objects.unscoped().filter(
        tenant=environment.tenant, name=environment.name
    )
    if duplicate.exclude(pk=environment.pk).exists():
        raise ValidationError({"name": _("The tenant already has an environment with this name.")})
    default, longest = environment.lease_default_days, environment.lease_max_days
    if longest is not None and default is None:
        raise ValidationError(
            {"lease_default_days": _("Give the lease VMs get, or leave both lease fields empty.")}
        )
    if default is not None and longest is not None and longest < default:
        raise ValidationError(
            {"lease_max_days": _("The longest lease cannot be shorter than the default one.")}
        )


@transaction.atomic
def environment_create(
    *,
    created_by: User,
    tenant: Tenant,
    name: str,
    requires_approval: bool = False,
    auto_approve_max_vcpus: int | None = None,
    auto_approve_max_ram_mib: int | None = None,
    remote_addr: str | None = None,
) -> Environment:
    require_perm(created_by, tenant, Perm.ENVIRONMENTS_MANAGE)
    environment = Environment(
        tenant=tenant,
        name=name,
        requires_approval=requires_approval,
        auto_approve_max_vcpus=auto_approve_max_vcpus,
        auto_approve_max_ram_mib=auto_approve_max_ram_mib,
    )
    _environment_clean(environment)
    environment.save()
    audit_record(
        actor=created_by,
        action="environment.create",
        obj=environment,
        tenant=tenant,
        changes=created_fields(environment, ENVIRONMENT_FIELDS),
        remote_addr=remote_addr,
    )
    return environment


@transaction.atomic
def environment_update(
    *,
    updated_by: User,
    environment: Environment,
    remote_addr: str | None = None,
    **fields: Any,
) -> Environment:
    """Change an environment; a loosened approval policy may wait (see environment_change)."""
    environment, _proposal = environment_change(
        updated_by=updated_by, environment=environment, remote_addr=remote_addr, **fields
    )
    return environment


@transaction.atomic
def environment_change(
    *,
    updated_by: User,
    environment: Environment,
    remote_addr: str | None = None,
    **fields: Any,
) -> tuple[Environment, PolicyChange | None]:
    """Change an environment. A tenant admin's change that loosens its approval policy is not
    applied: it becomes a PolicyChange that a second admin approves (returned); the rest of the
    change (its name) applies at once, as does any tightening. Approvers are told either way."""
    require_perm(updated_by, environment.tenant, Perm.ENVIRONMENTS_MANAGE)
    unknown = set(fields) - set(ENVIRONMENT_FIELDS)
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    environment = Environment.objects.unscoped().select_for_update().get(pk=environment.pk)
    before = snapshot(environment, ENVIRONMENT_FIELDS)
    for key, value in fields.items():
        setattr(environment, key, value)
    _environment_clean(environment)
    old_policy = {k: before[k] for k in POLICY_FIELDS}
    new_policy = snapshot(environment, POLICY_FIELDS)
    proposal = None
    if policy_loosens(old_policy, new_policy) and not updated_by.is_platform_admin:
        for key in POLICY_FIELDS:  # held for the second pair of eyes
            setattr(environment, key, old_policy[key])
        proposal = PolicyChange.objects.create(
            tenant=environment.tenant,
            environment=environment,
            previous=old_policy,
            proposed=new_policy,
            proposed_by=updated_by,
        )
        audit_record(
            actor=updated_by,
            action="environment.policy_propose",
            obj=proposal,
            tenant=environment.tenant,
            changes=changed_fields(old_policy, new_policy),
            remote_addr=remote_addr,
        )
        _policy_announce("environment.policy_proposed", proposal=proposal, by=updated_by)
    environment.save()
    changes = changed_fields(before, snapshot(environment, ENVIRONMENT_FIELDS))
    audit_record(
        actor=updated_by,
        action="environment.update",
        obj=environment,
        tenant=environment.tenant,
        changes=changes,
        remote_addr=remote_addr,
    )
    if set(changes) & set(POLICY_FIELDS):
        _policy_changed_announce(environment, by=updated_by, previous=old_policy)
    if set(changes) & set(LEASE_FIELDS):
        # Compute gives the environment's VMs their leases (from now, never from their
        # creation) without waiting for its next periodic run.
        env_id = environment.pk
        transaction.on_commit(
            lambda: lease_policy_changed.send(sender=Environment, environment_id=env_id)
        )
    return environment, proposal


# --- webhooks --------------------------------------------------------------------------------


def _webhook_validate(url: str, events: list[str]) -> None:
    from portal.events import webhook_kinds

    known = webhook_kinds()
    errors: dict[str, str] = {}
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        errors["url"] = _("Give an http:// or https:// URL with a host name.")
    else:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors["url"] = _("This is not a valid URL.")
    if "url" not in errors and parts.hostname:
        from portal.delivery import safeurl

        try:
            safeurl.check_host(parts.hostname)
        except safeurl.RefusedAddress:
            errors["url"] = _(
                "Webhooks go to public addresses only: this one is on a private network or on "
                "this machine."
            )
    unknown = sorted(set(events) - set(known))
    if unknown:
        errors["events"] = _("Unknown events: %(names)s. Known: %(known)s.") % {
            "names": ", ".join(unknown),
            "known": ", ".join(known),
        }
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def webhook_create(
    *,
    created_by: User,
    tenant: Tenant,
    url: str,
    events: list[str] | None = None,
    remote_addr: str | None = None,
) -> tuple[Webhook, str]:
    """A new webhook; returns it with its signing secret, shown this once."""
    require_perm(created_by, tenant, Perm.TENANT_MANAGE)
    _webhook_validate(url, events or [])
    # The tenant's row lock makes two creations at once count each other.
    Tenant.objects.unscoped().select_for_update().filter(pk=tenant.pk).first()
    cap = int(settings.NUAGE["WEBHOOKS_PER_TENANT"])
    if Webhook.objects.unscoped().filter(tenant=tenant).count() >= cap:
        raise ValidationError(
            {"tenant": _("A tenant has at most %(cap)d webhooks; delete one first.") % {"cap": cap}}
        )
    secret = secrets.token_urlsafe(32)
    hook = Webhook.objects.create(
        tenant=tenant, url=url, secret=secret, events=events or [], created_by=created_by
    )
    audit_record(
        actor=created_by,
        action="webhook.create",
        obj=hook,
        tenant=tenant,
        changes=created_fields(hook, ["url", "events", "enabled"]),
        remote_addr=remote_addr,
    )
    return hook, secret


@transaction.atomic
def webhook_update(
    *, updated_by: User, webhook: Webhook, remote_addr: str | None = None, **fields: Any
) -> Webhook:
    require_perm(updated_by, webhook.tenant, Perm.TENANT_MANAGE)
    allowed = {"url", "events", "enabled"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    before = snapshot(webhook, allowed)
    for key, value in fields.items():
        setattr(webhook, key, value)
    _webhook_validate(webhook.url, webhook.events)
    webhook.save()
    audit_record(
        actor=updated_by,
        action="webhook.update",
        obj=webhook,
        tenant=webhook.tenant,
        changes=changed_fields(before, snapshot(webhook, allowed)),
        remote_addr=remote_addr,
    )
    return webhook


@transaction.atomic
def webhook_delete(*, deleted_by: User, webhook: Webhook, remote_addr: str | None = None) -> None:
    require_perm(deleted_by, webhook.tenant, Perm.TENANT_MANAGE)
    audit_record(
        actor=deleted_by,
        action="webhook.delete",
        obj=webhook,
        tenant=webhook.tenant,
        changes={"url": webhook.url},
        remote_addr=remote_addr,
    )
    webhook.delete()


@transaction.atomic
def webhook_ping(*, requested_by: User, webhook: Webhook) -> WebhookDelivery:
    """Queue a test event to the webhook (whatever its event filter), delivered after commit."""
    from portal.delivery.webhooks import TEST_EVENT
    from portal.tasks import webhook_deliver

    require_perm(requested_by, webhook.tenant, Perm.TENANT_MANAGE)
    # One ping per webhook per interval (the webhook's row lock orders two at once): a ping
    # makes the worker call a URL of the tenant's choosing, it must not become a flood.
    Webhook.objects.unscoped().select_for_update().filter(pk=webhook.pk).first()
    interval = float(settings.NUAGE["WEBHOOK_PING_SECONDS"])
    last = (
        WebhookDelivery.objects.unscoped()
        .filter(webhook=webhook, event=TEST_EVENT)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        wait = interval - (timezone.now() - last).total_seconds()
        if wait > 0:
            raise RateLimited(
                _("This webhook was pinged less than %(seconds)d seconds ago; try again later.")
                % {"seconds": interval},
                wait=wait,
            )
    event_id = uuid.uuid4()
    body = json.dumps(
        {"event": TEST_EVENT, "id": str(event_id), "tenant": webhook.tenant.slug},
        sort_keys=True,
    )
    delivery = WebhookDelivery.objects.create(
        webhook=webhook, event=TEST_EVENT, event_id=event_id, body=body
    )
    transaction.on_commit(lambda: webhook_deliver.delay(delivery.pk))
    return delivery


# --- SSH key pairs -----------------------------------------------------------------------------


@transaction.atomic
def keypair_create(
    *, owner: User, name: str, public_key: str, remote_addr: str | None = None
) -> KeyPair:
    """Register one of `owner`'s public keys under a name of their choosing."""
    name = name.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the key a name, to recognise it later.")
    elif len(name) > 100:
        errors["name"] = _("At most 100 characters.")
    elif KeyPair.objects.unscoped().filter(owner=owner, name=name).exists():
        errors["name"] = _("You already have a key named '%(name)s'.") % {"name": name}
    parsed = None
    try:
        parsed = parse_public_key(public_key)
    except ValidationError as exc:
        errors["public_key"] = " ".join(exc.messages)
    if parsed is not None:
        same = (
            KeyPair.objects.unscoped().filter(owner=owner, fingerprint=parsed.fingerprint).first()
        )
        if same is not None:
            errors["public_key"] = _("This key is already registered as '%(name)s'.") % {
                "name": same.name
            }
    if errors:
        raise ValidationError(errors)
    assert parsed is not None
    try:
        with transaction.atomic():
            pair = KeyPair.objects.create(
                owner=owner,
                name=name,
                public_key=parsed.line,
                fingerprint=parsed.fingerprint,
                key_type=parsed.key_type,
                bits=parsed.bits,
            )
    except IntegrityError as exc:  # the same name or key registered at the same instant
        raise ValidationError(
            {"name": _("You already have a key named '%(name)s'.") % {"name": name}}
        ) from exc
    audit_record(
        actor=owner,
        action="keypair.create",
        obj=pair,
        changes={"name": pair.name, "fingerprint": pair.fingerprint, "type": pair.key_type},
        remote_addr=remote_addr,
    )
    return pair


@transaction.atomic
def keypair_delete(*, key_pair: KeyPair, deleted_by: User, remote_addr: str | None = None) -> None:
    """Forget a key pair; VMs requested with it keep the copy they were given."""
    if key_pair.owner_id != deleted_by.pk:
        raise PermissionDenied(_("Only the key's owner can delete it."))
    audit_record(
        actor=deleted_by,
        action="keypair.delete",
        obj=key_pair,
        changes={"name": key_pair.name, "fingerprint": key_pair.fingerprint},
        remote_addr=remote_addr,
    )
    key_pair.delete()


def keypair_authorized_keys(
    *, owner: User, key_pairs: list[KeyPair], pasted: str = ""
) -> list[str]:
    """The authorized_keys lines of a VM request: the chosen key pairs, then the pasted key.

    Only the owner's own key pairs are accepted (ValidationError on `key_pairs`); a bad pasted
    key is a ValidationError on `ssh_public_key`. The same key given twice appears once.
    """
    foreign = [kp for kp in key_pairs if kp.owner_id != owner.pk]
    if foreign:
        raise ValidationError({"key_pairs": _("Choose among your own key pairs.")})
    lines: dict[str, str] = {kp.fingerprint: kp.public_key for kp in key_pairs}
    if pasted.strip():
        try:
            parsed = parse_public_key(pasted)
        except ValidationError as exc:
            raise ValidationError({"ssh_public_key": exc.messages}) from exc
        lines.setdefault(parsed.fingerprint, parsed.line)
    return list(lines.values())


# --- approval policies: four eyes on loosening ------------------------------------------------

POLICY_FIELDS = ("requires_approval", "auto_approve_max_vcpus", "auto_approve_max_ram_mib")


def _auto_approved_box(policy: dict[str, Any]) -> tuple[float, float] | None:
    """The largest (vcpus, ram) approved without an approver, None when every request waits
    (infinite sizes when no approval is required at all or a limit is unset)."""
    inf = float("inf")
    if not policy["requires_approval"]:
        return (inf, inf)
    vcpus, ram = policy["auto_approve_max_vcpus"], policy["auto_approve_max_ram_mib"]
    if vcpus is None and ram is None:
        return None
    return (inf if vcpus is None else vcpus, inf if ram is None else ram)


def policy_loosens(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether some request would skip the approver under `new` but not under `old`."""
    before, after = _auto_approved_box(old), _auto_approved_box(new)
    if after is None:
        return False
    if before is None:
        return True
    return after[0] > before[0] or after[1] > before[1]


def policy_text(policy: dict[str, Any]) -> str:
    """A policy in words, for messages and e-mails."""
    if not policy.get("requires_approval"):
        return _("no approval needed")
    vcpus, ram = policy.get("auto_approve_max_vcpus"), policy.get("auto_approve_max_ram_mib")
    if vcpus is None and ram is None:
        return _("every request waits for an approver")
    limits = [
        text
        for text in (
            _("%(n)s vCPUs") % {"n": vcpus} if vcpus is not None else "",
            _("%(n)s MiB of RAM") % {"n": ram} if ram is not None else "",
        )
        if text
    ]
    return _("approval needed above %(limits)s") % {"limits": _(" and ").join(limits)}


def _policy_announce(kind: str, *, proposal: PolicyChange, by: User) -> None:
    from portal.events import emit

    emit(
        kind,
        tenant=proposal.tenant,
        payload={
            "environment_id": proposal.environment_id,
            "policy_change_id": proposal.pk,
            "by": by.username,
            "previous": proposal.previous,
            "policy": proposal.proposed,
        },
    )


def _policy_changed_announce(environment: Environment, *, by: User, previous: Any) -> None:
    from portal.events import emit

    emit(
        "environment.policy_changed",
        tenant=environment.tenant,
        payload={
            "environment_id": environment.pk,
            "by": by.username,
            "previous": previous,
            "policy": snapshot(environment, POLICY_FIELDS),
        },
    )


def _pending_proposal(policy_change: PolicyChange) -> PolicyChange:
    locked = (
        PolicyChange.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("environment__tenant", "proposed_by")
        .get(pk=policy_change.pk)
    )
    if locked.status != PolicyChange.Status.PENDING:
        raise ConflictError(
            _("This policy change was already decided: %(status)s.")
            % {"status": locked.get_status_display()},
            state=locked.status,
        )
    return locked


@transaction.atomic
def policy_change_approve(
    *, approved_by: User, policy_change: PolicyChange, remote_addr: str | None = None
) -> PolicyChange:
    """A second admin (another tenant admin, or a platform admin) applies a proposed policy."""
    proposal = _pending_proposal(policy_change)
    require_perm(approved_by, proposal.tenant, Perm.ENVIRONMENTS_MANAGE)
    if proposal.proposed_by_id == approved_by.pk and not approved_by.is_platform_admin:
        raise PermissionDenied(
            _("Another tenant admin or a platform admin must approve your own proposal.")
        )
    environment = Environment.objects.unscoped().select_for_update().get(pk=proposal.environment_id)
    previous = snapshot(environment, POLICY_FIELDS)
    for key in POLICY_FIELDS:
        setattr(environment, key, proposal.proposed[key])
    environment.save(update_fields=list(POLICY_FIELDS))
    proposal.status = PolicyChange.Status.APPROVED
    proposal.decided_by = approved_by
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
    audit_record(
        actor=approved_by,
        action="environment.policy_approve",
        obj=proposal,
        tenant=proposal.tenant,
        changes=changed_fields(previous, snapshot(environment, POLICY_FIELDS)),
        remote_addr=remote_addr,
    )
    _policy_changed_announce(environment, by=approved_by, previous=previous)
    return proposal


@transaction.atomic
def policy_change_reject(
    *, rejected_by: User, policy_change: PolicyChange, remote_addr: str | None = None
) -> PolicyChange:
    """Another admin rejects a proposal, or its author withdraws it; the policy stays."""
    proposal = _pending_proposal(policy_change)
    require_perm(rejected_by, proposal.tenant, Perm.ENVIRONMENTS_MANAGE)
    proposal.status = PolicyChange.Status.REJECTED
    proposal.decided_by = rejected_by
    proposal.decided_at = timezone.now()
    proposal.save(update_fields=["status", "decided_by", "decided_at"])
    audit_record(
        actor=rejected_by,
        action="environment.policy_reject",
        obj=proposal,
        tenant=proposal.tenant,
        changes={"proposed": proposal.proposed},
        remote_addr=remote_addr,
    )
    return proposal


# --- invitations -----------------------------------------------------------------------------


def _invitation_send(invitation: Invitation, secret: str) -> None:
    """E-mail the link (after the commit); the secret exists only there and in the answer."""
    from django.core.mail import send_mail

    subject = _("You are invited to %(tenant)s on Nuage") % {"tenant": invitation.tenant.name}
    body = _(
        "%(who)s invites you to join %(tenant)s as %(role)s.\n"
        "Log in to Nuage (or ask for an account) and open this link before %(expiry)s:\n"
        "%(link)s\n"
    ) % {
        "who": invitation.created_by.username if invitation.created_by else "Nuage",
        "tenant": invitation.tenant.name,
        "role": invitation.get_role_display(),
        "expiry": invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC"),
        "link": invitation_link(secret),
    }
    send_mail(subject, body, None, [invitation.email], fail_silently=False)


def invitation_path(secret: str) -> str:
    return f"/invitations/{secret}/"


def invitation_link(secret: str) -> str:
    from portal.delivery.mail import link

    return link(invitation_path(secret))


@transaction.atomic
def invitation_create(
    *,
    created_by: User,
    tenant: Tenant,
    email: str,
    role: str = Role.MEMBER,
    remote_addr: str | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by e-mail; returns the invitation and its secret (shown this once)."""
    require_perm(created_by, tenant, Perm.MEMBERS_MANAGE)
    errors: dict[str, str] = {}
    email = email.strip()
    try:
        EmailValidator()(email)
    except ValidationError:
        errors["email"] = _("Enter a valid e-mail address.")
    if role not in Role.values:
        errors["role"] = _("Unknown role.")
    if errors:
        raise ValidationError(errors)
    secret = secrets.token_urlsafe(32)
    days = int(settings.NUAGE.get("INVITATION_DAYS", 7))
    invitation = Invitation.objects.create(
        tenant=tenant,
        email=email,
        role=role,
        token_hash=token_hash(secret),
        created_by=created_by,
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        actor=created_by,
        action="invitation.create",
        obj=invitation,
        tenant=tenant,
        changes={"email": email, "role": role, "expires_at": invitation.expires_at.isoformat()},
        remote_addr=remote_addr,
    )
    # robust: an e-mail that fails is logged; the admin still has the link from the answer.
    transaction.on_commit(lambda: _invitation_send(invitation, secret), robust=True)
    return invitation, secret


@transaction.atomic
def invitation_revoke(
    *, revoked_by: User, invitation: Invitation, remote_addr: str | None = None
) -> Invitation:
    require_perm(revoked_by, invitation.tenant, Perm.MEMBERS_MANAGE)
    now = timezone.now()
    updated = (
        Invitation.objects.unscoped()
        .filter(pk=invitation.pk, revoked_at__isnull=True, accepted_at__isnull=True)
        .update(revoked_at=now)
    )
    if not updated:
        raise ConflictError(_("This invitation was already accepted or revoked."))
    invitation.revoked_at = now
    audit_record(
        actor=revoked_by,
        action="invitation.revoke",
        obj=invitation,
        tenant=invitation.tenant,
        changes={"email": invitation.email},
        remote_addr=remote_addr,
    )
    return invitation


def invitation_find(secret: str) -> Invitation | None:
    """The invitation a link's secret stands for (whatever its state), or None."""
    return (
        Invitation.objects.unscoped()
        .select_related("tenant", "created_by")
        .filter(token_hash=token_hash(secret))
        .first()
    )


def invitation_mismatch_message(user: User) -> str:
    """Why `user` may not accept an invitation sent to another address (not naming that one)."""
    if not (user.email or "").strip():
        return _(
            "This invitation is for an e-mail address, and your account has none: ask an "
            "admin to set yours, then open the link again."
        )
    return _(
        "This invitation was sent to another e-mail address than your account's (%(email)s): "
        "log in with the invited account, or ask for an invitation to your address."
    ) % {"email": user.email}


@transaction.atomic
def invitation_accept(
    *, secret: str, accepted_by: User, remote_addr: str | None = None
) -> Membership:
    """The logged-in user joins the tenant with the invitation's role; the link is then spent.

    Only a user whose e-mail address is the invited one (ignoring case) may accept: anyone else
    holding the link (forwarded, leaked) is refused and the link stays unspent.
    """
    found = invitation_find(secret)
    if found is None:
        raise ValidationError({"token": _("This invitation link is not valid.")})
    invitation = (
        Invitation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("tenant")
        .get(pk=found.pk)
    )
    state = invitation.status
    if state != "pending":
        messages_by_state = {
            "accepted": _("This invitation was already used."),
            "revoked": _("This invitation was revoked."),
            "expired": _("This invitation has expired: ask for a new one."),
        }
        raise ConflictError(messages_by_state[state], state=state)
    if not invitation.is_for(accepted_by):
        # The link may have been forwarded or leaked: only the invited address joins with it.
        raise PermissionDenied(invitation_mismatch_message(accepted_by))
    if Membership.objects.unscoped().filter(tenant=invitation.tenant, user=accepted_by).exists():
        raise ConflictError(_("You are already a member of this tenant."), state="member")
    membership = Membership.objects.create(
        tenant=invitation.tenant, user=accepted_by, role=invitation.role
    )
    invitation.accepted_by = accepted_by
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_by", "accepted_at"])
    audit_record(
        actor=accepted_by,
        action="invitation.accept",
        obj=membership,
        tenant=invitation.tenant,
        changes={"user": accepted_by.username, "role": invitation.role, "email": invitation.email},
        remote_addr=remote_addr,
    )
    return membership
