"""A member snapshots her running VM from its page, reverts it after stopping it, schedules
daily snapshots and deletes the snapshot (screenshots at desktop and phone width)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compute import services
from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_takes_reverts_and_deletes_a_snapshot(login, host, world, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    alice = login(world.member)
    alice.goto(f"/vms/{vm.pk}/")
    card = alice.locator("#vm-snapshots")
    expect(card).to_contain_text("No snapshots yet.")
    expect(card.locator("input[name=with_memory]")).to_be_checked()
    card.locator("input[name=name]").fill("before-upgrade")
    card.get_by_role("button", name="Take snapshot").click()
    expect(alice.locator(".messages")).to_contain_text(
        "Snapshot before-upgrade of web-1 requested."
    )
    row = alice.locator("#vm-snapshots tr[data-snapshot=before-upgrade]")
    expect(row.locator("[data-snapshot-state]")).to_have_text("Ready")
    expect(row).to_contain_text("Disk and memory")
    shot(alice, "vm-snapshots")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "vm-snapshots-390")
    alice.set_viewport_size({"width": 1200, "height": 800})

    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    alice.reload()
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.locator("#vm-snapshots tr[data-snapshot=before-upgrade]").get_by_role(
        "button", name="Revert"
    ).click()
    expect(alice.locator(".messages")).to_contain_text("Revert of web-1 to before-upgrade")
    expect(alice.locator("#vm-state")).to_have_text("Running")

    card = alice.locator("#vm-snapshots")
    card.locator("select[name=frequency]").select_option("daily")
    card.locator("input[name=retention]").fill("3")
    card.get_by_role("button", name="Save schedule").click()
    expect(alice.locator("#snapshot-schedule-status")).to_contain_text("newest 3 kept")

    alice.once("dialog", lambda dialog: dialog.accept())
    alice.locator("#vm-snapshots tr[data-snapshot=before-upgrade]").get_by_role(
        "button", name="Delete"
    ).click()
    expect(alice.locator("#no-snapshots")).to_be_visible()
    shot(alice, "vm-snapshots-after")
