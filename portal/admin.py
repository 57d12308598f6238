"""Django admin for tenants, users and memberships."""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest

from portal.admin_audit import AuditedModelAdmin
from portal.models import AuditEntry, Environment, Membership, Tenant, User


@admin.register(User)
class NuageUserAdmin(AuditedModelAdmin, UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Nuage", {"fields": ("platform_role",)}))  # type: ignore[misc]
    list_display = ["username", "email", "platform_role", "is_superuser"]


class EnvironmentInline(admin.TabularInline):
    model = Environment
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Tenant)
class TenantAdmin(AuditedModelAdmin):
    list_display = ["name", "slug", "created_at"]
    inlines = [EnvironmentInline, MembershipInline]


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor_username", "tenant_slug", "action", "object_repr"]
    list_filter = ["action"]
    search_fields = ["request_id"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
