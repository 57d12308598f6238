"""Hosts, flavors, images, virtual machines and the operations that change them."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import operator
import re
import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from compute.choices import (
    SNAPSHOT_SCHEDULE_PERIODS,
    SNAPSHOT_STATE_COLOURS,
    STATE_COLOURS,
    VOLUME_STATE_COLOURS,
    ConsoleKind,
    DomainType,
    DrsMode,
    ExportStatus,
    HostStatus,
    ImageKind,
    ImportStatus,
    NetworkKind,
    OperationKind,
    OperationStatus,
    RecommendationStatus,
    RuntimeState,
    SnapshotFrequency,
    SnapshotState,
    Step,
    StepStatus,
    VMKind,
    VMState,
    VolumeState,
    label,
)
from portal.models import Environment, Tenant, User
from portal.scoping import TenantScopedQuerySet
from portal.sshkeys import validate_public_key
from portal.units import size_gib, size_mib

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

vm_name_validator = RegexValidator(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
    _("Use 1-63 lowercase letters, digits and hyphens; start and end with a letter or digit."),
)


LIBVIRT_SCHEMES = ("qemu", "qemu+tcp", "qemu+ssh", "qemu+tls", "test")
LXC_SCHEMES = ("lxc", "lxc+tcp", "lxc+ssh", "lxc+tls")


def is_lxc_uri(uri: str) -> bool:
    return urlsplit(uri).scheme in LXC_SCHEMES


_TAG = re.compile(r"^[a-z0-9][a-z0-9_.:-]{0,62}$")


def validate_libvirt_uri(value: str) -> None:
    """Accept the libvirt URIs Nuage can drive; say which form is expected otherwise."""
    parts = urlsplit(value)
    if parts.scheme in LXC_SCHEMES:
        if parts.path not in ("", "/"):
            raise ValidationError(
                _("An LXC URI has no path: lxc:/// or lxc+ssh://root@host/."), code="path"
            )
        if "+" in parts.scheme and not parts.hostname:
            raise ValidationError(
                _("Name the remote host in the URI, as in %(example)s.")
                % {"example": f"{parts.scheme}://host.example/"},
                code="host",
            )
        return
    if parts.scheme not in LIBVIRT_SCHEMES:
        raise ValidationError(
            _(
                "Use a libvirt URI starting with qemu://, qemu+tcp://, qemu+ssh://, qemu+tls://, "
                "lxc:// (system containers) or test:// (for example qemu:///system)."
            ),
            code="scheme",
        )
    if parts.scheme == "test":
        if not parts.path.strip("/"):
            raise ValidationError(
                _("A test URI names a node file or 'default': test:///default."), code="path"
            )
        return
    if parts.path not in ("/system", "/session"):
        raise ValidationError(
            _("End a QEMU URI with /system or /session, as in qemu+ssh://root@host/system."),
            code="path",
        )
    if "+" in parts.scheme and not parts.hostname:
        raise ValidationError(
            _("Name the remote host in the URI, as in %(example)s.")
            % {"example": f"{parts.scheme}://host.example/system"},
            code="host",
        )


def validate_host_tags(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValidationError(_("Give the tags as a list of words."), code="tags")
    bad = [t for t in value if not _TAG.match(t)]
    if bad:
        raise ValidationError(
            _(
                "Tags are 1-63 lowercase letters, digits and the signs _ . : - "
                "(for example env:production); not %(bad)s."
            )
            % {"bad": ", ".join(bad)},
            code="tags",
        )


def _ratio_field(label: StrOrPromise) -> models.DecimalField:
    return models.DecimalField(
        label,
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.10")), MaxValueValidator(Decimal("64"))],
        help_text=_("Empty: the platform default."),
    )


def host_status(
    *, enabled: bool, maintenance: bool, reachable: bool, down_since: datetime | None
) -> HostStatus:
    """The one rule for a host's status; placement, DRS, maintenance and the pages all use it.

    Disabled first: a disabled host is not heartbeated, so its other fields are stale. Then
    what HA declared (down), what the last libvirt call found (unreachable), and only then
    what an admin asked (maintenance). Only an `up` host takes new VMs.
    """
    if not enabled:
        return HostStatus.DISABLED
    if down_since is not None:
        return HostStatus.DOWN
    if not reachable:
        return HostStatus.UNREACHABLE
    return HostStatus.MAINTENANCE if maintenance else HostStatus.UP


def host_status_q(*statuses: HostStatus) -> Q:
    """`host_status` as a filter: the host rows whose status is one of `statuses`."""
    live = Q(enabled=True, down_since__isnull=True)
    each = {
        HostStatus.DISABLED: Q(enabled=False),
        HostStatus.DOWN: Q(enabled=True, down_since__isnull=False),
        HostStatus.UNREACHABLE: live & Q(reachable=False),
        HostStatus.MAINTENANCE: live & Q(reachable=True, maintenance=True),
        HostStatus.UP: live & Q(reachable=True, maintenance=False),
    }
    return functools.reduce(operator.or_, (each[s] for s in statuses))


class Host(models.Model):
    name = models.CharField(max_length=63, unique=True)
    uri = models.CharField(
        _("libvirt URI"), max_length=255, unique=True, validators=[validate_libvirt_uri]
    )
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
    disk_gib = models.PositiveBigIntegerField(_("storage pool capacity (GiB)"), default=0)
    # Overcommit: placement hands out up to physical x ratio of each resource.
    cpu_ratio = _ratio_field(_("CPU overcommit ratio"))
    ram_ratio = _ratio_field(_("RAM overcommit ratio"))
    disk_ratio = _ratio_field(_("disk overcommit ratio"))
    # "env:<name>" reserves the host for that environment; other tags can be required.
    tags = models.JSONField(default=list, blank=True, validators=[validate_host_tags])
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

    @property
    def runs_containers(self) -> bool:
        """An LXC host runs system containers only; the others run VMs only."""
        return self.domain_type == DomainType.LXC

    def effective_ratio(self, resource: str) -> float:
        """The host's own ratio for "cpu", "ram" or "disk", else the platform default."""
        own = getattr(self, f"{resource}_ratio")
        if own is not None:
            return float(own)
        return float(settings.NUAGE[f"{resource.upper()}_RATIO"])

    @property
    def status(self) -> HostStatus:
        return host_status(
            enabled=self.enabled,
            maintenance=self.maintenance,
            reachable=self.reachable,
            down_since=self.down_since,
        )


