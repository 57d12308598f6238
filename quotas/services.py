"""Every write to quotas: reserving, charging and releasing a VM's share, limits, requests.

Accounting. Each environment has one `Quota` row holding, per resource, a limit and two
counters: `reserved` (requests waiting for approval or being provisioned) and `used`
(provisioned VMs). A VM's share is taken with one conditional UPDATE,
`SET x_reserved = x_reserved + n WHERE x_used + x_reserved + n <= x_limit` for every resource
at once, and recorded in the VM's `Allocation` row, whose status only moves forward
(reserved → used → released, or reserved → released) under a row lock. Releasing twice
therefore finds nothing to release, and the counters are always the sum of the live
allocations, which `quota_drift_check` verifies against a recount from the VMs themselves.

Lock order, the same everywhere: VM row → Allocation row → Quota row. No path takes a Quota
row and then an Allocation or VM row, so these locks cannot deadlock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Field, OuterRef, Q, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from compute.choices import (
    PLACED_STATES,
    OperationKind,
    OperationStatus,
    SnapshotState,
    VMState,
    VolumeState,
)
from compute.models import Flavor, Operation, Snapshot, VirtualMachine, Volume
from portal import events, metrics
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import Environment, User
from portal.permissions import Perm, require_perm, require_platform_admin
from portal.prepared import prepared_cursor
from quotas.choices import (
    BUILTIN_DEFAULTS,
    MAX_AMOUNT,
    RESOURCES,
    AllocationStatus,
    RequestStatus,
    Resource,
)
from quotas.models import Allocation, Quota, QuotaDefault, QuotaRequest

logger = logging.getLogger(__name__)


def enforced() -> bool:
    """Quota checks are on unless NUAGE_QUOTA_ENFORCE=0 (benchmarks compare both)."""
    return bool(settings.NUAGE.get("QUOTA_ENFORCE", True))


def flavor_amounts(flavor: Flavor) -> dict[str, int]:
    """What one VM of this flavor takes from its environment's quota."""
    return {
        Resource.VCPUS: flavor.vcpus,
        Resource.RAM_MIB: flavor.ram_mib,
        Resource.DISK_GIB: flavor.disk_gib,
        Resource.VMS: 1,
        Resource.SNAPSHOTS: 0,
    }


def default_limits() -> dict[str, int]:
    row = QuotaDefault.objects.filter(pk=1).first()
    if row is None:
        return dict(BUILTIN_DEFAULTS)
    return {r: row.limit(r) for r in RESOURCES}


def quota_ensure(*, environment: Environment) -> Quota:
    """The environment's quota row, created with the platform defaults if it has none yet."""
    quota = Quota.objects.unscoped().filter(environment=environment).first()
    if quota is not None:
        return quota
    limits = default_limits()
    # ON CONFLICT DO NOTHING: two first requests in a new environment may race to create it.
    Quota.objects.bulk_create(
        [
            Quota(
                tenant_id=environment.tenant_id,
                # By id: assigning the instance would cache this unsaved row on environment.quota.
                environment_id=environment.pk,
                **{f"{r}_limit": n for r, n in limits.items()},
            )
        ],
        ignore_conflicts=True,
    )
    return Quota.objects.unscoped().get(environment=environment)


# --- a VM's share ---------------------------------------------------------------------------


def exceeded_messages(quota: Quota, amounts: dict[str, int]) -> list[str]:
    """One message per resource that does not fit, naming the amount asked and the amount left."""
    messages = []
    for resource, n in amounts.items():
        if n and quota.used(resource) + quota.reserved(resource) + n > quota.limit(resource):
            messages.append(
                _(
                    "Quota exceeded for %(resource)s in %(environment)s: asked %(asked)s, "
                    "%(left)s left of %(limit)s."
                )
                % {
                    "resource": Resource(resource).label,
                    "environment": quota.environment.name,
                    "asked": n,
                    "left": quota.left(resource),
                    "limit": quota.limit(resource),
                }
            )
    return messages


def _take(environment: Environment, amounts: dict[str, int]) -> int:
    """One conditional UPDATE that reserves every resource or none; returns rows changed."""
    qs = Quota.objects.unscoped().filter(environment_id=environment.pk)
    changes: dict[str, Any] = {}
    for resource, n in amounts.items():
        if n:
            qs = qs.filter(
                **{f"{resource}_reserved__lte": F(f"{resource}_limit") - F(f"{resource}_used") - n}
            )
            changes[f"{resource}_reserved"] = F(f"{resource}_reserved") + n
    return qs.update(**changes)


