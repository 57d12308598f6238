"""What compute's services ask of the apps built on it, without importing them: the usage
ledger and the budget (billing), the quota bookkeeping (quotas). Each of those apps plugs its
own functions in when Django starts (`AppConfig.ready`), so the imports go one way (the apps
import compute, never the reverse). Until an app has plugged in, a call raises: a charge or a
quota is never skipped silently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from compute.models import Flavor, Snapshot, VirtualMachine, Volume
    from portal.models import Tenant


class UsageRecorder(Protocol):
    def __call__(
        self, *, vm: VirtualMachine, transition: str, previous_state: str, at: datetime
    ) -> None: ...


class BudgetGuard(Protocol):
    def __call__(self, *, tenant: Tenant) -> str | None: ...


class QuotaReserve(Protocol):
    def __call__(self, *, vm: VirtualMachine) -> object: ...


class QuotaCharge(Protocol):
    def __call__(self, *, vm: VirtualMachine) -> None: ...


class QuotaRelease(Protocol):
    def __call__(self, *, vm: VirtualMachine, reserved_only: bool = False) -> None: ...


class QuotaResize(Protocol):
    def __call__(
        self, *, vm: VirtualMachine, old: Flavor, new: Flavor, check: bool = True
    ) -> None: ...


@dataclass
class _Plugged:
    usage_record_transition: UsageRecorder | None = None
    budget_refusal: BudgetGuard | None = None
    quota_reserve: QuotaReserve | None = None
    quota_charge: QuotaCharge | None = None
    quota_release: QuotaRelease | None = None


_plugged = _Plugged()


def plug_billing(*, usage_recorder: UsageRecorder, budget_guard: BudgetGuard) -> None:
    _plugged.usage_record_transition = usage_recorder
    _plugged.budget_refusal = budget_guard


def plug_quotas(*, reserve: QuotaReserve, charge: QuotaCharge, release: QuotaRelease) -> None:
    _plugged.quota_reserve = reserve
    _plugged.quota_charge = charge
    _plugged.quota_release = release


def _missing(name: str, app: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"compute.ports.{name}: the {app} app is not installed or ready.")


def usage_record_transition(
    *, vm: VirtualMachine, transition: str, previous_state: str, at: datetime
) -> None:
    """Record the charges a VM's transition starts or stops (billing's ledger)."""
    fn = _plugged.usage_record_transition
    if fn is None:
        raise _missing("usage_record_transition", "billing")
    fn(vm=vm, transition=transition, previous_state=previous_state, at=at)


def budget_refusal(*, tenant: Tenant) -> str | None:
    """Why a new VM request of the tenant must be refused for its budget, if it must."""
    fn = _plugged.budget_refusal
    if fn is None:
        raise _missing("budget_refusal", "billing")
    return fn(tenant=tenant)


def quota_reserve(*, vm: VirtualMachine) -> None:
    """Reserve the VM's share of its environment's quota (a ValidationError if it does not fit)."""
    fn = _plugged.quota_reserve
    if fn is None:
        raise _missing("quota_reserve", "quotas")
    fn(vm=vm)


def quota_charge(*, vm: VirtualMachine) -> None:
    """The VM is provisioned: its reservation becomes use."""
    fn = _plugged.quota_charge
    if fn is None:
        raise _missing("quota_charge", "quotas")
    fn(vm=vm)


def quota_release(*, vm: VirtualMachine, reserved_only: bool = False) -> None:
    """Give the VM's share back (idempotent); with reserved_only, only a reservation."""
    fn = _plugged.quota_release
    if fn is None:
        raise _missing("quota_release", "quotas")
    fn(vm=vm, reserved_only=reserved_only)


# --- volumes: their GiB in the `disk_gib` quota (quotas) and their usage ledger (billing) ----


class VolumeQuotaTake(Protocol):
    def __call__(self, *, volume: Volume, gib: int) -> None: ...


class VolumeQuotaGive(Protocol):
    def __call__(self, *, volume: Volume, gib: int) -> None: ...


class VolumeUsageRecorder(Protocol):
    def __call__(self, *, volume: Volume, kind: str, size_gib: int, at: datetime) -> None: ...


@dataclass
class _PluggedVolumes:
    quota_take: VolumeQuotaTake | None = None
    quota_give: VolumeQuotaGive | None = None
    usage_record: VolumeUsageRecorder | None = None


_plugged_volumes = _PluggedVolumes()