def _bytes(n: int) -> str:
    """A byte rate as people read it: 10 MiB, 512 KiB, 1000 B."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{round(n / size, 1):g} {unit}"
    return f"{n} B"


FLAVOR_LIMIT_FIELDS = (
    "cpu_shares",
    "cpu_cap_percent",
    "memory_hard_limit_mib",
    "disk_read_iops",
    "disk_write_iops",
    "disk_read_bytes_sec",
    "disk_write_bytes_sec",
    "net_in_kib_s",
    "net_out_kib_s",
)


def _limit_field(
    label: StrOrPromise,
    low: int,
    high: int,
    help_text: StrOrPromise = "",
    *,
    big: bool = False,
) -> Any:
    kind: Any = models.PositiveBigIntegerField if big else models.PositiveIntegerField
    return kind(
        label,
        null=True,
        blank=True,
        validators=[MinValueValidator(low), MaxValueValidator(high)],
        help_text=help_text or _("Empty: no limit."),
    )


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
    # A container flavor: its vCPUs are a CPU cap (a CFS quota over the container) and its RAM a
    # memory limit, both enforced by the container's cgroups; its disk is the rootfs budget.
    kind = models.CharField(max_length=10, choices=VMKind.choices, default=VMKind.VM)
    # Resource limits (cgroups and QEMU throttling); empty: no limit. They apply to VMs
    # provisioned after a change, and to a VM resized to the flavor (its domain is redefined).
    cpu_shares = _limit_field(
        _("CPU shares"),
        2,
        262_144,
        _("Weight against the other VMs of the host when the CPU is contended (1024: usual)."),
    )
    cpu_cap_percent = _limit_field(
        _("CPU cap (% of a vCPU)"),
        1,
        100,
        _("Each vCPU may use at most this share of a host CPU (cgroup CFS quota)."),
    )
    memory_hard_limit_mib = _limit_field(
        _("memory hard limit (MiB)"),
        64,
        16 * 1024 * 1024,
        _(
            "What the VM's QEMU process may use in all, guest RAM and QEMU's own overhead; at "
            "least the RAM. Applied to the running VM after each start."
        ),
    )
    disk_read_iops = _limit_field(_("disk read IOPS"), 1, 1_000_000)
    disk_write_iops = _limit_field(_("disk write IOPS"), 1, 1_000_000)
    disk_read_bytes_sec = _limit_field(_("disk read bytes/s"), 4096, 10**12, big=True)
    disk_write_bytes_sec = _limit_field(_("disk write bytes/s"), 4096, 10**12, big=True)
    net_in_kib_s = _limit_field(_("network in (KiB/s)"), 1, 10**7)
    net_out_kib_s = _limit_field(_("network out (KiB/s)"), 1, 10**7)

    class Meta:
        ordering = ["vcpus", "ram_mib", "disk_gib"]

    def __str__(self) -> str:
        ram, disk = size_mib(self.ram_mib), size_gib(self.disk_gib)
        return f"{self.name} ({self.vcpus} vCPU, {ram}, {disk})"

    def clean(self) -> None:
        super().clean()
        hard, ram = self.memory_hard_limit_mib, self.ram_mib
        if hard is not None and ram is not None and hard < ram:
            raise ValidationError(
                {
                    "memory_hard_limit_mib": _(
                        "The memory hard limit (%(hard)s MiB) must be at least the RAM "
                        "(%(ram)s MiB), or the guest is killed when it uses its memory."
                    )
                    % {"hard": hard, "ram": ram}
                }
            )

    @property
    def limit_summary(self) -> list[tuple[str, str]]:
        """The limits as people read them: (what, how much), unset ones left out."""
        out: list[tuple[str, str]] = []
        if self.cpu_shares is not None:
            out.append((str(_("CPU shares")), str(self.cpu_shares)))
        if self.cpu_cap_percent is not None:
            cap = _("%(pct)s%% of a CPU per vCPU") % {"pct": self.cpu_cap_percent}
            out.append((str(_("CPU cap")), str(cap)))
        if self.memory_hard_limit_mib is not None:
            out.append((str(_("Memory hard limit")), size_mib(self.memory_hard_limit_mib)))
        disk = [
            (self.disk_read_iops, _("read %(n)s IOPS")),
            (self.disk_write_iops, _("write %(n)s IOPS")),
            (self.disk_read_bytes_sec, _("read %(n)s/s")),
            (self.disk_write_bytes_sec, _("write %(n)s/s")),
        ]
        shown = [
            text % {"n": _bytes(value) if "/s" in str(text) else value}
            for value, text in disk
            if value is not None
        ]
        if shown:
            out.append((str(_("Disk")), ", ".join(shown)))
        net = [
            (self.net_in_kib_s, _("in %(n)s KiB/s")),
            (self.net_out_kib_s, _("out %(n)s KiB/s")),
        ]
        shown = [text % {"n": value} for value, text in net if value is not None]
        if shown:
            out.append((str(_("Network")), ", ".join(shown)))
        return out

    @property
    def limits(self) -> dict[str, int]:
        """The limits set on this flavor, by field name (unset ones left out)."""
        return {
            name: value
            for name in FLAVOR_LIMIT_FIELDS
            if (value := getattr(self, name)) is not None
        }


class Image(models.Model):
    name = models.CharField(max_length=63, unique=True)
    kind = models.CharField(max_length=8, choices=ImageKind.choices, default=ImageKind.DISK)
    # DISK: name of the base qcow2 volume in each host's pool; the VM disk is an overlay on it.
    base_volume = models.CharField(max_length=255, blank=True)
    # KERNEL: paths on the host; the VM still gets an empty qcow2 disk of the flavor's size.
    kernel_path = models.CharField(max_length=255, blank=True)
    initrd_path = models.CharField(max_length=255, blank=True)
    cmdline = models.CharField(max_length=255, blank=True, default="console=ttyS0")
    # ROOTFS: a directory or a tarball on the LXC hosts, copied for each container.
    rootfs_path = models.CharField(_("rootfs path"), max_length=255, blank=True)
    is_public = models.BooleanField(default=True)
    # What a VM of this image needs at least (an imported OVA's hardware; 0: no minimum), and
    # the guest's operating system as the OVF envelope named it (compute.ovf.OS_IDS).
    min_vcpus = models.PositiveIntegerField(default=0)
    min_ram_mib = models.PositiveIntegerField(default=0)
    min_disk_gib = models.PositiveIntegerField(default=0)
    os_type = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind="disk") & ~Q(base_volume=""))
                | (Q(kind="kernel") & ~Q(kernel_path=""))
                | (Q(kind="rootfs") & ~Q(rootfs_path="")),
                name="image_has_boot_source",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def flavor_shortfall(self, flavor: Flavor) -> str:
        """Why the flavor is too small for this image ("" if it is large enough)."""
        if (
            flavor.vcpus >= self.min_vcpus
            and flavor.ram_mib >= self.min_ram_mib
            and flavor.disk_gib >= self.min_disk_gib
        ):
            return ""
        return str(
            _(
                "The image %(image)s needs at least %(vcpus)s vCPU, %(ram)s MiB of RAM and a "
                "%(disk)s GiB disk; choose a larger flavor."
            )
            % {
                "image": self.name,
                "vcpus": self.min_vcpus,
                "ram": self.min_ram_mib,
                "disk": self.min_disk_gib,
            }
        )


class VirtualMachine(models.Model):
    """A virtual machine, or a system container (`kind`): same requests, quotas and billing."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=VMKind.choices, default=VMKind.VM)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="vms")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="vms")
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="vms")
    name = models.CharField(max_length=63, validators=[vm_name_validator])
    flavor = models.ForeignKey(Flavor, on_delete=models.PROTECT, related_name="vms")
    image = models.ForeignKey(Image, on_delete=models.PROTECT, related_name="vms")
    ssh_public_key = models.TextField(blank=True, validators=[validate_public_key])
    # The authorized_keys lines the VM was given at request time (its owner's chosen key pairs
    # and the pasted key): deleting a key pair later does not change what the VM holds.
    authorized_keys = models.JSONField(default=list, blank=True)
    # VMs of one tenant with the same group name never share a host.
    anti_affinity_group = models.CharField(
        max_length=63, blank=True, validators=[vm_name_validator]
    )
    # Why the requester needs it, for the approvers (required where the environment says so).
    justification = models.TextField(_("justification"), max_length=2000, blank=True)
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
    # The flavor a resize waiting for approval asks for (its quota is taken already).
    resize_to = models.ForeignKey(
        Flavor, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    # Lease (compute/leases.py), under its environment's lease policy: the lease counts from
    # `lease_set_at` (when the policy reached the VM, or the lease last changed), NEVER from
    # `created_at`. Empty: no lease, the VM lives until deleted.
    lease_set_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    # Each warning is sent once per lease (cleared when the lease changes).
    lease_warned_7d_at = models.DateTimeField(null=True, blank=True)
    lease_warned_1d_at = models.DateTimeField(null=True, blank=True)
    # When the expired lease stopped the VM; it is deleted a grace period later.
    lease_expired_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet["VirtualMachine"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # The tenant's VM list, in each order it can be sorted in (compute.selectors.VM_SORTS):
        # a page of 100 costs about the same with 100 or 20,000 VMs (bench/api_list.py).
        indexes = [
            models.Index(fields=["tenant", "-created_at", "-id"], name="vm_tenant_created"),
            models.Index(fields=["tenant", "name", "id"], name="vm_tenant_name"),
            models.Index(fields=["tenant", "state", "-created_at", "-id"], name="vm_tenant_state"),
            # Views across tenants (platform roles, members of many tenants): the same orders
            # without the tenant, so that LIMIT 100 stops after 100 index entries.
            models.Index(fields=["-created_at", "-id"], name="vm_created"),
            models.Index(fields=["state", "name", "id"], name="vm_state_name"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~Q(state="deleted"),
                name="vm_unique_live_name_per_tenant",
            )
        ]

    def __str__(self) -> str:
        return self.name

    # The labels in templates and serializers, from a table built once per language.
    def get_state_display(self) -> str:  # type: ignore[no-redef]
        return label(VMState, self.state)

    def get_runtime_state_display(self) -> str:  # type: ignore[no-redef]
        return label(RuntimeState, self.runtime_state)

    @property
    def domain_name(self) -> str:
        """The libvirt domain name: unique across tenants, readable by an operator."""
        # str(): a VM made from a UUID string (an adopted orphan) has not been reloaded yet.
        return f"nuage-{str(self.uuid).replace('-', '')[:8]}-{self.name}"

    @property
    def volume_name(self) -> str:
        return f"{self.domain_name}.qcow2"

    @property
    def is_container(self) -> bool:
        return self.kind == VMKind.CONTAINER

    @property
    def rootfs_dir(self) -> str:
        """A container's own copy of its rootfs image, on its host."""
        return f"{settings.NUAGE['CONTAINER_ROOT']}/{self.domain_name}"

    @property
    def seed_volume_name(self) -> str:
        """The cloud-init NoCloud seed (an ISO) beside the VM's disk in the host's pool."""
        return f"{self.domain_name}-seed.iso"

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
    # The snapshot a snapshot operation (create, revert, delete) works on.
    snapshot = models.ForeignKey(
        "Snapshot", null=True, blank=True, on_delete=models.CASCADE, related_name="operations"
    )
    # A resize: the VM's flavor before it (the VM row holds the new one from the request on,
    # so that quota and host capacity count it); a failed resize goes back to it.
    flavor_before = models.ForeignKey(
        Flavor, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A stop: powered off without (or without any more) waiting for the guest ("Force off").
    forced = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Bumped by every step; the reconciler re-dispatches an operation whose progress stalled.
    progressed_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    tenant_path: ClassVar[str] = "vm__tenant"
    objects = TenantScopedQuerySet["Operation"].as_manager()

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

    def get_kind_display(self) -> str:  # type: ignore[no-redef]
        return label(OperationKind, self.kind)

    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return label(OperationStatus, self.status)


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

    def get_name_display(self) -> str:  # type: ignore[no-redef]
        return label(Step, self.name)

    def get_status_display(self) -> str:  # type: ignore[no-redef]
        return label(StepStatus, self.status)


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


class DrsSettings(models.Model):
    """How the load balancer runs (one row, pk 1; built-in defaults until an admin saves it)."""

    mode = models.CharField(max_length=16, choices=DrsMode.choices, default=DrsMode.MANUAL)
    max_moves = models.PositiveIntegerField(
        _("migrations per cycle"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    # The least a move must lower the imbalance (a standard deviation of loads, 0..1), in a pool
    # of up to drs.REFERENCE_HOSTS hosts; scaled down for larger pools (drs.effective_threshold).
    threshold = models.DecimalField(
        _("minimum gain"),
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.0100"),
        validators=[MinValueValidator(Decimal("0.0001")), MaxValueValidator(Decimal("1"))],
    )
    interval_minutes = models.PositiveIntegerField(
        _("minutes between cycles"),
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    # How far back the measured loads are averaged.
    window_minutes = models.PositiveIntegerField(
        _("minutes of samples"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)],
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    updated_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("load balancing settings")
        verbose_name_plural = _("load balancing settings")

    def __str__(self) -> str:
        return str(_("Load balancing settings"))


class DrsRun(models.Model):
    """One pass of the load balancer: the pool's imbalance and what it recommended."""

    # None: the periodic cycle; otherwise the admin who asked for a run now.
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mode = models.CharField(max_length=16, choices=DrsMode.choices)
    window_minutes = models.PositiveIntegerField()
    hosts = models.PositiveIntegerField(default=0, help_text="Hosts measured and balanced")
    vms = models.PositiveIntegerField(default=0, help_text="VMs measured on them")
    imbalance = models.FloatField(default=0.0)
    # The imbalance once every recommendation of the run is applied.
    expected_imbalance = models.FloatField(default=0.0)
    applied = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"DRS run {self.pk}"


class DrsRecommendation(models.Model):
    """One live migration the load balancer recommends, and what became of it."""

    run = models.ForeignKey(DrsRun, on_delete=models.CASCADE, related_name="recommendations")
    position = models.PositiveSmallIntegerField()
    vm = models.ForeignKey(
        VirtualMachine, on_delete=models.CASCADE, related_name="drs_recommendations"
    )
    source = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+")
    imbalance_before = models.FloatField()
    imbalance_after = models.FloatField()
    # The VM's measured load that the move takes across.
    cpu_used = models.FloatField(default=0.0)
    mem_used_mib = models.FloatField(default=0.0)
    status = models.CharField(
        max_length=16,
        choices=RecommendationStatus.choices,
        default=RecommendationStatus.PENDING,
        db_index=True,
    )
    # Why it went stale, or why applying it failed.
    reason = models.TextField(blank=True)
    operation = models.ForeignKey(
        Operation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-run_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="drs_unique_position"),
            models.CheckConstraint(
                condition=~Q(source=models.F("target")), name="drs_target_not_source"
            ),
        ]

    def __str__(self) -> str:
        return f"move {self.vm_id}: {self.source_id} -> {self.target_id} ({self.status})"

    @property
    def gain(self) -> float:
        return self.imbalance_before - self.imbalance_after


class Network(models.Model):
    """A network VMs are attached to, with the addresses Nuage hands out on it (IPAM)."""

    name = models.CharField(max_length=63, unique=True, validators=[vm_name_validator])
    kind = models.CharField(max_length=16, choices=NetworkKind.choices)
    # The host bridge (kind bridge), e.g. br0: the same name on every host.
    bridge = models.CharField(max_length=15, blank=True)
    # Kinds other than user: the subnet in CIDR form, its gateway, and the pool Nuage allocates
    # from (inclusive bounds); the gateway is never handed out.
    subnet = models.CharField(max_length=49, blank=True)
    gateway = models.GenericIPAddressField(null=True, blank=True)
    dns_servers = models.JSONField(default=list, blank=True)
    pool_start = models.GenericIPAddressField(null=True, blank=True)
    pool_end = models.GenericIPAddressField(null=True, blank=True)
    # Nat and isolated networks: whether each host has Nuage's libvirt network, by host name:
    # {"<host>": {"ok": bool, "detail": str, "at": iso-8601}}.
    host_status = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def libvirt_name(self) -> str:
        """The libvirt network of a nat or isolated network."""
        return f"nuage-{self.name}"

    @property
    def libvirt_bridge(self) -> str:
        """The bridge of a nat or isolated network, the same on every host: derived from the
        libvirt name (at most 15 characters, distinct for distinct networks)."""
        return "nu-" + hashlib.sha256(self.libvirt_name.encode()).hexdigest()[:12]

    @property
    def defined_by_nuage(self) -> bool:
        """Nat and isolated networks are libvirt networks Nuage defines on every host."""
        return self.kind in (NetworkKind.NAT, NetworkKind.ISOLATED)

    @property
    def prefix_length(self) -> int | None:
        return ipaddress.ip_network(self.subnet).prefixlen if self.subnet else None


class NetworkGrant(models.Model):
    """Lets a tenant (all its environments, or one) attach VMs to a network."""

    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="grants")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="network_grants")
    environment = models.ForeignKey(
        Environment,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="network_grants",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet["NetworkGrant"].as_manager()

    class Meta:
        ordering = ["network", "tenant", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "tenant"],
                condition=Q(environment__isnull=True),
                name="network_grant_unique_tenant",
            ),
            models.UniqueConstraint(
                fields=["network", "tenant", "environment"],
                condition=Q(environment__isnull=False),
                name="network_grant_unique_environment",
            ),
        ]

    def __str__(self) -> str:
        scope = self.environment.name if self.environment_id else "*"  # type: ignore[union-attr]
        return f"{self.network} → {self.tenant.slug}/{scope}"


class NetworkInterface(models.Model):
    """A VM's port on a network: its MAC, its address (none on user networks) and, on user
    networks, the host port forwarded to the guest's SSH. Deleted when released."""

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="interfaces")
    network = models.ForeignKey(Network, on_delete=models.PROTECT, related_name="interfaces")
    mac = models.CharField(max_length=17, unique=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    host_port = models.PositiveIntegerField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    tenant_path: ClassVar[str] = "vm__tenant"
    objects = TenantScopedQuerySet["NetworkInterface"].as_manager()

    class Meta:
        ordering = ["vm", "id"]
        constraints = [
            models.UniqueConstraint(fields=["network", "ip"], name="nic_unique_ip_per_network")
        ]

    def __str__(self) -> str:
        return f"{self.vm_id} on {self.network_id}: {self.ip or self.host_port} ({self.mac})"

    @property
    def ssh_command(self) -> str | None:
        """What the VM's owner types to log in (user networks forward the host's loopback)."""
        if self.host_port is not None:
            return f"ssh -p {self.host_port} root@127.0.0.1"
        if self.ip:
            return f"ssh root@{self.ip}"
        return None

    @property
    def libvirt_kind(self) -> str:
        """The libvirt interface type: user, bridge, or network (nat and isolated)."""
        kind = self.network.kind
        return kind if kind in (NetworkKind.USER, NetworkKind.BRIDGE) else "network"

    @property
    def libvirt_source(self) -> str:
        """The host bridge or libvirt network the NIC joins ("" for user networking)."""
        if self.network.kind == NetworkKind.BRIDGE:
            return self.network.bridge
        return "" if self.network.kind == NetworkKind.USER else self.network.libvirt_name

    @property
    def cidr(self) -> str:
        """The static address the guest configures, as 10.20.0.5/24 ("" without one)."""
        if not self.ip or self.network.prefix_length is None:
            return ""
        return f"{self.ip}/{self.network.prefix_length}"

    @property
    def address(self) -> str:
        """The address as the VM list shows it."""
        if self.host_port is not None:
            return f"127.0.0.1:{self.host_port}"
        return self.ip or ""


class ConsoleToken(models.Model):
    """A one-time ticket to open one console session on one VM, for one user, for 30 s.

    Only a digest of the ticket is kept: the ticket itself travels once, from the console page
    to the browser and back in the websocket's address.
    """

    digest = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=ConsoleKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="console_token_expires")]

    def __str__(self) -> str:
        return f"{self.kind} console of VM {self.vm_id} for user {self.user_id}"


