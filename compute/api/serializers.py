"""Serializers for hosts, flavors, images, VMs and their operations."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers

from compute.choices import (
    DomainType,
    DrsMode,
    HostStatus,
    ImageKind,
    NetworkKind,
    SnapshotFrequency,
    VMKind,
)
from compute.models import (
    FLAVOR_LIMIT_FIELDS,
    DrsRecommendation,
    DrsRun,
    DrsSettings,
    Flavor,
    Host,
    Image,
    Network,
    NetworkGrant,
    NetworkInterface,
    Operation,
    OperationStep,
    RollingMaintenance,
    Snapshot,
    SnapshotSchedule,
    VirtualMachine,
    Volume,
)
from compute.selectors import flavor_list, image_list, network_list, vm_list, vm_page_details
from portal.api.fields import ScopedPrimaryKeyRelatedField
from portal.models import Environment, KeyPair, Tenant, User
from portal.selectors import keypair_list, user_list


def _ratio() -> serializers.DecimalField:
    return serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.10"),
        max_value=Decimal("64"),
        allow_null=True,
        required=False,
    )


class HostSerializer(serializers.ModelSerializer[Host]):
    domain_type = serializers.ChoiceField(
        choices=DomainType.choices,
        required=False,
        help_text="qemu (default), kvm, or lxc for system containers (the default for lxc://)",
    )
    cpu_ratio = _ratio()
    ram_ratio = _ratio()
    disk_ratio = _ratio()
    tags = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, max_length=64
    )
    status = serializers.ChoiceField(choices=HostStatus.choices, read_only=True)
    effective_ratios = serializers.SerializerMethodField()

    def get_effective_ratios(self, obj: Host) -> dict[str, float]:
        """The ratios placement applies: the host's own, else the platform defaults."""
        return {r: obj.effective_ratio(r) for r in ("cpu", "ram", "disk")}

    class Meta:
        model = Host
        fields = [
            "id",
            "name",
            "uri",
            "peer_uri",
            "enabled",
            "maintenance",
            "storage_pool",
            "domain_type",
            "cpus",
            "memory_mib",
            "disk_gib",
            "cpu_ratio",
            "ram_ratio",
            "disk_ratio",
            "effective_ratios",
            "tags",
            "status",
            "reachable",
            "last_seen_at",
            "last_error",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "maintenance",
            "cpus",
            "memory_mib",
            "disk_gib",
            "reachable",
            "last_seen_at",
            "last_error",
            "created_at",
        ]
        validators: list[object] = []


class HostUpdateSerializer(serializers.Serializer[Host]):
    name = serializers.CharField(max_length=63, required=False)
    peer_uri = serializers.CharField(max_length=255, required=False, allow_blank=True)
    enabled = serializers.BooleanField(required=False)
    storage_pool = serializers.CharField(max_length=63, required=False)
    domain_type = serializers.ChoiceField(choices=DomainType.choices, required=False)
    cpu_ratio = _ratio()
    ram_ratio = _ratio()
    disk_ratio = _ratio()
    tags = serializers.ListField(
        child=serializers.CharField(max_length=63), required=False, max_length=64
    )


class FlavorSerializer(serializers.ModelSerializer[Flavor]):
    class Meta:
        model = Flavor
        fields = [
            "id",
            "name",
            "kind",
            "vcpus",
            "ram_mib",
            "disk_gib",
            "is_public",
            *FLAVOR_LIMIT_FIELDS,
        ]
        read_only_fields = ["id"]
        validators: list[object] = []


class FlavorUpdateSerializer(serializers.ModelSerializer[Flavor]):
    """What a platform admin may change on a flavor (every field optional)."""

    class Meta:
        model = Flavor
        fields = ["name", "vcpus", "ram_mib", "disk_gib", "is_public", *FLAVOR_LIMIT_FIELDS]
        validators: list[object] = []
        extra_kwargs = {name: {"required": False} for name in fields}


