"""OVA import by platform admins (API multipart and the Images page) on libvirt's test driver:
the request checks the OVA's files, envelope and manifest (a bad or oversize OVA is a 400 that
says why, with nothing written) and answers a 202 with an import job; the job's worker makes
the envelope's hardware the image's minimum and its disk the base volume in each host's pool,
or fails and keeps nothing. A redelivered task, a dead worker and a stuck run are handled."""

from __future__ import annotations

import io
import os
import tarfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from compute import hypervisor, services
from compute.choices import ImportStatus
from compute.hypervisor.connection import get_connection
from compute.models import Host, Image, ImportJob
from compute.services import ovf as ovf_services
from compute.services import ovf_import
from portal.models import AuditEntry
from tests.conftest import TenantWorld, make_sim_host
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
    """What an import left in EXPORT_DIR (the OVAs of exports aside; the empty imports folder
    itself aside)."""
    if not export_dir.exists():
        return []
    return [
        p
        for p in export_dir.rglob("*")
        if p.suffix != ".ova" or p.parent != export_dir
        if p != export_dir / "imports"
    ]


def follow(user, answer) -> dict:
    """The import job the 202 answered, as its `url` shows it now."""
    assert answer.status_code == 202, answer.json()
    return client_for(user).get(answer.json()["url"]).json()


def test_admin_imports_an_ova_and_members_request_vms_from_it(world, sim_host, ova, export_dir):
    answer = post(world.platform_admin, ova)

    assert answer.status_code == 202, answer.json()
    started = answer.json()
    assert started["name"] == "imported"
    assert answer["Location"] == started["url"]
    assert started["url"].endswith(f"/api/v1/imports/{started['id']}/")
    job = follow(world.platform_admin, answer)
    assert job["status"] == "done", job["error_message"]
    assert (job["hosts_done"], job["hosts_total"]) == (1, 1)
    body = client_for(world.platform_admin).get(job["image_url"]).json()
    assert body["id"] == job["image"]
    assert (body["min_vcpus"], body["min_ram_mib"], body["min_disk_gib"]) == (2, 384, 1)
    assert body["os_type"] == "linux64" and body["kind"] == "disk"
    assert body["base_volume"] in pool_volumes(sim_host)
    assert left_files(export_dir) == []
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"image.import_start", "image.import"} <= actions

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
    job = follow(world.platform_admin, answer)
    image = Image.objects.get(pk=job["image"])
    assert image.kind == "kernel"
    assert image.base_volume in pool_volumes(sim_host)


def test_member_cannot_import_nor_see_imports(world, sim_host, ova):
    assert post(world.member, ova).status_code == 403
    assert not Image.objects.filter(name="imported").exists()
    assert not ImportJob.objects.exists()

    answer = post(world.platform_admin, ova)
    job_id = answer.json()["id"]
    member = client_for(world.member)
    assert member.get(f"/api/v1/imports/{job_id}/").status_code == 404
    assert member.get("/api/v1/imports/").json()["results"] == []
    assert client_for(world.tenant_admin).get(f"/api/v1/imports/{job_id}/").status_code == 404


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


def _without_manifest_digest(ova: bytes) -> bytes:
    """The same OVA whose manifest lists the envelope only (not the disk)."""
    src = tarfile.open(fileobj=io.BytesIO(ova))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith(".mf"):
                data = b"".join(line for line in data.splitlines(True) if b".ovf" in line)
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda ova: b"not a tar at all" * 64, "not an OVA"),
        (lambda ova: _with_member(ova, _symlink()), "not a regular file"),
        (lambda ova: _with_member(ova, _traversal(), b"hi"), "plain file names"),
        (_without_manifest_digest, "The manifest has no digest"),
    ],
    ids=["not-a-tar", "symlink", "traversal", "undigested-disk"],
)
def test_bad_ova_is_a_400_and_nothing_is_kept(world, sim_host, ova, export_dir, make, reason):
    before = pool_volumes(sim_host)
    answer = post(world.platform_admin, make(ova))
    assert answer.status_code == 400
    assert reason in answer.json()["file"][0]
    assert not Image.objects.filter(name="imported").exists()
    assert not ImportJob.objects.exists()
    assert pool_volumes(sim_host) == before
    assert left_files(export_dir) == []
    assert not Path("/tmp/nuage-evil").exists()


