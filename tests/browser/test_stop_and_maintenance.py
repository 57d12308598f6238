"""Stop counts down the guest's grace time and offers "Force off"; entering maintenance asks
first and shows which VMs will move, and where. Screenshots at 1366 and 390 px."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from compute.choices import OperationKind, OperationStatus, Step, StepStatus, VMState
from compute.models import Host, Operation, OperationStep
from tests.browser.conftest import shot
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory, VirtualMachineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = (1366, 390)


def _no_horizontal_scroll(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_stop_counts_down_and_force_off_powers_off_now(login, world, flavor, image, settings):
    settings.NUAGE = {**settings.NUAGE, "STOP_GRACE_SECONDS": 120}
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        name="web-1", state=VMState.STOPPING,
    )  # fmt: skip
    op = Operation.objects.create(vm=vm, kind=OperationKind.STOP, status=OperationStatus.RUNNING)
    OperationStep.objects.create(
        operation=op, position=0, name=Step.STOPPING, status=StepStatus.RUNNING,
        started_at=timezone.now() - timedelta(seconds=5),
    )  # fmt: skip

    page = login(world.member)
    page.goto(f"/vms/{vm.pk}/")
    countdown = page.locator("[data-countdown]")
    expect(countdown).to_be_visible()
    first = int(countdown.inner_text())
    assert 100 <= first <= 115
    # The live region refreshes it: it goes down without a reload.
    expect(countdown).not_to_have_text(str(first), timeout=5000)
    assert int(countdown.inner_text()) < first
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(page)
        shot(page, f"stop-countdown-{width}")

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator('[data-action="force-off"]').click()
    expect(page.locator('[data-stop="forced"]')).to_be_visible()
    expect(page.locator('[data-action="force-off"]')).to_have_count(0)
    op.refresh_from_db()
    assert op.forced
    shot(page, "stop-forced-390")


def test_maintenance_asks_first_and_shows_where_vms_go(login, world, image, tmp_path, settings):
    settings.NUAGE = {**settings.NUAGE, "RAM_RATIO": 1.0}
    a = make_sim_host(tmp_path, memory_mib=8192)
    b = make_sim_host(tmp_path, memory_mib=4096)
    small = FlavorFactory(name="s", vcpus=1, ram_mib=512, disk_gib=1)
    for i in range(2):
        VirtualMachineFactory(
            environment=world.development, owner=world.member, flavor=small, image=image,
            name=f"a-very-long-application-server-name-{i}", host=a, state=VMState.RUNNING,
        )  # fmt: skip

    page = login(world.platform_admin)
    page.goto("/hosts/")
    page.locator(f'tr[data-host="{a.name}"] [data-action="enter-maintenance"]').click()
    page.wait_for_url(f"**/hosts/{a.pk}/maintenance/")
    expect(page.locator("h1")).to_have_text(f"Put {a.name} in maintenance?")
    expect(page.locator(f'tr[data-target="{b.name}"]')).to_have_count(2)
    expect(page.locator("[data-plan-summary]")).to_contain_text("2 VMs will move now.")
    assert not Host.objects.get(pk=a.pk).maintenance  # nothing done yet
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(page)
        shot(page, f"maintenance-confirm-{width}")

    page.get_by_role("link", name="Cancel").click()
    page.wait_for_url("**/hosts/")
    assert not Host.objects.get(pk=a.pk).maintenance


def test_the_lease_card_shows_the_expiry_and_extends_it(login, world, flavor, image):
    from portal.models import Environment

    Environment.objects.filter(pk=world.development.pk).update(
        lease_default_days=30, lease_max_days=60
    )
    now = timezone.now()
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        name="web-1", state=VMState.RUNNING, lease_set_at=now - timedelta(days=27),
        expires_at=now + timedelta(days=3, hours=2),
    )  # fmt: skip
    page = login(world.member)
    page.goto(f"/vms/{vm.pk}/#lease")
    card = page.locator("#lease")
    expect(card).to_contain_text("in 3 days")
    expect(card).to_have_class("card lease-soon")
    page.locator("#lease-ask summary").click()
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        _no_horizontal_scroll(page)
        card.scroll_into_view_if_needed()
        shot(page, f"lease-{width}")
    page.locator("#lease-days").fill("45")
    page.locator('[data-action="lease-extend"]').click()
    expect(page.get_by_text("now ends in 45 days")).to_be_visible()
    expect(page.locator("#lease")).to_contain_text("in 44 days")
    vm.refresh_from_db()
    assert vm.expires_at > now + timedelta(days=44)
