"""A member adds a data volume to her running VM from its page, sees it as /dev/vdb, then grows
and detaches it on the volumes page (screenshots at desktop and phone width)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compute import services
from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_adds_grows_and_detaches_a_volume(login, host, world, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    alice = login(world.member)
    alice.goto(f"/vms/{vm.pk}/")
    card = alice.locator("#vm-volumes")
    expect(card).to_contain_text("No volume attached.")
    card.get_by_placeholder("name").fill("data")
    card.locator("input[name=size_gib]").fill("2")
    card.get_by_role("button", name="Create and attach").click()
    row = alice.locator("#vm-volumes tr[data-volume=data]")
    expect(row).to_contain_text("/dev/vdb")
    expect(row.locator("[data-volume-state]")).to_have_text("In use")
    shot(alice, "vm-volumes")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "vm-volumes-390")
    alice.set_viewport_size({"width": 1200, "height": 800})

    alice.get_by_role("link", name="Volumes").first.click()
    line = alice.locator("tr[data-volume=data]")
    expect(line).to_contain_text("web-1")
    line.locator("input[name=size_gib]").fill("4")
    line.get_by_role("button", name="Grow").click()
    expect(alice.locator(".messages")).to_contain_text("Growing data to 4 GiB.")
    expect(alice.locator("tr[data-volume=data]")).to_contain_text("4 GiB")
    alice.locator("tr[data-volume=data]").get_by_role("button", name="Detach").click()
    expect(alice.locator("tr[data-volume=data] [data-volume-state]")).to_have_text("Available")
    shot(alice, "volumes")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "volumes-390")
