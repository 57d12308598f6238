"""Tenants, users, memberships, environments and the audit log."""

from __future__ import annotations

import uuid
from typing import ClassVar
from zoneinfo import ZoneInfo, available_timezones

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.choices import PlatformRole, Role
from portal.countries import COUNTRIES, EU_VAT_PREFIXES
from portal.scoping import OwnedQuerySet, TenantScopedQuerySet

slug_validator = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    _("Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit."),
)


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(
            _("Unknown time zone %(zone)s: use an IANA name such as Europe/Paris."),
            params={"zone": value},
        )


class User(AbstractUser):
    platform_role = models.CharField(
        max_length=16, choices=PlatformRole.choices, default=PlatformRole.NONE, blank=True
    )

    @property
    def is_platform_admin(self) -> bool:
        return self.is_superuser or self.platform_role == PlatformRole.ADMIN


def validate_country(value: str) -> None:
    if value and value not in COUNTRIES:
        raise ValidationError(
            _("Use a two-letter ISO 3166 country code, such as FR or DE."), code="invalid"
        )


# Country prefix, then 2 to 13 letters or digits (what every EU member's format fits in).
vat_number_validator = RegexValidator(
    r"^[A-Z]{2}[0-9A-Z+*]{2,13}$",
    _("Give the VAT number with its country prefix, letters and digits only: FR40303265045."),
)
cost_centre_validator = RegexValidator(r"^[^\x00-\x1f]*$", _("A cost centre is one line of text."))


