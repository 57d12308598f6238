"""A member finds her system container beside her VM, filters the list by kind and opens its
page: a container badge, its serial console and no graphical one (screenshots at desktop and
phone width)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from compute import services
from compute.busyboxroot import build_busybox_rootfs
from compute.choices import ImageKind, VMKind
from tests.browser.conftest import shot
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory, ImageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_member_lists_her_container_beside_her_vm_and_opens_it(
    login, host, world, flavor, image, settings, tmp_path: Path
):
    settings.NUAGE = {**settings.NUAGE, "CONTAINER_ROOT": str(tmp_path / "containers")}
    make_sim_host(tmp_path, cpus=4, memory_mib=4096, domain_type="lxc")
    rootfs = ImageFactory(
        name="busybox",
        kind=ImageKind.ROOTFS,
        kernel_path="",
        rootfs_path=str(build_busybox_rootfs(tmp_path / "rootfs")),
    )
    c_flavor = FlavorFactory(name="c-tiny", kind=VMKind.CONTAINER, vcpus=1, ram_mib=64)
    for name, fl, img in (("box-1", c_flavor, rootfs), ("web-1", flavor, image)):
        services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=fl,
            image=img,
            name=name,
        )
    alice = login(world.member)
    alice.goto("/")
    expect(alice.locator("tr[data-vm=box-1] [data-kind=container]")).to_have_text("container")
    expect(alice.locator("tr[data-vm=web-1] [data-kind]")).to_have_count(0)
    alice.locator("select[name=kind]").select_option("container")
    alice.get_by_role("button", name="Filter").click()
    expect(alice.locator("tr[data-vm=web-1]")).to_have_count(0)
    expect(alice.locator("tr[data-vm=box-1]")).to_have_count(1)
    shot(alice, "containers-list")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "containers-list-390")
    alice.set_viewport_size({"width": 1366, "height": 800})

    alice.locator("tr[data-vm=box-1] a").first.click()
    expect(alice.locator(".heading").first).to_contain_text("System container")
    expect(alice.locator("[data-console=serial]")).to_be_visible()
    expect(alice.locator("[data-console=vnc]")).to_have_count(0)
    # No disks: no volumes, snapshots or OVA export on a container's page.
    expect(alice.locator("#vm-snapshots")).to_have_count(0)
    expect(alice.get_by_text("Export (OVA)")).to_have_count(0)
    shot(alice, "container-page")
    alice.set_viewport_size({"width": 390, "height": 800})
    shot(alice, "container-page-390")
