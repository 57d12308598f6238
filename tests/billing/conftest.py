"""A settable clock for exact durations; everything else runs for real (services, libvirt)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import PriceList


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
