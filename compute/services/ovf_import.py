"""OVF import: an uploaded OVA becomes an Image that members can request VMs from; its disk is
converted to qcow2 and made the image's base volume in the storage pool of every host that
takes new VMs.

Only platform admins import. The web request (`image_import_start`) does only what is quick:
the permission, the upload's size, the image's fields and the checks of `compute.ovf.check_ova`
(tar headers, envelope, manifest; a bad OVA is a 400 with nothing written). It then keeps the
upload in a folder of its own under IMPORT_DIR and records an `ImportJob`, whose Celery task
(`import_run`, dispatched on commit) reads the disk (digests, qemu-img checks), converts it and
copies it to the hosts. A run that fails removes the volumes it made and the folder; the sweep
(`import_sweep`) retries or fails a run whose worker died, and fails one that hangs.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor, ovf
from compute.choices import (
    IMPORT_ACTIVE_STATES,
    IMPORT_RUNNING_STATES,
    ImageKind,
    ImportStatus,
)
from compute.hypervisor.images import convert_to_qcow2, import_base_volume
from compute.models import Host, Image, ImportJob
from compute.uploads import INCOMING
from portal.audit import audit_record
from portal.models import User
from portal.permissions import require_platform_admin

logger = logging.getLogger(__name__)

GiB = 2**30
_COPY_CHUNK = 1 << 20
UPLOAD_NAME = "upload.ova"


def ova_limits() -> ovf.OvaLimits:
    upload = int(settings.NUAGE["OVA_MAX_UPLOAD_BYTES"])
    return ovf.OvaLimits(
        max_member_bytes=upload, max_virtual_bytes=int(settings.NUAGE["OVA_MAX_DISK_GIB"]) * GiB
    )


def check_upload_size(size: int | None) -> None:
    """Refuse an upload over the limit before reading it (from its Content-Length or size)."""
    limit = int(settings.NUAGE["OVA_MAX_UPLOAD_BYTES"])
    if size is not None and size > limit:
        raise ValidationError(
            {
                "file": _("The OVA is %(size)s bytes; the most Nuage takes is %(limit)s.")
                % {"size": size, "limit": limit}
            }
        )


def import_dir() -> Path:
    """Where uploads wait for their worker: a folder of EXPORT_DIR, which the web and the
    workers share (the export sweep leaves it alone)."""
    path = Path(settings.NUAGE["EXPORT_DIR"]) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def job_folder(job: ImportJob) -> Path:
    """The job's own folder: the upload, and one working folder per attempt."""
    return import_dir() / job.uuid.hex


def volume_name(job: ImportJob, attempt: int) -> str:
    """The base volume an attempt makes on each host: named after the job and the attempt, so
    that cleaning up after one attempt never touches another's (or any image's) volume."""
    slug = re.sub(r"[^a-z0-9-]+", "-", job.name.lower()).strip("-")[:40] or "image"
    return f"nuage-image-{job.uuid.hex[:12]}-{attempt}-{slug}.qcow2"


def _import_hosts() -> list[Host]:
    return [h for h in Host.objects.filter(enabled=True).order_by("pk") if h.reachable]


def _dispatch(job_id: int) -> None:
    from compute.tasks import import_run  # tasks import services, not the other way

    transaction.on_commit(lambda: import_run.delay(job_id))


def _field_errors(exc: ValidationError) -> ValidationError:
    return ValidationError({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})


def _name_taken(name: str) -> ValidationError:
    return ValidationError(
        {"name": _("An import of an image named %(name)s is already under way.") % {"name": name}}
    )


def _keep_upload(file: IO[bytes], path: str | None, dest: Path) -> None:
    """Put the upload at `dest` without reading it into memory: a hard link to the file Django
    already wrote when it is on the same file system (instant), else a streamed copy."""
    if path:
        try:
            os.link(path, dest)
            return
        except OSError:
            pass
    file.seek(0)
    with dest.open("xb") as out:
        shutil.copyfileobj(file, out, _COPY_CHUNK)


