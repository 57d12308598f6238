"""The resources a quota limits, the states of a VM's allocation and of an increase request."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Resource(models.TextChoices):
    VCPUS = "vcpus", _("vCPUs")
    RAM_MIB = "ram_mib", _("RAM (MiB)")
    DISK_GIB = "disk_gib", _("Disk (GiB)")
    VMS = "vms", _("VMs")
    SNAPSHOTS = "snapshots", _("Snapshots")


RESOURCES: tuple[str, ...] = tuple(Resource.values)

# The largest limit or increase anyone may set: far above any real pool, low enough that a typo
# (an extra zero or two) is caught, and that sums never overflow a bigint.
MAX_AMOUNT: dict[str, int] = {
    Resource.VCPUS: 1_000_000,
    Resource.RAM_MIB: 1_000_000_000,
    Resource.DISK_GIB: 100_000_000,
    Resource.VMS: 1_000_000,
    Resource.SNAPSHOTS: 1_000_000,
}

# Limits of an environment whose tenant got no other: used until a platform admin saves
# platform-wide defaults (QuotaDefault).
BUILTIN_DEFAULTS: dict[str, int] = {
    Resource.VCPUS: 64,
    Resource.RAM_MIB: 131_072,
    Resource.DISK_GIB: 2_048,
    Resource.VMS: 50,
    Resource.SNAPSHOTS: 100,
}


class AllocationStatus(models.TextChoices):
    """What a VM holds: a reservation (waiting or provisioning), use (provisioned) or nothing."""

    RESERVED = "reserved", _("Reserved")
    USED = "used", _("In use")
    RELEASED = "released", _("Released")


class RequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    PARTIALLY_APPROVED = "partially_approved", _("Partially approved")
    REJECTED = "rejected", _("Rejected")
