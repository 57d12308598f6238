"""VM leases under an environment's lease policy: set, extended, warned about, expired.

The one rule that matters most: a lease counts from when it was SET (`lease_set_at`: the VM's
request under a policy, the moment a policy reached a VM already there, or the lease's last
change), never from the VM's creation. A VM created years before its environment got a
30-day policy gets 30 days from that moment, not an immediate expiry (a peer's version that
counted from `created_at` destroyed such VMs).

`leases_run` (beat, NUAGE_LEASE_INTERVAL) is idempotent: each warning is one conditional
UPDATE that only one run wins; the stop and the deletion go through the VM's state machine
(a VM that changed meanwhile is left to the next run); every step is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from compute.choices import Transition, VMState
from compute.models import VirtualMachine
from compute.selectors import can_operate
from compute.services._common import _operation_begin, _transition
from portal.audit import audit_record
from portal.delivery import mail
from portal.errors import ConflictError
from portal.models import Environment, User
from portal.notifications import notify
from portal.permissions import Perm, has_perm, require_perm

logger = logging.getLogger(__name__)

# Warnings before the expiry, longest first: (name, how long before).
WARNINGS = (("7d", timedelta(days=7)), ("1d", timedelta(days=1)))
# States a lease runs in (a request waiting for approval gets its lease again when approved;
# a rejected or deleted VM has none to run out).
LEASED_STATES = (
    VMState.PROVISIONING,
    VMState.RUNNING,
    VMState.STOPPING,
    VMState.STOPPED,
    VMState.STARTING,
    VMState.REBOOTING,
    VMState.MIGRATING,
    VMState.RESIZING,
    VMState.RESIZE_PENDING,
    VMState.RECOVERING,
    VMState.ERROR,
)


def grace_period() -> timedelta:
    """How long an expired VM stays stopped before it is deleted."""
    return timedelta(days=float(settings.NUAGE.get("LEASE_GRACE_DAYS", 7)))


def lease_new(environment: Environment, *, now: datetime) -> dict[str, datetime | None]:
    """The lease fields of a VM requested now in `environment` (empty without a policy)."""
    if not environment.lease_default_days:
        return {"lease_set_at": None, "expires_at": None}
    return {
        "lease_set_at": now,
        "expires_at": now + timedelta(days=environment.lease_default_days),
    }


def lease_max_days(environment: Environment) -> int | None:
    """The longest lease an owner may give (from the day they extend); approvers may go
    beyond. None: the environment has no lease policy."""
    if not environment.lease_default_days:
        return None
    return environment.lease_max_days or environment.lease_default_days


def can_extend_beyond_max(user: User, vm: VirtualMachine) -> bool:
    return has_perm(user, vm.tenant, Perm.VM_APPROVE)


def _when(vm: VirtualMachine, at: datetime) -> str:
    local = timezone.localtime(at, vm.tenant.zone)
    return f"{formats.date_format(local, 'DATETIME_FORMAT')} ({vm.tenant.timezone})"


@transaction.atomic
def vm_lease_extend(
    *, vm: VirtualMachine, requested_by: User, days: int, remote_addr: str | None = None
) -> VirtualMachine:
    """Set the VM's lease to end `days` from now (its owner or an operator up to the
    environment's maximum, an approver beyond). An expired VM waiting for deletion is saved
    by this too (start it again afterwards)."""
    if not can_operate(requested_by, vm) and not can_extend_beyond_max(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    vm = (
        VirtualMachine.objects.unscoped()
        .select_for_update()
        .select_related("environment", "tenant")
        .get(pk=vm.pk)
    )
    longest = lease_max_days(vm.environment)
    if longest is None or vm.expires_at is None:
        raise ValidationError(
            {"days": _("This VM has no lease: its environment sets no lifetime.")}
        )
    if vm.state not in LEASED_STATES:
        raise ConflictError(
            _("A lease can only be extended on a VM that exists; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
        raise ValidationError({"days": _("Give a whole number of days from 1 to 3650.")})
    if days > longest and not can_extend_beyond_max(requested_by, vm):
        raise ValidationError(
            {
                "days": _(
                    "Leases in %(env)s last at most %(max)s days from today; ask an approver "
                    "for longer."
                )
                % {"env": vm.environment.name, "max": longest}
            }
        )
    now = timezone.now()
    before = vm.expires_at
    fields = {
        "lease_set_at": now,
        "expires_at": now + timedelta(days=days),
        "lease_warned_7d_at": None,
        "lease_warned_1d_at": None,
        "lease_expired_at": None,
    }
    VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(**fields)
    for name, value in fields.items():
        setattr(vm, name, value)
    audit_record(
        actor=requested_by,
        action="vm.lease.extend",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={
            "expires_at": [
                before.isoformat() if before else None,
                fields["expires_at"].isoformat(),  # type: ignore[union-attr]
            ],
            "days": days,
        },
    )
    return vm


@transaction.atomic
def vm_lease_ask(
    *,
    vm: VirtualMachine,
    requested_by: User,
    days: int,
    reason: str,
    remote_addr: str | None = None,
) -> int:
    """Ask the tenant's approvers for a longer lease than the maximum: they are told in the
    portal and by e-mail, and extend it on the VM's page. Returns how many were told."""
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    if lease_max_days(vm.environment) is None or vm.expires_at is None:
        raise ValidationError(
            {"days": _("This VM has no lease: its environment sets no lifetime.")}
        )
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 3650:
        raise ValidationError({"days": _("Give a whole number of days from 1 to 3650.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Tell the approvers why the VM needs longer.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    approvers = [
        u
        for u in mail.tenant_recipients(vm.tenant, Perm.VM_APPROVE, with_email=False)
        if u.pk != requested_by.pk
    ]
    url = f"/vms/{vm.pk}/#lease"
    for approver in approvers:
        notify(
            user=approver,
            kind="lease.extension_asked",
            text=lambda: (
                _("%(user)s asks to extend the lease of %(vm)s by %(days)s days.")
                % {"user": requested_by.username, "vm": vm.name, "days": days}
            ),
            url=url,
            tenant=vm.tenant,
        )

    def compose(user: User) -> tuple[str, str]:
        subject = _("[Nuage] %(user)s asks for a longer lease of %(vm)s") % {
            "user": requested_by.username,
            "vm": vm.name,
        }
        body = _(
            "%(user)s asks to extend the lease of %(vm)s (%(tenant)s / %(env)s) by %(days)s "
            "days, beyond the environment's maximum. It now expires on %(expires)s.\n\n"
            "Reason: %(reason)s\n\nExtend it on its page: %(link)s\n"
        ) % {
            "user": requested_by.username,
            "vm": vm.name,
            "tenant": vm.tenant.name,
            "env": vm.environment.name,
            "days": days,
            "expires": _when(vm, vm.expires_at),  # type: ignore[arg-type]
            "reason": reason,
            "link": mail.link(url),
        }
        return subject, body

    recipients = [u for u in approvers if u.email]
    transaction.on_commit(lambda: mail.send(recipients, compose))
    audit_record(
        actor=requested_by,
        action="vm.lease.ask",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"days": days, "reason": reason},
    )
    return len(approvers)


# --- the periodic run --------------------------------------------------------------------------


@dataclass
class LeaseRunResult:
    applied: int = 0
    cleared: int = 0
    warned: int = 0
    stopped: int = 0
    deleted: int = 0


def _apply_policies(now: datetime, result: LeaseRunResult) -> None:
    """VMs in an environment with a lease policy and no lease yet (the policy is new, or was
    changed from none) get a FULL lease from now. Never from their creation."""
    policies = Environment.objects.unscoped().filter(lease_default_days__isnull=False)
    for env in policies.iterator():
        with transaction.atomic():
            ids = list(
                VirtualMachine.objects.unscoped()
                .select_for_update()
                .filter(environment=env, expires_at__isnull=True, state__in=LEASED_STATES)
                .values_list("pk", flat=True)
            )
            if not ids:
                continue
            assert env.lease_default_days is not None
            VirtualMachine.objects.unscoped().filter(pk__in=ids, expires_at__isnull=True).update(
                lease_set_at=now,
                expires_at=now + timedelta(days=env.lease_default_days),
                lease_warned_7d_at=None,
                lease_warned_1d_at=None,
                lease_expired_at=None,
            )
            audit_record(
                actor=None,
                action="environment.lease.applied",
                obj=env,
                tenant=env.tenant,
                changes={"vms": ids, "days": env.lease_default_days, "from": now.isoformat()},
            )
            result.applied += len(ids)
    # An environment whose policy was removed: its VMs' leases go with it.
    result.cleared += (
        VirtualMachine.objects.unscoped()
        .filter(expires_at__isnull=False, environment__lease_default_days__isnull=True)
        .exclude(state=VMState.DELETED)
        .update(
            lease_set_at=None,
            expires_at=None,
            lease_warned_7d_at=None,
            lease_warned_1d_at=None,
            lease_expired_at=None,
        )
    )


def _warn(vm: VirtualMachine, which: str) -> None:
    expires = _when(vm, vm.expires_at)  # type: ignore[arg-type]
    url = f"/vms/{vm.pk}/#lease"
    assert vm.expires_at is not None
    notify(
        user=vm.owner,
        kind=f"lease.warning_{which}",
        text=lambda: (
            _("%(vm)s expires on %(date)s: extend its lease or it will be stopped.")
            % {"vm": vm.name, "date": expires}
        ),
        url=url,
        tenant=vm.tenant,
        key=f"lease-{which}:{vm.pk}:{vm.expires_at:%Y%m%d%H%M}",
    )

    def compose(user: User) -> tuple[str, str]:
        subject = _("[Nuage] %(vm)s expires on %(date)s") % {"vm": vm.name, "date": expires}
        body = _(
            "The lease of your VM %(vm)s (%(tenant)s / %(env)s) ends on %(date)s. Then it is "
            "stopped, and deleted with its disk %(grace)s days later.\n\n"
            "Extend its lease on its page: %(link)s\n"
        ) % {
            "vm": vm.name,
            "tenant": vm.tenant.name,
            "env": vm.environment.name,
            "date": expires,
            "grace": round(grace_period().total_seconds() / 86400),
            "link": mail.link(url),
        }
        return subject, body

    owner = vm.owner
    transaction.on_commit(lambda: mail.send([owner], compose))


def _tell_expired(vm: VirtualMachine, *, deletes_at: datetime) -> None:
    """The owner learns (in the portal and by e-mail) that the lease ended and when the VM
    goes, while extending it can still save it. A VM in error was not stopped: it says so."""
    when = _when(vm, deletes_at)
    url = f"/vms/{vm.pk}/#lease"
    in_error = vm.state == VMState.ERROR
    assert vm.expires_at is not None

    def text() -> str:
        if in_error:
            return _(
                "The lease of %(vm)s ended while it is in error. It will be deleted with its "
                "disk on %(date)s unless you extend its lease."
            ) % {"vm": vm.name, "date": when}
        return _(
            "%(vm)s was stopped: its lease ended. It will be deleted with its disk on %(date)s "
            "unless you extend its lease."
        ) % {"vm": vm.name, "date": when}

    notify(
        user=vm.owner,
        kind="lease.expired",
        text=text,
        url=url,
        tenant=vm.tenant,
        key=f"lease-expired:{vm.pk}:{vm.expires_at:%Y%m%d%H%M}",
    )

    def compose(user: User) -> tuple[str, str]:
        if in_error:
            subject = _("[Nuage] The lease of %(vm)s ended") % {"vm": vm.name}
            body = _(
                "The lease of your VM %(vm)s ended while it is in error. It will be deleted "
                "with its disk on %(date)s unless you extend its lease: %(link)s\n"
            ) % {"vm": vm.name, "date": when, "link": mail.link(url)}
            return subject, body
        subject = _("[Nuage] %(vm)s was stopped: its lease ended") % {"vm": vm.name}
        body = _(
            "The lease of your VM %(vm)s ended, so it was stopped. It will be deleted with its "
            "disk on %(date)s unless you extend its lease: %(link)s\n"
        ) % {"vm": vm.name, "date": when, "link": mail.link(url)}
        return subject, body

    owner = vm.owner
    transaction.on_commit(lambda: mail.send([owner], compose))


def _send_warnings(now: datetime, result: LeaseRunResult) -> None:
    for which, before in WARNINGS:
        field = f"lease_warned_{which}_at"
        due = (
            VirtualMachine.objects.unscoped()
            .filter(
                state__in=LEASED_STATES,
                expires_at__gt=now,
                expires_at__lte=now + before,
                **{f"{field}__isnull": True},
            )
            .select_related("owner", "tenant", "environment")
        )
        for vm in due:
            with transaction.atomic():
                # One run wins the warning; a rerun (or a concurrent one) finds it sent.
                won = (
                    VirtualMachine.objects.unscoped()
                    .filter(pk=vm.pk, expires_at=vm.expires_at, **{f"{field}__isnull": True})
                    .update(**{field: now})
                )
                if not won:
                    continue
                if which == "7d" and vm.expires_at - now <= WARNINGS[1][1]:  # type: ignore[operator]
                    continue  # the 1-day warning says it (sent just below)
                _warn(vm, which)
                audit_record(
                    actor=None,
                    action=f"vm.lease.warning_{which}",
                    obj=vm,
                    tenant=vm.tenant,
                    changes={"expires_at": vm.expires_at.isoformat()},  # type: ignore[union-attr]
                )
                result.warned += 1


# An expired VM in these states is deleted once the grace period is over: stopped by the lease,
# or in error (nothing to stop; a VM that failed and was forgotten must not hold its quota and
# its disk for ever).
DELETABLE_AFTER_GRACE = (VMState.STOPPED, VMState.ERROR)


def _expire(now: datetime, result: LeaseRunResult) -> None:
    """Expired leases: the VM is stopped (again, if someone started it since); one in error is
    only marked expired (the grace period starts)."""
    expired = (
        VirtualMachine.objects.unscoped()
        .filter(expires_at__lte=now, state__in=(VMState.RUNNING, *DELETABLE_AFTER_GRACE))
        .filter(Q(lease_expired_at__isnull=True) | Q(state=VMState.RUNNING))
        .select_related("tenant")
    )
    for vm in expired:
        try:
            with transaction.atomic():
                locked = (
                    VirtualMachine.objects.unscoped()
                    .select_for_update()
                    .select_related("tenant", "owner")
                    .get(pk=vm.pk)
                )
                if locked.expires_at is None or locked.expires_at > now:
                    continue  # extended meanwhile
                first = locked.lease_expired_at is None
                if first:
                    VirtualMachine.objects.unscoped().filter(pk=locked.pk).update(
                        lease_expired_at=now
                    )
                if locked.state == VMState.RUNNING:
                    _transition(locked, Transition.STOP, error_message="")
                    _operation_begin(locked, requested_by=None)
                    result.stopped += 1
                if first:
                    _tell_expired(locked, deletes_at=now + grace_period())
                audit_record(
                    actor=None,
                    action="vm.lease.expired",
                    obj=locked,
                    tenant=locked.tenant,
                    changes={
                        "expires_at": locked.expires_at.isoformat(),
                        "stopped": locked.state == VMState.STOPPING,
                    },
                )
        except ConflictError:
            continue  # busy with another operation: the next run sees it again


def _delete_after_grace(now: datetime, result: LeaseRunResult) -> None:
    due = (
        VirtualMachine.objects.unscoped()
        .filter(
            state__in=DELETABLE_AFTER_GRACE,
            lease_expired_at__lte=now - grace_period(),
            expires_at__lte=now,
            # Never a lease set after it expired (an extension clears lease_expired_at).
            lease_set_at__lte=F("expires_at"),
        )
        .select_related("tenant")
    )
    for vm in due:
        try:
            with transaction.atomic():
                locked = (
                    VirtualMachine.objects.unscoped()
                    .select_for_update()
                    .select_related("owner")
                    .get(pk=vm.pk)
                )
                if (
                    locked.lease_expired_at is None
                    or locked.expires_at is None
                    or locked.expires_at > now
                    or locked.lease_expired_at > now - grace_period()
                ):
                    continue
                _transition(locked, Transition.DELETE)
                _operation_begin(locked, requested_by=None)
                name = locked.name
                notify(
                    user=locked.owner,
                    kind="lease.deleted",
                    text=lambda name=name: (
                        _(  # type: ignore[misc]
                            "%(vm)s was deleted with its disk: its lease had ended."
                        )
                        % {"vm": name}
                    ),
                    url=f"/vms/{locked.pk}/",
                    tenant=vm.tenant,
                    key=f"lease-deleted:{locked.pk}",
                )
                audit_record(
                    actor=None,
                    action="vm.lease.delete",
                    obj=locked,
                    tenant=vm.tenant,
                    changes={
                        "expires_at": locked.expires_at.isoformat(),
                        "stopped_at": locked.lease_expired_at.isoformat(),
                    },
                )
                result.deleted += 1
        except ConflictError:
            continue


def leases_run(*, now: datetime | None = None) -> LeaseRunResult:
    """One pass: policies reach VMs without a lease, warnings 7 days and 1 day before, expired
    VMs stopped, and deleted a grace period later. Safe to run twice, or concurrently."""
    now = now or timezone.now()
    result = LeaseRunResult()
    _apply_policies(now, result)
    _send_warnings(now, result)
    _expire(now, result)
    _delete_after_grace(now, result)
    if result.stopped or result.deleted:
        logger.info(
            "Leases: %s stopped, %s deleted, %s warned, %s new leases",
            result.stopped,
            result.deleted,
            result.warned,
            result.applied,
        )
    return result
