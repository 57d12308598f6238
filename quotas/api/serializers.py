"""Serializers of /api/v1/quotas/ and /api/v1/quota-requests/."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from portal.api.fields import ScopedPrimaryKeyRelatedField
from portal.models import Environment
from quotas.choices import MAX_AMOUNT, RESOURCES
from quotas.models import Quota, QuotaDefault, QuotaRequest


class ResourceUsageSerializer(serializers.Serializer[Any]):
    limit = serializers.IntegerField()
    used = serializers.IntegerField()
    reserved = serializers.IntegerField()
    left = serializers.IntegerField()


class QuotaSerializer(serializers.ModelSerializer[Quota]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    environment = serializers.CharField(source="environment.name", read_only=True)
    environment_id = serializers.IntegerField(read_only=True)
    resources = serializers.SerializerMethodField()

    class Meta:
        model = Quota
        fields = ["id", "tenant", "environment", "environment_id", "resources", "updated_at"]
        read_only_fields = fields

    def get_resources(self, obj: Quota) -> dict[str, dict[str, int]]:
        return {
            r: {
                "limit": obj.limit(r),
                "used": obj.used(r),
                "reserved": obj.reserved(r),
                "left": obj.left(r),
            }
            for r in RESOURCES
        }


class LimitsSerializer(serializers.Serializer[Any]):
    """New limits; the resources left out keep theirs. 0 is valid and blocks the resource."""

    vcpus = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AMOUNT["vcpus"])
    ram_mib = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AMOUNT["ram_mib"])
    disk_gib = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_AMOUNT["disk_gib"]
    )
    vms = serializers.IntegerField(required=False, min_value=0, max_value=MAX_AMOUNT["vms"])
    snapshots = serializers.IntegerField(
        required=False, min_value=0, max_value=MAX_AMOUNT["snapshots"]
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError(_("Give at least one limit."))
        return attrs


class QuotaDefaultSerializer(serializers.ModelSerializer[QuotaDefault]):
    # Null until the defaults are first changed (the built-in ones have never been saved).
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = QuotaDefault
        fields = [f"{r}_limit" for r in RESOURCES] + ["updated_at"]
        read_only_fields = fields


class AmountsSerializer(serializers.Serializer[Any]):
    """Increments asked (at least 1 each) or granted (0 or more), per resource."""

    vcpus = serializers.IntegerField(required=False, max_value=MAX_AMOUNT["vcpus"])
    ram_mib = serializers.IntegerField(required=False, max_value=MAX_AMOUNT["ram_mib"])
    disk_gib = serializers.IntegerField(required=False, max_value=MAX_AMOUNT["disk_gib"])
    vms = serializers.IntegerField(required=False, max_value=MAX_AMOUNT["vms"])
    snapshots = serializers.IntegerField(required=False, max_value=MAX_AMOUNT["snapshots"])


class QuotaRequestSerializer(serializers.ModelSerializer[QuotaRequest]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    environment = serializers.CharField(source="environment.name", read_only=True)
    environment_id = serializers.IntegerField(read_only=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    asked = AmountsSerializer(read_only=True)
    granted = AmountsSerializer(read_only=True)

    class Meta:
        model = QuotaRequest
        fields = [
            "id",
            "tenant",
            "environment",
            "environment_id",
            "requested_by",
            "asked",
            "reason",
            "status",
            "granted",
            "decided_by",
            "decision_reason",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class QuotaRequestCreateSerializer(serializers.Serializer[QuotaRequest]):
    environment = ScopedPrimaryKeyRelatedField(Environment)
    amounts = AmountsSerializer()
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class QuotaRequestApproveSerializer(serializers.Serializer[QuotaRequest]):
    granted = AmountsSerializer(
        required=False, help_text="Leave out to grant everything that was asked."
    )
    reason = serializers.CharField(max_length=2000, allow_blank=True, required=False, default="")


class QuotaRequestRejectSerializer(serializers.Serializer[QuotaRequest]):
    reason = serializers.CharField(max_length=2000, allow_blank=True)
