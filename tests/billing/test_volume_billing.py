"""Data volumes are billed per GiB-hour at the disk price, exactly to the second, from their
creation to their deletion: on the usage report, the API's usage, the month's cost and the
invoice (cents computed by hand below)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from billing import invoicing
from billing.choices import Resource
from billing.models import VolumeUsageEvent
from billing.selectors import month_cost, usage_report
from compute import services
from tests.billing.conftest import price_list

pytestmark = pytest.mark.django_db

CREATED = datetime(2025, 10, 3, 8, 0, 0, tzinfo=UTC)
RESIZED = CREATED + timedelta(seconds=181_815)  # 50 h 30 min 15 s later
DELETED = RESIZED + timedelta(seconds=360_007)  # 100 h 0 min 7 s later
OCTOBER = (datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC))


@pytest.fixture
def volume_life(world, clock):
    # vCPU, RAM and disk prices; volumes pay the disk price: 0.0137 per GiB-hour.
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.0137")
    clock.set(CREATED)
    volume = services.volume_create(
        created_by=world.member, environment=world.development, name="data", size_gib=10
    )
    clock.set(RESIZED)
    services.volume_resize(volume=volume, size_gib=25, requested_by=world.member)
    clock.set(DELETED)
    services.volume_delete(volume=volume, requested_by=world.member)
    clock.set(datetime(2025, 12, 1, tzinfo=UTC))
    return volume


# 10 GiB x 181,815 s x 0.0137 / 3,600 = 6.91907083... -> 6.92
# 25 GiB x 360,007 s x 0.0137 / 3,600 = 34.25066597... -> 34.25
EXPECTED = [
    (Decimal(10), Decimal(181_815), Decimal("6.92")),
    (Decimal(25), Decimal(360_007), Decimal("34.25")),
]


def test_the_ledger_holds_each_fact_at_its_second(volume_life):
    events = VolumeUsageEvent.objects.unscoped().filter(volume=volume_life).order_by("at")
    assert [(e.kind, e.at, e.size_gib) for e in events] == [
        ("created", CREATED, 10),
        ("resized", RESIZED, 25),
        ("deleted", DELETED, 25),
    ]


def test_usage_report_charges_each_size_exactly(world, volume_life):
    lines = usage_report(fetched_by=world.tenant_admin, start=OCTOBER[0], end=OCTOBER[1])
    volume_lines = [ln for ln in lines if ln.resource == Resource.VOLUME]
    assert [(ln.quantity, ln.seconds, ln.amount) for ln in volume_lines] == EXPECTED
    assert {ln.volume_id for ln in volume_lines} == {volume_life.pk}
    assert volume_lines[0].unit_price == Decimal("0.0137")


def test_the_invoice_has_the_volume_lines(world, volume_life):
    invoice, _changed = invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=10
    )
    lines = invoicing.invoice_lines(invoice)
    assert [(ln.resource, ln.quantity, ln.seconds, ln.amount) for ln in lines] == [
        ("volume", *row) for row in EXPECTED
    ]
    assert invoice.total == Decimal("41.17")
    assert lines[0].description == "data (development): Volume, 10 GiB"
    assert lines[0].vm_id is None
    issued = invoicing.invoice_issue(issued_by=world.finance, invoice=invoice)
    assert issued.total == Decimal("41.17")


def test_the_usage_api_and_its_export_show_the_volume(world, volume_life):
    finance = APIClient()
    finance.force_authenticate(world.finance)
    params = {"start": OCTOBER[0].isoformat(), "end": OCTOBER[1].isoformat()}
    report = finance.get("/api/v1/usage/", params).json()
    assert Decimal(report["total"]) == Decimal("41.17")
    assert {(ln["volume"], ln["volume_name"], ln["vm"]) for ln in report["lines"]} == {
        (volume_life.pk, "data", None)
    }
    response = finance.get("/api/v1/usage/", {**params, "format": "csv"})
    csv = b"".join(response.streaming_content).decode()
    assert "apollo,data,development,Volume,10,GiB,181815" in csv


def test_the_months_cost_counts_a_volume_still_there(world, clock):
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.0137")
    clock.set(datetime(2025, 10, 1, tzinfo=UTC))
    services.volume_create(
        created_by=world.member, environment=world.development, name="data", size_gib=100
    )
    clock.set(datetime(2025, 10, 2, 12, tzinfo=UTC))
    cost = month_cost(fetched_by=world.member, tenant=world.tenant, by_day=True)
    # 100 GiB x 36 h x 0.0137
    assert cost.total == Decimal("49.32")
    assert [sum(ln.amount for ln in lines) for _day, lines in cost.days] == [
        Decimal("32.88"),  # 24 h
        Decimal("16.44"),  # 12 h
    ]
