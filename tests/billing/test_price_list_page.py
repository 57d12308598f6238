"""Finance's price-list page and API: see which list applies now or at a date, create one, end
one; a list that would change prices inside an invoiced month is refused (form error, 400)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from billing.choices import InvoiceStatus, UsageKind
from billing.invoicing import invoice_draft, invoice_issue
from billing.models import Invoice, PriceList
from portal.models import AuditEntry
from tests.billing.conftest import ledger
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def price_list(when: datetime, vcpu: str, ram: str, disk: str, *, name: str) -> PriceList:
    return PriceList.objects.create(
        name=name,
        currency="EUR",
        effective_from=when,
        vcpu_hour=Decimal(vcpu),
        ram_gib_hour=Decimal(ram),
        disk_gib_hour=Decimal(disk),
    )


def finance_client(world) -> Client:
    client = Client()
    client.force_login(world.finance)
    return client


def test_page_shows_which_list_applies_now_and_at_a_date(world):
    now = timezone.now()
    price_list(now - timedelta(days=400), "0.01", "0.01", "0.01", name="old")
    price_list(now - timedelta(days=30), "0.02", "0.01", "0.01", name="current")
    price_list(now + timedelta(days=30), "0.03", "0.01", "0.01", name="next")
    client = finance_client(world)
    page = client.get("/finance/prices/").content.decode()
    assert 'data-applies="current"' in page
    assert 'data-price-list="old" data-status="ended"' in page
    assert 'data-price-list="current" data-status="current"' in page
    assert 'data-price-list="next" data-status="scheduled"' in page
    earlier = (now - timedelta(days=100)).strftime("%Y-%m-%dT%H:%M")
    assert 'data-applies="old"' in client.get(f"/finance/prices/?at={earlier}").content.decode()
    later = (now + timedelta(days=31)).strftime("%Y-%m-%dT%H:%M")
    assert 'data-applies="next"' in client.get(f"/finance/prices/?at={later}").content.decode()


def test_members_do_not_get_the_page(world):
    client = Client()
    client.force_login(world.member)
    assert client.get("/finance/prices/").status_code in (403, 404)


def test_finance_creates_a_list_from_the_page(world):
    client = finance_client(world)
    start = (timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    answer = client.post(
        "/finance/prices/",
        {
            "do": "create",
            "name": "2027",
            "currency": "EUR",
            "effective_from": start,
            "vcpu_hour": "0.04",
            "ram_gib_hour": "0.005",
            "disk_gib_hour": "0.0001",
            "snapshot_gib_hour": "0",
        },
    )
    assert answer.status_code == 302
    created = PriceList.objects.get(name="2027")
    assert created.vcpu_hour == Decimal("0.04") and created.created_by == world.finance
    page = client.get("/finance/prices/").content.decode()
    assert 'data-price-list="2027" data-status="scheduled"' in page


def test_a_negative_price_is_a_form_error_on_its_field(world):
    answer = finance_client(world).post(
        "/finance/prices/",
        {
            "do": "create",
            "name": "bad",
            "currency": "EUR",
            "effective_from": "2030-01-01T00:00",
            "vcpu_hour": "-1",
            "ram_gib_hour": "0",
            "disk_gib_hour": "0",
            "snapshot_gib_hour": "0",
        },
    )
    assert answer.status_code == 400
    assert 'data-error-for="vcpu_hour"' in answer.content.decode()
    assert not PriceList.objects.filter(name="bad").exists()


def issue_january(world) -> Invoice:
    """January 2025 of Apollo invoiced (issued), on the prices of the time."""
    price_list(datetime(2024, 12, 1, tzinfo=UTC), "0.01", "0.01", "0.01", name="2024-12")
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    for kind, day in ((UsageKind.CREATED, 3), (UsageKind.STARTED, 3), (UsageKind.STOPPED, 20)):
        ledger(vm, kind, datetime(2025, 1, day, tzinfo=UTC))
    draft, _changed = invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=1
    )
    return invoice_issue(issued_by=world.finance, invoice=draft)


def test_back_dating_a_list_into_an_invoiced_month_is_refused_on_the_page(world):
    invoice = issue_january(world)
    assert invoice.status == InvoiceStatus.ISSUED
    answer = finance_client(world).post(
        "/finance/prices/",
        {
            "do": "create",
            "name": "sneaky",
            "currency": "EUR",
            "effective_from": "2025-01-15T00:00",
            "vcpu_hour": "9",
            "ram_gib_hour": "9",
            "disk_gib_hour": "9",
            "snapshot_gib_hour": "0",
        },
    )
    assert answer.status_code == 400
    text = answer.content.decode()
    assert 'data-error-for="effective_from"' in text and "are issued up to" in text
    assert not PriceList.objects.filter(name="sneaky").exists()
    # After the invoiced month it is fine.
    answer = finance_client(world).post(
        "/finance/prices/",
        {
            "do": "create",
            "name": "february",
            "currency": "EUR",
            "effective_from": "2025-02-01T00:00",
            "vcpu_hour": "0.02",
            "ram_gib_hour": "0.01",
            "disk_gib_hour": "0.01",
            "snapshot_gib_hour": "0",
        },
    )
    assert answer.status_code == 302


def test_back_dating_through_the_api_is_a_400_on_the_field(world):
    issue_january(world)
    api = APIClient()
    api.force_authenticate(world.finance)
    answer = api.post(
        "/api/v1/prices/",
        {
            "name": "sneaky",
            "currency": "EUR",
            "effective_from": "2025-01-15T00:00:00Z",
            "vcpu_hour": "9",
            "ram_gib_hour": "9",
            "disk_gib_hour": "9",
        },
        format="json",
    )
    assert answer.status_code == 400
    assert "issued up to" in str(answer.json()["effective_from"])


def test_ending_a_list_from_now_on_and_refusals(world):
    current = price_list(timezone.now() - timedelta(days=3), "0.02", "0.01", "0.01", name="cur")
    api = APIClient()
    api.force_authenticate(world.finance)
    past = (timezone.now() - timedelta(days=1)).isoformat()
    answer = api.post(f"/api/v1/prices/{current.pk}/end/", {"effective_to": past}, format="json")
    assert answer.status_code == 400 and "effective_to" in answer.json()
    before_start = (timezone.now() - timedelta(days=5)).isoformat()
    answer = api.post(
        f"/api/v1/prices/{current.pk}/end/", {"effective_to": before_start}, format="json"
    )
    assert answer.status_code == 400
    when = timezone.now() + timedelta(days=10)
    answer = api.post(
        f"/api/v1/prices/{current.pk}/end/", {"effective_to": when.isoformat()}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["effective_until"] is not None
    current.refresh_from_db()
    assert abs(current.effective_to - when) < timedelta(seconds=1)
    assert AuditEntry.objects.filter(action="price_list.end", object_id=str(current.pk)).exists()

    member = APIClient()
    member.force_authenticate(world.member)
    answer = member.post(
        f"/api/v1/prices/{current.pk}/end/", {"effective_to": when.isoformat()}, format="json"
    )
    assert answer.status_code in (403, 404)


def test_ending_from_the_page_shows_the_list_until_then(world):
    current = price_list(timezone.now() - timedelta(days=3), "0.02", "0.01", "0.01", name="cur")
    client = finance_client(world)
    bad = client.post(
        "/finance/prices/",
        {"do": "end", "price_list": current.pk, "effective_to": "2001-01-01T00:00"},
    )
    assert bad.status_code == 400 and 'data-error-for="effective_to"' in bad.content.decode()
    when = (timezone.now() + timedelta(days=5)).replace(second=0, microsecond=0)
    ok = client.post(
        "/finance/prices/",
        {"do": "end", "price_list": current.pk, "effective_to": when.strftime("%Y-%m-%dT%H:%M")},
    )
    assert ok.status_code == 302
    current.refresh_from_db()
    assert current.effective_to == when