def test_disk_not_matching_its_manifest_fails_the_job_and_nothing_is_kept(
    world, sim_host, ova, export_dir
):
    """The disk's digest needs all its data: the worker finds it, not the request."""
    before = pool_volumes(sim_host)
    job = follow(world.platform_admin, post(world.platform_admin, _tamper(ova)))
    assert job["status"] == "failed"
    assert "does not match the manifest" in job["error_message"]
    assert job["image"] is None and job["image_url"] is None
    assert not Image.objects.filter(name="imported").exists()
    assert pool_volumes(sim_host) == before
    assert left_files(export_dir) == []


def test_oversize_upload_is_refused_before_it_is_read(world, sim_host, ova, settings):
    settings.NUAGE = {**settings.NUAGE, "OVA_MAX_UPLOAD_BYTES": 1000}
    answer = post(world.platform_admin, ova)
    assert answer.status_code == 400
    assert "the most Nuage takes is 1000" in answer.json()["file"][0]
    assert not Image.objects.filter(name="imported").exists()
    assert not ImportJob.objects.exists()


def test_size_bomb_over_the_disk_limit_is_refused(world, sim_host, ova, settings, export_dir):
    settings.NUAGE = {**settings.NUAGE, "OVA_MAX_DISK_GIB": 0}
    answer = post(world.platform_admin, ova)
    assert answer.status_code == 400
    assert "over the limit" in answer.json()["file"][0]
    assert left_files(export_dir) == []


def test_duplicate_name_is_a_field_error(world, sim_host, ova, image):
    answer = post(world.platform_admin, ova, name=image.name)
    assert answer.status_code == 400
    assert "name" in answer.json()


def test_a_second_import_of_the_same_name_under_way_is_a_field_error(world, sim_host, ova):
    ImportJob.objects.create(name="imported", status=ImportStatus.CONVERTING)
    answer = post(world.platform_admin, ova)
    assert answer.status_code == 400
    assert "already under way" in answer.json()["name"][0]


def test_images_page_imports_an_ova(client, world, sim_host, ova):
    client.force_login(world.platform_admin)
    assert "Import an OVA" in client.get("/images/").content.decode()
    answer = client.post(
        "/images/",
        {"file": SimpleUploadedFile("vm.ova", ova), "name": "from-page", "is_public": "on"},
    )
    assert answer.status_code == 302
    job = ImportJob.objects.get(name="from-page")
    assert answer["Location"] == f"/images/imports/{job.pk}/"
    page = client.get(answer["Location"]).content.decode()
    assert f'data-live-url="/images/imports/{job.pk}/progress/"' in page
    assert "Image from-page imported: 2 vCPU, 384 MiB, 1 GiB." in page
    live = client.get(f"/images/imports/{job.pk}/progress/").content.decode()
    assert 'data-status="done"' in live
    page = client.get("/images/").content.decode()
    assert 'data-image="from-page"' in page and "2 vCPU, 384\xa0MiB, 1\xa0GiB" in page
    assert f'href="/images/imports/{job.pk}/"' in page

    bad = client.post("/images/", {"file": SimpleUploadedFile("x.ova", b"junk"), "name": "x"})
    assert bad.status_code == 200
    assert "not an OVA" in bad.content.decode()
    client.force_login(world.member)
    assert client.get("/images/").status_code == 404
    assert client.get(f"/images/imports/{job.pk}/").status_code == 404
    assert client.get(f"/images/imports/{job.pk}/progress/").status_code == 404


