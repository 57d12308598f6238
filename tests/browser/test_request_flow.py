"""A member requests a VM, an approver decides, the member watches it live, then removes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from tests.browser.conftest import shot
from tests.support.worker import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every (state, step, status) the live region shows, so that the test can tell what
# the user saw on the way, not only where the page ended up.
WATCH_PROGRESS = """() => {
  window.__noReload = 1;
  window.__seen = [];
  const root = document.getElementById("vm-progress");
  const record = () => {
    const state = document.getElementById("vm-state").dataset.state;
    root.querySelectorAll("[data-step][data-status]").forEach((li) =>
      window.__seen.push({state, step: li.dataset.step, status: li.dataset.status}));
  };
  record();
  new MutationObserver(record).observe(root, {childList: true, subtree: true});
}"""


def request_vm(page: Page, *, environment: str, flavor: str, image: str, name: str) -> None:
    page.get_by_role("link", name="Request a VM").first.click()
    expect(page.get_by_role("heading", name="Request a VM")).to_be_visible()
    page.get_by_label("Environment").select_option(label=environment)
    page.get_by_label("Flavor").select_option(label=flavor)
    page.get_by_label("Image").select_option(label=image)
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_role("button", name="Submit request").click()


def test_member_watches_approved_request_provision_without_reload(
    login, worker, host, world, flavor, image
):
    alice = login(world.member)
    request_vm(
        alice,
        environment="Apollo / production (approval required)",
        flavor=str(flavor),
        image=image.name,
        name="web-1",
    )
    expect(alice.locator("#vm-state")).to_have_text("Pending approval")
    shot(alice, "01-pending")
    alice.evaluate(WATCH_PROGRESS)

    bob = login(world.approver)
    bob.get_by_role("link", name="Approvals").click()
    row = bob.locator("tr[data-vm='web-1']")
    expect(row).to_contain_text(world.member.username)
    shot(bob, "02-approvals")
    row.get_by_role("button", name="Approve").click()
    expect(bob.get_by_text("web-1 approved; provisioning starts.")).to_be_visible()
    shot(bob, "03-approved")

    expect(alice.locator("[data-step][data-status='running']").first).to_be_attached()
    shot(alice, "04-provisioning")
    expect(alice.locator("#vm-state")).to_have_text("Running", timeout=30_000)
    expect(alice.locator("li[data-step='running']")).to_have_class("step done")
    shot(alice, "05-running")

    assert alice.evaluate("window.__noReload") == 1, "the page reloaded"
    seen = alice.evaluate("window.__seen")
    on_the_way = {
        (s["step"], s["status"])
        for s in seen
        if s["state"] == VMState.PROVISIONING and s["status"] in ("running", "done")
    }
    assert on_the_way, f"no progress step seen before the VM ran: {seen}"
    final = alice.locator("#vm-progress [data-step][data-status]")
    assert set(final.evaluate_all("els => els.map(e => e.dataset.status)")) == {"done"}


def test_invalid_name_shows_field_error_and_creates_nothing(login, host, world, flavor, image):
    alice = login(world.member)
    request_vm(
        alice,
        environment="Apollo / development",
        flavor=str(flavor),
        image=image.name,
        name="Bad_Name",
    )
    error = alice.locator("[data-error-for='name']")
    expect(error).to_be_visible()
    expect(error).not_to_be_empty()
    # The user fixes the name only: the other choices are still made.
    expect(alice.get_by_label("Name", exact=True)).to_have_value("Bad_Name")
    expect(alice.get_by_label("Image")).to_have_value(str(image.pk))
    expect(alice.locator("[data-error-for]")).to_have_count(1)
    shot(alice, "06-bad-name")
    assert not VirtualMachine.objects.exists()


def test_member_sees_rejection_and_its_reason(login, host, world, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="big-db",
    )
    alice = login(world.member)
    alice.goto(f"/vms/{vm.pk}/")
    expect(alice.locator("#vm-state")).to_have_text("Pending approval")
    alice.evaluate("window.__noReload = 1")

    bob = login(world.approver)
    bob.goto("/approvals/")
    row = bob.locator("tr[data-vm='big-db']")
    row.get_by_placeholder("Reason for rejection").fill("Use the shared database cluster.")
    row.get_by_role("button", name="Reject").click()
    expect(bob.get_by_text("big-db rejected.")).to_be_visible()
    expect(bob.locator("tr[data-vm='big-db']")).to_have_count(0)

    expect(alice.locator("#vm-state")).to_have_text("Rejected")
    expect(alice.locator("#vm-rejection")).to_contain_text("Use the shared database cluster.")
    assert alice.evaluate("window.__noReload") == 1
    shot(alice, "07-rejected")


def test_member_stops_then_deletes_running_vm(login, worker, host, world, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="scratch",
    )
    wait_for(
        lambda: VirtualMachine.objects.filter(
            pk=vm.pk, state__in=[VMState.RUNNING, VMState.ERROR]
        ).first(),
        timeout=30,
        what="VM provisioned",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, worker.log()

    alice = login(world.member)
    alice.goto("/")
    expect(alice.locator("tr[data-vm='scratch']")).to_contain_text("Running")
    shot(alice, "08-list")
    alice.locator("tr[data-vm='scratch']").get_by_role("link", name="scratch").click()
    expect(alice.locator("#vm-state")).to_have_text("Running")

    alice.get_by_role("button", name="Stop").click()
    expect(alice.locator("#vm-state")).to_have_text("Stopped", timeout=20_000)
    shot(alice, "09-stopped")

    alice.once("dialog", lambda dialog: dialog.accept())
    alice.get_by_role("button", name="Delete").click()
    expect(alice.locator("#vm-state")).to_have_text("Deleted", timeout=20_000)
    shot(alice, "10-deleted")
    expect(alice.get_by_role("button", name="Delete")).to_have_count(0)

    alice.get_by_role("link", name="Back to my VMs").click()
    expect(alice.locator("tr[data-vm='scratch']")).to_have_count(0)
    shot(alice, "11-list-empty")