def quota_reserve(*, vm: VirtualMachine, field: str = "flavor") -> Allocation | None:
    """Reserve the VM's share at submission; a ValidationError on `field` if it does not fit.

    Called inside the request's transaction: a later error rolls the reservation back with it.
    """
    if not enforced():
        return None
    amounts = flavor_amounts(vm.flavor)
    for _attempt in range(3):
        if _take(vm.environment, amounts) == 1:
            return Allocation.objects.create(vm=vm, environment=vm.environment, **amounts)
        quota = quota_ensure(environment=vm.environment)
        quota.environment = vm.environment  # for the message, without another query
        messages = exceeded_messages(quota, amounts)
        if messages:
            metrics.QUOTA_REJECTIONS.inc()
            raise ValidationError({field: messages})
        # The row was just created, or capacity was freed between the UPDATE and the read.
    raise ValidationError({field: _("The quota is too busy right now; try again.")})


def _move(vm: VirtualMachine, *, source: tuple[str, ...], target: str) -> Allocation | None:
    allocation = (
        Allocation.objects.unscoped()
        .select_for_update()
        .filter(vm_id=vm.pk, status__in=source)
        .first()
    )
    if allocation is None:
        return None  # already moved (a redelivered step) or never reserved (checks were off)
    previous = allocation.status
    allocation.status = target
    allocation.save(update_fields=["status", "updated_at"])
    changes: dict[str, Any] = {}
    for resource, n in allocation.amounts().items():
        if not n:
            continue
        counter = "reserved" if previous == AllocationStatus.RESERVED else "used"
        changes[f"{resource}_{counter}"] = F(f"{resource}_{counter}") - n
        if target == AllocationStatus.USED:
            changes[f"{resource}_used"] = F(f"{resource}_used") + n
    if changes:
        Quota.objects.unscoped().filter(environment_id=allocation.environment_id).update(**changes)
    return allocation


def quota_charge(*, vm: VirtualMachine) -> None:
    """The VM is provisioned: its reservation becomes use."""
    _move(vm, source=(AllocationStatus.RESERVED,), target=AllocationStatus.USED)


def quota_release(*, vm: VirtualMachine, reserved_only: bool = False) -> None:
    """Give the VM's share back (rejected, failed to provision, deleted). Idempotent.

    With reserved_only, only a reservation is released: a VM that ran keeps its share when a
    later operation fails, until it is deleted.
    """
    source: tuple[str, ...] = (AllocationStatus.RESERVED,)
    if not reserved_only:
        source += (AllocationStatus.USED,)
    _move(vm, source=source, target=AllocationStatus.RELEASED)


# --- a volume's GiB ---------------------------------------------------------------------------


def quota_volume_take(*, volume: Volume, gib: int) -> None:
    """Take `gib` of the volume's environment's disk quota as use, with one conditional UPDATE
    (a volume holds its size from creation to deletion: there is no approval to wait for). A
    ValidationError on `size_gib` if it does not fit; called inside the caller's transaction."""
    if not enforced() or gib <= 0:
        return
    for _attempt in range(3):
        updated = (
            Quota.objects.unscoped()
            .filter(
                environment_id=volume.environment_id,
                disk_gib_used__lte=F("disk_gib_limit") - F("disk_gib_reserved") - gib,
            )
            .update(disk_gib_used=F("disk_gib_used") + gib)
        )
        if updated == 1:
            return
        quota = quota_ensure(environment=volume.environment)
        quota.environment = volume.environment
        messages = exceeded_messages(quota, {Resource.DISK_GIB: gib})
        if messages:
            raise ValidationError({"size_gib": messages})
    raise ValidationError({"size_gib": _("The quota is too busy right now; try again.")})


def quota_volume_give(*, volume: Volume, gib: int) -> None:
    """Give `gib` of the disk quota back (the volume's deletion, a resize that failed)."""
    if not enforced() or gib <= 0:
        return
    Quota.objects.unscoped().filter(environment_id=volume.environment_id).update(
        disk_gib_used=F("disk_gib_used") - gib
    )


# --- a VM's snapshots -------------------------------------------------------------------------


