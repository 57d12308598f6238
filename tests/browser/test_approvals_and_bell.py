"""The approver's first minutes: requests say why, what they cost and what they take of the
quota; several are decided at once (never one's own); the navigation counts what waits, and the
bell tells the requester what became of each. Screenshots at 1366 and 390 px."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from billing.models import PriceList
from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from portal import services as portal_services
from tests.browser.conftest import shot
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 390)


WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 8)
  .map((e) => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""


def _no_horizontal_scroll(page) -> None:
    ok = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert ok, page.evaluate(WIDEST)  # what sticks out, to fix it


def test_bulk_decisions_with_why_cost_and_quota_then_the_bell(login, world, image, tmp_path):
    make_sim_host(tmp_path)
    flavor = FlavorFactory(name="small", vcpus=1, ram_mib=512, disk_gib=1)
    PriceList.objects.create(
        name="standard",
        currency="EUR",
        effective_from=timezone.now() - timedelta(days=1),
        vcpu_hour=Decimal("0.04"),
        ram_gib_hour=Decimal("0.005"),
        disk_gib_hour=Decimal("0.0002"),
    )
    portal_services.environment_update(
        updated_by=world.tenant_admin, environment=world.production, justification_required=True
    )

    # The requester must say why in production.
    alice = login(world.member)
    alice.goto("/vms/new/")
    alice.get_by_label("Environment").select_option(value=str(world.production.pk))
    alice.get_by_label("Flavor").select_option(value=str(flavor.pk))
    alice.get_by_label("Image").select_option(value=str(image.pk))
    alice.get_by_label("Name", exact=True).fill("web-1")
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.locator('[data-error-for="justification"]')).to_be_visible()
    alice.get_by_label("Justification").fill(
        "Second web node for the spring sale: the first one ran at 90 % CPU last Friday."
    )
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.locator("#vm-state")).to_have_text("Pending approval")
    for name, why in (("web-2", "Blue/green switch"), ("db-1", "Reporting replica")):
        services.vm_request_create(
            requested_by=world.member, environment=world.production, flavor=flavor,
            image=image, name=name, justification=why,
        )  # fmt: skip
    services.vm_request_create(
        requested_by=world.approver, environment=world.production, flavor=flavor,
        image=image, name="own-1", justification="Mine",
    )  # fmt: skip

    bob = login(world.approver)
    bob.goto("/approvals/")
    expect(bob.locator("[data-pending]")).to_have_text("3")  # not their own request
    expect(bob.locator(".bell .count")).to_have_text("3")  # told of each request
    row = bob.locator("tr[data-vm='web-1']")
    expect(row.locator("[data-justification]")).to_contain_text("spring sale")
    expect(row.locator("[data-estimate]")).to_contain_text("EUR")
    expect(row.locator("[data-quota] [data-resource='vcpus']")).to_contain_text("+1")
    expect(bob.locator("tr[data-vm='own-1'] input[type=checkbox]")).to_have_count(0)
    for width in WIDTHS:
        bob.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(bob)
        shot(bob, f"approvals-pending-{width}")
    bob.set_viewport_size({"width": 1366, "height": 900})

    bob.locator("[data-select='web-1']").check()
    bob.locator("[data-select='web-2']").check()
    bob.locator("[data-action='bulk-approve']").click()
    expect(bob.locator(".messages")).to_contain_text("web-1: approved")
    expect(bob.locator(".messages")).to_contain_text("web-2: approved")
    bob.locator("[data-select='db-1']").check()
    bob.locator("#bulk-reason").fill("Use the shared reporting cluster")
    bob.locator("[data-action='bulk-reject']").click()
    expect(bob.locator(".messages")).to_contain_text("db-1: rejected")
    expect(bob.locator("[data-pending]")).to_have_count(0)
    shot(bob, "approvals-after-bulk-1366")
    states = dict(VirtualMachine.objects.values_list("name", "state"))
    assert states["db-1"] == VMState.REJECTED and states["own-1"] == VMState.PENDING_APPROVAL
    assert states["web-1"] != VMState.PENDING_APPROVAL

    bob.get_by_role("link", name="Decided").click()
    decided = bob.locator("#decided")
    expect(decided.locator("tr[data-decision='vm.reject'][data-vm='db-1']")).to_contain_text(
        "shared reporting cluster"
    )
    expect(decided.locator("tr[data-decision='vm.approve']")).to_have_count(2)
    for width in WIDTHS:
        bob.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(bob)
        shot(bob, f"approvals-decided-{width}")

    # The requester's bell: each decision, and each run's result.
    alice.goto("/vms/")
    count = int(alice.locator(".bell .count").inner_text())
    assert count >= 3
    alice.locator(".bell").click()
    items = alice.locator("#notifications li")
    expect(items.filter(has_text="db-1 was rejected")).to_have_count(1)
    expect(items.filter(has_text="web-1 in Apollo/production was approved")).to_have_count(1)
    for width in WIDTHS:
        alice.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(alice)
        shot(alice, f"notifications-{width}")
    alice.set_viewport_size({"width": 1366, "height": 900})
    items.filter(has_text="db-1 was rejected").get_by_role("button").first.click()
    alice.wait_for_url("**/vms/*/")
    alice.goto("/notifications/")
    alice.locator("[data-action='read-all']").click()
    expect(alice.locator(".bell .count")).to_have_count(0)
