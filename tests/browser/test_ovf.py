"""A member exports her stopped VM as an OVA from its page and downloads it; a platform admin
imports that OVA on the Images page and follows the import on its page until the image is
there (screenshots at desktop and phone width, no sideways scrolling at 390 px)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from compute import services
from compute.models import ExportJob, Image, ImportJob
from tests.browser.conftest import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    settings.NUAGE = {**settings.NUAGE, "EXPORT_DIR": str(path)}
    return path


def fits_390(page: Page, name: str, *visible: Locator) -> None:
    """At phone width the page needs no sideways scrolling, and `visible` are in sight (not
    hidden in a table's own scrolling); at desktop width neither."""
    for width in (390, 1200):
        page.set_viewport_size({"width": width, "height": 800})
        shot(page, name if width == 1200 else f"{name}-390")
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= width, f"{name} is {wide} px wide at {width} px"
        for locator in visible:
            box = locator.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, f"{name}: {locator}"


def test_member_exports_a_stopped_vm_and_an_admin_imports_it_as_an_image(
    login, host, world, flavor, image, tmp_path
):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    alice = login(world.member)
    alice.goto(f"/vms/{vm.pk}/")
    card = alice.locator("#vm-exports")
    expect(card).to_contain_text("Export (OVA)")

    card.get_by_role("button", name="Export as OVA").click()

    expect(alice.locator(".messages")).to_contain_text(
        "Export of web-1 started; its OVA appears below."
    )
    job = ExportJob.objects.get(vm=vm)
    row = alice.locator(f"#vm-exports tr[data-export='{job.pk}']")
    expect(row).to_have_attribute("data-status", "ready")
    link = row.get_by_role("link", name="Download")
    expect(link).to_have_attribute("href", f"/exports/{job.pk}/download/")
    fits_390(alice, "vm-export", link)
    with alice.expect_download() as download:
        link.click()
    saved = tmp_path / "web-1.ova"
    download.value.save_as(saved)
    assert download.value.suggested_filename == job.file_name
    assert saved.read_bytes()[257:262] == b"ustar"  # a tar archive: the OVA

    admin = login(world.platform_admin)
    admin.goto("/images/")
    form = admin.locator("#image-import")
    expect(form).to_contain_text("Import an OVA")
    fits_390(admin, "images-import", form.get_by_role("button", name="Import"))
    form.locator("input[name=file]").set_input_files(str(saved))
    form.locator("input[name=name]").fill("web-1-copy")
    form.get_by_role("button", name="Import").click()

    # The import's own page: the upload was kept and its job queued; the (eager) worker ran it.
    expect(admin.locator(".messages")).to_contain_text("Import of web-1-copy started")
    job = ImportJob.objects.get(name="web-1-copy")
    assert admin.url.endswith(f"/images/imports/{job.pk}/")
    region = admin.locator("#import-job")
    expect(region.locator("[data-import]")).to_have_attribute("data-status", "done")
    expect(region).to_contain_text(
        f"Image web-1-copy imported: {flavor.vcpus} vCPU, {flavor.ram_mib} MiB, "
        f"{flavor.disk_gib} GiB."
    )
    fits_390(admin, "image-import-job", region.get_by_role("link", name="See the images"))
    region.get_by_role("link", name="See the images").click()
    expect(admin.locator("#images tr[data-image=web-1-copy]")).to_contain_text(
        f"{flavor.vcpus} vCPU, {flavor.ram_mib} MiB, {flavor.disk_gib} GiB"
    )
    assert Image.objects.filter(name="web-1-copy").exists()
    fits_390(admin, "images-imported")


def test_a_member_gets_no_import_form(login, world):
    alice = login(world.member)
    answer = alice.goto("/images/")
    assert answer is not None and answer.status == 404