class Volume(models.Model):
    """An extra data disk of a tenant: a qcow2 volume in one host's storage pool, attached to at
    most one VM of the same tenant at a time (as vdb, vdc, ...).

    A new volume is not placed yet (no host, no space taken on any host); it is created in the
    pool of the host of the first VM it is attached to, and stays on that host from then on.
    It holds its size of the environment's `disk_gib` quota and is billed per GiB-hour from its
    creation until its deletion, attached or not.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="volumes")
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="volumes")
    owner = models.ForeignKey(User, on_delete=models.PROTECT, related_name="volumes")
    name = models.CharField(max_length=63, validators=[vm_name_validator])
    size_gib = models.PositiveIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(16 * 1024)]
    )
    # While resizing: the size asked for (its quota is already held); cleared when done.
    resize_to_gib = models.PositiveIntegerField(null=True, blank=True)
    host = models.ForeignKey(
        Host, null=True, blank=True, on_delete=models.PROTECT, related_name="volumes"
    )
    vm = models.ForeignKey(
        VirtualMachine, null=True, blank=True, on_delete=models.PROTECT, related_name="volumes"
    )
    target_dev = models.CharField(max_length=8, blank=True)
    # Kept: deleting its VM detaches it (else it is deleted with the VM).
    keep_after_vm_deletion = models.BooleanField(default=False)
    state = models.CharField(
        max_length=16, choices=VolumeState.choices, default=VolumeState.AVAILABLE, db_index=True
    )
    error_message = models.TextField(blank=True)
    # Redeliveries of its hypervisor work by the reconciler, and when it last moved.
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet["Volume"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"], name="volume_tenant")]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                condition=~Q(state="deleted"),
                name="volume_unique_live_name_per_tenant",
            ),
            models.UniqueConstraint(
                fields=["vm", "target_dev"],
                condition=Q(vm__isnull=False),
                name="volume_unique_target_per_vm",
            ),
            models.CheckConstraint(
                condition=Q(vm__isnull=True) | ~Q(target_dev=""),
                name="volume_attached_has_target",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def volume_name(self) -> str:
        """The volume's name in its host's pool: unique across tenants, readable by an operator."""
        return f"nuage-vol-{self.uuid.hex[:12]}-{self.name}.qcow2"

    @property
    def serial(self) -> str:
        """The disk's serial as the guest sees it (/dev/disk/by-id/virtio-<serial>)."""
        return self.uuid.hex[:20]

    @property
    def state_colour(self) -> str:
        return VOLUME_STATE_COLOURS.get(self.state, "grey")