def quota_snapshot_take(*, vm: VirtualMachine, count: int = 1) -> None:
    """Take `count` of the VM's environment's snapshots quota as use, with one conditional
    UPDATE (a snapshot holds its place from its request to its deletion). A ValidationError on
    `name` if it does not fit; called inside the caller's transaction."""
    if not enforced() or count <= 0:
        return
    for _attempt in range(3):
        with prepared_cursor() as cursor:
            cursor.execute(_snapshot_take_sql(), [count, vm.environment_id, count])
            updated = cursor.rowcount
        if updated == 1:
            return
        quota = quota_ensure(environment=vm.environment)
        quota.environment = vm.environment
        messages = exceeded_messages(quota, {Resource.SNAPSHOTS: count})
        if messages:
            raise ValidationError({"name": messages})
    raise ValidationError({"name": _("The quota is too busy right now; try again.")})


@cache
def _snapshot_take_sql() -> str:
    """`quota_snapshot_take`'s conditional UPDATE, written out once and prepared: on the way of
    every snapshot's request, where the ORM's building of it cost more than running it. The
    parameters: the count, the environment, the count."""
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        field = Quota._meta.get_field(name)
        assert isinstance(field, Field)
        return quote(str(field.column))

    used, limit = column("snapshots_used"), column("snapshots_limit")
    reserved, environment = column("snapshots_reserved"), column("environment")
    return (
        f"UPDATE {quote(Quota._meta.db_table)} SET {used} = {used} + %s "  # noqa: S608 - names
        f"WHERE {environment} = %s AND {used} <= {limit} - {reserved} - %s"
    )


def quota_snapshot_give(*, vm: VirtualMachine, count: int = 1) -> None:
    """Give `count` snapshots of the quota back (deleted, failed, or gone with their VM)."""
    if not enforced() or count <= 0:
        return
    Quota.objects.unscoped().filter(environment_id=vm.environment_id).update(
        snapshots_used=F("snapshots_used") - count
    )


# --- limits and defaults ----------------------------------------------------------------------


def _clean_limits(limits: dict[str, Any]) -> dict[str, int]:
    errors: dict[str, str] = {}
    cleaned: dict[str, int] = {}
    for resource, value in limits.items():
        if resource not in RESOURCES:
            errors[resource] = _("Unknown resource.")
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            errors[resource] = _("Give a whole number.")
        elif value < 0:
            errors[resource] = _("A limit cannot be negative (0 blocks the resource).")
        elif value > MAX_AMOUNT[resource]:
            errors[resource] = _("A limit above %(max)s is not accepted.") % {
                "max": MAX_AMOUNT[resource]
            }
        else:
            cleaned[resource] = value
    if errors:
        raise ValidationError(errors)
    if not cleaned:
        raise ValidationError(_("Give at least one limit."))
    return cleaned


@transaction.atomic
def quota_update(
    *, updated_by: User, quota: Quota, limits: dict[str, Any], remote_addr: str | None = None
) -> Quota:
    """Set limits. Lowering one below current use is allowed: it blocks new allocations."""
    require_perm(updated_by, quota.tenant, Perm.QUOTA_MANAGE)
    cleaned = _clean_limits(limits)
    # Only the limit columns are written: the counters belong to the conditional UPDATEs.
    old = Quota.objects.unscoped().select_for_update().get(pk=quota.pk)
    Quota.objects.unscoped().filter(pk=quota.pk).update(
        updated_at=timezone.now(), **{f"{r}_limit": n for r, n in cleaned.items()}
    )
    quota.refresh_from_db()
    audit_record(
        actor=updated_by,
        action="quota.update",
        obj=quota,
        tenant=quota.tenant,
        remote_addr=remote_addr,
        changes={r: [old.limit(r), n] for r, n in cleaned.items() if old.limit(r) != n},
    )
    return quota


@transaction.atomic
def quota_defaults_update(
    *, updated_by: User, limits: dict[str, Any], remote_addr: str | None = None
) -> QuotaDefault:
    """Platform-wide limits for environments created from now on (existing ones keep theirs)."""
    require_platform_admin(updated_by)
    cleaned = _clean_limits(limits)
    current = default_limits()
    row, _created = QuotaDefault.objects.update_or_create(
        pk=1,
        defaults={
            "updated_by": updated_by,
            **{f"{r}_limit": cleaned.get(r, current[r]) for r in RESOURCES},
        },
    )
    audit_record(
        actor=updated_by,
        action="quota.defaults_update",
        obj=row,
        remote_addr=remote_addr,
        changes={r: [current[r], n] for r, n in cleaned.items() if current[r] != n},
    )
    return row