class ResizeSerializer(serializers.Serializer[Any]):
    flavor = ScopedPrimaryKeyRelatedField(Flavor, selector=flavor_list)


class ImageSerializer(serializers.ModelSerializer[Image]):
    kind = serializers.ChoiceField(choices=ImageKind.choices)

    class Meta:
        model = Image
        fields = [
            "id",
            "name",
            "kind",
            "base_volume",
            "kernel_path",
            "initrd_path",
            "cmdline",
            "rootfs_path",
            "is_public",
            "min_vcpus",
            "min_ram_mib",
            "min_disk_gib",
            "os_type",
        ]
        read_only_fields = ["id", "min_vcpus", "min_ram_mib", "min_disk_gib", "os_type"]
        validators: list[object] = []


class OperationStepSerializer(serializers.ModelSerializer[OperationStep]):
    display_name = serializers.CharField(source="get_name_display", read_only=True)

    class Meta:
        model = OperationStep
        fields = [
            "position",
            "name",
            "display_name",
            "status",
            "detail",
            "started_at",
            "finished_at",
        ]


class OperationSerializer(serializers.ModelSerializer[Operation]):
    steps = OperationStepSerializer(many=True, read_only=True)

    class Meta:
        model = Operation
        fields = [
            "id",
            "kind",
            "status",
            "attempts",
            "error_message",
            "created_at",
            "finished_at",
            "steps",
        ]


class AddressSerializer(serializers.ModelSerializer[NetworkInterface]):
    network = serializers.CharField(source="network.name", read_only=True)
    kind = serializers.ChoiceField(source="network.kind", choices=NetworkKind.choices)
    ssh_command = serializers.CharField(read_only=True, allow_null=True)

    class Meta:
        model = NetworkInterface
        fields = ["network", "kind", "ip", "mac", "host_port", "ssh_command"]
        read_only_fields = fields


def _when(value: datetime | None, zone: tzinfo) -> str | None:
    """What DRF's DateTimeField gives (ISO 8601 in the current time zone, UTC as "Z"), with the
    zone looked up once per row rather than per value (a context-local read each time)."""
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _operation_row(op: Operation, zone: tzinfo | None = None) -> dict[str, Any]:
    """OperationSerializer's output, built directly (see VirtualMachineSerializer)."""
    zone = zone or timezone.get_current_timezone()
    return {
        "id": op.pk,
        "kind": op.kind,
        "status": op.status,
        "attempts": op.attempts,
        "error_message": op.error_message,
        "created_at": _when(op.created_at, zone),
        "finished_at": _when(op.finished_at, zone),
        "steps": [
            {
                "position": step.position,
                "name": step.name,
                "display_name": step.get_name_display(),
                "status": step.status,
                "detail": step.detail,
                "started_at": _when(step.started_at, zone),
                "finished_at": _when(step.finished_at, zone),
            }
            for step in op.steps.all()
        ],
    }


# What a VM row reads of its VM, as plain values (see `vm_rows`): its own columns only, the
# relations' names come from `vm_page_details`.
_VM_VALUES = (
    "id", "uuid", "kind", "name", "flavor_id", "image_id", "anti_affinity_group", "state",
    "runtime_state", "error_message", "rejection_reason", "justification", "created_at",
    "state_changed_at", "lease_set_at", "expires_at", "authorized_keys",
)  # fmt: skip


def vm_values(vms: QuerySet[VirtualMachine]) -> QuerySet[VirtualMachine, dict[str, Any]]:
    """The VMs' own columns, as plain values (for `vm_rows`)."""
    return vms.prefetch_related(None).values(*_VM_VALUES)