class Tenant(models.Model):
    tenant_path: ClassVar[str] = ""  # a tenant is in its own scope

    name = models.CharField(max_length=100, unique=True)
    slug = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    # Bills and "this month" are cut at midnight in this zone; everything is stored in UTC.
    timezone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Billing details, printed as the customer on its invoices (copied there when one is
    # issued) and kept by finance and platform admins. All optional until the first invoice.
    billing_legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    billing_address = models.TextField(_("billing address"), max_length=500, blank=True)
    billing_country = models.CharField(
        _("country"), max_length=2, blank=True, validators=[validate_country]
    )
    vat_number = models.CharField(
        _("VAT number"), max_length=20, blank=True, validators=[vat_number_validator]
    )
    billing_email = models.EmailField(_("billing e-mail"), blank=True)
    cost_centre = models.CharField(
        _("cost centre"), max_length=64, blank=True, validators=[cost_centre_validator]
    )
    # Percent; empty: the platform's rate (NUAGE_VAT_RATE). 0 for a reverse-charge customer.
    vat_rate = models.DecimalField(
        _("VAT rate (%)"),
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(0, _("A VAT rate cannot be negative.")),
            MaxValueValidator(100, _("A VAT rate is at most 100.")),
        ],
    )

    objects = TenantScopedQuerySet["Tenant"].as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        prefix = EU_VAT_PREFIXES.get(self.billing_country)
        if self.vat_number and prefix and not self.vat_number.startswith(prefix):
            raise ValidationError(
                {
                    "vat_number": _("A VAT number of %(country)s starts with %(prefix)s.")
                    % {"country": COUNTRIES[self.billing_country], "prefix": prefix}
                }
            )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Environment(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="environments")
    name = models.CharField(max_length=63, validators=[slug_validator])
    requires_approval = models.BooleanField(default=False)
    # With approval required, requests up to this size are still approved automatically
    # (both limits must hold when both are set; no limit set means every request waits).
    auto_approve_max_vcpus = models.PositiveIntegerField(null=True, blank=True)
    auto_approve_max_ram_mib = models.PositiveIntegerField(null=True, blank=True)
    # Requests must say why (shown to approvers); optional otherwise.
    justification_required = models.BooleanField(_("justification required"), default=False)
    # Lease policy: a VM here gets a lease of `lease_default_days` (from its request, or from
    # when the policy is introduced for VMs already there); its owner may extend it up to
    # `lease_max_days` from the day of the extension, an approver beyond. None: no leases.
    lease_default_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    lease_max_days = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )

    objects = TenantScopedQuerySet["Environment"].as_manager()

    class Meta:
        ordering = ["tenant", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="environment_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    def needs_approval(self, *, vcpus: int, ram_mib: int) -> bool:
        """Whether a request of this size waits for an approver in this environment."""
        if not self.requires_approval:
            return False
        limits = (self.auto_approve_max_vcpus, self.auto_approve_max_ram_mib)
        if limits == (None, None):
            return True
        max_vcpus, max_ram = limits
        small = (max_vcpus is None or vcpus <= max_vcpus) and (
            max_ram is None or ram_mib <= max_ram
        )
        return not small


class Membership(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet["Membership"].as_manager()

    class Meta:
        ordering = ["tenant", "user"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"


class ApiToken(models.Model):
    """A personal API token: only a hash of the secret is kept; it expires and can be revoked."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    # The secret's first characters, stored in clear to find the row and to tell tokens apart.
    prefix = models.CharField(max_length=12, db_index=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = OwnedQuerySet["ApiToken"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Webhook(models.Model):
    """A tenant's receiver of VM events: each body is signed with HMAC-SHA256 of its secret."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128)
    events = models.JSONField(default=list, help_text="Event names; empty means all events")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet["Webhook"].as_manager()

    class Meta:
        ordering = ["tenant", "id"]

    def __str__(self) -> str:
        return f"{self.tenant.slug} → {self.url}"

    def wants(self, event: str) -> bool:
        return self.enabled and (not self.events or event in self.events)


class WebhookDelivery(models.Model):
    """One event sent (or being sent) to one webhook, with every attempt's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    event_id = models.UUIDField(help_text="Sent as X-Nuage-Delivery: receivers deduplicate on it")
    body = models.TextField(help_text="The exact JSON body that is signed and sent")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_path: ClassVar[str] = "webhook__tenant"
    objects = TenantScopedQuerySet["WebhookDelivery"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="delivery_once_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.webhook_id} ({self.status})"


class OutboxEvent(models.Model):
    """Something that happened to a tenant, recorded in the same transaction as the change.

    portal.events writes it and, once the transaction commits, delivers it (signed webhooks,
    e-mails) from a Celery task; a change that rolls back leaves no event behind, and an event
    whose task was lost is found again by the periodic sweep.
    """

    event_id = models.UUIDField(
        default=uuid.uuid4, unique=True, editable=False, help_text="Sent as X-Nuage-Delivery"
    )
    kind = models.CharField(max_length=64)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # JSON-ready: the ids the message is built from (read again at delivery) or its data.
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet["OutboxEvent"].as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(delivered_at__isnull=True),
                name="outbox_undelivered",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"


class AuditEntry(models.Model):
    """One write, recorded in the same transaction as the write itself; never changed after.

    The database refuses UPDATE and DELETE on this table (migration 0003, a trigger). The actor
    and tenant are kept as ids without a foreign-key constraint, with their names copied: a
    user or tenant removed later leaves its history readable and untouched.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        User,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_username = models.CharField(max_length=150, blank=True)
    tenant = models.ForeignKey(
        Tenant,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    tenant_slug = models.CharField(max_length=63, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    # The request that made the write, or that caused the task that made it (the X-Request-ID
    # of its answer and of its log lines); empty for the worker's own periodic jobs.
    request_id = models.CharField(max_length=100, blank=True, default="", db_index=True)

    objects = TenantScopedQuerySet["AuditEntry"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["tenant", "-created_at"]),
        ]

    def __str__(self) -> str:
        who = self.actor_username or "system"
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {who} {self.action} {self.object_repr}"


class KeyPair(models.Model):
    """A user's SSH public key, offered when requesting VMs (the private half never comes here)."""

    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="key_pairs")
    name = models.CharField(max_length=100)
    # Normalised as one authorized_keys line: "type base64 [comment]".
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=64)
    key_type = models.CharField(max_length=32)
    bits = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    owner_path: ClassVar[str] = "owner"
    objects = OwnedQuerySet["KeyPair"].as_manager()

    class Meta:
        ordering = ["owner", "name"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="keypair_unique_name"),
            models.UniqueConstraint(
                fields=["owner", "fingerprint"], name="keypair_unique_fingerprint"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.fingerprint})"


class OidcIdentity(models.Model):
    """A single sign-on identity (the provider's issuer and subject) linked to one Nuage user.

    Sign-on finds its user only through this row: never by username or e-mail, which a provider
    may let people choose or change.
    """

    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oidc_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    owner_path: ClassVar[str] = "user"
    objects = OwnedQuerySet["OidcIdentity"].as_manager()

    class Meta:
        ordering = ["issuer", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="oidc_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.issuer} {self.subject} → {self.user_id}"


class PolicyChange(models.Model):
    """A tenant admin's proposal to loosen an environment's approval policy (four eyes).

    Loosening (fewer requests waiting for an approver) by a tenant admin waits here until a
    platform admin or another tenant admin of the tenant approves it; tightening applies at once.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for a second admin")
        APPROVED = "approved", _("Approved and applied")
        REJECTED = "rejected", _("Rejected")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="policy_changes"
    )
    # {"requires_approval": ..., "auto_approve_max_vcpus": ..., "auto_approve_max_ram_mib": ...}
    previous = models.JSONField(default=dict)
    proposed = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    proposed_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet["PolicyChange"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.environment} policy change ({self.status})"


class Invitation(models.Model):
    """A tenant admin's invitation to join a tenant, sent by e-mail as a secret link.

    Only a hash of the secret is kept; the link works once, until it expires or is revoked, for
    whoever is logged in when following it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet["Invitation"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.email} → {self.tenant.slug} ({self.role})"

    @property
    def status(self) -> str:
        from django.utils import timezone

        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"

    def is_for(self, user: User) -> bool:
        """Whether `user`'s e-mail address is the invited one (ignoring case)."""
        theirs = (user.email or "").strip()
        return bool(theirs) and theirs.casefold() == self.email.strip().casefold()


class Notification(models.Model):
    """One in-app notice for one user (the bell in the navigation): a text already rendered in
    the user's language, the page it is about, and whether it was read. Written by
    portal.notifications.notify, from event delivery (approvals, provisioning, budgets) and
    from the other apps (lease warnings)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=64)
    text = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    # Set by callers that may run twice for the same fact (a lease warning, a retried task):
    # one notification per user and key.
    key = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    owner_path: ClassVar[str] = "user"
    objects = OwnedQuerySet["Notification"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["user"],
                condition=models.Q(read_at__isnull=True),
                name="notification_unread",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "key"],
                condition=~models.Q(key=""),
                name="notification_once_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.user_id}"