# --- increase requests ----------------------------------------------------------------------


def _clean_amounts(amounts: dict[str, Any], *, allow_zero: bool) -> dict[str, int]:
    errors: dict[str, str] = {}
    cleaned: dict[str, int] = {}
    for resource, value in amounts.items():
        if resource not in RESOURCES:
            errors[resource] = _("Unknown resource.")
        elif isinstance(value, bool) or not isinstance(value, int):
            errors[resource] = _("Give a whole number.")
        elif value < 0 or (value == 0 and not allow_zero):
            errors[resource] = (
                _("Ask for at least 1, or leave the field out.")
                if not allow_zero
                else _("A grant cannot be negative.")
            )
        elif value > MAX_AMOUNT[resource]:
            errors[resource] = _("More than %(max)s is not accepted.") % {
                "max": MAX_AMOUNT[resource]
            }
        else:
            cleaned[resource] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _notify(quota_request: QuotaRequest) -> None:
    """The requester is told of the decision once it commits (texts in quotas/messages.py)."""
    events.emit(
        "quota_request.decided",
        tenant=quota_request.tenant,
        payload={"quota_request_id": quota_request.pk},
    )


@transaction.atomic
def quota_request_create(
    *,
    requested_by: User,
    environment: Environment,
    amounts: dict[str, Any],
    reason: str,
    remote_addr: str | None = None,
) -> QuotaRequest:
    require_perm(requested_by, environment.tenant, Perm.QUOTA_REQUEST)
    errors: dict[str, Any] = {}
    try:
        asked = _clean_amounts(amounts, allow_zero=False)
    except ValidationError as exc:
        errors.update(exc.message_dict)
        asked = {}
    reason = reason.strip()
    if not reason:
        errors["reason"] = _("Say why the tenant needs more.")
    elif len(reason) > 2000:
        errors["reason"] = _("Keep the reason under 2,000 characters.")
    if not asked and not errors:
        errors["amounts"] = _("Ask for more of at least one resource.")
    if errors:
        raise ValidationError(errors)
    quota_request = QuotaRequest.objects.create(
        tenant=environment.tenant,
        environment=environment,
        requested_by=requested_by,
        asked=asked,
        reason=reason,
    )
    audit_record(
        actor=requested_by,
        action="quota_request.create",
        obj=quota_request,
        tenant=environment.tenant,
        remote_addr=remote_addr,
        changes={"environment": environment.name, "asked": asked},
    )
    return quota_request


def _decide(quota_request: QuotaRequest, target: str, **fields: Any) -> None:
    """pending → target with a conditional UPDATE: a second decision gets a ConflictError."""
    now = timezone.now()
    updated = (
        QuotaRequest.objects.unscoped()
        .filter(pk=quota_request.pk, status=RequestStatus.PENDING)
        .update(status=target, decided_at=now, **fields)
    )
    if updated != 1:
        current = (
            QuotaRequest.objects.unscoped()
            .filter(pk=quota_request.pk)
            .values_list("status", flat=True)
            .first()
        )
        label = RequestStatus(current).label if current else _("gone")
        raise ConflictError(
            _("This request was already decided: %(status)s.") % {"status": str(label).lower()},
            state=current,
        )
    quota_request.status, quota_request.decided_at = target, now
    for name, value in fields.items():
        setattr(quota_request, name, value)


