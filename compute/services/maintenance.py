"""Host maintenance (evacuation by live migration) and rolling maintenance across the pool."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from compute import scheduler
from compute.choices import HostStatus, OperationStatus, VMState, VolumeState
from compute.models import (
    Host,
    Operation,
    RollingMaintenance,
    VirtualMachine,
    Volume,
    host_status_q,
)
from compute.selectors import host_maintenance_status
from compute.services.migration import vm_migrate
from compute.services.placement import _host_states, _placement_request
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User
from portal.permissions import require_platform_admin


def host_evacuate(*, host: Host) -> dict[str, int]:
    """Start a live migration for each running VM on a host in maintenance that has none yet.

    Each VM is migrated in its own transaction: one VM that finds no room elsewhere does not keep
    the others. Called when maintenance starts and again by the reconciler until the host is empty.
    """
    counts = {"started": 0, "no_room": 0}
    busy = Operation.objects.unscoped().filter(
        status__in=[OperationStatus.PENDING, OperationStatus.RUNNING]
    )
    running = (
        VirtualMachine.objects.unscoped()
        .filter(host=host, state=VMState.RUNNING)
        .exclude(pk__in=busy.values("vm_id"))
    )
    for vm in running:
        try:
            vm_migrate(vm=vm, requested_by=None)
        except ValidationError:
            counts["no_room"] += 1
        except ConflictError:
            continue  # its state changed meanwhile (stopped, deleted, another operation)
        else:
            counts["started"] += 1
    return counts


@dataclass(frozen=True)
class EvacuationMove:
    """One VM of a host about to enter maintenance: where it would go, or why it stays."""

    vm: VirtualMachine
    target: Host | None
    # "" (it moves to `target`), "busy" (another operation runs: it moves after),
    # "volumes" (one of its data volumes is being changed: it moves once that ends; attached
    # volumes otherwise move with it), "no_room" (waits for room).
    blocked: str = ""


def host_evacuation_plan(*, host: Host, requested_by: User) -> list[EvacuationMove]:
    """What entering maintenance would do to the host's running VMs, for the confirmation
    page: each one's likely destination, the placement deciding for each VM in turn with the
    previous ones' claims counted (as the evacuation does). A read: nothing is locked or
    written, so the real moves may differ if the pool changes meanwhile."""
    require_platform_admin(requested_by)
    busy = set(
        Operation.objects.unscoped()
        .filter(status__in=[OperationStatus.PENDING, OperationStatus.RUNNING])
        .values_list("vm_id", flat=True)
    )
    with_busy_volumes = set(
        Volume.objects.unscoped()
        .filter(vm__host=host)
        .exclude(state__in=[VolumeState.IN_USE, VolumeState.DELETED])
        .values_list("vm_id", flat=True)
    )
    running = list(
        VirtualMachine.objects.unscoped()
        .filter(host=host, state=VMState.RUNNING)
        .select_related("flavor", "environment", "tenant", "owner")
        .order_by("pk")
    )
    states = _host_states(Host.objects.exclude(pk=host.pk).order_by("pk"))
    names = dict(Host.objects.values_list("pk", "name"))
    hosts = {pk: Host(pk=pk, name=name) for pk, name in names.items()}
    plan: list[EvacuationMove] = []
    for vm in running:
        if vm.pk in busy:
            plan.append(EvacuationMove(vm=vm, target=None, blocked="busy"))
            continue
        if vm.pk in with_busy_volumes:
            plan.append(EvacuationMove(vm=vm, target=None, blocked="volumes"))
            continue
        request = _placement_request(vm)
        choice = scheduler.choose_host(request, states, mode=settings.NUAGE["PLACEMENT_MODE"])
        if choice.host_id is None:
            plan.append(EvacuationMove(vm=vm, target=None, blocked="no_room"))
            continue
        states = [st.with_claim(request) if st.id == choice.host_id else st for st in states]
        plan.append(EvacuationMove(vm=vm, target=hosts[choice.host_id]))
    return plan


def host_set_maintenance(
    *, host: Host, enabled: bool, requested_by: User, remote_addr: str | None = None
) -> dict[str, int]:
    """Enter maintenance (no new VMs; running VMs migrate away) or return to the pool."""
    require_platform_admin(requested_by)
    return _maintenance(host, enabled=enabled, actor=requested_by, remote_addr=remote_addr)


def _maintenance(
    host: Host, *, enabled: bool, actor: User | None, remote_addr: str | None = None
) -> dict[str, int]:
    with transaction.atomic():
        host = Host.objects.select_for_update().get(pk=host.pk)
        if host.maintenance != enabled:
            Host.objects.filter(pk=host.pk).update(maintenance=enabled)
            host.maintenance = enabled
            audit_record(
                actor=actor,
                action="host.maintenance.enter" if enabled else "host.maintenance.exit",
                obj=host,
                changes={"maintenance": [not enabled, enabled]},
                remote_addr=remote_addr,
            )
    return host_evacuate(host=host) if enabled else {"started": 0, "no_room": 0}


def rolling_maintenance_start(
    *, requested_by: User, hold_seconds: int | None = None, remote_addr: str | None = None
) -> RollingMaintenance:
    """Take every enabled host through maintenance, one at a time, as one action.

    The first host enters maintenance now; each time the current one is empty it stays in
    maintenance until an admin says its work is done (`rolling_maintenance_continue`), or for
    `hold_seconds` when given, then it returns to the pool and the next one goes.
    """
    require_platform_admin(requested_by)
    with transaction.atomic():
        if RollingMaintenance.objects.filter(status=RollingMaintenance.Status.RUNNING).exists():
            raise ConflictError(_("A rolling maintenance is already running."))
        hosts = list(
            Host.objects.filter(host_status_q(HostStatus.UP))
            .order_by("name")
            .values_list("pk", flat=True)
        )
        if len(hosts) < 2:
            raise ValidationError(
                _("A rolling maintenance needs two hosts up or more: the VMs need somewhere to go.")
            )
        run = RollingMaintenance.objects.create(
            requested_by=requested_by, host_ids=hosts, hold_seconds=hold_seconds
        )
        audit_record(
            actor=requested_by,
            action="host.rolling_maintenance.start",
            obj=run,
            changes={"hosts": hosts, "hold_seconds": hold_seconds},
            remote_addr=remote_addr,
        )
    _maintenance(Host.objects.get(pk=hosts[0]), enabled=True, actor=requested_by)
    return run


def rolling_maintenance_advance(*, now: datetime | None = None) -> RollingMaintenance | None:
    """Move the running rolling maintenance on when its current host is ready (reconciler)."""
    now = now or timezone.now()
    run = RollingMaintenance.objects.filter(status=RollingMaintenance.Status.RUNNING).first()
    if run is None:
        return None
    host = _rolling_host(run)
    if host is None or not host.maintenance:
        return _rolling_next(run)  # deleted, or taken out of maintenance by hand: skip it
    if not host_maintenance_status(host)["ready"]:
        return run
    if run.ready_at is None:
        RollingMaintenance.objects.filter(pk=run.pk).update(ready_at=now)
        run.ready_at = now
    if run.hold_seconds is not None and now >= run.ready_at + timedelta(seconds=run.hold_seconds):
        return _rolling_next(run)
    return run


def rolling_maintenance_continue(
    *, run: RollingMaintenance, requested_by: User, remote_addr: str | None = None
) -> RollingMaintenance:
    """The admin says the current host's work is done: it returns and the next one goes."""
    require_platform_admin(requested_by)
    run.refresh_from_db()
    if run.status != RollingMaintenance.Status.RUNNING:
        raise ConflictError(_("This rolling maintenance is over."))
    host = _rolling_host(run)
    if host is None:
        return _rolling_next(run, actor=requested_by)
    status = host_maintenance_status(host)
    if not status["ready"]:
        raise ConflictError(
            ngettext(
                "%(host)s still has %(n)s VM; it can go back once it is empty.",
                "%(host)s still has %(n)s VMs; it can go back once it is empty.",
                int(status["vms"]),
            )
            % {"host": host.name, "n": status["vms"]}
        )
    return _rolling_next(run, actor=requested_by, continued=host, remote_addr=remote_addr)


