"""OVA export of a stopped VM on libvirt's test driver: the job, the archive's layout, the
envelope's hardware, the manifest's digests, the streamed download, 409s and the sweep.

The test driver keeps no disk data: its exports carry blank disks of the volumes' sizes (the
real content round trip is tests/integration/test_ovf.py)."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from compute import ovf, services
from compute.choices import ExportStatus, VMState
from compute.hypervisor.connection import get_connection
from compute.models import ExportJob
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


def stopped_vm(world: TenantWorld, flavor, image, *, name="web-1"):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    return vm


def download(client, url: str) -> bytes:
    answer = client.get(url)
    assert answer.status_code == 200
    assert answer.streaming, "the OVA is streamed, not read into memory"
    assert answer["Content-Disposition"].startswith("attachment;")
    return b"".join(answer.streaming_content)


def test_member_exports_a_stopped_vm_and_downloads_the_ova(world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    client = client_for(world.member)

    answer = client.post(f"/api/v1/vms/{vm.pk}/export/")

    assert answer.status_code == 202, answer.json()
    job = client.get(f"/api/v1/exports/{answer.json()['id']}/").json()
    assert job["status"] == "ready"
    assert job["download_url"].endswith(f"/api/v1/exports/{job['id']}/download/")
    data = download(client, job["download_url"])
    assert hashlib.sha256(data).hexdigest() == job["sha256"]
    assert len(data) == job["size_bytes"]

    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        assert names == ["web-1.ovf", "web-1.mf", "web-1-disk1.vmdk"]
        envelope = tar.extractfile("web-1.ovf").read()  # type: ignore[union-attr]
        manifest = ovf.parse_manifest(tar.extractfile("web-1.mf").read())  # type: ignore[union-attr]
        disk = tar.extractfile("web-1-disk1.vmdk").read()  # type: ignore[union-attr]
    parsed = ovf.parse_envelope(envelope)
    assert (parsed.name, parsed.vcpus, parsed.ram_mib) == ("web-1", flavor.vcpus, flavor.ram_mib)
    assert [d.capacity_bytes for d in parsed.disks] == [flavor.disk_gib * 2**30]
    assert parsed.disks[0].format == "vmdk"
    assert manifest["web-1.ovf"] == ("sha256", hashlib.sha256(envelope).hexdigest())
    assert manifest["web-1-disk1.vmdk"] == ("sha256", hashlib.sha256(disk).hexdigest())
    assert disk[:4] == b"KDMV"  # a VMDK sparse extent


def test_exported_ova_reads_back_as_an_importable_archive(world, sim_host, flavor, image, tmp_path):
    vm = stopped_vm(world, flavor, image)
    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    job.refresh_from_db()
    work = tmp_path / "work"
    work.mkdir()
    limits = ovf.OvaLimits(max_member_bytes=2**30, max_virtual_bytes=64 * 2**30)
    with ovf_services.export_path(job).open("rb") as f:
        read = ovf.read_ova(f, work, limits)
    assert read.envelope.vcpus == flavor.vcpus
    assert [d.virtual_size for d in read.disks] == [flavor.disk_gib * 2**30]


def test_export_lists_the_attached_data_volumes_after_the_root_disk(world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    volume = services.volume_create(
        created_by=world.member, environment=world.development, name="data-1", size_gib=3
    )
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    job.refresh_from_db()
    assert job.status == ExportStatus.READY, job.error_message
    with tarfile.open(ovf_services.export_path(job)) as tar:
        assert tar.getnames()[2:] == ["web-1-disk1.vmdk", "web-1-disk2.vmdk"]
        parsed = ovf.parse_envelope(tar.extractfile("web-1.ovf").read())  # type: ignore[union-attr]
    assert [d.capacity_bytes // 2**30 for d in parsed.disks] == [flavor.disk_gib, 3]


def test_running_vm_cannot_be_exported(world, sim_host, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    answer = client_for(world.member).post(f"/api/v1/vms/{vm.pk}/export/")
    assert answer.status_code == 409
    assert "stopped" in answer.json()["detail"]
    assert not ExportJob.objects.unscoped().exists()


def test_second_export_while_one_runs_is_a_conflict(world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    ExportJob.objects.create(vm=vm, requested_by=world.member, status=ExportStatus.RUNNING)
    answer = client_for(world.member).post(f"/api/v1/vms/{vm.pk}/export/")
    assert answer.status_code == 409
    assert ExportJob.objects.unscoped().count() == 1


def test_approver_of_the_tenant_cannot_export_someone_elses_vm(world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    answer = client_for(world.approver).post(f"/api/v1/vms/{vm.pk}/export/")
    assert answer.status_code == 403
    assert not ExportJob.objects.unscoped().exists()


def test_failed_export_says_why_and_leaves_no_file(world, sim_host, flavor, image, export_dir):
    vm = stopped_vm(world, flavor, image)
    pool = get_connection(sim_host.uri).storagePoolLookupByName(sim_host.storage_pool)
    pool.storageVolLookupByName(vm.volume_name).delete(0)

    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)

    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "missing" in job.error_message
    assert list(export_dir.iterdir()) == []
    answer = client_for(world.member).get(f"/api/v1/exports/{job.pk}/download/")
    assert answer.status_code == 404


def test_rerun_of_a_finished_export_changes_nothing(world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    job.refresh_from_db()
    before = ovf_services.export_path(job).stat().st_mtime_ns
    assert ovf_services.export_run(job_id=job.pk) == ExportStatus.READY
    assert ovf_services.export_path(job).stat().st_mtime_ns == before


def test_sweep_removes_expired_exports_and_leftovers(world, sim_host, flavor, image, export_dir):
    vm = stopped_vm(world, flavor, image)
    job = ovf_services.vm_export_create(vm=vm, requested_by=world.member)
    path = ovf_services.export_path(job)
    assert path.exists()
    leftover = export_dir / ".deadbeef.part"
    leftover.write_bytes(b"half an OVA")
    old = (timezone.now() - timedelta(hours=2)).timestamp()
    os.utime(leftover, (old, old))
    ExportJob.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert ovf_services.export_sweep() == {"expired": 1, "stray": 1}

    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED
    assert list(export_dir.iterdir()) == []
    assert client_for(world.member).get(f"/api/v1/exports/{job.pk}/").json()["download_url"] is None


def test_vm_page_exports_and_downloads(client, world, other_world, sim_host, flavor, image):
    vm = stopped_vm(world, flavor, image)
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert "Export as OVA" in page

    answer = client.post(f"/vms/{vm.pk}/export/")

    assert answer.status_code == 302
    job = ExportJob.objects.get(vm=vm)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert f"/exports/{job.pk}/download/" in page
    data = download(client, f"/exports/{job.pk}/download/")
    assert data[257:262] == b"ustar"
    # Another tenant's member gets a 404 for the download link; finance (read-only) a 403.
    client.force_login(other_world.member)
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404
    client.force_login(world.finance)
    assert client.get(f"/exports/{job.pk}/download/").status_code == 403


@pytest.fixture
def export_in_progress(world, sim_host, flavor, image, monkeypatch):
    """A stopped VM whose export a worker is converting right now (the task not yet done)."""
    from compute import tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.export_run, "delay", queued.append)
    vm = stopped_vm(world, flavor, image)
    answer = client_for(world.member).post(f"/api/v1/vms/{vm.pk}/export/")
    assert answer.status_code == 202, answer.json()
    job = ExportJob.objects.get(pk=answer.json()["id"])
    assert queued == [job.pk]
    ExportJob.objects.filter(pk=job.pk).update(status=ExportStatus.RUNNING)
    return vm, job


def test_starting_a_vm_while_its_export_runs_is_a_409_and_the_ova_stays_whole(
    world, export_in_progress
):
    vm, job = export_in_progress
    client = client_for(world.member)

    answer = client.post(f"/api/v1/vms/{vm.pk}/start/")

    assert answer.status_code == 409
    assert "being exported as an OVA" in answer.json()["detail"]
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert not vm.operations.filter(kind="start").exists()
    # The export goes on to the end; every member of the archive matches its manifest.
    assert ovf_services.export_run(job_id=job.pk) == ExportStatus.READY
    with tarfile.open(ovf_services.export_path(job)) as tar:
        manifest = ovf.parse_manifest(tar.extractfile("web-1.mf").read())  # type: ignore[union-attr]
        for name, (algorithm, digest) in manifest.items():
            data = tar.extractfile(name).read()  # type: ignore[union-attr]
            assert (algorithm, hashlib.sha256(data).hexdigest()) == ("sha256", digest), name
    # Once the export is over, the VM starts.
    assert client.post(f"/api/v1/vms/{vm.pk}/start/").status_code == 202


def test_nothing_may_change_the_disks_of_a_vm_being_exported(world, export_in_progress):
    vm, _job = export_in_progress
    client = client_for(world.member)
    bigger = FlavorFactory(name="bigger", disk_gib=5)
    volume = services.volume_create(
        created_by=world.member, environment=world.development, name="data-1", size_gib=1
    )

    answers = {
        "delete": client.delete(f"/api/v1/vms/{vm.pk}/"),
        "resize": client.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": bigger.pk}),
        "snapshot": client.post(f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "s1"}),
        "attach": client.post(f"/api/v1/volumes/{volume.pk}/attach/", {"vm": vm.pk}),
    }

    assert {k: a.status_code for k, a in answers.items()} == dict.fromkeys(answers, 409)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor.name) == (VMState.STOPPED, "small")
    assert not vm.snapshots.exists()
    volume.refresh_from_db()
    assert volume.vm_id is None


def test_vm_page_says_why_a_vm_being_exported_does_not_start(client, world, export_in_progress):
    vm, _job = export_in_progress
    client.force_login(world.member)

    answer = client.post(f"/vms/{vm.pk}/start/", follow=True)

    assert "being exported as an OVA" in answer.content.decode()
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED


def test_an_export_that_stalls_fails_after_the_timeout_and_the_vm_starts_again(
    world, sim_host, flavor, image, export_dir, settings
):
    settings.NUAGE = {**settings.NUAGE, "EXPORT_TIMEOUT_MINUTES": 30}
    vm = stopped_vm(world, flavor, image)
    long_ago = timezone.now() - timedelta(minutes=31)
    # Its worker died mid-way and no redelivery came: the job stays "running".
    job = ExportJob.objects.create(
        vm=vm, requested_by=world.member, status=ExportStatus.RUNNING, started_at=long_ago
    )
    answer = client_for(world.member).post(f"/api/v1/vms/{vm.pk}/start/")
    assert answer.status_code == 409  # an export holds the VM

    result = ovf_services.export_sweep()

    assert result["timed_out"] == 1
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert "did not finish within 30 minutes" in job.error_message
    answer = client_for(world.member).post(f"/api/v1/vms/{vm.pk}/start/")
    assert answer.status_code == 202, answer.content


def test_a_run_the_sweep_gave_up_on_keeps_its_job_failed_and_leaves_no_file(
    world, sim_host, flavor, image, export_dir, monkeypatch
):
    vm = stopped_vm(world, flavor, image)
    job = ExportJob.objects.create(vm=vm, requested_by=world.member)
    real_build = ovf_services.build_ova

    def build_then_time_out(job_, dest, scratch):
        real_build(job_, dest, scratch)  # the real archive, from the test driver's volume
        ExportJob.objects.filter(pk=job_.pk).update(status=ExportStatus.FAILED)  # the sweep

    monkeypatch.setattr(ovf_services, "build_ova", build_then_time_out)
    assert ovf_services.export_run(job_id=job.pk) == ExportStatus.FAILED
    job.refresh_from_db()
    assert job.status == ExportStatus.FAILED
    assert list(export_dir.iterdir()) == []


def test_a_pending_export_whose_message_was_lost_is_dispatched_again(
    world, sim_host, flavor, image, export_dir
):
    vm = stopped_vm(world, flavor, image)
    job = ExportJob.objects.create(vm=vm, requested_by=world.member)
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=11))

    assert ovf_services.export_sweep()["redispatched"] == 1

    job.refresh_from_db()
    assert job.status == ExportStatus.READY  # run (eagerly, in tests) to its end
    assert ovf_services.export_path(job).exists()