def test_images_page_shows_why_an_import_failed_in_french(client, world, sim_host, ova):
    client.force_login(world.platform_admin)
    answer = client.post(
        "/images/", {"file": SimpleUploadedFile("vm.ova", _tamper(ova)), "name": "x"}
    )
    try:
        page = client.get(answer["Location"], HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    finally:
        translation.deactivate()  # the request leaves French on
    assert 'data-status="failed"' in page
    assert "L’import a échoué" in page and "Rien n’en a été conservé" in page


# ---------------------------------------------------------------------------------------------
# The worker's side: failures, redelivery, dead workers, the sweep


def queued_job(world: TenantWorld, ova: bytes, monkeypatch, name: str = "imported") -> ImportJob:
    """An import accepted by the request, its task not run yet."""
    monkeypatch.setattr(ovf_import, "_dispatch", lambda job_id: None)
    job = ovf_import.image_import_start(
        imported_by=world.platform_admin, file=io.BytesIO(ova), size=len(ova), name=name
    )
    monkeypatch.undo()
    assert job.status == ImportStatus.QUEUED
    assert (ovf_import.job_folder(job) / ovf_import.UPLOAD_NAME).read_bytes() == ova
    return job


def test_failure_on_a_host_removes_the_volumes_made_on_the_others(
    world, sim_host, ova, export_dir, tmp_path, monkeypatch
):
    second = make_sim_host(tmp_path)
    job = queued_job(world, ova, monkeypatch)
    real = ovf_import.import_base_volume
    seen: list[str] = []

    def flaky(uri: str, **kw):
        if uri == second.uri:
            seen.extend(pool_volumes(sim_host))
            raise hypervisor.HypervisorError("The host's pool is full.")
        return real(uri, **kw)

    monkeypatch.setattr(ovf_import, "import_base_volume", flaky)
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.FAILED

    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "The host's pool is full." in job.error_message
    assert job.image is None and job.finished_at is not None
    name = ovf_import.volume_name(job, 1)
    assert name in seen  # made on the first host before the second failed...
    assert name not in pool_volumes(sim_host)  # ...and removed
    assert name not in pool_volumes(second)
    assert not Image.objects.filter(name="imported").exists()
    assert left_files(export_dir) == []


def test_a_redelivered_task_of_a_done_job_does_nothing(world, sim_host, ova, monkeypatch):
    job = queued_job(world, ova, monkeypatch)
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.DONE
    job.refresh_from_db()
    volumes = pool_volumes(sim_host)

    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.DONE

    again = ImportJob.objects.get(pk=job.pk)
    assert (again.attempts, again.finished_at, again.image_id) == (1, job.finished_at, job.image_id)
    assert pool_volumes(sim_host) == volumes
    assert Image.objects.filter(name="imported").count() == 1
    assert ovf_import.import_run(job_id=123456) == "gone"


def test_a_redelivery_while_a_live_worker_runs_the_job_does_nothing(
    world, sim_host, ova, monkeypatch
):
    job = queued_job(world, ova, monkeypatch)
    now = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.CONVERTING, attempts=1, started_at=now, heartbeat_at=now
    )
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.CONVERTING
    job.refresh_from_db()
    assert (job.attempts, job.started_at) == (1, now)
    assert (ovf_import.job_folder(job) / ovf_import.UPLOAD_NAME).exists()


def test_a_job_whose_worker_died_is_taken_over_and_its_leftovers_removed(
    world, sim_host, ova, export_dir, monkeypatch
):
    job = queued_job(world, ova, monkeypatch)
    # The first run copied a volume (perhaps half of it) and a file, then its worker died.
    hypervisor.images.import_base_volume(
        sim_host.uri,
        pool=sim_host.storage_pool,
        name=ovf_import.volume_name(job, 1),
        source=ovf_import.job_folder(job) / ovf_import.UPLOAD_NAME,
        capacity=2**30,
    )
    (ovf_import.job_folder(job) / "attempt-1").mkdir()
    long_ago = timezone.now() - timedelta(minutes=20)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.DISTRIBUTING, attempts=1, started_at=long_ago, heartbeat_at=long_ago
    )

    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.DONE

    job.refresh_from_db()
    assert job.attempts == 2
    assert job.image is not None
    assert job.image.base_volume == ovf_import.volume_name(job, 2)
    volumes = pool_volumes(sim_host)
    assert ovf_import.volume_name(job, 2) in volumes
    assert ovf_import.volume_name(job, 1) not in volumes
    assert left_files(export_dir) == []


def test_sweep_fails_a_stuck_import_and_removes_what_it_made(
    world, sim_host, ova, export_dir, monkeypatch, settings
):
    settings.NUAGE = {**settings.NUAGE, "IMPORT_TIMEOUT_MINUTES": 60}
    job = queued_job(world, ova, monkeypatch)
    name = ovf_import.volume_name(job, 1)
    hypervisor.images.import_base_volume(
        sim_host.uri,
        pool=sim_host.storage_pool,
        name=name,
        source=ovf_import.job_folder(job) / ovf_import.UPLOAD_NAME,
        capacity=2**30,
    )
    # Hung for two hours (its heartbeat still beats: the worker lives but makes no progress).
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.DISTRIBUTING,
        attempts=1,
        started_at=timezone.now() - timedelta(hours=2),
        heartbeat_at=timezone.now(),
    )
    redispatched: list[int] = []
    monkeypatch.setattr("compute.tasks.import_run.delay", redispatched.append)

    result = ovf_import.import_sweep()

    assert result["timed_out"] == 1 and redispatched == []
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert "did not finish within 60 minutes" in job.error_message
    assert name not in pool_volumes(sim_host)
    assert left_files(export_dir) == []
    # The hung run, were it to wake up, finds its job gone and records nothing.
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.FAILED


