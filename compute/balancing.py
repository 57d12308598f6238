"""The load balancer's database side: its settings, its runs, and applying what it recommends.

`compute/drs.py` decides; this module feeds it the pool as placement sees it plus the loads
metering measured (`compute.loads.vm_loads`), records the recommendations, and applies them
by starting live migrations through `compute.services.vm_migrate`, the same operation an admin
starts by hand (one active operation per VM, the target's capacity claimed at the start, steps
the reconciler re-dispatches).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import drs
from compute.choices import (
    PLACED_STATES,
    DrsMode,
    HostStatus,
    OperationKind,
    OperationStatus,
    RecommendationStatus,
    VMState,
)
from compute.loads import vm_loads
from compute.models import DrsRecommendation, DrsRun, DrsSettings, Host, Operation, VirtualMachine
from compute.services.migration import vm_migrate
from compute.services.placement import _host_states
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import require_platform_admin

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = ("mode", "max_moves", "threshold", "interval_minutes", "window_minutes")
_ACTIVE = [OperationStatus.PENDING, OperationStatus.RUNNING]


# --- settings --------------------------------------------------------------------------------


def drs_settings() -> DrsSettings:
    """The saved settings, or the built-in defaults (an unsaved row) until an admin saves them."""
    return DrsSettings.objects.filter(pk=1).first() or DrsSettings(pk=1)


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


@transaction.atomic
def drs_settings_update(
    *, updated_by: User, remote_addr: str | None = None, **values: Any
) -> DrsSettings:
    """Change the mode, the per-cycle limit, the minimum gain, the interval or the window."""
    require_platform_admin(updated_by)
    unknown = sorted(set(values) - set(SETTINGS_FIELDS))
    if unknown:
        raise ValidationError({name: _("Unknown setting.") for name in unknown})
    row = DrsSettings.objects.select_for_update().filter(pk=1).first() or drs_settings()
    before = {name: _plain(getattr(row, name)) for name in SETTINGS_FIELDS}
    for name, value in values.items():
        if name == "threshold" and not isinstance(value, Decimal):
            try:
                value = Decimal(str(value))
            except InvalidOperation:
                raise ValidationError({"threshold": _("Give a number.")}) from None
        setattr(row, name, value)
    row.full_clean(exclude=["updated_by", "updated_at"])
    row.updated_by, row.updated_at = updated_by, timezone.now()
    row.save()
    after = {name: _plain(getattr(row, name)) for name in SETTINGS_FIELDS}
    audit_record(
        actor=updated_by,
        action="drs.settings_update",
        obj=row,
        changes={k: [before[k], after[k]] for k in SETTINGS_FIELDS if before[k] != after[k]},
        remote_addr=remote_addr,
    )
    return row


# --- the pool as DRS sees it -----------------------------------------------------------------


def drs_states(*, since: datetime) -> tuple[list[drs.HostLoadState], list[drs.VmLoadState]]:
    """Every host with its allocation and measured load, and every placed VM with its own.

    A host's load is the sum of the measured loads of the VMs placed on it now, so a VM that
    moved during the window counts where it runs, not where it ran. A host is measured when
    every running VM on it has samples in the window (an empty host is measured: it carries
    nothing); a VM is movable when it runs, has no operation in flight and was measured.
    """
    # Containers cannot move (LXC has no migration): their hosts and they stay out of balancing.
    hosts = _host_states(Host.objects.exclude(domain_type="lxc").order_by("pk"))
    loads = vm_loads(since)
    busy = set(
        Operation.objects.unscoped()
        .filter(status__in=_ACTIVE)
        .values_list("vm_id", flat=True)
        .order_by()
    )
    rows = (
        VirtualMachine.objects.unscoped()
        .filter(host__isnull=False, state__in=PLACED_STATES)
        .exclude(kind="container")
        .values(
            "id",
            "host_id",
            "state",
            "tenant_id",
            "anti_affinity_group",
            "environment__name",
            "flavor__vcpus",
            "flavor__ram_mib",
            "flavor__disk_gib",
        )
        .order_by("id")
    )
    vms: list[drs.VmLoadState] = []
    cpu: dict[int, float] = {}
    mem: dict[int, float] = {}
    unmeasured: set[int] = set()
    for row in rows:
        load = loads.get(row["id"])
        host_id = row["host_id"]
        running = row["state"] == VMState.RUNNING
        if load is not None:
            cpu[host_id] = cpu.get(host_id, 0.0) + load.cpu_used_vcpus
            mem[host_id] = mem.get(host_id, 0.0) + load.mem_used_mib
        elif running or row["state"] == VMState.MIGRATING:
            unmeasured.add(host_id)
        group = row["anti_affinity_group"]
        vms.append(
            drs.VmLoadState(
                id=row["id"],
                host_id=host_id,
                vcpus=row["flavor__vcpus"],
                ram_mib=row["flavor__ram_mib"],
                disk_gib=row["flavor__disk_gib"],
                cpu_used=load.cpu_used_vcpus if load else 0.0,
                mem_used_mib=float(load.mem_used_mib) if load else 0.0,
                environment=row["environment__name"],
                anti_affinity=f"{row['tenant_id']}:{group}" if group else "",
                movable=running and load is not None and row["id"] not in busy,
            )
        )
    host_loads = [
        drs.HostLoadState(
            capacity=h,
            cpu_used=cpu.get(h.id, 0.0),
            mem_used_mib=mem.get(h.id, 0.0),
            measured=h.id not in unmeasured,
        )
        for h in hosts
    ]
    return host_loads, vms


def drs_figures(*, now: datetime | None = None) -> dict[str, Any]:
    """The pool's imbalance now and how many hosts and VMs it is measured over (for the UI)."""
    settings_row = drs_settings()
    since = (now or timezone.now()) - timedelta(minutes=settings_row.window_minutes)
    hosts, vms = drs_states(since=since)
    balanced = [h for h in hosts if h.balanced]
    return {
        "imbalance": drs.imbalance(hosts),
        "hosts": len(balanced),
        "hosts_unmeasured": sum(1 for h in hosts if not h.measured),
        "vms": sum(1 for v in vms if v.movable),
    }


