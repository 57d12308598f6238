"""Serializers for tenants, users, memberships and environments."""

from __future__ import annotations

from rest_framework import serializers

from portal.choices import PlatformRole, Role
from portal.models import Environment, Membership, Tenant, User


class EnvironmentSerializer(serializers.ModelSerializer[Environment]):
    class Meta:
        model = Environment
        fields = ["id", "tenant", "name", "requires_approval"]
        read_only_fields = fields


class TenantSerializer(serializers.ModelSerializer[Tenant]):
    environments = EnvironmentSerializer(many=True, read_only=True)

    class Meta:
        model = Tenant
        fields = ["id", "name", "slug", "created_at", "environments"]
        read_only_fields = ["id", "created_at", "environments"]


class UserSerializer(serializers.ModelSerializer[User]):
    class Meta:
        model = User
        fields = ["id", "username", "email", "platform_role"]
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer[User]):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, min_length=8, max_length=128)
    email = serializers.EmailField(required=False, default="")
    platform_role = serializers.ChoiceField(
        choices=PlatformRole.choices, required=False, default=PlatformRole.NONE
    )


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["id", "tenant", "user", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []  # uniqueness is the service's job, with a clear message