class Snapshot(models.Model):
    """A point in a VM's life it can go back to: an internal snapshot inside its qcow2 disk,
    with the guest's memory (taken while running) or of the disk only (taken while stopped).

    It counts one in its environment's `snapshots` quota from its request to its deletion and is
    billed per GiB-hour of the size measured on the host while it exists.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="snapshots")
    name = models.CharField(max_length=63, validators=[vm_name_validator])
    with_memory = models.BooleanField(default=False)
    # What the snapshot added to the VM's disk file on the host when it was taken (bytes).
    size_bytes = models.BigIntegerField(default=0)
    state = models.CharField(
        max_length=16,
        choices=SnapshotState.choices,
        default=SnapshotState.CREATING,
        db_index=True,
    )
    # Taken by the VM's schedule (pruned beyond its retention) rather than by a user.
    scheduled = models.BooleanField(default=False)
    error_message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    tenant_path: ClassVar[str] = "vm__tenant"
    objects = TenantScopedQuerySet["Snapshot"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vm", "name"],
                condition=~Q(state="deleted"),
                name="snapshot_unique_live_name_per_vm",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def libvirt_name(self) -> str:
        """Its name in libvirt (and in the qcow2 snapshot table): unique, never reused."""
        return f"nuage-{self.uuid.hex}"

    @property
    def size_gib(self) -> int:
        """The size billed: whole GiB, rounded up (a snapshot that exists is at least 1 GiB)."""
        return max(1, -(-self.size_bytes // (1 << 30)))

    @property
    def state_colour(self) -> str:
        return SNAPSHOT_STATE_COLOURS.get(self.state, "grey")


class SnapshotSchedule(models.Model):
    """A VM's scheduled snapshots: one a day or a week, the newest `retention` kept."""

    vm = models.OneToOneField(
        VirtualMachine, on_delete=models.CASCADE, related_name="snapshot_schedule"
    )
    frequency = models.CharField(max_length=8, choices=SnapshotFrequency.choices)
    retention = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    enabled = models.BooleanField(default=True)
    # When its last scheduled snapshot was requested; the next is due one period later.
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    tenant_path: ClassVar[str] = "vm__tenant"
    objects = TenantScopedQuerySet["SnapshotSchedule"].as_manager()

    def __str__(self) -> str:
        return f"{self.vm_id} {self.frequency} keep {self.retention}"

    @property
    def next_run_at(self) -> datetime | None:
        """When its next snapshot is due (None: at the schedule's next run, or never if off)."""
        if self.last_run_at is None or not self.enabled:
            return None
        return self.last_run_at + SNAPSHOT_SCHEDULE_PERIODS[self.frequency]