def _when_in(zone: tzinfo) -> Callable[[datetime | None], datetime | str | None]:
    """`_when` for one zone, looked up once per page. In UTC (the setting) a value already in
    UTC (every one the database gives) is left a datetime: the API's renderer
    (portal/api/renderers.py) writes it in C exactly as DRF's DateTimeField would have."""
    if zone is not UTC and getattr(zone, "key", None) != "UTC":
        return lambda value: _when(value, zone)

    def when(value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    return when


def vm_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """VirtualMachineSerializer's output for a page of VMs from their `vm_values` rows, with
    their relations' names, addresses, latest operation and its steps read as plain rows too
    (`vm_page_details`, three queries). No model instance is built: those were most of a list's
    CPU (seven per VM and one per step)."""
    from compute.choices import Step, labels

    when = _when_in(timezone.get_current_timezone())
    step_labels = labels(Step)
    ids = [row["id"] for row in rows]
    if not ids:
        return []
    details = vm_page_details(vm_ids=ids)
    names = {row[0]: row for row in details.names}
    addresses: dict[int, list[dict[str, Any]]] = {}
    for vm_id, network, kind, ip, mac, host_port in details.ports:
        ssh = (
            f"ssh -p {host_port} root@127.0.0.1"
            if host_port is not None
            else f"ssh root@{ip}"
            if ip
            else None
        )
        addresses.setdefault(vm_id, []).append(
            {
                "network": network, "kind": kind, "ip": ip, "mac": mac, "host_port": host_port,
                "ssh_command": ssh,
            }
        )  # fmt: skip
    ops: dict[int, dict[str, Any]] = {}
    for (
        vm_id, op_id, op_kind, op_status, attempts, op_error, created, ended,
        position, name, status, detail, started, finished,
    ) in details.operations:  # fmt: skip
        op = ops.get(vm_id)
        if op is None:
            op = ops[vm_id] = {
                "id": op_id, "kind": op_kind, "status": op_status, "attempts": attempts,
                "error_message": op_error, "created_at": when(created),
                "finished_at": when(ended), "steps": [],
            }  # fmt: skip
        if position is not None:
            op["steps"].append(
                {
                    "position": position, "name": name,
                    "display_name": step_labels.get(name, name), "status": status,
                    "detail": detail, "started_at": when(started), "finished_at": when(finished),
                }
            )  # fmt: skip
    out = []
    for row in rows:
        vm_id = row["id"]
        mine = addresses.get(vm_id, [])
        _id, tenant, environment, owner, host = names[vm_id]
        out.append(
            {
                "id": vm_id,
                "uuid": str(row["uuid"]),
                "kind": row["kind"],
                "name": row["name"],
                "tenant": tenant,
                "environment": environment,
                "owner": owner,
                "flavor": row["flavor_id"],
                "image": row["image_id"],
                "host": host,
                "anti_affinity_group": row["anti_affinity_group"],
                "state": row["state"],
                "runtime_state": row["runtime_state"],
                "error_message": row["error_message"],
                "rejection_reason": row["rejection_reason"],
                "justification": row["justification"],
                "domain_name": f"nuage-{str(row['uuid']).replace('-', '')[:8]}-{row['name']}",
                "created_at": when(row["created_at"]),
                "state_changed_at": when(row["state_changed_at"]),
                "lease_set_at": when(row["lease_set_at"]),
                "expires_at": when(row["expires_at"]),
                "addresses": mine,
                "ssh_command": next((a["ssh_command"] for a in mine if a["ssh_command"]), None),
                "authorized_keys": [str(key) for key in row["authorized_keys"]],
                "operation": ops.get(vm_id),
            }
        )
    return out


class VirtualMachineSerializer(serializers.ModelSerializer[VirtualMachine]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    environment = serializers.CharField(source="environment.name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    host = serializers.CharField(source="host.name", read_only=True, allow_null=True, default=None)
    operation = serializers.SerializerMethodField()
    addresses = AddressSerializer(source="interfaces", many=True, read_only=True)
    ssh_command = serializers.SerializerMethodField()
    authorized_keys = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The public keys the VM was given at request time",
    )

    class Meta:
        model = VirtualMachine
        fields = [
            "id",
            "uuid",
            "kind",
            "name",
            "tenant",
            "environment",
            "owner",
            "flavor",
            "image",
            "host",
            "anti_affinity_group",
            "state",
            "runtime_state",
            "error_message",
            "rejection_reason",
            "justification",
            "domain_name",
            "created_at",
            "state_changed_at",
            "lease_set_at",
            "expires_at",
            "addresses",
            "ssh_command",
            "authorized_keys",
            "operation",
        ]
        read_only_fields = fields

    def to_representation(self, instance: VirtualMachine) -> dict[str, Any]:
        """The fields declared above (which the schema documents), built directly: DRF's
        machinery per field and per nested row was most of a VM list's time. A test holds the
        two to the same output (tests/compute/test_read_queries.py)."""
        vm = instance
        zone = timezone.get_current_timezone()
        nics = list(vm.interfaces.all())
        addresses = [
            {
                "network": nic.network.name,
                "kind": nic.network.kind,
                "ip": nic.ip,
                "mac": nic.mac,
                "host_port": nic.host_port,
                "ssh_command": nic.ssh_command,
            }
            for nic in nics
        ]
        return {
            "id": vm.pk,
            "uuid": str(vm.uuid),
            "kind": vm.kind,
            "name": vm.name,
            "tenant": vm.tenant.slug,
            "environment": vm.environment.name,
            "owner": vm.owner.username,
            "flavor": vm.flavor_id,
            "image": vm.image_id,
            "host": vm.host.name if vm.host_id is not None and vm.host else None,
            "anti_affinity_group": vm.anti_affinity_group,
            "state": vm.state,
            "runtime_state": vm.runtime_state,
            "error_message": vm.error_message,
            "rejection_reason": vm.rejection_reason,
            "justification": vm.justification,
            "domain_name": vm.domain_name,
            "created_at": _when(vm.created_at, zone),
            "state_changed_at": _when(vm.state_changed_at, zone),
            "lease_set_at": _when(vm.lease_set_at, zone),
            "expires_at": _when(vm.expires_at, zone),
            "addresses": addresses,
            "ssh_command": next((a["ssh_command"] for a in addresses if a["ssh_command"]), None),
            "authorized_keys": [str(key) for key in vm.authorized_keys],
            "operation": self._operation(vm, zone),
        }

    def get_ssh_command(self, obj: VirtualMachine) -> str | None:
        """How to log in: `ssh -p PORT root@127.0.0.1` (user networks) or `ssh root@IP`."""
        return next((n.ssh_command for n in obj.interfaces.all() if n.ssh_command), None)

    def get_operation(self, obj: VirtualMachine) -> dict[str, Any] | None:
        """The latest operation (the running one, or the last that finished)."""
        return self._operation(obj, timezone.get_current_timezone())

    def _operation(self, obj: VirtualMachine, zone: tzinfo) -> dict[str, Any] | None:
        ops = getattr(obj, "operations_latest_first", None)
        if ops is not None:  # prefetched (possibly empty: a VM with no operation yet)
            op = ops[0] if ops else None
        else:
            op = obj.operations.prefetch_related("steps").first()
        return _operation_row(op, zone) if op else None


class VirtualMachineRequestSerializer(serializers.Serializer[VirtualMachine]):
    kind = serializers.ChoiceField(
        choices=VMKind.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="vm or container (a system container on an LXC host); default: the flavor's",
    )
    name = serializers.CharField(max_length=63, allow_blank=True)
    environment = ScopedPrimaryKeyRelatedField(Environment, select_related=("tenant",))
    flavor = ScopedPrimaryKeyRelatedField(Flavor, selector=flavor_list)
    image = ScopedPrimaryKeyRelatedField(Image, selector=image_list)
    ssh_public_key = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=16 * 1024,
        help_text="One OpenSSH public key, added to the chosen key pairs",
    )
    key_pairs = ScopedPrimaryKeyRelatedField(
        KeyPair,
        selector=keypair_list,
        many=True,
        required=False,
        default=list,
        help_text="Ids of your key pairs (/api/v1/keypairs/) to authorize on the VM",
    )
    network = ScopedPrimaryKeyRelatedField(
        Network,
        selector=network_list,
        required=False,
        allow_null=True,
        default=None,
        help_text="A network granted to the environment; default: its first granted network",
    )
    justification = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Why it is needed, shown to approvers; required where the environment's "
        "justification_required is true",
    )
    anti_affinity_group = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=63,
        help_text="VMs of the tenant with the same group never share a host",
    )


