"""OVF round trip on real QEMU guests: a guest writes to its disk, is stopped and exported as an
OVA; the OVA is imported as an image (an import job, run on commit by the eager worker), a VM
is requested from it, and its guest finds the same disk content, CPU count and memory (read
through the serial console shell)."""

from __future__ import annotations

from pathlib import Path

import pytest

from compute import hypervisor, services
from compute.choices import ExportStatus, ImportStatus, VMState
from compute.models import ExportJob, Host, Image, ImportJob
from compute.services import ovf as ovf_services
from compute.services import ovf_import
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory
from tests.integration.conftest import POOL, Guests
from tests.integration.test_volumes import Shell

pytestmark = pytest.mark.integration

MARK = "nuage-ovf-round-trip-0123456789"
# Far from the start of the disk; the tiny guest's disk has no file system to disturb.
SECTOR = 4096


def guest_facts(shell: Shell) -> tuple[str, int, int]:
    content = shell.run(
        f"dd if=/dev/vda bs=512 skip={SECTOR} count=1 2>/dev/null | head -c {len(MARK)}"
    )
    cpus = int(shell.run("grep -c ^processor /proc/cpuinfo").strip())
    mem_kib = int(shell.run("grep MemTotal /proc/meminfo").split()[1])
    return content.strip(), cpus, mem_kib


def test_export_import_round_trip_keeps_disk_cpu_and_ram(
    world: TenantWorld,
    qemu_host: Host,
    tiny_image: Image,
    guests: Guests,
    settings,
    tmp_path: Path,
):
    settings.NUAGE = {**settings.NUAGE, "EXPORT_DIR": str(tmp_path / "exports")}
    flavor = FlavorFactory(name="it-ovf", vcpus=2, ram_mib=320, disk_gib=1)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=tiny_image,
        name="it-ovf-source",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    shell = Shell(qemu_host.uri, str(vm.uuid))
    try:
        shell.run(
            f"echo -n {MARK} | dd of=/dev/vda bs=512 seek={SECTOR} conv=fsync 2>/dev/null; echo ok"
        )
        before = guest_facts(shell)
    finally:
        shell.close()
    assert before[0] == MARK
    assert before[1] == 2

    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED, vm.error_message

    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    job = ExportJob.objects.get(pk=job.pk)
    assert job.status == ExportStatus.READY, job.error_message
    ova = ovf_services.export_path(job)

    with ova.open("rb") as f:
        started = ovf_import.image_import_start(
            imported_by=world.platform_admin,
            file=f,
            size=ova.stat().st_size,
            name="it-ovf-imported",
            kernel_path=tiny_image.kernel_path,
            initrd_path=tiny_image.initrd_path,
            path=str(ova),
        )
    # The import ran on commit (eager Celery): checks, conversion, the upload to the host.
    job = ImportJob.objects.get(pk=started.pk)
    assert job.status == ImportStatus.DONE, job.error_message
    assert job.image is not None
    image = job.image
    assert not ovf_import.job_folder(job).exists()
    try:
        assert (image.min_vcpus, image.min_ram_mib, image.min_disk_gib) == (2, 320, 1)
        assert image.base_volume in guests.volumes("nuage-image-")

        copy = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=flavor,
            image=image,
            name="it-ovf-copy",
        )
        copy.refresh_from_db()
        assert copy.state == VMState.RUNNING, copy.error_message
        guests.wait_booted(copy.domain_name)
        shell = Shell(qemu_host.uri, str(copy.uuid))
        try:
            after = guest_facts(shell)
        finally:
            shell.close()
        assert after == before
    finally:
        for v in (copy,) if "copy" in locals() else ():
            services.vm_action(vm=v, action="delete", requested_by=world.member)
        hypervisor.remove_volume(qemu_host.uri, pool=POOL, name=image.base_volume)
