"""Hosts, flavors, images, virtual machines and the operations that change them."""

from __future__ import annotations

import uuid

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compute.choices import (
    STATE_COLOURS,
    DomainType,
    ImageKind,
    OperationKind,
    OperationStatus,
    RuntimeState,
    Step,
    StepStatus,
    VMState,
)
from portal.models import Environment, Tenant, User

vm_name_validator = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    _("Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit."),
)


class Host(models.Model):
    name = models.CharField(max_length=63, unique=True)
    uri = models.CharField(_("libvirt URI"), max_length=255, unique=True)
    # How the other hosts' libvirtd reach this one for peer-to-peer migration (blank: `uri`).
    peer_uri = models.CharField(_("peer URI"), max_length=255, blank=True)
    enabled = models.BooleanField(default=True)
    # A host in maintenance takes no new VMs and its running VMs are migrated away.
    maintenance = models.BooleanField(default=False)
    storage_pool = models.CharField(max_length=63, default="nuage")
    domain_type = models.CharField(
        max_length=8, choices=DomainType.choices, default=DomainType.QEMU
    )
    # Capacity as read from libvirt at registration and on each refresh.
    cpus = models.PositiveIntegerField(default=0)
    memory_mib = models.PositiveBigIntegerField(default=0)
    reachable = models.BooleanField(default=False)
    # Whether the storage pool is shared with the other shared-storage hosts (same pool name,
    # same paths): only then can HA restart this host's VMs elsewhere.
    shared_storage = models.BooleanField(default=False)
    # Heartbeats missed in a row; after NUAGE["HA_MISSES"] the host is declared down.
    missed_heartbeats = models.PositiveIntegerField(default=0)
    down_since = models.DateTimeField(null=True, blank=True)
    # Domains on the host that Nuage does not know, as the reconciler last saw them:
    # [{"uuid", "name", "state"}]; an admin adopts or destroys them.
    orphan_domains = models.JSONField(default=list, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def migration_uri(self) -> str:
        return self.peer_uri or self.uri


class Flavor(models.Model):
    name = models.CharField(max_length=63, unique=True)
    vcpus = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(256)])
    ram_mib = models.PositiveIntegerField(
        validators=[MinValueValidator(64), MaxValueValidator(4 * 1024 * 1024)]
    )
    disk_gib = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(64 * 1024)]
    )
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["vcpus", "ram_mib", "disk_gib"]

    def __str__(self) -> str:
        return f"{self.name} ({self.vcpus} vCPU, {self.ram_mib} MiB, {self.disk_gib} GiB)"


class Image(models.Model):
    name = models.CharField(max_length=63, unique=True)
    kind = models.CharField(max_length=8, choices=ImageKind.choices, default=ImageKind.DISK)
    # DISK: name of the base qcow2 volume in each host's pool; the VM disk is an overlay on it.
    base_volume = models.CharField(max_length=255, blank=True)
    # KERNEL: paths on the host; the VM still gets an empty qcow2 disk of the flavor's size.
    kernel_path = models.CharField(max_length=255, blank=True)
    initrd_path = models.CharField(max_length=255, blank=True)
    cmdline = models.CharField(max_length=255, blank=True, default="console=ttyS0")
    is_public = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="disk") & ~Q(base_volume=""))
                | (Q(kind="kernel") & ~Q(kernel_path="")),
                name="image_has_boot_source",
            )
        ]

    def __str__(self) -> str:
        return self.name


class VirtualMachine(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="vms")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="vms")
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="vms")
    name = models.CharField(max_length=63, validators=[vm_name_validator])
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="vms")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="vms")
    ssh_public_key = models.TextField(blank=True)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.PROTECT, related_name="vms"
    )
    state = models.CharField(
        max_length=20, choices=VMState.choices, default=VMState.PENDING_APPROVAL, db_index=True
    )
    runtime_state = models.CharField(
        max_length=16, choices=RuntimeState.choices, default=RuntimeState.UNKNOWN
    )
    runtime_checked_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    approved_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rejection_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~Q(state="deleted"),
                name="vm_unique_live_name_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def domain_name(self) -> str:
        """The libvirt domain name: unique across tenants, readable by an operator."""
        return f"nuage-{self.uuid.hex[:8]}-{self.name}"

    @property
    def volume_name(self) -> str:
        return f"{self.domain_name}.qcow2"

    @property
    def state_colour(self) -> str:
        return STATE_COLOURS.get(self.state, "grey")


class Operation(models.Model):
    """One long-running action on a VM (provision, start, ...), with its progress steps."""

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    status = models.CharField(
        max_length=16, choices=OperationStatus.choices, default=OperationStatus.PENDING
    )
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    # Where a migration comes from and goes to; the VM's capacity is claimed on the target from
    # the start of the operation, and `vm.host` switches to it once the domain runs there.
    source_host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.PROTECT, related_name="outgoing"
    )
    target_host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.PROTECT, related_name="incoming"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every step; the reconciler re-dispatches an operation whose progress stalled.
    progressed_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vm"],
                condition=Q(status__in=["pending", "running"]),
                name="operation_one_active_per_vm",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.vm_id} ({self.status})"


class OperationStep(models.Model):
    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=32, choices=Step.choices)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    detail = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["operation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["operation", "position"], name="step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"


class RollingMaintenance(models.Model):
    """All hosts through maintenance one at a time: evacuate, hold for the work, return, next."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    requested_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    host_ids = models.JSONField(help_text="Hosts in the order they go through maintenance")
    position = models.PositiveIntegerField(default=0)
    # Seconds a host stays in maintenance once empty before the next one goes; None waits for
    # an admin to say the host's work is done.
    hold_seconds = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    ready_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="running"),
                name="rolling_maintenance_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"rolling maintenance {self.pk} ({self.status})"

    @property
    def current_host_id(self) -> int | None:
        ids: list[int] = self.host_ids
        return ids[self.position] if self.position < len(ids) else None