def rolling_maintenance_cancel(*, run: RollingMaintenance, requested_by: User) -> None:
    """Stop after the current host: it stays in maintenance until an admin returns it."""
    require_platform_admin(requested_by)
    with transaction.atomic():
        updated = RollingMaintenance.objects.filter(
            pk=run.pk, status=RollingMaintenance.Status.RUNNING
        ).update(status=RollingMaintenance.Status.CANCELLED, finished_at=timezone.now())
        if not updated:
            raise ConflictError(_("This rolling maintenance is over."))
        audit_record(actor=requested_by, action="host.rolling_maintenance.cancel", obj=run)


def _rolling_host(run: RollingMaintenance) -> Host | None:
    host_id = run.current_host_id
    return None if host_id is None else Host.objects.filter(pk=host_id).first()


def _rolling_next(
    run: RollingMaintenance,
    *,
    actor: User | None = None,
    continued: Host | None = None,
    remote_addr: str | None = None,
) -> RollingMaintenance:
    """Return the current host to the pool and send the next one into maintenance.

    `continued` is the host an admin said is done: that is audited in the transaction that
    moves the run on.
    """
    with transaction.atomic():
        run = RollingMaintenance.objects.select_for_update().get(pk=run.pk)
        if run.status != RollingMaintenance.Status.RUNNING:
            return run
        if continued is not None:
            audit_record(
                actor=actor,
                action="host.rolling_maintenance.continue",
                obj=run,
                changes={"host": continued.name},
                remote_addr=remote_addr,
            )
        current = _rolling_host(run)
        if current is not None and current.maintenance:
            _maintenance(current, enabled=False, actor=actor)
        run.position += 1
        run.ready_at = None
        if run.current_host_id is None:
            run.status, run.finished_at = RollingMaintenance.Status.DONE, timezone.now()
        run.save(update_fields=["position", "ready_at", "status", "finished_at"])
    following = _rolling_host(run)
    if run.status == RollingMaintenance.Status.RUNNING and following is not None:
        _maintenance(following, enabled=True, actor=actor)
    return run
