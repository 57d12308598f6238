"""A member compares flavors (limits and cost), stops her VM and resizes it from its page."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from compute.models import VirtualMachine
from tests.billing.conftest import price_list
from tests.browser.conftest import shot
from tests.browser.test_request_flow import request_vm
from tests.factories import FlavorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_compares_flavors_and_resizes_her_stopped_vm(
    login, worker, host, world, flavor, image
):
    big = FlavorFactory(
        name="large", vcpus=2, ram_mib=2048, disk_gib=4, cpu_cap_percent=50, net_in_kib_s=2048
    )
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.02", "0.005", "0.0001")
    alice = login(world.member)
    alice.get_by_role("link", name="Flavors").click()
    # 2 x 0.02 + 2 x 0.005 + 4 x 0.0001 = 0.0504 an hour; 730 hours: 36.79
    expect(alice.locator("tr[data-flavor='large'] [data-cost=month]")).to_have_text("36.79 EUR")
    expect(alice.locator("tr[data-flavor='large']")).to_contain_text("50% of a CPU per vCPU")
    shot(alice, "flavors")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "flavors-390")
    alice.set_viewport_size({"width": 1200, "height": 800})

    request_vm(
        alice,
        environment="Apollo / development",
        flavor=str(flavor),
        image=image.name,
        name="web-1",
    )
    expect(alice.locator("#vm-state")).to_have_text("Running", timeout=30_000)
    alice.locator("[data-action=stop]").click()
    expect(alice.locator("#vm-state")).to_have_text("Stopped", timeout=30_000)
    alice.reload()  # the resize form is part of the page, not of the live region
    form = alice.locator("#vm-resize")
    expect(form).to_be_visible()
    shot(alice, "vm-resize")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "vm-resize-390")
    alice.set_viewport_size({"width": 1200, "height": 800})
    form.get_by_label("Resize to").select_option(label=str(big))
    form.get_by_role("button", name="Resize").click()
    expect(alice.locator("ul.messages")).to_contain_text("Resizing web-1 to large.")
    expect(alice.locator("[data-step=redefining]")).to_have_attribute(
        "data-status", "done", timeout=30_000
    )
    expect(alice.locator("#vm-state")).to_have_text("Stopped")
    expect(alice.locator("#vm-limits")).to_contain_text("50% of a CPU per vCPU")
    shot(alice, "vm-resized")
    assert VirtualMachine.objects.get(name="web-1").flavor == big
