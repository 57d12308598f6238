"""A settable clock for exact durations; everything else runs for real (services, libvirt)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.choices import UsageKind
from billing.models import PriceList, UsageEvent
from compute.models import VirtualMachine


class Clock:
    """timezone.now() answers `now` when set: state changes happen at instants the test picks."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def set(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: c.now or real())
    return c


def price_list(
    when: datetime, vcpu: str, ram: str, disk: str, *, currency: str = "EUR", **extra: object
) -> PriceList:
    return PriceList.objects.create(
        name=f"prices {when:%Y-%m-%d %H:%M}",
        currency=currency,
        effective_from=when,
        vcpu_hour=Decimal(vcpu),
        ram_gib_hour=Decimal(ram),
        disk_gib_hour=Decimal(disk),
        **extra,
    )


def ledger(vm: VirtualMachine, kind: str, at: datetime) -> UsageEvent:
    """A hand-written ledger event (what the compute services write with a transition)."""
    return UsageEvent.objects.create(
        key=f"{vm.uuid}:test@{at.isoformat()}:{kind}",
        vm=vm,
        tenant_id=vm.tenant_id,
        environment_id=vm.environment_id,
        kind=kind,
        at=at,
        vcpus=vm.flavor.vcpus,
        ram_mib=vm.flavor.ram_mib,
        disk_gib=vm.flavor.disk_gib,
        flavor=vm.flavor,
    )


def run(vm: VirtualMachine, start: datetime, stop: datetime | None = None) -> None:
    """Created and started at `start`; stopped at `stop` (the disk stays) if given."""
    ledger(vm, UsageKind.CREATED, start)
    ledger(vm, UsageKind.STARTED, start)
    if stop is not None:
        ledger(vm, UsageKind.STOPPED, stop)
