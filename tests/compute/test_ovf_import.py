"""OVA import by platform admins (API multipart and the Images page) on libvirt's test driver:
the envelope's hardware becomes the image's minimum, its disk the base volume in each host's
pool; a bad or oversize OVA is a 400 that says why, with nothing written and no file left."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from compute import services
from compute.hypervisor.connection import get_connection
from compute.models import Host, Image
from compute.services import ovf as ovf_services
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory
from tests.test_api import client_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("run_on_commit")]


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path: Path) -> Path:
    path = tmp_path / "exports"
    settings.NUAGE = {**settings.NUAGE, "EXPORT_DIR": str(path)}
    return path


@pytest.fixture
def ova(world: TenantWorld, sim_host: Host, image) -> bytes:
    """A Nuage export of a stopped 2-vCPU, 384 MiB, 1 GiB VM."""
    flavor = FlavorFactory(name="two", vcpus=2, ram_mib=384, disk_gib=1)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="src",
    )
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    return ovf_services.export_path(job).read_bytes()


def pool_volumes(host: Host) -> set[str]:
    pool = get_connection(host.uri).storagePoolLookupByName(host.storage_pool)
    pool.refresh()
    return set(pool.listVolumes())


def post(user, data: bytes, name: str = "imported", **extra):
    upload = SimpleUploadedFile("vm.ova", data, content_type="application/x-tar")
    return client_for(user).post(
        "/api/v1/images/import/", {"file": upload, "name": name, **extra}, format="multipart"
    )


def left_files(export_dir: Path) -> list[Path]:
    return [p for p in export_dir.iterdir() if p.suffix != ".ova"] if export_dir.exists() else []


def test_admin_imports_an_ova_and_members_request_vms_from_it(world, sim_host, ova, export_dir):
    answer = post(world.platform_admin, ova)

    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert (body["min_vcpus"], body["min_ram_mib"], body["min_disk_gib"]) == (2, 384, 1)
    assert body["os_type"] == "linux64" and body["kind"] == "disk"
    assert body["base_volume"] in pool_volumes(sim_host)
    assert left_files(export_dir) == []

    image = Image.objects.get(pk=body["id"])
    small = FlavorFactory(name="small-one", vcpus=1, ram_mib=512, disk_gib=1)
    refused = client_for(world.member).post(
        "/api/v1/vms/",
        {
            "name": "too-small",
            "environment": world.development.pk,
            "flavor": small.pk,
            "image": image.pk,
        },
        format="json",
    )
    assert refused.status_code == 400
    assert "needs at least 2 vCPU" in refused.json()["flavor"][0]

    big = FlavorFactory(name="big-one", vcpus=2, ram_mib=512, disk_gib=2)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=big,
        image=image,
        name="from-ova",
    )
    vm.refresh_from_db()
    assert vm.state == "running", vm.error_message


def test_kernel_path_makes_a_direct_boot_image_on_the_imported_disk(world, sim_host, ova):
    answer = post(world.platform_admin, ova, kernel_path="/boot/vmlinuz", initrd_path="/boot/i")
    assert answer.status_code == 201, answer.json()
    assert answer.json()["kind"] == "kernel"
    assert answer.json()["base_volume"] in pool_volumes(sim_host)


def test_member_cannot_import(world, sim_host, ova):
    assert post(world.member, ova).status_code == 403
    assert not Image.objects.filter(name="imported").exists()


def _tamper(ova: bytes) -> bytes:
    """The same OVA with its disk's last byte flipped (the manifest no longer matches)."""
    src = tarfile.open(fileobj=io.BytesIO(ova))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith(".vmdk"):
                data = data[:-1] + bytes([data[-1] ^ 1])
            dst.addfile(m, io.BytesIO(data))
    return out.getvalue()


def _with_member(ova: bytes, info: tarfile.TarInfo, data: bytes = b"") -> bytes:
    """The same OVA with one more member at its end."""
    src = tarfile.open(fileobj=io.BytesIO(ova))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m))
        dst.addfile(info, io.BytesIO(data) if data else None)
    return out.getvalue()


def _symlink() -> tarfile.TarInfo:
    info = tarfile.TarInfo("evil")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
    return info


def _traversal() -> tarfile.TarInfo:
    info = tarfile.TarInfo("../../../tmp/nuage-evil")
    info.size = 2
    return info


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda ova: b"not a tar at all" * 64, "not an OVA"),
        (_tamper, "does not match the manifest"),
        (lambda ova: _with_member(ova, _symlink()), "not a regular file"),
        (lambda ova: _with_member(ova, _traversal(), b"hi"), "plain file names"),
    ],
    ids=["not-a-tar", "digest-mismatch", "symlink", "traversal"],
)
def test_bad_ova_is_a_400_and_nothing_is_kept(world, sim_host, ova, export_dir, make, reason):
    before = pool_volumes(sim_host)
    answer = post(world.platform_admin, make(ova))
    assert answer.status_code == 400
    assert reason in answer.json()["file"][0]
    assert not Image.objects.filter(name="imported").exists()
    assert pool_volumes(sim_host) == before
    assert left_files(export_dir) == []
    assert not Path("/tmp/nuage-evil").exists()


def test_oversize_upload_is_refused_before_it_is_read(world, sim_host, ova, settings):
    settings.NUAGE = {**settings.NUAGE, "OVA_MAX_UPLOAD_BYTES": 1000}
    answer = post(world.platform_admin, ova)
    assert answer.status_code == 400
    assert "the most Nuage takes is 1000" in answer.json()["file"][0]
    assert not Image.objects.filter(name="imported").exists()


def test_size_bomb_over_the_disk_limit_is_refused(world, sim_host, ova, settings):
    settings.NUAGE = {**settings.NUAGE, "OVA_MAX_DISK_GIB": 0}
    answer = post(world.platform_admin, ova)
    assert answer.status_code == 400
    assert "over the limit" in answer.json()["file"][0]


def test_duplicate_name_is_a_field_error(world, sim_host, ova, image):
    answer = post(world.platform_admin, ova, name=image.name)
    assert answer.status_code == 400
    assert "name" in answer.json()


def test_images_page_imports_an_ova(client, world, sim_host, ova):
    client.force_login(world.platform_admin)
    assert "Import an OVA" in client.get("/images/").content.decode()
    answer = client.post(
        "/images/",
        {"file": SimpleUploadedFile("vm.ova", ova), "name": "from-page", "is_public": "on"},
    )
    assert answer.status_code == 302
    page = client.get("/images/").content.decode()
    assert 'data-image="from-page"' in page and "2 vCPU, 384\xa0MiB, 1\xa0GiB" in page

    bad = client.post("/images/", {"file": SimpleUploadedFile("x.ova", b"junk"), "name": "x"})
    assert bad.status_code == 200
    assert "not an OVA" in bad.content.decode()
    client.force_login(world.member)
    assert client.get("/images/").status_code == 404
