"""Quota counters (one row per environment), what each VM holds, defaults, increase requests."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compute.models import VirtualMachine
from portal.models import Environment, Tenant, User
from portal.scoping import TenantScopedQuerySet
from quotas.choices import RESOURCES, AllocationStatus, RequestStatus


def _counter_constraints(prefix: str) -> list[models.BaseConstraint]:
    # A counter below zero means something was released twice: refuse it loudly.
    return [
        models.CheckConstraint(
            condition=Q(**{f"{r}_used__gte": 0}) & Q(**{f"{r}_reserved__gte": 0}),
            name=f"{prefix}_{r}_counters_not_negative",
        )
        for r in RESOURCES
    ]


class Quota(models.Model):
    """Limits and counters of one environment, all resources in one row.

    One row means one conditional UPDATE reserves every resource at once: no lock ordering
    between rows, hence no deadlock, and either all resources are taken or none.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="quotas")
    environment = models.OneToOneField(Environment, on_delete=models.CASCADE, related_name="quota")
    vcpus_limit = models.BigIntegerField(_("vCPUs limit"))
    vcpus_used = models.BigIntegerField(default=0)
    vcpus_reserved = models.BigIntegerField(default=0)
    ram_mib_limit = models.BigIntegerField(_("RAM (MiB) limit"))
    ram_mib_used = models.BigIntegerField(default=0)
    ram_mib_reserved = models.BigIntegerField(default=0)
    disk_gib_limit = models.BigIntegerField(_("disk (GiB) limit"))
    disk_gib_used = models.BigIntegerField(default=0)
    disk_gib_reserved = models.BigIntegerField(default=0)
    vms_limit = models.BigIntegerField(_("VMs limit"))
    vms_used = models.BigIntegerField(default=0)
    vms_reserved = models.BigIntegerField(default=0)
    snapshots_limit = models.BigIntegerField(_("snapshots limit"))
    snapshots_used = models.BigIntegerField(default=0)
    snapshots_reserved = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet["Quota"].as_manager()

    class Meta:
        ordering = ["tenant", "environment"]
        constraints = [
            *_counter_constraints("quota"),
            *(
                models.CheckConstraint(
                    condition=Q(**{f"{r}_limit__gte": 0}), name=f"quota_{r}_limit_not_negative"
                )
                for r in RESOURCES
            ),
        ]

    def __str__(self) -> str:
        return str(self.environment)

    def limit(self, resource: str) -> int:
        return int(getattr(self, f"{resource}_limit"))

    def used(self, resource: str) -> int:
        return int(getattr(self, f"{resource}_used"))

    def reserved(self, resource: str) -> int:
        return int(getattr(self, f"{resource}_reserved"))

    def left(self, resource: str) -> int:
        return max(0, self.limit(resource) - self.used(resource) - self.reserved(resource))


class QuotaDefault(models.Model):
    """Platform-wide limits given to each new environment (one row, pk 1)."""

    vcpus_limit = models.BigIntegerField(_("vCPUs limit"))
    ram_mib_limit = models.BigIntegerField(_("RAM (MiB) limit"))
    disk_gib_limit = models.BigIntegerField(_("disk (GiB) limit"))
    vms_limit = models.BigIntegerField(_("VMs limit"))
    snapshots_limit = models.BigIntegerField(_("snapshots limit"))
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return str(_("Platform quota defaults"))

    def limit(self, resource: str) -> int:
        return int(getattr(self, f"{resource}_limit"))


class Allocation(models.Model):
    """What one VM holds in its environment's quota, and whether it still holds it.

    The status only moves forward (reserved → used → released, or reserved → released) by
    conditional UPDATEs, so a second release finds nothing to release.
    """

    vm = models.OneToOneField(
        VirtualMachine, on_delete=models.CASCADE, primary_key=True, related_name="allocation"
    )
    # The environment names the quota row (one per environment) without a lookup of its id.
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="allocations"
    )
    vcpus = models.BigIntegerField(default=0)
    ram_mib = models.BigIntegerField(default=0)
    disk_gib = models.BigIntegerField(default=0)
    vms = models.BigIntegerField(default=0)
    snapshots = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=AllocationStatus.choices, default=AllocationStatus.RESERVED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_path: ClassVar[str] = "environment__tenant"
    objects = TenantScopedQuerySet["Allocation"].as_manager()

    class Meta:
        indexes = [models.Index(fields=["environment", "status"])]

    def __str__(self) -> str:
        return f"{self.vm_id} {self.status}"

    def amounts(self) -> dict[str, int]:
        return {r: int(getattr(self, r)) for r in RESOURCES}


class QuotaRequest(models.Model):
    """A tenant asks for more: increments per resource, a reason, and the platform's decision."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="quota_requests")
    environment = models.ForeignKey(
        Environment, on_delete=models.CASCADE, related_name="quota_requests"
    )
    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    # {resource: amount to add to the limit}; only resources asked for appear.
    asked = models.JSONField(default=dict)
    reason = models.TextField()
    status = models.CharField(
        max_length=20, choices=RequestStatus.choices, default=RequestStatus.PENDING, db_index=True
    )
    granted = models.JSONField(default=dict, blank=True)
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet["QuotaRequest"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.environment} ({self.status})"
