"""Price lists (who keeps them, what is refused), the usage API and the request form's estimate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone

from billing import services
from billing.choices import UsageKind
from billing.ledger import usage_event_record
from billing.models import PriceList
from portal.errors import ConflictError
from portal.models import AuditEntry
from tests.billing.conftest import price_list
from tests.factories import FlavorFactory, VirtualMachineFactory
from tests.test_api import client_for

pytestmark = pytest.mark.django_db

JAN = datetime(2025, 1, 1, tzinfo=UTC)
PRICES = {
    "vcpu_hour": Decimal("0.05"),
    "ram_gib_hour": Decimal("0.006"),
    "disk_gib_hour": Decimal("0.02"),
}


def create(user, when=JAN, **overrides):
    args = {"name": "standard", "currency": "EUR", "effective_from": when, **PRICES, **overrides}
    return services.price_list_create(created_by=user, **args)


def test_finance_and_admins_keep_price_lists_with_an_audit_entry(world):
    created = create(world.finance)
    assert AuditEntry.objects.filter(
        action="price_list.create", object_id=str(created.pk), actor=world.finance
    ).exists()
    create(world.platform_admin, when=JAN + timedelta(days=31))
    for user in (world.member, world.tenant_admin, world.approver):
        with pytest.raises(PermissionDenied):
            create(user, when=JAN + timedelta(days=60))
    assert PriceList.objects.count() == 2


@pytest.mark.parametrize("field", ["vcpu_hour", "ram_gib_hour", "disk_gib_hour"])
def test_a_negative_price_is_refused_with_its_field(world, field):
    with pytest.raises(ValidationError) as caught:
        create(world.finance, **{field: Decimal("-0.01")})
    assert "cannot be negative" in " ".join(caught.value.message_dict[field])
    assert not PriceList.objects.exists()


def test_a_negative_flavor_price_is_refused(world):
    flavor = FlavorFactory(name="neg")
    with pytest.raises(ValidationError) as caught:
        create(world.finance, flavor_prices={flavor: Decimal("-1")})
    assert "neg" in caught.value.message_dict["flavor_prices"][0]


def test_overlapping_price_lists_in_one_currency_are_refused(world):
    create(world.finance, name="Q1", effective_to=datetime(2025, 4, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as caught:
        create(world.finance, name="March", when=datetime(2025, 3, 1, tzinfo=UTC))
    assert "overlaps the price list 'Q1'" in caught.value.message_dict["effective_from"][0]
    with pytest.raises(ValidationError) as caught:
        create(world.finance, name="same start")
    assert "already starts then" in caught.value.message_dict["effective_from"][0]
    later = create(world.finance, name="Q3", when=datetime(2025, 7, 1, tzinfo=UTC))
    with pytest.raises(ValidationError) as caught:
        create(
            world.finance,
            name="Q2 too long",
            when=datetime(2025, 4, 1, tzinfo=UTC),
            effective_to=datetime(2025, 8, 1, tzinfo=UTC),
        )
    assert "overlaps the price list 'Q3'" in caught.value.message_dict["effective_to"][0]
    # A list with no explicit end simply ends where the next begins; other currencies are apart.
    create(world.finance, name="Q2", when=datetime(2025, 4, 1, tzinfo=UTC))
    create(world.finance, name="USD", currency="usd")
    assert PriceList.objects.count() == 4 and later.pk


def test_a_price_list_in_effect_cannot_be_withdrawn_a_future_one_can(world):
    past = create(world.finance)
    with pytest.raises(ConflictError, match="already in effect"):
        services.price_list_delete(deleted_by=world.finance, price_list=past)
    future = create(world.finance, when=timezone.now() + timedelta(days=30))
    services.price_list_delete(deleted_by=world.finance, price_list=future)
    assert list(PriceList.objects.all()) == [past]
    assert AuditEntry.objects.filter(action="price_list.delete").exists()


def test_everyone_reads_the_current_prices_only_finance_writes(world):
    old = price_list(JAN - timedelta(days=365), "0.01", "0.001", "0.001")
    current = price_list(JAN, "0.05", "0.006", "0.02")
    member = client_for(world.member)
    listed = member.get("/api/v1/prices/").json()["results"]
    assert [p["id"] for p in listed] == [current.pk]
    assert listed[0]["vcpu_hour"] == "0.050000"
    assert member.get(f"/api/v1/prices/{old.pk}/").status_code == 404
    payload = {
        "name": "April",
        "currency": "EUR",
        "effective_from": "2030-04-01T00:00:00Z",
        "vcpu_hour": "0.06",
        "ram_gib_hour": "0.007",
        "disk_gib_hour": "0.02",
    }
    assert member.post("/api/v1/prices/", payload, format="json").status_code == 403
    finance = client_for(world.finance)
    created = finance.post("/api/v1/prices/", payload, format="json")
    assert created.status_code == 201, created.json()
    assert {p["id"] for p in finance.get("/api/v1/prices/").json()["results"]} == {
        old.pk,
        current.pk,
        created.json()["id"],
    }
    current_now = finance.get(f"/api/v1/prices/{current.pk}/").json()
    assert current_now["effective_until"].startswith("2030-04-01T00:00:00")
    bad = finance.post(
        "/api/v1/prices/", {**payload, "vcpu_hour": "-1", "currency": "EUR"}, format="json"
    )
    assert bad.status_code == 400 and "vcpu_hour" in bad.json()
    again = finance.post("/api/v1/prices/", payload, format="json")
    assert again.status_code == 400
    assert "already starts then" in again.json()["effective_from"][0]
    in_effect = finance.delete(f"/api/v1/prices/{current.pk}/")
    assert in_effect.status_code == 409
    assert finance.delete(f"/api/v1/prices/{created.json()['id']}/").status_code == 204


def _charged_vm(world_, flavor, start, hours):
    vm = VirtualMachineFactory(
        environment=world_.development, owner=world_.member, flavor=flavor, name="charged"
    )
    vm.host_id = None
    usage_event_record(vm=vm, kind=UsageKind.STARTED, at=start, cause="test")
    usage_event_record(
        vm=vm, kind=UsageKind.DELETED, at=start + timedelta(hours=hours), cause="test"
    )
    return vm


def test_usage_api_is_scoped_to_the_tenants_one_sees(world, other_world):
    price_list(JAN, "1", "0", "0")
    flavor = FlavorFactory(vcpus=2)
    ours = _charged_vm(world, flavor, datetime(2025, 3, 31, 23, tzinfo=UTC), 2)
    _charged_vm(other_world, flavor, datetime(2025, 3, 5, tzinfo=UTC), 1)
    member = client_for(world.member)
    april = member.get("/api/v1/usage/?start=2025-04-01&end=2025-05-01").json()
    assert april["currency"] == "EUR"
    assert [(ln["vm"], ln["resource"], ln["seconds"], ln["amount"]) for ln in april["lines"]] == [
        (ours.pk, "cpu", "3600", "2.00"),
        (ours.pk, "ram", "3600", "0.00"),
        (ours.pk, "disk", "3600", "0.00"),
    ]
    assert april["total"] == "2.00"
    march = member.get("/api/v1/usage/?tenant=apollo&start=2025-03-01&end=2025-04-01").json()
    assert march["total"] == "2.00"  # 23:00 to midnight: 1 h × 2 vCPU × 1
    foreign = member.get("/api/v1/usage/?tenant=zephyr&start=2025-03-01")
    assert foreign.status_code == 400 and foreign.json()["tenant"] == ["Unknown tenant."]
    finance = client_for(world.finance)
    everyone = finance.get("/api/v1/usage/?start=2025-03-01&end=2025-04-01").json()
    assert {ln["tenant"] for ln in everyone["lines"]} == {"apollo", "zephyr"}
    assert everyone["total"] == "4.00"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("start=yesterday", "start", "ISO 8601"),
        ("start=2025-04-02&end=2025-04-01", "end", "after the start"),
        ("start=2999-01-01", "start", "not begun"),
    ],
)
def test_usage_api_explains_a_bad_period(world, query, field, message):
    answer = client_for(world.member).get(f"/api/v1/usage/?{query}")
    assert answer.status_code == 400
    assert message in " ".join(answer.json()[field])


def test_the_request_form_shows_each_flavors_estimated_cost(world, sim_host):
    small = FlavorFactory(name="est-small", vcpus=1, ram_mib=512, disk_gib=1)
    big = FlavorFactory(name="est-big", vcpus=4, ram_mib=8192, disk_gib=40)
    client = Client()
    client.force_login(world.member)
    page = client.get("/vms/new/").content.decode()
    assert "No price list is in effect yet" in page
    pl = price_list(JAN, "0.05", "0.006", "0.02")
    pl.flavor_prices.create(flavor=big, per_hour=Decimal("0.10"))
    page = client.get("/vms/new/", {"flavor": small.pk}).content.decode()
    # small: 0.05 + 0.5 GiB × 0.006 + 1 GiB × 0.02 = 0.073 /h; × 730 = 53.29
    assert f'"{small.pk}": {{"hour": "0.0730 EUR", "month": "53.29 EUR"}}' in page
    # big: 4 × 0.05 + 8 × 0.006 + 40 × 0.02 + 0.10 = 1.148 /h; × 730 = 838.04
    assert f'"{big.pk}": {{"hour": "1.1480 EUR", "month": "838.04 EUR"}}' in page
    assert "js/estimate.js" in page
