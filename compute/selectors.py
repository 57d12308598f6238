"""Reads of VMs, hosts, flavors and images, scoped to what the requesting user may see."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery, prefetch_related_objects

from compute.choices import (
    PLACED_STATES,
    HostStatus,
    OperationStatus,
    SnapshotState,
    VMState,
    VolumeState,
)
from compute.loads import host_loads
from compute.models import (
    DrsRecommendation,
    DrsRun,
    ExportJob,
    Flavor,
    Host,
    Image,
    ImportJob,
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
from compute.scheduler import capacity_limit
from portal.jsonrows import instances, model_rows
from portal.models import AuditEntry, Environment, Membership, Tenant, User
from portal.permissions import ROLE_PERMS, Perm, perms_in, platform_perms, user_memberships
from portal.prepared import (
    JoinedStatement,
    joined_statement,
    prepared_cursor,
    prepared_rows,
    prepares,
)
from portal.scoping import member_tenant_ids, sees_all_tenants


def _ports() -> Prefetch[Any]:
    # The VMs are in scope already: their ports come with them.
    return Prefetch(
        "interfaces", queryset=NetworkInterface.objects.unscoped().select_related("network")
    )


def _latest_operation() -> Prefetch[Any]:
    """Each VM's latest operation only, with its steps (a VM's history can be long)."""
    latest_id = (
        Operation.objects.unscoped()
        .filter(vm=OuterRef("vm_id"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    latest = Operation.objects.unscoped().filter(pk=Subquery(latest_id)).prefetch_related("steps")
    return Prefetch("operations", queryset=latest, to_attr="operations_latest_first")


def vm_list(
    *, fetched_by: User, include_deleted: bool = False, tenants_as_array: bool = False
) -> QuerySet[VirtualMachine]:
    """The VMs the user may see. `tenants_as_array`: the member's tenants as an array
    (`visible_to`'s `by_id`), for a short list picked by a selective filter (the approval
    queue): not planned as one more join, and no join made for the rows it filters out."""
    qs = (
        VirtualMachine.objects.visible_to(fetched_by, by_id=tenants_as_array)
        .select_related("tenant", "environment", "owner", "flavor", "image", "host")
        .prefetch_related(_ports())
    )
    if not include_deleted:
        qs = qs.exclude(state=VMState.DELETED)
    return qs


def vm_scope(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    """The VMs the user may see, with their tenant only: for an action on one VM that answers
    with something else than the VM (its snapshots), so that finding it stays one query, and
    for the API's list, which reads plain values of its own (`vm_values`)."""
    return (
        VirtualMachine.objects.visible_to(fetched_by)
        .exclude(state=VMState.DELETED)
        .select_related("tenant")
    )


def vm_scope_one(*, fetched_by: User, pk: int) -> VirtualMachine | None:
    """The VM `vm_scope` finds by its id, with its tenant (None if `fetched_by` may not see it):
    for the actions on one VM that answer with something else (its snapshots). For a member,
    on PostgreSQL, one statement written out once and prepared (`_scope_one_read`), as
    `vm_to_approve_one`: a snapshot is a short operation, and the ORM's building and compiling
    of this read cost a third of its request. Platform roles and other users go through the
    ORM as before."""
    rows = _member_read(_scope_one_read, fetched_by, pk)
    if rows is None:
        return vm_scope(fetched_by=fetched_by).filter(pk=pk).first()
    if not rows:
        return None
    v, t = _scope_one_read().parts
    vm: VirtualMachine = v.instance(rows[0])
    vm.tenant = t.instance(rows[0])
    return vm


def _member_read(
    statement: Callable[[], JoinedStatement], user: User, pk: int
) -> list[tuple[Any, ...]] | None:
    """The rows of a prepared read of one VM by its id in a member's scope (its parameters: the
    id, the deleted state, the user), or None where the ORM reads instead: on a database that
    does not prepare, for platform roles, and for users signed out or inactive."""
    who: Any = user
    if (
        not prepares()
        or sees_all_tenants(user)
        or not getattr(who, "is_authenticated", False)
        or not who.is_active
    ):
        return None
    with prepared_cursor() as cursor:
        cursor.execute(statement().sql, [pk, VMState.DELETED.value, user.pk])
        return list(cursor.fetchall())


@cache
def _scope_one_read() -> JoinedStatement:
    members = Membership._meta.db_table
    return joined_statement(
        _APPROVAL_TABLES[:2],
        "WHERE v.id = %s AND v.state <> %s AND v.tenant_id = ANY(ARRAY("  # noqa: S608 - names
        f"SELECT m.tenant_id FROM {members} m WHERE m.user_id = %s))",
    )