@transaction.atomic
def quota_request_approve(
    *,
    quota_request: QuotaRequest,
    decided_by: User,
    granted: dict[str, Any] | None = None,
    reason: str = "",
    remote_addr: str | None = None,
) -> QuotaRequest:
    """Grant what was asked (granted=None) or part of it; the limits grow at once."""
    require_perm(decided_by, quota_request.tenant, Perm.QUOTA_MANAGE)
    asked: dict[str, int] = quota_request.asked
    grant = dict(asked) if granted is None else _clean_amounts(granted, allow_zero=True)
    errors = {
        r: _("Grant at most the %(asked)s asked.") % {"asked": asked.get(r, 0)}
        for r, n in grant.items()
        if n > asked.get(r, 0)
    }
    if errors:
        raise ValidationError(errors)
    grant = {r: n for r, n in grant.items() if n}
    if not grant:
        raise ValidationError(_("Grant at least one resource, or reject the request."))
    reason = reason.strip()
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    partial = any(grant.get(r, 0) < n for r, n in asked.items())
    _decide(
        quota_request,
        RequestStatus.PARTIALLY_APPROVED if partial else RequestStatus.APPROVED,
        granted=grant,
        decided_by=decided_by,
        decision_reason=reason,
    )
    quota = quota_ensure(environment=quota_request.environment)
    quota = Quota.objects.unscoped().select_for_update().get(pk=quota.pk)
    too_big = {
        r: _("The limit would exceed %(max)s.") % {"max": MAX_AMOUNT[r]}
        for r, n in grant.items()
        if quota.limit(r) + n > MAX_AMOUNT[r]
    }
    if too_big:
        raise ValidationError(too_big)
    Quota.objects.unscoped().filter(pk=quota.pk).update(
        updated_at=timezone.now(),
        **{f"{r}_limit": F(f"{r}_limit") + n for r, n in grant.items()},
    )
    audit_record(
        actor=decided_by,
        action="quota_request.approve",
        obj=quota_request,
        tenant=quota_request.tenant,
        remote_addr=remote_addr,
        changes={
            "status": quota_request.status,
            "granted": grant,
            "limits": {r: [quota.limit(r), quota.limit(r) + n] for r, n in grant.items()},
        },
    )
    _notify(quota_request)
    return quota_request


@transaction.atomic
def quota_request_reject(
    *,
    quota_request: QuotaRequest,
    decided_by: User,
    reason: str,
    remote_addr: str | None = None,
) -> QuotaRequest:
    require_perm(decided_by, quota_request.tenant, Perm.QUOTA_MANAGE)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the requester a reason for the rejection.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    _decide(
        quota_request,
        RequestStatus.REJECTED,
        decided_by=decided_by,
        decision_reason=reason,
        granted={},
    )
    audit_record(
        actor=decided_by,
        action="quota_request.reject",
        obj=quota_request,
        tenant=quota_request.tenant,
        remote_addr=remote_addr,
        changes={"reason": reason},
    )
    _notify(quota_request)
    return quota_request


# --- recount and drift ----------------------------------------------------------------------


def recount() -> dict[int, dict[str, dict[str, int]]]:
    """Per environment id: what the live VMs hold, counted from the VMs, not from the counters.

    Reserved: VMs waiting for approval or being provisioned. Used: VMs that were provisioned
    (a provision operation succeeded) and are not deleted or rejected. A VM whose provisioning
    failed is in error but holds nothing.
    """
    provisioned = Operation.objects.unscoped().filter(
        vm=OuterRef("pk"), kind=OperationKind.PROVISION, status=OperationStatus.SUCCEEDED
    )
    reserved_q = Q(state__in=[VMState.PENDING_APPROVAL, VMState.PROVISIONING])
    used_q = Q(state__in=PLACED_STATES - {VMState.PROVISIONING}) & Q(Exists(provisioned))
    result: dict[int, dict[str, dict[str, int]]] = {}
    for kind, condition in (("reserved", reserved_q), ("used", used_q)):
        rows = (
            VirtualMachine.objects.unscoped()
            .filter(condition)
            .values("environment_id")
            .annotate(
                # A resize waiting for approval holds the size it asked for.
                vcpus=Sum(Coalesce("resize_to__vcpus", "flavor__vcpus")),
                ram_mib=Sum(Coalesce("resize_to__ram_mib", "flavor__ram_mib")),
                disk_gib=Sum(Coalesce("resize_to__disk_gib", "flavor__disk_gib")),
                vms=Count("id"),
            )
        )
        for row in rows:
            env = result.setdefault(row["environment_id"], {"used": {}, "reserved": {}})
            env[kind] = {r: int(row.get(r) or 0) for r in RESOURCES}  # type: ignore[call-overload]
    # Data volumes hold their size (or the size a pending resize asked for) until deleted.
    volumes = (
        Volume.objects.unscoped()
        .exclude(state=VolumeState.DELETED)
        .values("environment_id")
        .annotate(gib=Sum(Greatest("size_gib", Coalesce("resize_to_gib", 0))))
    )
    for environment_id, gib in volumes.values_list("environment_id", "gib"):
        env = result.setdefault(environment_id, {"used": {}, "reserved": {}})
        used = env["used"]
        used[Resource.DISK_GIB] = used.get(Resource.DISK_GIB, 0) + int(gib or 0)
    # Snapshots hold one each from their request until deleted (one in error too: it may be
    # on the host, and deleting it frees its place).
    snapshots = (
        Snapshot.objects.unscoped()
        .exclude(state=SnapshotState.DELETED)
        .values("vm__environment_id")
        .annotate(n=Count("id"))
    )
    for environment_id, n in snapshots.values_list("vm__environment_id", "n"):
        env = result.setdefault(environment_id, {"used": {}, "reserved": {}})
        used = env["used"]
        used[Resource.SNAPSHOTS] = used.get(Resource.SNAPSHOTS, 0) + int(n or 0)
    return result