def test_sweep_restarts_a_dead_workers_import_then_gives_up(
    world, sim_host, ova, export_dir, monkeypatch
):
    job = queued_job(world, ova, monkeypatch)
    long_ago = timezone.now() - timedelta(minutes=20)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.CONVERTING, attempts=1, started_at=long_ago, heartbeat_at=long_ago
    )
    redispatched: list[int] = []
    monkeypatch.setattr("compute.tasks.import_run.delay", redispatched.append)

    assert ovf_import.import_sweep()["redispatched"] == 1
    assert redispatched == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportStatus.CONVERTING

    ImportJob.objects.filter(pk=job.pk).update(attempts=3)
    assert ovf_import.import_sweep()["timed_out"] == 1
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED
    assert left_files(export_dir) == []


def test_sweep_dispatches_a_queued_import_whose_message_was_lost(world, sim_host, ova, monkeypatch):
    job = queued_job(world, ova, monkeypatch)
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=11))
    redispatched: list[int] = []
    monkeypatch.setattr("compute.tasks.import_run.delay", redispatched.append)
    assert ovf_import.import_sweep()["redispatched"] == 1
    assert redispatched == [job.pk]


def test_sweep_removes_an_old_folder_with_no_import(export_dir, db):
    stray = ovf_import.import_dir() / "0123abcd"
    stray.mkdir()
    (stray / "upload.ova").write_bytes(b"x")
    os.utime(stray, (0, 0))
    fresh = ovf_import.import_dir() / "fresh"
    fresh.mkdir()
    assert ovf_import.import_sweep()["stray"] == 1
    assert not stray.exists() and fresh.exists()


def test_export_sweep_leaves_the_uploads_alone(export_dir, db):
    folder = ovf_import.import_dir()
    os.utime(folder, (0, 0))
    ovf_services.export_sweep()
    assert folder.exists()


def test_a_long_run_keeps_its_heartbeat_fresh(world, sim_host, ova, monkeypatch, settings):
    """A conversion is one long call: the run's heartbeat thread tells the sweep and any
    redelivery that its worker lives."""
    job = queued_job(world, ova, monkeypatch)
    settings.NUAGE = {**settings.NUAGE, "IMPORT_HEARTBEAT_SECONDS": 0.05}
    real = ovf_import.convert_to_qcow2
    beats: list[tuple[object, object]] = []

    def slow(*args, **kw):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            row = ImportJob.objects.values_list("started_at", "heartbeat_at").get(pk=job.pk)
            if row[1] > row[0]:
                beats.append(row)
                break
            time.sleep(0.02)
        return real(*args, **kw)

    monkeypatch.setattr(ovf_import, "convert_to_qcow2", slow)
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.DONE
    assert beats, "the heartbeat never moved while the disk was converted"


def test_a_large_upload_is_kept_by_a_link_not_copied(world, sim_host, ova, monkeypatch, settings):
    """Django writes it in EXPORT_DIR/imports/.incoming: keeping it costs no copy."""
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload goes to a temporary file
    copies: list[object] = []
    monkeypatch.setattr(ovf_import.shutil, "copyfileobj", lambda *a, **k: copies.append(a))
    job = follow(world.platform_admin, post(world.platform_admin, ova))
    assert job["status"] == "done", job["error_message"]
    assert copies == []
    incoming = ovf_import.import_dir() / ".incoming"
    assert incoming.is_dir() and list(incoming.iterdir()) == []  # Django removed its file
    ovf_import.import_sweep()
    assert incoming.is_dir()


def test_an_unexpected_error_fails_the_job_with_its_reason_and_keeps_nothing(
    world, sim_host, ova, export_dir, monkeypatch, client
):
    job = queued_job(world, ova, monkeypatch)

    def broken(*args, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ovf_import, "convert_to_qcow2", broken)
    assert ovf_import.import_run(job_id=job.pk) == ImportStatus.FAILED
    job.refresh_from_db()
    assert job.error_message == "RuntimeError: disk on fire"
    assert left_files(export_dir) == []
    client.force_login(world.platform_admin)
    page = client.get(f"/images/imports/{job.pk}/").content.decode()
    assert "The import failed: RuntimeError: disk on fire" in page
