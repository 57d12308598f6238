"""Django admin for hosts, flavors and images (platform admins only)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from compute.models import Flavor, Host, Image, Operation, VirtualMachine
from compute.services import host_refresh
from portal.admin_audit import AuditedModelAdmin


@admin.register(Host)
class HostAdmin(AuditedModelAdmin):
    list_display = [
        "name",
        "uri",
        "enabled",
        "reachable",
        "cpus",
        "memory_mib",
        "disk_gib",
        "cpu_ratio",
        "ram_ratio",
        "disk_ratio",
        "tags",
    ]
    list_filter = ["enabled", "reachable"]
    readonly_fields = ["cpus", "memory_mib", "disk_gib", "reachable", "last_seen_at", "last_error"]

    def save_model(self, request: HttpRequest, obj: Host, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Placement needs the capacity, which only libvirt knows; an unreachable host is kept
        # (with last_error shown) so the operator can fix the URI.
        host_refresh(host=obj)


@admin.register(Flavor)
class FlavorAdmin(AuditedModelAdmin):
    list_display = ["name", "vcpus", "ram_mib", "disk_gib", "is_public"]


@admin.register(Image)
class ImageAdmin(AuditedModelAdmin):
    list_display = ["name", "kind", "base_volume", "kernel_path", "is_public"]


@admin.register(VirtualMachine)
class VirtualMachineAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "tenant",
        "environment",
        "state",
        "runtime_state",
        "host",
        "anti_affinity_group",
        "owner",
    ]
    list_filter = ["state", "tenant"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # VMs change through services only

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ["vm", "kind", "status", "attempts", "created_at", "finished_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