@dataclass(frozen=True)
class Drift:
    tenant: str
    environment: str
    resource: str
    counter: str
    recorded: int
    counted: int


def quota_drift_check() -> list[Drift]:
    """Compare every quota's counters with a recount; log each difference as an error.

    Counters and VMs are read in one snapshot (REPEATABLE READ on PostgreSQL), so requests
    committing meanwhile cannot show up as drift.
    """
    own_snapshot = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        if own_snapshot:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        counted = recount()
        quotas = list(Quota.objects.unscoped().select_related("tenant", "environment"))
    drifts: list[Drift] = []
    for quota in quotas:
        live = counted.get(quota.environment_id, {"used": {}, "reserved": {}})
        for resource in RESOURCES:
            for counter in ("used", "reserved"):
                recorded = int(getattr(quota, f"{resource}_{counter}"))
                actual = live[counter].get(resource, 0)
                if recorded != actual:
                    drifts.append(
                        Drift(
                            tenant=quota.tenant.slug,
                            environment=quota.environment.name,
                            resource=resource,
                            counter=counter,
                            recorded=recorded,
                            counted=actual,
                        )
                    )
    for d in drifts:
        logger.error(
            "Quota drift in %s/%s: %s %s is %s in the counters but %s by recount",
            d.tenant,
            d.environment,
            d.resource,
            d.counter,
            d.recorded,
            d.counted,
        )
    return drifts


def quota_resize(
    *, vm: VirtualMachine, old: Flavor, new: Flavor, check: bool = True, field: str = "flavor"
) -> None:
    """Move the VM's share from `old`'s size to `new`'s in one conditional UPDATE.

    Only growth is checked (`x_used + x_reserved + growth <= x_limit`, as a reservation is);
    a ValidationError on `field` names each resource that does not fit, and nothing is written.
    The VM's Allocation row takes the new amounts under its lock (lock order VM → Allocation
    → Quota), so a later release gives back exactly what is held. `check=False` undoes a failed
    resize (giving back what was taken must not fail on a limit lowered meanwhile).
    """
    if not enforced():
        return
    allocation = (
        Allocation.objects.unscoped()
        .select_for_update()
        .filter(vm_id=vm.pk, status__in=(AllocationStatus.RESERVED, AllocationStatus.USED))
        .first()
    )
    if allocation is None:
        return  # never reserved (checks were off) or already released: nothing is held
    counter = "reserved" if allocation.status == AllocationStatus.RESERVED else "used"
    before, after = flavor_amounts(old), flavor_amounts(new)
    resized: tuple[str, ...] = (Resource.VCPUS, Resource.RAM_MIB, Resource.DISK_GIB)
    delta = {r: after[r] - before[r] for r in resized}
    if not any(delta.values()):
        return
    qs = Quota.objects.unscoped().filter(environment_id=allocation.environment_id)
    changes: dict[str, Any] = {}
    for resource, n in delta.items():
        if n > 0 and check:
            qs = qs.filter(
                **{f"{resource}_reserved__lte": F(f"{resource}_limit") - F(f"{resource}_used") - n}
            )
        if n:
            changes[f"{resource}_{counter}"] = F(f"{resource}_{counter}") + n
    if qs.update(**changes) != 1:
        quota = quota_ensure(environment=vm.environment)
        quota.environment = vm.environment
        growth = {r: n for r, n in delta.items() if n > 0}
        messages = exceeded_messages(quota, growth) or [
            _("The quota is too busy right now; try again.")
        ]
        raise ValidationError({field: messages})
    for resource, n in delta.items():
        setattr(allocation, resource, getattr(allocation, resource) + n)
    allocation.save(update_fields=[*delta, "updated_at"])
