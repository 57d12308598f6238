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
    from compute.models import VirtualMachine
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
