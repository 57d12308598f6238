"""Serializers for tenants, users, memberships and environments."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from portal import selectors
from portal.api.fields import ScopedPrimaryKeyRelatedField
from portal.choices import PlatformRole, Role
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


class EnvironmentSerializer(serializers.ModelSerializer[Environment]):
    tenant = ScopedPrimaryKeyRelatedField(Tenant)

    class Meta:
        model = Environment
        fields = [
            "id",
            "tenant",
            "name",
            "requires_approval",
            "auto_approve_max_vcpus",
            "auto_approve_max_ram_mib",
            "justification_required",
            "lease_default_days",
            "lease_max_days",
        ]
        read_only_fields = ["id"]
        validators: list[object] = []  # the service checks the name, per tenant


class EnvironmentUpdateSerializer(serializers.ModelSerializer[Environment]):
    class Meta:
        model = Environment
        fields = [
            "name",
            "requires_approval",
            "auto_approve_max_vcpus",
            "auto_approve_max_ram_mib",
            "justification_required",
            "lease_default_days",
            "lease_max_days",
        ]


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    environments = EnvironmentSerializer(many=True, read_only=True)

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "timezone", "created_at", "environments"]
        read_only_fields = ["id", "created_at", "environments"]


class TenantBillingSerializer(serializers.Serializer[Tenant]):
    """A tenant's billing details. Input is checked by the service (tenant_billing_update): it
    normalises first ("fr" -> FR, "FR 40 303 265 045" -> FR40303265045), then validates."""

    billing_legal_name = serializers.CharField(max_length=200, allow_blank=True, required=False)
    billing_address = serializers.CharField(
        max_length=500, allow_blank=True, required=False, trim_whitespace=False
    )
    billing_country = serializers.CharField(
        max_length=2, allow_blank=True, required=False, help_text="ISO 3166-1 alpha-2, e.g. FR."
    )
    vat_number = serializers.CharField(
        max_length=30, allow_blank=True, required=False, help_text="With its country prefix."
    )
    billing_email = serializers.EmailField(allow_blank=True, required=False)
    cost_centre = serializers.CharField(max_length=64, allow_blank=True, required=False)
    vat_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        allow_null=True,
        required=False,
        help_text="Percent; null: the platform's rate. 0 for reverse charge.",
    )


class UserSerializer(serializers.ModelSerializer[User]):
    # Blank for users without one: a plain string, not the schema's "email" format.
    email = serializers.CharField(read_only=True, help_text="E-mail address, or empty")

    class Meta:
        model = User
        fields = ["id", "username", "email", "platform_role"]
        read_only_fields = fields

    def to_representation(self, instance: User) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self._may_see_email(instance):
            data["email"] = ""
        return data

    def _may_see_email(self, user: User) -> bool:
        """The one rule of portal.selectors.user_email_visible_ids."""
        request = self.context.get("request")
        viewer = getattr(request, "user", None)
        if viewer is None or not viewer.is_authenticated:
            return False
        if "_email_visible_ids" not in self.context:  # once per answer, shared by every row
            self.context["_email_visible_ids"] = selectors.user_email_visible_ids(  # type: ignore[index]
                fetched_by=viewer
            )
        visible = self.context["_email_visible_ids"]
        return visible is None or user.pk in visible


class UserCreateSerializer(serializers.Serializer[User]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    email = serializers.EmailField(required=False, default="")
    platform_role = serializers.ChoiceField(
        choices=PlatformRole.choices, required=False, default=PlatformRole.NONE
    )


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    tenant = ScopedPrimaryKeyRelatedField(Tenant)
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "tenant", "user", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []  # uniqueness is the service's job, with a clear message


class ApiTokenSerializer(serializers.ModelSerializer[ApiToken]):
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "revoked",
        ]
        read_only_fields = ["id", "prefix", "created_at", "revoked_at", "last_used_at", "revoked"]
        extra_kwargs = {"expires_at": {"required": False}}

    def get_revoked(self, obj: ApiToken) -> bool:
        return obj.revoked_at is not None


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The secret: shown this once only")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class LoginSerializer(serializers.Serializer[User]):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=20,
        help_text="The current code of your authenticator (or a recovery code), when your "
        "account uses two-factor sign-in; platform roles always do.",
    )


class LoginAnswerSerializer(serializers.Serializer[ApiToken]):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.CharField(source="actor_username")
    tenant = serializers.CharField(source="tenant_slug")
    object = serializers.CharField(source="object_repr")

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "remote_addr",
            "tenant",
            "action",
            "object_type",
            "object_id",
            "object",
            "changes",
            "request_id",
        ]
        read_only_fields = fields


class MembershipRoleSerializer(serializers.Serializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)


class WebhookSerializer(serializers.ModelSerializer[Webhook]):
    tenant = ScopedPrimaryKeyRelatedField(Tenant)
    events = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Empty: every event"
    )

    class Meta:
        model = Webhook
        fields = ["id", "tenant", "url", "events", "enabled", "created_at"]
        read_only_fields = ["id", "created_at"]


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Signing secret: shown this once")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class WebhookUpdateSerializer(serializers.Serializer[Webhook]):
    url = serializers.CharField(max_length=500, required=False)
    events = serializers.ListField(child=serializers.CharField(), required=False)
    enabled = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "webhook",
            "event",
            "event_id",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "response_excerpt",
            "next_attempt_at",
            "delivered_at",
            "created_at",
        ]
        read_only_fields = fields


class KeyPairSerializer(serializers.ModelSerializer[KeyPair]):
    public_key = serializers.CharField(
        max_length=16 * 1024,
        trim_whitespace=True,
        help_text="One OpenSSH public key line: ssh-ed25519, ecdsa-sha2-nistp256/384/521 or "
        "ssh-rsa (2048 bits or more), with an optional comment",
    )

    class Meta:
        model = KeyPair
        fields = ["id", "name", "public_key", "fingerprint", "key_type", "bits", "created_at"]
        read_only_fields = ["id", "fingerprint", "key_type", "bits", "created_at"]
        validators: list[object] = []  # the service checks the name and the key, per owner


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    read = serializers.SerializerMethodField()

    class Meta:
        model = Notification
        fields = ["id", "kind", "text", "url", "created_at", "read", "read_at"]
        read_only_fields = fields

    def get_read(self, obj: Notification) -> bool:
        return obj.read_at is not None


class NotificationCountSerializer(serializers.Serializer[Any]):
    unread = serializers.IntegerField(required=False, help_text="Unread notifications")
    marked = serializers.IntegerField(required=False, help_text="Notifications just marked read")


class PolicyChangeSerializer(serializers.ModelSerializer[PolicyChange]):
    proposed_by = serializers.CharField(source="proposed_by.username", default="", read_only=True)
    decided_by = serializers.CharField(source="decided_by.username", default="", read_only=True)

    class Meta:
        model = PolicyChange
        fields = [
            "id",
            "tenant",
            "environment",
            "previous",
            "proposed",
            "status",
            "proposed_by",
            "decided_by",
            "decided_at",
            "created_at",
        ]
        read_only_fields = fields


class InvitationSerializer(serializers.ModelSerializer[Invitation]):
    tenant = ScopedPrimaryKeyRelatedField(Tenant)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.MEMBER)
    status = serializers.CharField(read_only=True, help_text="pending, accepted, revoked, expired")
    created_by = serializers.CharField(source="created_by.username", default="", read_only=True)
    accepted_by = serializers.CharField(source="accepted_by.username", default="", read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id",
            "tenant",
            "email",
            "role",
            "status",
            "created_by",
            "created_at",
            "expires_at",
            "accepted_by",
            "accepted_at",
            "revoked_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "created_by",
            "created_at",
            "expires_at",
            "accepted_by",
            "accepted_at",
            "revoked_at",
        ]


class InvitationCreatedSerializer(InvitationSerializer):
    link = serializers.CharField(read_only=True, help_text="The secret link: shown this once")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "link"]


class InvitationAcceptSerializer(serializers.Serializer[Invitation]):
    token = serializers.CharField(help_text="The secret at the end of the invitation link")