def plug_volume_quotas(*, take: VolumeQuotaTake, give: VolumeQuotaGive) -> None:
    _plugged_volumes.quota_take = take
    _plugged_volumes.quota_give = give


def plug_volume_billing(*, usage_recorder: VolumeUsageRecorder) -> None:
    _plugged_volumes.usage_record = usage_recorder


def volume_quota_take(*, volume: Volume, gib: int) -> None:
    """Take `gib` of the volume's environment's disk quota at once (a ValidationError on
    `size_gib` if it does not fit; nothing taken then)."""
    fn = _plugged_volumes.quota_take
    if fn is None:
        raise _missing("volume_quota_take", "quotas")
    fn(volume=volume, gib=gib)


def volume_quota_give(*, volume: Volume, gib: int) -> None:
    """Give `gib` of the disk quota back (the volume was deleted or shrank a pending resize)."""
    fn = _plugged_volumes.quota_give
    if fn is None:
        raise _missing("volume_quota_give", "quotas")
    fn(volume=volume, gib=gib)


def volume_usage_record(*, volume: Volume, kind: str, size_gib: int, at: datetime) -> None:
    """Append the volume's event (created, resized, deleted) to billing's ledger, at `at`."""
    fn = _plugged_volumes.usage_record
    if fn is None:
        raise _missing("volume_usage_record", "billing")
    fn(volume=volume, kind=kind, size_gib=size_gib, at=at)


# --- snapshots: one each in the `snapshots` quota (quotas), GiB-hours in the ledger (billing) ---


class SnapshotQuotaTake(Protocol):
    def __call__(self, *, vm: VirtualMachine, count: int) -> None: ...


class SnapshotQuotaGive(Protocol):
    def __call__(self, *, vm: VirtualMachine, count: int) -> None: ...


class SnapshotUsageRecorder(Protocol):
    def __call__(self, *, snapshot: Snapshot, kind: str, at: datetime) -> None: ...


@dataclass
class _PluggedSnapshots:
    quota_take: SnapshotQuotaTake | None = None
    quota_give: SnapshotQuotaGive | None = None
    usage_record: SnapshotUsageRecorder | None = None


_plugged_snapshots = _PluggedSnapshots()


def plug_snapshot_quotas(*, take: SnapshotQuotaTake, give: SnapshotQuotaGive) -> None:
    _plugged_snapshots.quota_take = take
    _plugged_snapshots.quota_give = give


def plug_snapshot_billing(*, usage_recorder: SnapshotUsageRecorder) -> None:
    _plugged_snapshots.usage_record = usage_recorder


def snapshot_quota_take(*, vm: VirtualMachine, count: int = 1) -> None:
    """Take `count` snapshots of the VM's environment's quota at once, with one conditional
    UPDATE (a ValidationError on `name` if it does not fit; nothing taken then)."""
    fn = _plugged_snapshots.quota_take
    if fn is None:
        raise _missing("snapshot_quota_take", "quotas")
    fn(vm=vm, count=count)


def snapshot_quota_give(*, vm: VirtualMachine, count: int = 1) -> None:
    """Give `count` snapshots of the quota back (deleted, or failed to be taken)."""
    fn = _plugged_snapshots.quota_give
    if fn is None:
        raise _missing("snapshot_quota_give", "quotas")
    fn(vm=vm, count=count)


def snapshot_usage_record(*, snapshot: Snapshot, kind: str, at: datetime) -> None:
    """Append the snapshot's event ("created" with its measured size, or "deleted") to
    billing's ledger, at `at`."""
    fn = _plugged_snapshots.usage_record
    if fn is None:
        raise _missing("snapshot_usage_record", "billing")
    fn(snapshot=snapshot, kind=kind, at=at)


# --- resize: the quota moves from the old flavor's size to the new one's (quotas) -----------

_plugged_resize: dict[str, QuotaResize] = {}


def plug_quota_resize(*, resize: QuotaResize) -> None:
    _plugged_resize["quota_resize"] = resize


def quota_resize(*, vm: VirtualMachine, old: Flavor, new: Flavor, check: bool = True) -> None:
    """Move the VM's quota share from `old`'s size to `new`'s at once (a ValidationError on
    `flavor` naming what does not fit, nothing written); `check=False` gives a failed resize's
    share back whatever the limits are now."""
    fn = _plugged_resize.get("quota_resize")
    if fn is None:
        raise _missing("quota_resize", "quotas")
    fn(vm=vm, old=old, new=new, check=check)