class EvacuationMoveSerializer(serializers.Serializer[Any]):
    """One running VM of a host about to enter maintenance: where it would move, or why not
    (`blocked`: `busy`, `volumes`, `no_room`)."""

    vm = serializers.IntegerField(source="vm.pk")
    vm_name = serializers.CharField(source="vm.name")
    tenant = serializers.CharField(source="vm.tenant.slug")
    target = serializers.CharField(source="target.name", allow_null=True, default=None)
    blocked = serializers.CharField()


class LeaseExtendSerializer(serializers.Serializer[VirtualMachine]):
    days = serializers.IntegerField(min_value=1, max_value=3650)


class LeaseAskSerializer(serializers.Serializer[VirtualMachine]):
    days = serializers.IntegerField(min_value=1, max_value=3650)
    reason = serializers.CharField(max_length=2000)


class RejectSerializer(serializers.Serializer[VirtualMachine]):
    reason = serializers.CharField(max_length=2000, allow_blank=True)


class MaintenanceSerializer(serializers.Serializer[Host]):
    enabled = serializers.BooleanField()


class MaintenanceStatusSerializer(serializers.Serializer[dict[str, Any]]):
    maintenance = serializers.BooleanField()
    vms = serializers.IntegerField(help_text="VMs still placed on the host")
    running_vms = serializers.IntegerField()
    ready = serializers.BooleanField(help_text="In maintenance and empty")
    migrations_started = serializers.IntegerField()
    no_room = serializers.IntegerField(help_text="Running VMs that found no other host (yet)")