# --- runs ------------------------------------------------------------------------------------


def drs_run(*, requested_by: User | None = None, now: datetime | None = None) -> DrsRun:
    """Compute recommendations from the last window of samples and, in automatic mode, apply
    them (up to the per-cycle limit, less the migrations already in flight).

    `requested_by` None is the periodic cycle; an admin may also ask for a run at any time,
    whatever the mode. Pending recommendations of earlier runs become stale: they were computed
    on loads this run supersedes.
    """
    if requested_by is not None:
        require_platform_admin(requested_by)
    now = now or timezone.now()
    conf = drs_settings()
    hosts, vms = drs_states(since=now - timedelta(minutes=conf.window_minutes))
    moves = drs.recommend(
        hosts,
        vms,
        max_moves=conf.max_moves,
        threshold=float(conf.threshold),
        reference_hosts=drs.REFERENCE_HOSTS,
    )
    current = drs.imbalance(hosts)
    with transaction.atomic():
        DrsRecommendation.objects.filter(status=RecommendationStatus.PENDING).update(
            status=RecommendationStatus.STALE,
            reason=_("Replaced by a newer run."),
            decided_at=now,
        )
        run = DrsRun.objects.create(
            requested_by=requested_by,
            mode=conf.mode,
            window_minutes=conf.window_minutes,
            hosts=sum(1 for h in hosts if h.balanced),
            vms=sum(1 for v in vms if v.movable),
            imbalance=current,
            expected_imbalance=moves[-1].imbalance_after if moves else current,
        )
        recs = DrsRecommendation.objects.bulk_create(
            DrsRecommendation(
                run=run,
                position=i,
                vm_id=m.vm_id,
                source_id=m.source_id,
                target_id=m.target_id,
                imbalance_before=m.imbalance_before,
                imbalance_after=m.imbalance_after,
                cpu_used=m.cpu_used,
                mem_used_mib=m.mem_used_mib,
            )
            for i, m in enumerate(moves)
        )
        audit_record(
            actor=requested_by,
            action="drs.run",
            obj=run,
            changes={
                "imbalance": round(current, 4),
                "recommendations": len(recs),
                "mode": conf.mode,
            },
        )
    if conf.mode == DrsMode.AUTOMATIC:
        in_flight = (
            Operation.objects.unscoped()
            .filter(kind=OperationKind.MIGRATE, status__in=_ACTIVE)
            .count()
        )
        applied = 0
        for rec in recs[: max(0, conf.max_moves - in_flight)]:
            try:
                if _apply(rec, actor=None) is not None:
                    applied += 1
            except ConflictError:
                continue  # an admin applied or dismissed it meanwhile
        DrsRun.objects.filter(pk=run.pk).update(applied=applied)
        run.applied = applied
    return run