class ExportJob(models.Model):
    """An OVA export of a stopped VM: made by a worker, downloaded by its owner, swept later."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING, db_index=True
    )
    disk_format = models.CharField(max_length=8, default="vmdk")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    tenant_path: ClassVar[str] = "vm__tenant"
    objects = TenantScopedQuerySet["ExportJob"].as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vm"],
                condition=Q(status__in=["pending", "running"]),
                name="export_one_active_per_vm",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of VM {self.vm_id} ({self.status})"

    @property
    def file_name(self) -> str:
        """The OVA's name on the worker (EXPORT_DIR) and the name a download offers."""
        return f"{self.vm.name}-{self.uuid.hex[:8]}.ova"


class ImportJob(models.Model):
    """An OVA a platform admin uploaded, on its way to becoming an image: checked and stored by
    the web request, converted and copied to every host's pool by a worker
    (compute/services/ovf_import.py)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The image it makes, as the form asked for it.
    name = models.CharField(max_length=63)
    kernel_path = models.CharField(max_length=255, blank=True)
    initrd_path = models.CharField(max_length=255, blank=True)
    cmdline = models.CharField(max_length=255, blank=True, default="console=ttyS0")
    is_public = models.BooleanField(default=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True
    )
    error_message = models.TextField(blank=True)
    hosts_done = models.PositiveIntegerField(default=0)
    hosts_total = models.PositiveIntegerField(default=0)
    image = models.ForeignKey(
        Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Each run (a redelivery after a crash, a retry by the sweep) is one more attempt; its
    # volumes are named after it, so a run never takes over another's half-copied volume.
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched by the running worker every IMPORT_HEARTBEAT_SECONDS: a stale one means it died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(status__in=["queued", "converting", "distributing"]),
                name="import_one_active_per_name",
            )
        ]

    def __str__(self) -> str:
        return f"import {self.pk} of image {self.name} ({self.status})"

    @property
    def active(self) -> bool:
        return self.status in (
            ImportStatus.QUEUED,
            ImportStatus.CONVERTING,
            ImportStatus.DISTRIBUTING,
        )
