"""OVF: a stopped VM exported as an OVA (envelope, manifest, disks) for its owner to download,
and the sweep of old exports.

An export is an `ExportJob` row; the work runs in a Celery task dispatched on commit. The task
is idempotent: it builds the archive under a temporary name in EXPORT_DIR and renames it into
place at the end, so a redelivery after a crash starts again and never serves half a file.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import tarfile
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor, ovf, selectors
from compute.choices import EXPORT_ACTIVE_STATES, ExportStatus, VMState
from compute.hypervisor.images import export_volume
from compute.models import ExportJob, VirtualMachine
from compute.services._common import require_not_container
from portal.audit import audit_record
from portal.errors import ConflictError
from portal.models import User

logger = logging.getLogger(__name__)

_HASH_CHUNK = 1 << 20


def export_dir() -> Path:
    path = Path(settings.NUAGE["EXPORT_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def export_path(job: ExportJob) -> Path:
    """Where a ready export's OVA is kept on the worker (its UUID: never a user's text)."""
    return export_dir() / f"{job.uuid.hex}.ova"


def _dispatch(job_id: int) -> None:
    from compute.tasks import export_run  # tasks import services, not the other way

    transaction.on_commit(lambda: export_run.delay(job_id))


@transaction.atomic
def vm_export_create(
    *, vm: VirtualMachine, requested_by: User, remote_addr: str | None = None
) -> ExportJob:
    """Start an OVA export of a stopped VM (409 in any other state, or while one runs)."""
    if not selectors.can_operate(requested_by, vm):
        raise PermissionDenied(_("Your role in this tenant does not allow this action."))
    require_not_container(vm)
    locked = VirtualMachine.objects.unscoped().select_for_update().get(pk=vm.pk)
    if locked.state != VMState.STOPPED or locked.host_id is None:
        raise ConflictError(
            _("Only a stopped VM can be exported; %(name)s is %(state)s.")
            % {"name": vm.name, "state": str(VMState(locked.state).label).lower()},
            state=locked.state,
        )
    try:
        with transaction.atomic():
            job = ExportJob.objects.create(vm=locked, requested_by=requested_by)
    except IntegrityError:
        raise ConflictError(
            _("An export of %(name)s is already in progress.") % {"name": vm.name},
            state=locked.state,
        ) from None
    audit_record(
        actor=requested_by,
        action="vm.export",
        obj=job,
        tenant=vm.tenant,
        changes={"vm": vm.name},
        remote_addr=remote_addr,
    )
    _dispatch(job.id)
    return job


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(timezone.now().timestamp())
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size = path.stat().st_size
    info.mtime = int(timezone.now().timestamp())
    info.mode = 0o644
    with path.open("rb") as f:
        tar.addfile(info, f)


def build_ova(job: ExportJob, dest: Path, scratch: Path) -> None:
    """Convert the VM's disks into `scratch`, then write the OVA to `dest`: the envelope
    first, then the manifest, then the disks (the order OVF 1.x asks of a tar)."""
    vm = job.vm
    host = vm.host
    if host is None:
        raise hypervisor.HypervisorError("The VM has no host.")
    fmt = job.disk_format
    fmt_url = ovf.VMDK_STREAM if fmt == "vmdk" else ovf.QCOW2_FORMAT
    disks: list[ovf.EnvelopeDisk] = []
    files: list[tuple[str, Path]] = []
    for i, disk in enumerate(selectors.vm_export_disks(vm=vm), 1):
        name = f"{vm.name}-disk{i}.{fmt}"
        path = scratch / name
        capacity = export_volume(host.uri, pool=disk.pool, name=disk.volume, dest=path, fmt=fmt)
        disks.append(ovf.EnvelopeDisk(name, path.stat().st_size, capacity, fmt_url))
        files.append((name, path))
    system = ovf.EnvelopeSystem(
        name=vm.name,
        vcpus=vm.flavor.vcpus,
        ram_mib=vm.flavor.ram_mib,
        disks=disks,
        networks=sorted({nic.network.name for nic in vm.interfaces.select_related("network")}),
        os_type=vm.image.os_type or "linux64",
        description=f"{vm.name}, exported by Nuage from {vm.tenant.name} / {vm.environment.name}",
    )
    envelope = ovf.build_envelope(system)
    ovf_name = f"{vm.name}.ovf"
    digests = [(ovf_name, hashlib.sha256(envelope).hexdigest())]
    digests += [(name, _sha256(path)) for name, path in files]
    with tarfile.open(dest, "w", format=tarfile.USTAR_FORMAT) as tar:
        _add_bytes(tar, ovf_name, envelope)
        _add_bytes(tar, f"{vm.name}.mf", ovf.manifest(digests))
        for name, path in files:
            _add_file(tar, name, path)
            path.unlink()  # half the peak space: each disk leaves scratch once archived


def export_run(*, job_id: int) -> str:
    """Make the OVA of an export job; a rerun (redelivery) starts again. Returns its status."""
    now = timezone.now()
    claimed = (
        ExportJob.objects.unscoped()
        .filter(pk=job_id, status__in=EXPORT_ACTIVE_STATES)
        .update(status=ExportStatus.RUNNING, started_at=now, attempts=F("attempts") + 1)
    )
    job = (
        ExportJob.objects.unscoped()
        .filter(pk=job_id)
        .select_related("vm__host", "vm__flavor", "vm__image", "vm__tenant", "vm__environment")
        .first()
    )
    if job is None:
        return "gone"
    if not claimed:
        return job.status
    vm = job.vm
    if vm.state != VMState.STOPPED:
        return _finish_failed(job, _("The VM was no longer stopped when its export began."))
    final = export_path(job)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{job.uuid.hex}.", suffix=".part", dir=export_dir())
    os.close(fd)
    tmp = Path(tmp_name)
    scratch = Path(tempfile.mkdtemp(prefix=f".{job.uuid.hex}.", dir=export_dir()))
    try:
        build_ova(job, tmp, scratch)
        digest = _sha256(tmp)
        os.replace(tmp, final)
    except (hypervisor.HypervisorError, OSError, tarfile.TarError) as exc:
        logger.warning("Export %s of VM %s failed: %s", job.pk, vm.pk, exc)
        return _finish_failed(job, str(exc))
    finally:
        tmp.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    done = timezone.now()
    ttl = timedelta(hours=float(settings.NUAGE["EXPORT_TTL_HOURS"]))
    # Only the run that claimed the job last records it: one the sweep gave up on meanwhile
    # (over EXPORT_TIMEOUT_MINUTES) stays failed, and its file goes.
    recorded = (
        ExportJob.objects.unscoped()
        .filter(pk=job.pk, status=ExportStatus.RUNNING, started_at=now)
        .update(
            status=ExportStatus.READY,
            size_bytes=final.stat().st_size,
            sha256=digest,
            error_message="",
            finished_at=done,
            expires_at=done + ttl,
        )
    )
    if not recorded:
        final.unlink(missing_ok=True)
        job.refresh_from_db(fields=["status"])
        return job.status
    return ExportStatus.READY


def _finish_failed(job: ExportJob, message: str) -> str:
    ExportJob.objects.unscoped().filter(pk=job.pk).update(
        status=ExportStatus.FAILED, error_message=message, finished_at=timezone.now()
    )
    return ExportStatus.FAILED


def _export_timeouts(now: datetime) -> tuple[int, int]:
    """Exports that stalled: a pending one whose message was lost is dispatched again; one
    running for longer than EXPORT_TIMEOUT_MINUTES (its worker died and no redelivery came,
    or it hangs) fails, which lets its VM start again. Returns (dispatched, timed out)."""
    from compute.tasks import export_run  # tasks import services, not the other way

    limit = timedelta(minutes=float(settings.NUAGE["EXPORT_TIMEOUT_MINUTES"]))
    lost = list(
        ExportJob.objects.unscoped()
        .filter(status=ExportStatus.PENDING, created_at__lte=now - timedelta(minutes=10))
        .values_list("pk", flat=True)
    )
    for job_id in lost:
        export_run.delay(job_id)
    minutes = f"{limit.total_seconds() / 60:.0f}"
    timed_out = (
        ExportJob.objects.unscoped()
        .filter(status=ExportStatus.RUNNING, started_at__lte=now - limit)
        .update(
            status=ExportStatus.FAILED,
            finished_at=now,
            error_message=_(
                "The export did not finish within %(minutes)s minutes and was stopped; the VM "
                "can start again. Try the export once more."
            )
            % {"minutes": minutes},
        )
    )
    if timed_out:
        logger.warning("%s export(s) ran over %s minutes: marked failed", timed_out, minutes)
    return len(lost), timed_out


def export_sweep() -> dict[str, int]:
    """Delete the OVAs of expired exports, and files a crashed run left in EXPORT_DIR; stalled
    exports are dispatched again or failed (`_export_timeouts`)."""
    now = timezone.now()
    redispatched, timed_out = _export_timeouts(now)
    expired = 0
    for job in ExportJob.objects.unscoped().filter(status=ExportStatus.READY, expires_at__lte=now):
        export_path(job).unlink(missing_ok=True)
        expired += (
            ExportJob.objects.unscoped()
            .filter(pk=job.pk, status=ExportStatus.READY)
            .update(status=ExportStatus.EXPIRED)
        )
    keep = {
        f"{u.hex}.ova"
        for u in ExportJob.objects.unscoped()
        .filter(status=ExportStatus.READY)
        .values_list("uuid", flat=True)
    }
    active = {
        u.hex
        for u in ExportJob.objects.unscoped()
        .filter(status__in=EXPORT_ACTIVE_STATES)
        .values_list("uuid", flat=True)
    }
    grace = now.timestamp() - 3600
    stray = 0
    for entry in export_dir().iterdir():
        if entry.name == "imports":  # uploads waiting for import_run (ovf_import.py)
            continue
        if entry.name in keep or entry.name.lstrip(".").split(".")[0] in active:
            continue
        if entry.stat().st_mtime > grace:
            continue  # perhaps a run that has not recorded its job yet
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        stray += 1
    result = {"expired": expired, "stray": stray}
    if redispatched or timed_out:
        result.update(redispatched=redispatched, timed_out=timed_out)
    return result