def drs_cycle(*, now: datetime | None = None) -> dict[str, int | str]:
    """The periodic task: a run when the mode is not off and the interval has passed."""
    now = now or timezone.now()
    conf = drs_settings()
    if conf.mode == DrsMode.OFF:
        return {"skipped": "off"}
    last = DrsRun.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    # A little slack, so a cycle ticking exactly on the interval does not slip to the next tick.
    if last is not None and now - last < timedelta(minutes=conf.interval_minutes, seconds=-5):
        return {"skipped": "interval"}
    run = drs_run(now=now)
    return {"run": run.pk, "recommendations": run.recommendations.count(), "applied": run.applied}


# --- applying and dismissing -----------------------------------------------------------------


def _staleness(rec: DrsRecommendation) -> str | None:
    """Why the recommendation no longer describes the pool, or None if it still does."""
    vm = rec.vm
    if vm.state != VMState.RUNNING:
        return _("The VM is no longer running (it is %(state)s).") % {
            "state": str(VMState(vm.state).label).lower()
        }
    if vm.host_id != rec.source_id:
        return _("The VM no longer runs on %(host)s.") % {"host": rec.source.name}
    if Operation.objects.unscoped().filter(vm=vm, status__in=_ACTIVE).exists():
        return _("The VM has an operation in progress.")
    for host in (rec.source, rec.target):
        if host.status != HostStatus.UP:
            return _("Host %(host)s is disabled, in maintenance or down.") % {"host": host.name}
    return None


def _apply(
    rec: DrsRecommendation, *, actor: User | None, remote_addr: str | None = None
) -> Operation | None:
    """Start the recommended migration, or mark the recommendation stale and say why.

    The recommendation row is locked and must still be pending, so two admins (or an admin
    and the automatic cycle) cannot apply it twice.
    """
    with transaction.atomic():
        rec = (
            DrsRecommendation.objects.select_for_update(of=("self",))
            .select_related("vm", "source", "target")
            .get(pk=rec.pk)
        )
        if rec.status != RecommendationStatus.PENDING:
            raise ConflictError(
                _("This recommendation is already %(status)s.")
                % {"status": str(RecommendationStatus(rec.status).label).lower()},
                state=rec.status,
            )
        reason = _staleness(rec)
        op: Operation | None = None
        if reason is None:
            try:
                with transaction.atomic():
                    op = vm_migrate(
                        vm=rec.vm, requested_by=actor, target=rec.target, remote_addr=remote_addr
                    )
            except ValidationError as exc:
                reason = " ".join(exc.messages)
            except ConflictError as exc:
                reason = exc.message
        rec.status = RecommendationStatus.STALE if reason else RecommendationStatus.APPLIED
        rec.reason = reason or ""
        rec.operation = op
        rec.decided_by, rec.decided_at = actor, timezone.now()
        rec.save(update_fields=["status", "reason", "operation", "decided_by", "decided_at"])
        audit_record(
            actor=actor,
            action="drs.stale" if reason else "drs.apply",
            obj=rec,
            changes={
                "vm": rec.vm.name,
                "host": [rec.source.name, rec.target.name],
                **({"reason": reason} if reason else {}),
            },
            remote_addr=remote_addr,
        )
    if reason:
        logger.info("DRS recommendation %s not applied: %s", rec.pk, reason)
    return op


def drs_recommendation_apply(
    *, recommendation: DrsRecommendation, requested_by: User, remote_addr: str | None = None
) -> DrsRecommendation:
    """An admin applies a recommendation: its live migration starts, or it is marked stale
    (and a ConflictError says why) when the VM or the hosts changed since it was made."""
    require_platform_admin(requested_by)
    op = _apply(recommendation, actor=requested_by, remote_addr=remote_addr)
    recommendation.refresh_from_db()
    if op is None:
        raise ConflictError(
            _("Not applied: %(reason)s") % {"reason": recommendation.reason},
            state=recommendation.status,
        )
    return recommendation


@transaction.atomic
def drs_recommendation_dismiss(
    *, recommendation: DrsRecommendation, requested_by: User, remote_addr: str | None = None
) -> DrsRecommendation:
    require_platform_admin(requested_by)
    now = timezone.now()
    updated = DrsRecommendation.objects.filter(
        pk=recommendation.pk, status=RecommendationStatus.PENDING
    ).update(status=RecommendationStatus.DISMISSED, decided_by=requested_by, decided_at=now)
    recommendation.refresh_from_db()
    if not updated:
        raise ConflictError(
            _("This recommendation is already %(status)s.")
            % {"status": str(RecommendationStatus(recommendation.status).label).lower()},
            state=recommendation.status,
        )
    audit_record(
        actor=requested_by, action="drs.dismiss", obj=recommendation, remote_addr=remote_addr
    )
    return recommendation