def image_import_start(
    *,
    imported_by: User,
    file: IO[bytes],
    size: int | None,
    name: str,
    kernel_path: str = "",
    initrd_path: str = "",
    cmdline: str = "console=ttyS0",
    is_public: bool = True,
    path: str | None = None,
    remote_addr: str | None = None,
) -> ImportJob:
    """Check what can be checked at once (400 with the reason, nothing kept), keep the upload
    and queue its import (`import_run`). `path`: where the upload already is on disk, if it
    is. A kernel path makes it a direct-kernel-boot image whose disk is the imported one (for
    guests whose disk has no boot loader)."""
    require_platform_admin(imported_by)
    check_upload_size(size)
    draft = Image(
        name=name,
        kind=ImageKind.KERNEL if kernel_path else ImageKind.DISK,
        base_volume="nuage-image-draft.qcow2",
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        cmdline=cmdline,
        is_public=is_public,
    )
    try:
        draft.full_clean()
    except ValidationError as exc:
        raise _field_errors(exc) from None
    if ImportJob.objects.filter(name=name, status__in=IMPORT_ACTIVE_STATES).exists():
        raise _name_taken(name)
    if not _import_hosts():
        raise ValidationError({"file": _("No host takes new VMs: the image has nowhere to go.")})
    try:
        envelope = ovf.check_ova(file, ova_limits())
    except ovf.OvaError as exc:
        raise ValidationError({"file": str(exc)}) from None
    if len(envelope.disks) != 1:
        raise ValidationError(
            {
                "file": _(
                    "This OVA has %(n)s disks; a Nuage image has one (attach data volumes "
                    "to the VMs instead)."
                )
                % {"n": len(envelope.disks)}
            }
        )
    job = ImportJob(
        requested_by=imported_by,
        name=name,
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        cmdline=cmdline,
        is_public=is_public,
        size_bytes=size or 0,
    )
    folder = job_folder(job)
    folder.mkdir()
    try:
        _keep_upload(file, path, folder / UPLOAD_NAME)
        with transaction.atomic():
            job.save()
            audit_record(
                actor=imported_by,
                action="image.import_start",
                obj=job,
                changes={"name": name, "size_bytes": job.size_bytes, "os_type": envelope.os_type},
                remote_addr=remote_addr,
            )
            _dispatch(job.pk)
    except IntegrityError:
        shutil.rmtree(folder, ignore_errors=True)
        raise _name_taken(name) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return job


# ---------------------------------------------------------------------------------------------
# The worker's side


class _Lost(Exception):
    """This run no longer owns its job (the sweep failed it, or a newer run took it over)."""


class _Failed(Exception):
    """The import cannot be done; the message says why, for the admin."""


def _mine(job: ImportJob, started_at: datetime) -> Q:
    return Q(pk=job.pk, started_at=started_at, status__in=IMPORT_RUNNING_STATES)


def _advance(job: ImportJob, started_at: datetime, **fields: object) -> None:
    """Record this run's progress, if the job is still its own (else `_Lost`)."""
    if not ImportJob.objects.filter(_mine(job, started_at)).update(**fields):
        raise _Lost


@contextmanager
def _heartbeat(job: ImportJob, started_at: datetime) -> Iterator[None]:
    """Touch the job's `heartbeat_at` while the run lasts (a conversion or an upload to a host
    is one long call): a redelivered message or the sweep then knows this worker lives."""
    interval = float(settings.NUAGE["IMPORT_HEARTBEAT_SECONDS"])
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(interval):
                ImportJob.objects.filter(_mine(job, started_at)).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"import-{job.pk}-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _stale_before(now: datetime) -> datetime:
    return now - timedelta(seconds=float(settings.NUAGE["IMPORT_STALE_SECONDS"]))


def remove_volumes(job: ImportJob, attempts: range) -> int:
    """Remove the volumes these attempts of the job may have made, from every host (whether it
    takes new VMs or not); a host that cannot be reached is logged. Returns how many went."""
    removed = 0
    for host in Host.objects.order_by("pk"):
        for attempt in attempts:
            name = volume_name(job, attempt)
            try:
                removed += hypervisor.remove_volume(host.uri, pool=host.storage_pool, name=name)
            except hypervisor.HypervisorError as exc:
                logger.warning("Could not remove %s from %s: %s", name, host.name, exc)
    return removed