class MigrateSerializer(serializers.Serializer[Host]):
    host = serializers.IntegerField(
        required=False, allow_null=True, help_text="Target host id; omit to let Nuage choose"
    )


class RollingMaintenanceSerializer(serializers.ModelSerializer[RollingMaintenance]):
    current_host = serializers.SerializerMethodField()

    class Meta:
        model = RollingMaintenance
        fields = [
            "id",
            "status",
            "host_ids",
            "position",
            "current_host",
            "hold_seconds",
            "ready_at",
            "created_at",
            "finished_at",
        ]
        read_only_fields = [f for f in fields if f != "hold_seconds"]

    def get_current_host(self, obj: RollingMaintenance) -> str | None:
        host_id = obj.current_host_id
        host = Host.objects.filter(pk=host_id).first() if host_id is not None else None
        return host.name if host else None


class OrphanSerializer(serializers.Serializer[dict[str, str]]):
    uuid = serializers.CharField()
    name = serializers.CharField()
    state = serializers.CharField()


class OrphanDestroySerializer(serializers.Serializer[dict[str, str]]):
    uuid = serializers.UUIDField()


class OrphanAdoptSerializer(serializers.Serializer[dict[str, Any]]):
    uuid = serializers.UUIDField()
    environment = ScopedPrimaryKeyRelatedField(Environment)
    owner = ScopedPrimaryKeyRelatedField(User, selector=user_list)
    flavor = ScopedPrimaryKeyRelatedField(Flavor, selector=flavor_list)
    image = ScopedPrimaryKeyRelatedField(Image, selector=image_list)
    name = serializers.CharField(max_length=63)


# --- load balancing (DRS) and capacity ---------------------------------------------------------