def vm_to_approve(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    """The VMs the user may see, for the approval of one (found by its id, `visible_to`'s
    `by_id`): with what the approval reads (its tenant, environment) and what its answer shows
    (owner, host, its ports as a JSON column: read the rows with `ports_read`), in one query.
    The answer's operation is the one the approval has just made (no query either)."""
    return with_ports(
        VirtualMachine.objects.visible_to(fetched_by, by_id=True)
        .exclude(state=VMState.DELETED)
        .select_related("tenant", "environment", "owner", "host")
    )


def vm_to_approve_one(*, fetched_by: User, pk: int) -> VirtualMachine | None:
    """The VM `vm_to_approve` finds by its id (None if `fetched_by` may not see it), its ports
    read (`ports_read`). For a member, on PostgreSQL, one statement written out once and
    prepared (`_APPROVAL_READ`): every approval is on the way from a request to its guest
    running, and the ORM's building and compiling of the read cost it several times the read
    itself. The scope is `visible_to`'s for a member (`by_id`): the VM's tenant among the
    user's memberships' (`member_tenant_ids`); platform roles and other users go through the
    ORM as before."""
    rows = _member_read(_approval_read, fetched_by, pk)
    if rows is None:
        return next(iter(ports_read(vm_to_approve(fetched_by=fetched_by).filter(pk=pk))), None)
    statement = _approval_read()
    if not rows:
        return None
    v, t, e, u, h, nic, net = statement.parts
    first = rows[0]
    vm: VirtualMachine = v.instance(first)
    vm.tenant, vm.environment, vm.owner = t.instance(first), e.instance(first), u.instance(first)
    if vm.host_id is not None:
        vm.host = h.instance(first)
    ports = []
    for row in rows:
        port = nic.instance(row)
        if port is not None:
            port.vm, port.network = vm, net.instance(row)
            ports.append(port)
    _cache_related(vm, "interfaces", ports)
    return vm


# `vm_to_approve_one`'s statement: the VM with its tenant, environment, owner and host, and
# its ports with their networks (one row per port, the VM's columns on each, ordered by the
# port's id as `ports_read` reads them); the member's tenants as `visible_to(by_id=True)`
# writes them (an array, not one more table in every join order).
_APPROVAL_TABLES = (
    ("v", VirtualMachine, ""),
    ("t", Tenant, "JOIN {t} t ON t.id = v.tenant_id"),
    ("e", Environment, "JOIN {t} e ON e.id = v.environment_id"),
    ("u", User, "JOIN {t} u ON u.id = v.owner_id"),
    ("h", Host, "LEFT JOIN {t} h ON h.id = v.host_id"),
    ("nic", NetworkInterface, "LEFT JOIN {t} nic ON nic.vm_id = v.id"),
    ("net", Network, "LEFT JOIN {t} net ON net.id = nic.network_id"),
)


@cache
def _approval_read() -> JoinedStatement:
    members = Membership._meta.db_table
    return joined_statement(
        _APPROVAL_TABLES,
        "WHERE v.id = %s AND v.state <> %s AND v.tenant_id = ANY(ARRAY("  # noqa: S608 - names
        f"SELECT m.tenant_id FROM {members} m WHERE m.user_id = %s)) ORDER BY nic.id",
    )


def vm_list_with_operation(
    *, fetched_by: User, include_deleted: bool = False
) -> QuerySet[VirtualMachine]:
    """VMs with their latest operation and its steps prefetched (for progress views): that one
    only, whatever the VM's history (a year of daily snapshots is 365 operations)."""
    return vm_list(fetched_by=fetched_by, include_deleted=include_deleted).prefetch_related(
        _latest_operation()
    )


# What a page of VMs shows besides the VM rows themselves: their relations' names, ports and
# latest operation with its steps, in three statements written out: the ORM's building and
# compiling of them cost more than the rows, and PostgreSQL's planner spent more on joining
# the names into the page's query (every join order of six tables) than on running it. Each
# statement is driven by the page's ids (one index probe a VM), whatever the tables' size.
# The ids come from a page already scoped to the requesting user.
# Each name with one index probe a VM on PostgreSQL (LATERAL ... LIMIT 1: the planner scanned
# the whole environment table per VM for a plain scalar subquery).
_NAMES_SQL = {
    "postgresql": """
SELECT vm.id, tenant.slug, env.name, owner.username, host.name
FROM compute_virtualmachine vm
LEFT JOIN LATERAL (
    SELECT slug FROM portal_tenant WHERE id = vm.tenant_id LIMIT 1
) tenant ON TRUE
LEFT JOIN LATERAL (
    SELECT name FROM portal_environment WHERE id = vm.environment_id LIMIT 1
) env ON TRUE
LEFT JOIN LATERAL (
    SELECT username FROM portal_user WHERE id = vm.owner_id LIMIT 1
) owner ON TRUE
LEFT JOIN LATERAL (
    SELECT name FROM compute_host WHERE id = vm.host_id LIMIT 1
) host ON TRUE
WHERE vm.id = ANY(%s)
""",
    "": """
SELECT vm.id,
       (SELECT tenant.slug FROM portal_tenant tenant WHERE tenant.id = vm.tenant_id),
       (SELECT env.name FROM portal_environment env WHERE env.id = vm.environment_id),
       (SELECT owner.username FROM portal_user owner WHERE owner.id = vm.owner_id),
       (SELECT host.name FROM compute_host host WHERE host.id = vm.host_id)
FROM compute_virtualmachine vm
WHERE vm.id IN ({ids})
""",
}
_PORTS_SQL = {
    "postgresql": """
SELECT nic.vm_id, net.name, net.kind, nic.ip, nic.mac, nic.host_port
FROM compute_networkinterface nic
INNER JOIN compute_network net ON net.id = nic.network_id
WHERE nic.vm_id = ANY(%s)
ORDER BY nic.id
""",
    "": """
SELECT nic.vm_id, net.name, net.kind, nic.ip, nic.mac, nic.host_port
FROM compute_networkinterface nic
INNER JOIN compute_network net ON net.id = nic.network_id
WHERE nic.vm_id IN ({ids})
ORDER BY nic.id
""",
}
# Each VM's latest operation: on PostgreSQL one index probe a VM (LATERAL ... LIMIT 1; the
# planner hashed the whole operation table for the portable form below).
_LATEST_OPERATIONS_SQL = {
    "postgresql": """
SELECT vm.id, op.id, op.kind, op.status, op.attempts, op.error_message, op.created_at,
       op.finished_at, step.position, step.name, step.status, step.detail, step.started_at,
       step.finished_at
FROM compute_virtualmachine vm
CROSS JOIN LATERAL (
    SELECT latest.id, latest.kind, latest.status, latest.attempts, latest.error_message,
           latest.created_at, latest.finished_at
    FROM compute_operation latest WHERE latest.vm_id = vm.id
    ORDER BY latest.created_at DESC, latest.id DESC LIMIT 1
) op
LEFT OUTER JOIN compute_operationstep step ON step.operation_id = op.id
WHERE vm.id = ANY(%s)
ORDER BY op.id, step.position
""",
    "": """
SELECT op.vm_id, op.id, op.kind, op.status, op.attempts, op.error_message, op.created_at,
       op.finished_at, step.position, step.name, step.status, step.detail, step.started_at,
       step.finished_at
FROM compute_operation op
LEFT OUTER JOIN compute_operationstep step ON step.operation_id = op.id
WHERE op.id IN (
    SELECT (
        SELECT latest.id FROM compute_operation latest WHERE latest.vm_id = vm.id
        ORDER BY latest.created_at DESC, latest.id DESC LIMIT 1
    )
    FROM compute_virtualmachine vm WHERE vm.id IN ({ids})
)
ORDER BY op.id, step.position
""",
}


@dataclass(frozen=True)
class VMPageDetails:
    """Rows of `vm_page_details`, as the database gives them."""

    # (vm id, tenant slug, environment name, owner username, host name or None)
    names: list[tuple[Any, ...]]
    # (vm id, network name, network kind, ip, mac, host port), in port order
    ports: list[tuple[Any, ...]]
    # One row per step of each VM's latest operation (vm id, operation id, kind, status,
    # attempts, error, created, finished, then the step's position, name, status, detail,
    # started, finished: all None for an operation without steps), by operation and position
    operations: list[tuple[Any, ...]]


def vm_page_details(*, vm_ids: list[int]) -> VMPageDetails:
    """What a page of VMs shows besides their own columns, for VMs already in the requesting
    user's scope (a page of `vm_scope`): three queries, whatever the page's length; prepared
    on PostgreSQL (portal/prepared.py), the ids as one array."""
    if not vm_ids:
        return VMPageDetails([], [], [])
    if connection.vendor == "postgresql":
        statements = [s["postgresql"] for s in (_NAMES_SQL, _PORTS_SQL, _LATEST_OPERATIONS_SQL)]
        # The ids as an array literal: psycopg would otherwise scan the list for the width of
        # its integers once per statement; the server reads it as the statement's bigint[].
        params: list[Any] = ["{" + ",".join(str(int(pk)) for pk in vm_ids) + "}"]
    else:
        ids = ", ".join(["%s"] * len(vm_ids))
        statements = [
            s[""].format(ids=ids) for s in (_NAMES_SQL, _PORTS_SQL, _LATEST_OPERATIONS_SQL)
        ]
        params = vm_ids
    return VMPageDetails(*prepared_rows([(sql, params) for sql in statements]))


def vm_as_requested(*, vm: VirtualMachine, fetched_by: User) -> VirtualMachine:
    """The VM `fetched_by` has just requested (`services.vm_request_create`'s answer), with what
    `vm_list_with_operation` loads: its tenant, environment, flavor and image came with the
    request and its owner is `fetched_by`, so only its ports and operation are read, not the
    VM again (one query and the scope's join fewer on every VM request)."""
    assert vm.owner_id == fetched_by.pk
    prefetch_related_objects([vm], _ports(), _latest_operation())
    return vm


def vm_progress(*, fetched_by: User, pk: int) -> VirtualMachine | None:
    """One VM as its live progress partial shows it, in one query: with the relations the
    partial prints, the requesting user's role in its tenant (`viewer_role`, for what they may
    do) and the id of its latest operation (`latest_operation_id`, see `operation_with_steps`).
    Deleted VMs included: whoever watched one being deleted sees it end."""
    latest = (
        Operation.objects.unscoped()
        .filter(vm=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values("pk")[:1]
    )
    role = (
        Membership.objects.unscoped()
        .filter(tenant=OuterRef("tenant_id"), user_id=fetched_by.pk)
        .order_by()  # one membership per tenant and user: no join to sort by tenant name
        .values("role")[:1]
    )
    return (
        VirtualMachine.objects.visible_to(fetched_by, by_id=True)
        .select_related("tenant", "environment", "owner", "host", "approved_by", "resize_to")
        .annotate(latest_operation_id=Subquery(latest), viewer_role=Subquery(role))
        .filter(pk=pk)
        .first()
    )


def _cache_related(obj: Any, name: str, rows: list[Any]) -> None:
    """Leave `rows` as prefetch_related would: `obj.<name>.all()` reads no more."""
    cached: Any = getattr(obj, name).all()
    cached._result_cache = rows
    cached._prefetch_done = True
    obj.__dict__.setdefault("_prefetched_objects_cache", {})[name] = cached


def _ports_column(vm_ref: Any) -> Any:
    return model_rows(
        NetworkInterface.objects.unscoped().filter(vm=vm_ref).order_by("id"),
        related={"network": Network},
    )


def _ports_from_column(vm: Any, rows: Any) -> None:
    ports = instances(NetworkInterface, rows, related={"network": Network})
    for port in ports:
        port.vm = vm
    _cache_related(vm, "interfaces", ports)


def with_ports(qs: QuerySet[VirtualMachine]) -> QuerySet[VirtualMachine]:
    """The VMs with their ports as a JSON column of their rows (no prefetch query); read them
    with `ports_read` once the rows are fetched."""
    return qs.prefetch_related(None).annotate(list_ports=_ports_column(OuterRef("pk")))


def ports_read(vms: Iterable[VirtualMachine]) -> list[VirtualMachine]:
    """The rows of a `with_ports` queryset, each VM's ports where `vm.interfaces.all()` reads."""
    rows = list(vms)
    for vm in rows:
        item: Any = vm
        _ports_from_column(item, item.list_ports)
        del item.list_ports
    return rows


def vm_page(*, fetched_by: User, pk: int) -> VirtualMachine | None:
    """One VM as its page shows it, in one query: with its relations, its ports, its latest
    operation and the operation's steps, and what its cards list (`card_volumes`: its volumes
    and the tenant's free ones it could attach; `card_snapshots`, `card_schedule`,
    `card_exports`: its 5 latest). Deleted VMs included: whoever watched one being deleted sees
    it end. The lists come as JSON columns of the VM's row (portal/jsonrows.py)."""
    vm_ref = OuterRef("pk")
    steps = OperationStep.objects.filter(operation=OuterRef("pk")).order_by("position")
    latest = Operation.objects.unscoped().filter(vm=vm_ref).order_by("-created_at", "-id")[:1]
    free_here = Q(state=VolumeState.AVAILABLE, vm__isnull=True) & (
        Q(host__isnull=True) | Q(host_id=OuterRef("host_id"))
    )
    volumes = (
        Volume.objects.visible_to(fetched_by)
        .exclude(state=VolumeState.DELETED)
        .filter(tenant_id=OuterRef("tenant_id"))
        .filter(Q(vm=vm_ref) | free_here)
        .order_by("name", "id")
    )
    row = (
        VirtualMachine.objects.visible_to(fetched_by)
        .select_related(
            "tenant", "environment", "owner", "flavor", "image", "host", "approved_by", "resize_to"
        )
        .annotate(
            page_interfaces=_ports_column(vm_ref),
            page_operation=model_rows(latest, extra={"steps": model_rows(steps)}),
            page_volumes=model_rows(volumes),
            page_snapshots=model_rows(
                Snapshot.objects.unscoped()
                .filter(vm=vm_ref)
                .exclude(state=SnapshotState.DELETED)
                .order_by("-created_at", "-id")
            ),
            page_schedule=model_rows(SnapshotSchedule.objects.unscoped().filter(vm=vm_ref)[:1]),
            page_exports=model_rows(
                ExportJob.objects.unscoped().filter(vm=vm_ref).order_by("-created_at", "-id")[:5]
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if row is None:
        return None
    vm: Any = row
    _ports_from_column(vm, vm.page_interfaces)
    operations = instances(Operation, vm.page_operation)
    for op in operations:
        op.vm = vm
        op_steps = instances(OperationStep, op.json_extra["steps"])  # type: ignore[attr-defined]
        for step in op_steps:
            step.operation = op
        _cache_related(op, "steps", op_steps)
    vm.operations_latest_first = operations
    vm.card_volumes = instances(Volume, vm.page_volumes)
    for volume in vm.card_volumes:
        volume.tenant = vm.tenant
        if volume.vm_id == vm.pk:
            volume.vm = vm
    vm.card_snapshots = instances(Snapshot, vm.page_snapshots)
    schedules = instances(SnapshotSchedule, vm.page_schedule)
    vm.card_schedule = schedules[0] if schedules else None
    vm.card_exports = instances(ExportJob, vm.page_exports)
    for item in [*vm.card_snapshots, *schedules, *vm.card_exports]:
        item.vm = vm
    for name in ("page_interfaces", "page_operation", "page_volumes", "page_snapshots"):
        delattr(vm, name)
    del vm.page_schedule, vm.page_exports
    return row


def operation_with_steps(operation_id: int | None) -> Operation | None:
    """An operation with its steps prefetched, in one query (the steps joined to their
    operation; a second one only for an operation that has no step yet)."""
    if operation_id is None:
        return None
    steps = list(
        OperationStep.objects.filter(operation_id=operation_id)
        .select_related("operation")
        .order_by("position")
    )
    operation = (
        steps[0].operation
        if steps
        else Operation.objects.unscoped().filter(pk=operation_id).first()
    )
    if operation is None:
        return None
    for step in steps:
        step.operation = operation
    cached: Any = operation.steps.all()
    cached._result_cache = steps  # what prefetch_related leaves: .all() reads no more
    cached._prefetch_done = True
    operation._prefetched_objects_cache = {"steps": cached}  # type: ignore[attr-defined]
    return operation


# The orders a VM list can be sorted in (key → ORDER BY, always ending on the primary key so that
# pages never overlap or skip); each is served by an index beginning with tenant_id.
VM_SORTS: dict[str, tuple[str, ...]] = {
    "-created": ("-created_at", "-id"),
    "created": ("created_at", "id"),
    "name": ("name", "id"),
    "-name": ("-name", "-id"),
    "state": ("state", "-created_at", "-id"),
    "-state": ("-state", "-created_at", "-id"),
}
DEFAULT_VM_SORT = "-created"


def vm_list_filtered(
    *,
    fetched_by: User,
    tenant_id: int | None = None,
    state: str = "",
    environment_name: str = "",
    name_contains: str = "",
    owner_id: int | None = None,
    sort: str = DEFAULT_VM_SORT,
    kind: str = "",
) -> QuerySet[VirtualMachine]:
    """The VM list as the browser shows it: in scope, filtered and in a stable order."""
    qs = vm_list(fetched_by=fetched_by)
    if kind:
        qs = qs.filter(kind=kind)
    if tenant_id is not None:
        qs = qs.filter(tenant_id=tenant_id)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if state:
        qs = qs.filter(state=state)
    if environment_name:
        qs = qs.filter(environment__name=environment_name)
    if name_contains:
        qs = qs.filter(name__icontains=name_contains)
    return qs.order_by(*VM_SORTS.get(sort, VM_SORTS[DEFAULT_VM_SORT]))


def vm_pending_approval_list(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    """The requests waiting for approval that the user sees. The member's tenants as an array:
    with the join, PostgreSQL joined every tenant's waiting VM to its relations before keeping
    the user's (2,000 rows read for 5 at 20,000 VMs: 5.9 ms, 1.0 ms so; planning 5.7 -> 3.2)."""
    return (
        vm_list(fetched_by=fetched_by, tenants_as_array=True)
        .filter(state__in=[VMState.PENDING_APPROVAL, VMState.RESIZE_PENDING])
        .select_related("resize_to")
    )


def operation_active(*, vm: VirtualMachine) -> Operation | None:
    return (
        vm.operations.filter(status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
        .prefetch_related("steps")
        .first()
    )


def can_operate(user: User, vm: VirtualMachine) -> bool:
    """Whether the user may start, stop, reboot or delete this VM (theirs, or any in the tenant)."""
    perms = perms_in(user, vm.tenant)  # one query for both
    return Perm.VM_OPERATE_ANY in perms or (vm.owner_id == user.id and Perm.VM_OPERATE_OWN in perms)


def host_maintenance_status(host: Host) -> dict[str, int | bool]:
    """How far a host is from being empty: VMs still placed on it, by kind."""
    placed = VirtualMachine.objects.unscoped().filter(host=host, state__in=PLACED_STATES)
    running = placed.filter(state__in=[VMState.RUNNING, VMState.MIGRATING]).count()
    total = placed.count()
    return {
        "maintenance": host.maintenance,
        "vms": total,
        "running_vms": running,
        "ready": host.maintenance and total == 0,
    }


def host_list(*, fetched_by: User) -> QuerySet[Host]:
    if fetched_by.is_platform_admin:
        return Host.objects.all()
    return Host.objects.none()


def flavor_list(*, fetched_by: User) -> QuerySet[Flavor]:
    if fetched_by.is_platform_admin:
        return Flavor.objects.all()
    return Flavor.objects.filter(is_public=True)


def image_list(*, fetched_by: User) -> QuerySet[Image]:
    if fetched_by.is_platform_admin:
        return Image.objects.all()
    return Image.objects.filter(is_public=True)


@dataclass(frozen=True)
class HostCapacity:
    """One host as the capacity page shows it: physical size, what is allocated, status."""

    host: Host
    vms: int
    running: int
    vcpus_allocated: int
    ram_allocated_mib: int

    @property
    def status(self) -> str:
        """The host's status (`Host.status`); in maintenance, whether it is empty yet."""
        status = self.host.status
        if status == HostStatus.MAINTENANCE:
            return "ready for maintenance" if self.vms == 0 else "entering maintenance"
        return str(status)

    @property
    def ram_percent(self) -> int:
        total = self.host.memory_mib
        return min(100, round(100 * self.ram_allocated_mib / total)) if total else 0

    @property
    def vcpu_percent(self) -> int:
        total = self.host.cpus
        return min(100, round(100 * self.vcpus_allocated / total)) if total else 0


def host_capacity_list(*, fetched_by: User) -> list[HostCapacity]:
    """Every host the user may see with its allocation (`placement.host_allocations`)."""
    from compute.services.placement import HostAllocation, host_allocations

    hosts = list(host_list(fetched_by=fetched_by).order_by("name"))
    allocations = host_allocations([h.pk for h in hosts]) if hosts else {}
    empty = HostAllocation()
    return [
        HostCapacity(
            host=host,
            vms=allocations.get(host.pk, empty).vms,
            running=allocations.get(host.pk, empty).running,
            vcpus_allocated=allocations.get(host.pk, empty).vcpus,
            ram_allocated_mib=allocations.get(host.pk, empty).ram_mib,
        )
        for host in hosts
    ]


def rolling_maintenance_list(*, fetched_by: User) -> QuerySet[RollingMaintenance]:
    if fetched_by.is_platform_admin:
        return RollingMaintenance.objects.all()
    return RollingMaintenance.objects.none()


# --- load balancing and capacity (platform admins) -------------------------------------------


def drs_recommendation_list(*, fetched_by: User) -> QuerySet[DrsRecommendation]:
    if not fetched_by.is_platform_admin:
        return DrsRecommendation.objects.none()
    return DrsRecommendation.objects.select_related(
        "vm__tenant", "source", "target", "run", "decided_by", "operation"
    )


def drs_run_list(*, fetched_by: User) -> QuerySet[DrsRun]:
    if not fetched_by.is_platform_admin:
        return DrsRun.objects.none()
    return DrsRun.objects.select_related("requested_by")


@dataclass(frozen=True)
class Resource:
    """One resource of one host (or of the pool): physical size, the overcommit limit placement
    hands out up to, what is allocated, and what was measured (None: not measured)."""

    physical: int
    limit: int
    allocated: int
    used: float | None = None

    @property
    def allocated_percent(self) -> float:
        return 100 * self.allocated / self.physical if self.physical else 0.0

    @property
    def limit_percent(self) -> float:
        return 100 * self.limit / self.physical if self.physical else 0.0

    @property
    def used_percent(self) -> float | None:
        if self.used is None:
            return None
        return 100 * self.used / self.physical if self.physical else 0.0


@dataclass(frozen=True)
class CapacityRow:
    name: str
    host_id: int | None  # None for the pool's total
    status: str
    vms: int
    cpu: Resource
    memory: Resource
    disk: Resource
    samples: int


@dataclass(frozen=True)
class CapacityReport:
    since: datetime
    rows: list[CapacityRow]
    total: CapacityRow


def _sum(parts: list[Resource]) -> Resource:
    measured = [p.used for p in parts if p.used is not None]
    return Resource(
        physical=sum(p.physical for p in parts),
        limit=sum(p.limit for p in parts),
        allocated=sum(p.allocated for p in parts),
        used=sum(measured) if measured else None,
    )


def capacity_report(*, fetched_by: User, since: datetime) -> CapacityReport | None:
    """Per host and for the pool: allocated against physical and the overcommit limit for vCPUs,
    RAM and disk, and the CPU and memory measured since `since` (compute.loads.host_loads).

    None for anyone but platform admins. Three grouped queries (two of them `host_allocations`,
    the sum placement uses) whatever the number of hosts.
    """
    # Imported here: compute.services imports this module.
    from compute.services.placement import HostAllocation, host_allocations

    if not fetched_by.is_platform_admin:
        return None
    hosts = list(Host.objects.order_by("name"))
    allocations = host_allocations()
    loads = host_loads(since)
    rows = []
    for host in hosts:
        p = allocations.get(host.pk, HostAllocation())
        load = loads.get(host.pk)
        rows.append(
            CapacityRow(
                name=host.name,
                host_id=host.pk,
                status=host.status,
                vms=p.vms,
                cpu=Resource(
                    physical=host.cpus,
                    limit=capacity_limit(host.cpus, host.effective_ratio("cpu")),
                    allocated=p.vcpus,
                    used=load.cpu_used_vcpus if load else None,
                ),
                memory=Resource(
                    physical=host.memory_mib,
                    limit=capacity_limit(host.memory_mib, host.effective_ratio("ram")),
                    allocated=p.ram_mib,
                    used=float(load.mem_used_mib) if load else None,
                ),
                disk=Resource(
                    physical=host.disk_gib,
                    limit=capacity_limit(host.disk_gib, host.effective_ratio("disk")),
                    allocated=p.disk_gib,
                ),
                samples=load.samples if load else 0,
            )
        )
    total = CapacityRow(
        name="",
        host_id=None,
        status="",
        vms=sum(r.vms for r in rows),
        cpu=_sum([r.cpu for r in rows]),
        memory=_sum([r.memory for r in rows]),
        disk=_sum([r.disk for r in rows]),
        samples=sum(r.samples for r in rows),
    )
    return CapacityReport(since=since, rows=rows, total=total)


def network_list(*, fetched_by: User) -> QuerySet[Network]:
    """Platform admins see every network; others the networks granted to their tenants."""
    if fetched_by.is_platform_admin:
        return Network.objects.all()
    granted = NetworkGrant.objects.visible_to(fetched_by)
    return Network.objects.filter(pk__in=granted.values("network_id"))


def network_grant_list(*, fetched_by: User) -> QuerySet[NetworkGrant]:
    """Platform roles see every grant; others the grants of their tenants."""
    return NetworkGrant.objects.visible_to(fetched_by).select_related(
        "network", "tenant", "environment"
    )


def volume_list(*, fetched_by: User, include_deleted: bool = False) -> QuerySet[Volume]:
    qs = Volume.objects.visible_to(fetched_by).select_related(
        "tenant", "environment", "owner", "host", "vm"
    )
    if not include_deleted:
        qs = qs.exclude(state=VolumeState.DELETED)
    return qs


def vm_volumes(*, vm: VirtualMachine) -> QuerySet[Volume]:
    """The volumes attached to a VM (or being attached), by device name; the VM is in scope."""
    return (
        Volume.objects.unscoped()
        .filter(vm=vm)
        .exclude(state=VolumeState.DELETED)
        .select_related("host")
        .order_by("target_dev")
    )


@dataclass(frozen=True)
class ExportDisk:
    """One disk of a VM as an export reads it from its host's pool."""

    pool: str
    volume: str
    size_gib: int
    target_dev: str


def vm_export_disks(*, vm: VirtualMachine) -> list[ExportDisk]:
    """The VM's disks in the order an export lists them: the root disk (vda), then its attached
    data volumes by device name (vdb, vdc, ...). The VM's host holds them all."""
    host = vm.host
    if host is None:
        return []
    disks = [ExportDisk(host.storage_pool, vm.volume_name, vm.flavor.disk_gib, "vda")]
    for volume in vm_volumes(vm=vm).filter(state=VolumeState.IN_USE):
        pool = volume.host.storage_pool if volume.host is not None else host.storage_pool
        disks.append(ExportDisk(pool, volume.volume_name, volume.size_gib, volume.target_dev))
    return disks


def vm_snapshot_schedule(*, vm: VirtualMachine) -> SnapshotSchedule | None:
    """The VM's snapshot schedule, if it has one; the VM is in the user's scope already."""
    return SnapshotSchedule.objects.unscoped().filter(vm=vm).first()


def vm_snapshots(*, vm: VirtualMachine, include_deleted: bool = False) -> QuerySet[Snapshot]:
    """A VM's snapshots, newest first; the VM is in the requesting user's scope already."""
    qs = Snapshot.objects.unscoped().filter(vm=vm)
    if not include_deleted:
        qs = qs.exclude(state=SnapshotState.DELETED)
    return qs


def export_list(*, fetched_by: User) -> QuerySet[ExportJob]:
    """OVA exports of the VMs the user sees, newest first."""
    return ExportJob.objects.visible_to(fetched_by).select_related(
        "vm", "vm__tenant", "vm__owner", "requested_by"
    )


def import_job_list(*, fetched_by: User) -> QuerySet[ImportJob]:
    """OVA imports, newest first: platform admins see them all, nobody else any."""
    if not fetched_by.is_platform_admin:
        return ImportJob.objects.none()
    return ImportJob.objects.select_related("image", "requested_by")


def vm_exports(*, vm: VirtualMachine, limit: int = 5) -> list[ExportJob]:
    """The VM's latest exports, for its page (the VM is in scope)."""
    return list(ExportJob.objects.unscoped().filter(vm=vm).select_related("vm")[:limit])


DECISION_ACTIONS = ("vm.approve", "vm.reject", "vm.resize_approve", "vm.resize_reject")


def approvable_tenant_ids(user: User) -> QuerySet[Any, int] | None:
    """The tenants whose requests the user may decide; None: every tenant."""
    if Perm.VM_APPROVE in platform_perms(user):
        return None
    return member_tenant_ids(user, Perm.VM_APPROVE)


def approval_pending_for(*, fetched_by: User) -> QuerySet[VirtualMachine]:
    """Requests the user may decide now: pending in a tenant where they approve, not their own
    (four eyes); the navigation's badge counts them."""
    qs = vm_pending_approval_list(fetched_by=fetched_by).exclude(owner=fetched_by)
    tenants = approvable_tenant_ids(fetched_by)
    return qs if tenants is None else qs.filter(tenant_id__in=tenants)


def approval_pending_count_sql(*, fetched_by: User) -> tuple[str, list[Any]]:
    """`approval_pending_for`'s count as a scalar subquery written out, for the navigation's
    badge on every page (the ORM's building of it cost 2 ms a page): the user's approver
    tenants come from the request's memberships (`user_memberships`), so it reads no
    membership either. Outside a request, the queryset's own SQL."""
    table = VirtualMachine._meta.db_table
    states = [VMState.PENDING_APPROVAL.value, VMState.RESIZE_PENDING.value]
    where = "state IN (%s, %s) AND owner_id <> %s"
    params: list[Any] = [*states, fetched_by.pk]
    if not fetched_by.is_active:
        return "SELECT 0", []
    memberships = user_memberships(fetched_by)
    if Perm.VM_APPROVE not in platform_perms(fetched_by):
        if memberships is None:
            sql, qs_params = (
                approval_pending_for(fetched_by=fetched_by)
                .order_by()
                .values("pk")
                .query.sql_with_params()
            )
            return f"SELECT COUNT(*) FROM ({sql}) _pending", list(qs_params)  # noqa: S608
        tenants = [
            m.tenant_id for m in memberships if Perm.VM_APPROVE in ROLE_PERMS.get(m.role, ())
        ]
        if not tenants:
            return "SELECT 0", []
        where += f" AND tenant_id IN ({', '.join(['%s'] * len(tenants))})"
        params += tenants
    return f"SELECT COUNT(*) FROM {table} WHERE {where}", params  # noqa: S608 - the model's table


def approval_decision_list(*, fetched_by: User) -> QuerySet[AuditEntry]:
    """Decisions taken on requests (approvals, rejections, resizes) in the tenants where the
    user approves, newest first: the audit trail is their record."""
    qs = AuditEntry.objects.unscoped().filter(action__in=DECISION_ACTIONS, actor__isnull=False)
    tenants = approvable_tenant_ids(fetched_by)
    if tenants is not None:
        qs = qs.filter(tenant_id__in=tenants)
    return qs.order_by("-created_at", "-id")