def import_run(*, job_id: int) -> str:
    """Import the job's OVA (checks that need the disk's data, conversion, a copy on each
    host), then record its image. Idempotent: a done or failed job is left as it is, and a
    redelivery while another worker runs it (its heartbeat is fresh) does nothing; one after a
    crash starts a new attempt, which first removes what the earlier ones left. Returns the
    job's status."""
    now = timezone.now()
    claimed = (
        ImportJob.objects.filter(pk=job_id)
        .filter(
            Q(status=ImportStatus.QUEUED)
            | Q(status__in=IMPORT_RUNNING_STATES, heartbeat_at__lt=_stale_before(now))
        )
        .update(
            status=ImportStatus.CONVERTING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            hosts_done=0,
            hosts_total=0,
        )
    )
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return "gone"
    if not claimed:
        return job.status
    folder = job_folder(job)
    work = folder / f"attempt-{job.attempts}"
    name = volume_name(job, job.attempts)
    made: list[Host] = []
    finished = False
    try:
        if job.attempts > 1:  # a crashed attempt's volumes and files
            remove_volumes(job, range(1, job.attempts))
            for old in folder.glob("attempt-*"):
                shutil.rmtree(old, ignore_errors=True)
        with _heartbeat(job, now):
            _import(job, now, work, name, made)
        made = []  # kept: the image uses them
        finished = True
        return ImportStatus.DONE
    except _Lost:
        job.refresh_from_db(fields=["status"])
        logger.warning("Import %s was taken from this run (now %s)", job.pk, job.status)
        return job.status
    except _Failed as exc:
        finished = _fail(job, now, str(exc))
        return ImportStatus.FAILED
    except Exception as exc:
        logger.exception("Import %s of image %s failed", job.pk, job.name)
        # The page says "The import failed: <this>": the error as it is, for the admin.
        finished = _fail(job, now, f"{type(exc).__name__}: {exc}")
        return ImportStatus.FAILED
    finally:
        for host in made:
            try:
                hypervisor.remove_volume(host.uri, pool=host.storage_pool, name=name)
            except hypervisor.HypervisorError as exc:
                logger.warning("Could not remove %s from %s: %s", name, host.name, exc)
        # The upload goes once the job is over; a run that lost its job leaves it to the new one.
        shutil.rmtree(folder if finished else work, ignore_errors=True)


def _import(job: ImportJob, started_at: datetime, work: Path, name: str, made: list[Host]) -> Image:
    work.mkdir(parents=True, exist_ok=True)
    upload = job_folder(job) / UPLOAD_NAME
    try:
        with upload.open("rb") as f:
            read = ovf.read_ova(f, work, ova_limits())
    except FileNotFoundError:
        raise _Failed(_("The uploaded OVA is gone from the server; upload it again.")) from None
    except ovf.OvaError as exc:
        raise _Failed(str(exc)) from None
    if len(read.disks) != 1:  # check_ova saw one; the archive changed
        raise _Failed(_("The OVA must hold one disk."))
    disk = read.disks[0]
    base = work / "base.qcow2"
    try:
        convert_to_qcow2(disk.path, disk.disk.format, base)
        disk.path.unlink()
        hosts = _import_hosts()
        if not hosts:
            raise _Failed(_("No host takes new VMs: the image has nowhere to go."))
        _advance(job, started_at, status=ImportStatus.DISTRIBUTING, hosts_total=len(hosts))
        for host in hosts:
            import_base_volume(
                host.uri,
                pool=host.storage_pool,
                name=name,
                source=base,
                capacity=disk.virtual_size,
            )
            made.append(host)
            _advance(job, started_at, hosts_done=len(made), heartbeat_at=timezone.now())
    except hypervisor.HypervisorError as exc:
        raise _Failed(str(exc)) from None
    return _record(job, started_at, read, disk.virtual_size, name, made)