class DrsRecommendationSerializer(serializers.ModelSerializer[DrsRecommendation]):
    vm_name = serializers.CharField(source="vm.name", read_only=True)
    tenant = serializers.CharField(source="vm.tenant.slug", read_only=True)
    source_host = serializers.CharField(source="source.name", read_only=True)
    target_host = serializers.CharField(source="target.name", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True
    )
    gain = serializers.FloatField(read_only=True)

    class Meta:
        model = DrsRecommendation
        fields = [
            "id",
            "run",
            "position",
            "vm",
            "vm_name",
            "tenant",
            "source_host",
            "target_host",
            "cpu_used",
            "mem_used_mib",
            "imbalance_before",
            "imbalance_after",
            "gain",
            "status",
            "reason",
            "operation",
            "decided_by",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class DrsRunSerializer(serializers.ModelSerializer[DrsRun]):
    requested_by = serializers.CharField(
        source="requested_by.username", read_only=True, allow_null=True
    )
    recommendations = DrsRecommendationSerializer(many=True, read_only=True)

    class Meta:
        model = DrsRun
        fields = [
            "id",
            "requested_by",
            "mode",
            "window_minutes",
            "hosts",
            "vms",
            "imbalance",
            "expected_imbalance",
            "applied",
            "created_at",
            "recommendations",
        ]
        read_only_fields = fields


class DrsSettingsSerializer(serializers.ModelSerializer[DrsSettings]):
    updated_by = serializers.CharField(
        source="updated_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = DrsSettings
        fields = [
            "mode",
            "max_moves",
            "threshold",
            "interval_minutes",
            "window_minutes",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["updated_at", "updated_by"]


class DrsSettingsUpdateSerializer(serializers.Serializer[dict[str, Any]]):
    """Any of the settings; those left out keep their value."""

    mode = serializers.ChoiceField(choices=DrsMode.choices, required=False)
    max_moves = serializers.IntegerField(min_value=1, max_value=100, required=False)
    threshold = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        min_value=Decimal("0.0001"),
        max_value=Decimal("1"),
        required=False,
    )
    interval_minutes = serializers.IntegerField(min_value=1, max_value=24 * 60, required=False)
    window_minutes = serializers.IntegerField(min_value=1, max_value=7 * 24 * 60, required=False)


class DrsStatusSerializer(serializers.Serializer[dict[str, Any]]):
    imbalance = serializers.FloatField(help_text="The pool's imbalance now (0: perfectly even)")
    hosts = serializers.IntegerField(help_text="Hosts balanced: enabled, up, measured")
    hosts_unmeasured = serializers.IntegerField(help_text="Hosts with running VMs not measured")
    vms = serializers.IntegerField(help_text="VMs DRS may move: running, measured, idle")
    settings = DrsSettingsSerializer()
    last_run = DrsRunSerializer(allow_null=True)


class ResourceSerializer(serializers.Serializer[Any]):
    physical = serializers.IntegerField()
    limit = serializers.IntegerField(help_text="physical x overcommit ratio")
    allocated = serializers.IntegerField()
    used = serializers.FloatField(allow_null=True, help_text="Measured; null when not measured")
    allocated_percent = serializers.FloatField()
    limit_percent = serializers.FloatField()
    used_percent = serializers.FloatField(allow_null=True)


class CapacityRowSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    host_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField()
    vms = serializers.IntegerField()
    cpu = ResourceSerializer(help_text="vCPUs allocated; CPU used in CPUs' worth")
    memory = ResourceSerializer(help_text="MiB")
    disk = ResourceSerializer(help_text="GiB (not measured)")
    samples = serializers.IntegerField()


class CapacitySerializer(serializers.Serializer[Any]):
    since = serializers.DateTimeField()
    rows = CapacityRowSerializer(many=True)
    total = CapacityRowSerializer()


class CapacityQuerySerializer(serializers.Serializer[dict[str, Any]]):
    minutes = serializers.IntegerField(
        min_value=1, max_value=7 * 24 * 60, default=60, help_text="The measured-load window"
    )


# --- networks -----------------------------------------------------------------------------------


class NetworkSerializer(serializers.ModelSerializer[Network]):
    kind = serializers.ChoiceField(choices=NetworkKind.choices)
    subnet = serializers.CharField(max_length=49, required=False, allow_blank=True, default="")
    gateway = serializers.CharField(max_length=45, required=False, allow_null=True, default=None)
    pool_start = serializers.CharField(max_length=45, required=False, allow_null=True, default=None)
    pool_end = serializers.CharField(max_length=45, required=False, allow_null=True, default=None)
    dns_servers = serializers.ListField(
        child=serializers.CharField(max_length=45), required=False, default=list, max_length=4
    )
    addresses_used = serializers.SerializerMethodField()
    host_status = serializers.SerializerMethodField(
        help_text="Nat and isolated networks, platform admins only: by host name, whether Nuage "
        "has defined the libvirt network there ({ok, detail, at})"
    )

    class Meta:
        model = Network
        fields = [
            "id",
            "name",
            "kind",
            "bridge",
            "subnet",
            "gateway",
            "dns_servers",
            "pool_start",
            "pool_end",
            "addresses_used",
            "host_status",
            "created_at",
        ]
        read_only_fields = ["id", "created_at", "addresses_used", "host_status"]
        validators: list[object] = []  # the service checks names, subnets and overlaps

    def get_host_status(self, obj: Network) -> dict[str, Any]:
        request = self.context.get("request")
        user = getattr(request, "user", None)
        return dict(obj.host_status) if getattr(user, "is_platform_admin", False) else {}

    def get_addresses_used(self, obj: Network) -> int:
        """NICs on the network (addresses, or forwarded ports on user networks)."""
        return obj.interfaces.count()


class NetworkUpdateSerializer(serializers.Serializer[Network]):
    name = serializers.CharField(max_length=63, required=False)
    kind = serializers.ChoiceField(choices=NetworkKind.choices, required=False)
    bridge = serializers.CharField(max_length=15, required=False, allow_blank=True)
    subnet = serializers.CharField(max_length=49, required=False, allow_blank=True)
    gateway = serializers.CharField(max_length=45, required=False, allow_null=True)
    pool_start = serializers.CharField(max_length=45, required=False, allow_null=True)
    pool_end = serializers.CharField(max_length=45, required=False, allow_null=True)
    dns_servers = serializers.ListField(
        child=serializers.CharField(max_length=45), required=False, max_length=4
    )


class NetworkGrantSerializer(serializers.ModelSerializer[NetworkGrant]):
    network = ScopedPrimaryKeyRelatedField(Network, selector=network_list)
    tenant = ScopedPrimaryKeyRelatedField(Tenant)
    environment = ScopedPrimaryKeyRelatedField(
        Environment, required=False, allow_null=True, default=None
    )
    network_name = serializers.CharField(source="network.name", read_only=True)
    tenant_slug = serializers.CharField(source="tenant.slug", read_only=True)
    environment_name = serializers.CharField(
        source="environment.name", read_only=True, allow_null=True, default=None
    )

    class Meta:
        model = NetworkGrant
        fields = [
            "id",
            "network",
            "network_name",
            "tenant",
            "tenant_slug",
            "environment",
            "environment_name",
            "created_at",
        ]
        read_only_fields = ["id", "created_at"]
        validators: list[object] = []


class VolumeSerializer(serializers.ModelSerializer[Volume]):
    tenant = serializers.CharField(source="tenant.slug", read_only=True)
    environment_name = serializers.CharField(source="environment.name", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    host = serializers.CharField(
        source="host.name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text="The host whose storage pool holds it; null until its first attachment",
    )
    vm_name = serializers.CharField(source="vm.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Volume
        fields = [
            "id",
            "uuid",
            "name",
            "tenant",
            "environment",
            "environment_name",
            "owner",
            "size_gib",
            "resize_to_gib",
            "host",
            "vm",
            "vm_name",
            "target_dev",
            "keep_after_vm_deletion",
            "state",
            "error_message",
            "created_at",
            "state_changed_at",
        ]
        read_only_fields = fields


class VolumeCreateSerializer(serializers.Serializer[Volume]):
    name = serializers.CharField(max_length=63, allow_blank=True)
    environment = ScopedPrimaryKeyRelatedField(Environment)
    size_gib = serializers.IntegerField(min_value=1, max_value=16 * 1024)
    keep_after_vm_deletion = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Kept when its VM is deleted (detached); otherwise deleted with the VM",
    )
    vm = ScopedPrimaryKeyRelatedField(
        VirtualMachine,
        selector=vm_list,
        required=False,
        allow_null=True,
        default=None,
        help_text="Attach it to this VM at once (placed on the VM's host)",
    )


class VolumeAttachSerializer(serializers.Serializer[Volume]):
    vm = ScopedPrimaryKeyRelatedField(
        VirtualMachine,
        selector=vm_list,
        help_text="A running or stopped VM of the volume's tenant, on the volume's host",
    )


class VolumeResizeSerializer(serializers.Serializer[Volume]):
    size_gib = serializers.IntegerField(
        min_value=1, max_value=16 * 1024, help_text="The new size; more than the current one"
    )


class SnapshotSerializer(serializers.ModelSerializer[Snapshot]):
    vm_name = serializers.CharField(source="vm.name", read_only=True)
    size_gib = serializers.IntegerField(
        read_only=True, help_text="The size billed: whole GiB of the measured size, rounded up"
    )

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "uuid",
            "vm",
            "vm_name",
            "name",
            "with_memory",
            "size_bytes",
            "size_gib",
            "state",
            "scheduled",
            "error_message",
            "created_at",
            "state_changed_at",
        ]
        read_only_fields = fields


def snapshot_row(snapshot: Snapshot) -> dict[str, Any]:
    """SnapshotSerializer's output for one snapshot, built directly: the answer to a snapshot's
    take, revert or deletion, where building the ModelSerializer's fields cost a tenth of the
    request (tests/compute/test_snapshots_api.py compares the two)."""
    zone = timezone.get_current_timezone()
    return {
        "id": snapshot.pk,
        "uuid": str(snapshot.uuid),
        "vm": snapshot.vm_id,
        "vm_name": snapshot.vm.name,
        "name": snapshot.name,
        "with_memory": snapshot.with_memory,
        "size_bytes": snapshot.size_bytes,
        "size_gib": snapshot.size_gib,
        "state": str(snapshot.state),
        "scheduled": snapshot.scheduled,
        "error_message": snapshot.error_message,
        "created_at": _when(snapshot.created_at, zone),
        "state_changed_at": _when(snapshot.state_changed_at, zone),
    }


class SnapshotScheduleSerializer(serializers.ModelSerializer[SnapshotSchedule]):
    next_run_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When its next snapshot is due (null: at the schedule's next run, or off)",
    )

    class Meta:
        model = SnapshotSchedule
        fields = [
            "vm",
            "frequency",
            "retention",
            "enabled",
            "last_run_at",
            "next_run_at",
            "last_error",
            "updated_at",
        ]
        read_only_fields = fields


class SnapshotScheduleSetSerializer(serializers.Serializer[Any]):
    frequency = serializers.ChoiceField(choices=SnapshotFrequency.choices)
    retention = serializers.IntegerField(
        min_value=1, max_value=50, help_text="How many scheduled snapshots to keep (1 to 50)"
    )
    enabled = serializers.BooleanField(required=False, default=True)


class SnapshotCreateSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=63)
    with_memory = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Include the guest's memory (a running VM); default: true if the VM runs",
    )


class BulkDecideSerializer(serializers.Serializer[Any]):
    vms = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=200,
        help_text="Ids of pending requests (VMs or resizes)",
    )
    decision = serializers.ChoiceField(choices=["approve", "reject"])
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=2000,
        help_text="Required to reject",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["decision"] == "reject" and not attrs.get("reason", "").strip():
            raise serializers.ValidationError(
                {"reason": _("Give the requester a reason for the rejection.")}
            )
        return attrs


class BulkDecisionResultSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    decided = serializers.BooleanField()
    detail = serializers.CharField()


class BulkDecisionSerializer(serializers.Serializer[Any]):
    results = BulkDecisionResultSerializer(many=True)
