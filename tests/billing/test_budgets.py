"""Budgets: set by tenant admins (page and API), 80/100 % announced once per month by e-mail and
webhook (actual cost or forecast), and new requests refused over a blocking budget."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from billing import services
from billing.models import Budget, BudgetAlert
from billing.tasks import budget_check
from compute import services as compute
from compute.models import VirtualMachine
from portal import services as portal_services
from portal.models import AuditEntry, WebhookDelivery
from tests.billing.conftest import Clock, price_list, run
from tests.factories import FlavorFactory, VirtualMachineFactory
from tests.portal.test_notifications import receiver, signed_correctly  # noqa: F401

pytestmark = pytest.mark.django_db


def at(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


@pytest.fixture
def hourly(world):
    """Prices that make a 1-vCPU VM cost exactly 1.00 EUR per running hour."""
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "1.00", "0", "0")
    world.approver.email, world.tenant_admin.email = "approver@x.test", "admin@x.test"
    world.approver.save()
    world.tenant_admin.save()
    return FlavorFactory(name="one", vcpus=1, ram_mib=512, disk_gib=1)


def vm(world, flavor, name):
    return VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, name=name
    )


@pytest.fixture
def checked(django_capture_on_commit_callbacks, clock: Clock):
    """Run the periodic check at an instant, with its after-commit notifications."""

    def check(when: datetime) -> int:
        clock.set(when)
        with django_capture_on_commit_callbacks(execute=True):
            return budget_check()

    return check


def budget(world, amount: str, block: bool = False) -> Budget:
    return services.budget_set(
        updated_by=world.tenant_admin,
        tenant=world.tenant,
        amount=Decimal(amount),
        block_requests=block,
    )


# --- thresholds ---------------------------------------------------------------------------------


def test_80_then_100_percent_are_announced_once_each(world, hourly, checked, receiver, settings):  # noqa: F811
    settings.NUAGE = {**settings.NUAGE, "WEBHOOK_TIMEOUT_SECONDS": 0.5}
    hook, secret = portal_services.webhook_create(
        created_by=world.tenant_admin,
        tenant=world.tenant,
        url=receiver.url,
        events=["budget.threshold"],
    )
    portal_services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url, events=["vm.running"]
    )
    budget(world, "100")
    big = FlavorFactory(name="ten", vcpus=10, ram_mib=512, disk_gib=1)  # 10.00 EUR an hour
    run(vm(world, big, "burner"), at(1))

    # On the month's first day the forecast is not trusted yet: the actual cost decides.
    assert checked(at(1, 7)) == 0  # 70.00
    assert checked(at(1, 8)) == 1  # 80.00
    assert [m.subject for m in mail.outbox] == ["[Nuage] Apollo has used 80% of its budget"] * 2
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@x.test", "approver@x.test"]
    assert "Cost so far: 80.00 EUR" in mail.outbox[0].body
    assert "/costs/" in mail.outbox[0].body
    # The bell too, for the tenant's approvers and admins (with or without an address).
    from portal.models import Notification

    bell = Notification.objects.filter(kind="budget.threshold")
    assert sorted(bell.values_list("user__username", "text", "url")) == [
        (user.username, "Apollo has used 80% of its budget", "/costs/")
        for user in sorted((world.approver, world.tenant_admin), key=lambda u: u.username)
    ]
    body = json.loads(receiver.received[0]["body"])  # type: ignore[arg-type]
    assert body["event"] == "budget.threshold" and body["tenant"] == "apollo"
    assert body["budget"] == {
        "month": "2025-03",
        "amount": "100.00",
        "currency": "EUR",
        "threshold": 80,
        "basis": "actual",
        "actual": "80.00",
        "forecast": "7440.00",
        "block_requests": False,
    }
    assert signed_correctly(secret, receiver.received[0])

    assert checked(at(1, 9)) == 0  # said already: nothing more
    assert checked(at(1, 10)) == 1  # 100.00
    assert mail.outbox[-1].subject == "[Nuage] Apollo has used 100% of its budget"
    assert checked(at(1, 11)) == 0
    assert checked(at(1, 11)) == 0
    assert len(mail.outbox) == 4
    deliveries = WebhookDelivery.objects.filter(webhook=hook).order_by("id")
    assert [json.loads(d.body)["budget"]["threshold"] for d in deliveries] == [80, 100]
    assert set(deliveries.values_list("status", flat=True)) == {"delivered"}
    assert WebhookDelivery.objects.count() == 2  # the vm.running hook heard nothing
    assert list(
        BudgetAlert.objects.values_list("month", "threshold", "basis").order_by("threshold")
    ) == [(at(1).date(), 80, "actual"), (at(1).date(), 100, "actual")]
    assert AuditEntry.objects.filter(action="budget.threshold").count() == 2


def test_a_new_month_and_a_new_amount_announce_again(world, hourly, checked):
    budget(world, "100")
    run(vm(world, hourly, "burner"), at(27))
    assert checked(at(31, 3)) == 2  # 80 and 100 at once
    # April, in the tenant's zone: 80 h so far, and the forecast is far over.
    assert checked(at(4, 8, month=4)) == 2
    april = BudgetAlert.objects.filter(month=at(1, month=4).date()).order_by("threshold")
    assert [(a.threshold, a.basis) for a in april] == [(80, "actual"), (100, "forecast")]
    assert checked(at(4, 9, month=4)) == 0
    budget(world, "150")  # raised: its own thresholds are new (forecast 720.00)
    assert checked(at(4, 10, month=4)) == 2
    assert len(mail.outbox) == 6 * 2  # six alerts, each to the approver and the admin


def test_the_forecast_crossing_notifies(world, hourly, checked):
    budget(world, "1500")  # 80 %: 1200.00
    run(vm(world, hourly, "steady"), at(1))
    assert checked(at(11)) == 0  # 240.00 so far, forecast 744.00 (1.00/h for 744 h)
    run(vm(world, hourly, "second"), at(11))
    # 240 + 120 = 480.00 so far, then 2.00/h for the 384 h left: 480 + 768 = 1248.00.
    assert checked(at(16)) == 1
    alert = BudgetAlert.objects.get()
    assert (alert.threshold, alert.basis, alert.actual, alert.forecast) == (
        80,
        "forecast",
        Decimal("480.00"),
        Decimal("1248.00"),
    )
    assert mail.outbox[0].subject == "[Nuage] Apollo is forecast to use 80% of its budget"
    assert "Forecast for the month: 1248.00 EUR" in mail.outbox[0].body
    assert checked(at(21)) == 0  # 720.00 + 2 × 264 h = 1248.00 still: said already
    run(vm(world, hourly, "third"), at(21))
    # At 01:00: 480 + 240 + 3 = 723.00 so far, then 3.00/h for the 263 h left: 1512.00.
    assert checked(at(21, 1)) == 1
    assert BudgetAlert.objects.get(threshold=100).basis == "forecast"
    assert checked(at(21, 2)) == 0
    # Reaching 80 % in fact: t + (t - 240) + (t - 480) = 1200 at t = 640 h, the 27th at 16:00.
    assert checked(at(27, 15)) == 0
    assert checked(at(27, 16)) == 1
    assert BudgetAlert.objects.filter(threshold=80, basis="actual").count() == 1
    assert mail.outbox[-1].subject == "[Nuage] Apollo has used 80% of its budget"
    assert checked(at(27, 17)) == 0


def test_the_forecast_waits_for_a_whole_day(world, hourly, checked):
    budget(world, "1000")
    run(vm(world, hourly, "spike"), at(1))
    assert checked(at(1, 10)) == 0  # 10.00 so far, 744.00 forecast... and more with a bigger VM
    assert checked(at(1, 23)) == 0
    assert checked(at(2, 0)) == 0  # 24.00: forecast 744 < 800
    assert not BudgetAlert.objects.exists()


# --- blocking -----------------------------------------------------------------------------------


def _request(world, flavor, image, name="new-vm"):
    return compute.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name=name,
    )


def test_blocking_refuses_requests_once_the_budget_is_used(world, hourly, image, sim_host, clock):
    run(vm(world, hourly, "burner"), at(1))
    clock.set(at(5, 3))  # 99.00
    budget(world, "100", block=True)
    _request(world, hourly, image, name="still-fits")
    clock.set(at(5, 4))  # 100.00
    with pytest.raises(ValidationError) as refused:
        _request(world, hourly, image)
    message = refused.value.message_dict["budget"][0]
    assert "budget of Apollo is used up (100.00 of 100.00 EUR" in message
    assert not VirtualMachine.objects.filter(name="new-vm").exists()
    services.budget_set(
        updated_by=world.tenant_admin, tenant=world.tenant, amount=Decimal("100")
    )  # blocking off
    assert _request(world, hourly, image).name == "new-vm"


def test_blocking_answers_400_and_a_form_error(world, hourly, image, sim_host, clock, client):
    run(vm(world, hourly, "burner"), at(1))
    clock.set(at(10))
    budget(world, "50", block=True)
    api = APIClient()
    api.force_authenticate(world.member)
    answer = api.post(
        "/api/v1/vms/",
        {
            "environment": world.production.pk,
            "flavor": hourly.pk,
            "image": image.pk,
            "name": "refused",
        },
        format="json",
    )
    assert answer.status_code == 400, answer.content
    assert "is used up" in answer.json()["budget"][0]
    client.force_login(world.member)
    page = client.post(
        "/vms/new/",
        {
            "environment": world.production.pk,
            "flavor": hourly.pk,
            "image": image.pk,
            "name": "refused",
        },
    ).content.decode()
    assert 'data-error-for="__all__"' in page and "is used up" in page
    assert not VirtualMachine.objects.filter(name="refused").exists()


# --- setting a budget ---------------------------------------------------------------------------


def test_tenant_admin_sets_the_budget_on_the_page_with_clear_errors(world, client, clock):
    clock.set(at(10))
    client.force_login(world.tenant_admin)
    tenant_page = client.get("/tenant/").content.decode()
    assert 'data-action="save-budget"' in tenant_page and "No budget is set." in tenant_page
    for amount, error in (
        ("-5", "A budget cannot be negative."),
        ("0", "Give an amount above zero"),
        ("ten", "Enter a number."),
        ("1.005", "Ensure that there are no more than 2 decimal places."),
    ):
        answer = client.post("/costs/", {"amount": amount})
        assert answer.status_code == 400
        assert error in answer.content.decode(), amount
        assert 'data-error-for="amount"' in answer.content.decode()
    assert not Budget.objects.exists()
    answer = client.post(
        "/costs/", {"amount": "250.50", "block_requests": "on", "next": "/tenant/"}, follow=True
    )
    assert answer.redirect_chain[-1][0] == "/tenant/"
    assert "Budget saved." in answer.content.decode()
    saved = Budget.objects.get(tenant=world.tenant)
    assert (saved.amount, saved.block_requests) == (Decimal("250.50"), True)
    entry = AuditEntry.objects.get(action="budget.set")
    assert entry.changes == {"amount": [None, "250.50"], "block_requests": [None, True]}
    page = client.get("/costs/").content.decode()
    assert "250.50" in page and 'data-budget-state="ok"' in page
    client.post("/costs/", {"do": "delete"})
    assert not Budget.objects.exists()


def test_members_see_the_budget_but_cannot_set_it(world, client, clock):
    clock.set(at(10))
    budget(world, "300")
    client.force_login(world.member)
    page = client.get("/costs/").content.decode()
    assert "300.00" in page and 'data-action="save-budget"' not in page
    assert 'data-action="save-budget"' not in client.get("/tenant/").content.decode()
    assert client.post("/costs/", {"amount": "1"}).status_code == 403
    assert Budget.objects.get().amount == Decimal("300.00")


def test_budgets_through_the_api(world, other_world):
    admin, member, outsider = APIClient(), APIClient(), APIClient()
    admin.force_authenticate(world.tenant_admin)
    member.force_authenticate(world.member)
    outsider.force_authenticate(other_world.tenant_admin)
    negative = admin.post(
        "/api/v1/budgets/", {"tenant": world.tenant.pk, "amount": "-1"}, format="json"
    )
    assert negative.status_code == 400
    assert negative.json() == {"amount": ["A budget cannot be negative."]}
    assert (
        member.post(
            "/api/v1/budgets/", {"tenant": world.tenant.pk, "amount": "10"}, format="json"
        ).status_code
        == 403
    )
    created = admin.post(
        "/api/v1/budgets/",
        {"tenant": world.tenant.pk, "amount": "500", "block_requests": True},
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["amount"], data["currency"], data["block_requests"]) == ("500.00", "EUR", True)
    again = admin.post(
        "/api/v1/budgets/", {"tenant": world.tenant.pk, "amount": "5"}, format="json"
    )
    assert again.status_code == 400 and "PATCH" in again.json()["tenant"][0]
    url = f"/api/v1/budgets/{data['id']}/"
    assert admin.patch(url, {"amount": "750"}, format="json").json()["amount"] == "750.00"
    assert Budget.objects.get().block_requests is True  # untouched by a partial change
    assert admin.patch(url, {"amount": "0"}, format="json").status_code == 400
    assert member.get(url).json()["amount"] == "750.00"  # members read it
    assert member.patch(url, {"amount": "1"}, format="json").status_code == 403
    # Another tenant's admin: not even told it exists, and cannot name the tenant.
    assert outsider.get(url).status_code == 404
    assert outsider.patch(url, {"amount": "1"}, format="json").status_code == 404
    assert outsider.delete(url).status_code == 404
    foreign = outsider.post(
        "/api/v1/budgets/", {"tenant": world.tenant.pk, "amount": "1"}, format="json"
    )
    assert foreign.status_code == 400
    assert foreign.json() == {
        "tenant": [f'Invalid pk "{world.tenant.pk}" - object does not exist.']
    }
    assert outsider.get("/api/v1/budgets/").json()["results"] == []
    assert Budget.objects.get().amount == Decimal("750.00")
    assert admin.delete(url).status_code == 204
    assert not Budget.objects.exists()


def test_webhooks_may_subscribe_to_budget_events(world):
    hook, _secret = portal_services.webhook_create(
        created_by=world.tenant_admin,
        tenant=world.tenant,
        url="https://hooks.example.com/budget",
        events=["budget.threshold", "vm.error"],
    )
    assert hook.wants("budget.threshold") and not hook.wants("vm.running")