@transaction.atomic
def _record(
    job: ImportJob,
    started_at: datetime,
    read: ovf.ReadOva,
    virtual_size: int,
    name: str,
    made: list[Host],
) -> Image:
    """The image, and the job done with it, if the job is still this run's."""
    locked = ImportJob.objects.select_for_update().filter(_mine(job, started_at)).first()
    if locked is None:
        raise _Lost
    env = read.envelope
    image = Image(
        name=job.name,
        kind=ImageKind.KERNEL if job.kernel_path else ImageKind.DISK,
        base_volume=name,
        kernel_path=job.kernel_path,
        initrd_path=job.initrd_path,
        cmdline=job.cmdline,
        is_public=job.is_public,
        min_vcpus=env.vcpus,
        min_ram_mib=env.ram_mib,
        min_disk_gib=-(-virtual_size // GiB),
        os_type=env.os_type,
    )
    try:
        image.full_clean()
    except ValidationError as exc:
        raise _Failed(" ".join(exc.messages)) from None
    image.save()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportStatus.DONE, image=image, finished_at=timezone.now(), error_message=""
    )
    audit_record(
        actor=job.requested_by,
        action="image.import",
        obj=image,
        changes={
            "name": image.name,
            "vcpus": env.vcpus,
            "ram_mib": env.ram_mib,
            "disk_gib": image.min_disk_gib,
            "os_type": env.os_type,
            "hosts": [h.name for h in made],
            "import_job": job.pk,
        },
    )
    return image


def _fail(job: ImportJob, started_at: datetime, message: str) -> bool:
    """Mark the job failed if it is still this run's; whether it was."""
    return bool(
        ImportJob.objects.filter(_mine(job, started_at)).update(
            status=ImportStatus.FAILED, error_message=message, finished_at=timezone.now()
        )
    )


def import_sweep() -> dict[str, int]:
    """Imports that stalled, and folders nobody will use:
    - a queued job whose message was lost (10 minutes) is dispatched again;
    - a running one whose worker died (no heartbeat for IMPORT_STALE_SECONDS) is dispatched
      again (a new attempt) up to IMPORT_MAX_ATTEMPTS, then failed;
    - one running for longer than IMPORT_TIMEOUT_MINUTES (it hangs) is failed;
    a failed one's volumes and upload are removed; a folder of IMPORT_DIR with no active job
    (an hour old: perhaps a request still saving its job) goes."""
    from compute.tasks import import_run  # tasks import services, not the other way

    now = timezone.now()
    limit = timedelta(minutes=float(settings.NUAGE["IMPORT_TIMEOUT_MINUTES"]))
    max_attempts = int(settings.NUAGE["IMPORT_MAX_ATTEMPTS"])
    result = {"redispatched": 0, "timed_out": 0, "stray": 0}
    lost = ImportJob.objects.filter(
        status=ImportStatus.QUEUED, created_at__lte=now - timedelta(minutes=10)
    )
    dead = ImportJob.objects.filter(
        status__in=IMPORT_RUNNING_STATES,
        heartbeat_at__lt=_stale_before(now),
        attempts__lt=max_attempts,
        started_at__gt=now - limit,
    )
    for job_id in [*lost.values_list("pk", flat=True), *dead.values_list("pk", flat=True)]:
        import_run.delay(job_id)
        result["redispatched"] += 1
    minutes = f"{limit.total_seconds() / 60:.0f}"
    stuck = ImportJob.objects.filter(status__in=IMPORT_RUNNING_STATES).filter(
        Q(started_at__lte=now - limit)
        | Q(heartbeat_at__lt=_stale_before(now), attempts__gte=max_attempts)
    )
    for job in stuck:
        failed = ImportJob.objects.filter(
            pk=job.pk, started_at=job.started_at, status__in=IMPORT_RUNNING_STATES
        ).update(
            status=ImportStatus.FAILED,
            finished_at=now,
            error_message=_(
                "The import did not finish within %(minutes)s minutes, or its worker "
                "stopped, and it was given up; nothing of it was kept. Upload the OVA again."
            )
            % {"minutes": minutes},
        )
        if failed:
            result["timed_out"] += 1
            remove_volumes(job, range(1, job.attempts + 1))
            shutil.rmtree(job_folder(job), ignore_errors=True)
    if result["timed_out"]:
        logger.warning("%s import(s) stalled or ran over %s minutes: failed", result, minutes)
    active = {
        u.hex
        for u in ImportJob.objects.filter(status__in=IMPORT_ACTIVE_STATES).values_list(
            "uuid", flat=True
        )
    }
    grace = now.timestamp() - 3600
    for entry in import_dir().iterdir():
        if entry.name == INCOMING:  # uploads of requests under way (compute/uploads.py)
            continue
        if entry.name in active or entry.stat().st_mtime > grace:
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        result["stray"] += 1
    return result
