"""OVF import: an uploaded OVA, checked (compute.ovf.read_ova), becomes an Image that members can
request VMs from; its disk is converted to qcow2 and made the image's base volume in the storage
pool of every host that takes new VMs.

Only platform admins import. The upload is read from the file Django already holds (never into
memory); every check runs before anything is written outside a scratch folder that is removed
whatever happens, and a host that fails has the volumes already made on the others removed.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from compute import hypervisor, ovf
from compute.choices import ImageKind
from compute.hypervisor.images import convert_to_qcow2, import_base_volume
from compute.models import Host, Image
from portal.audit import audit_record
from portal.models import User
from portal.permissions import require_platform_admin

logger = logging.getLogger(__name__)

GiB = 2**30


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


def _volume_name(image_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", image_name.lower()).strip("-")[:40] or "image"
    return f"nuage-image-{uuid.uuid4().hex[:8]}-{slug}.qcow2"


def _import_hosts() -> list[Host]:
    return [h for h in Host.objects.filter(enabled=True).order_by("pk") if h.reachable]


def image_import(
    *,
    imported_by: User,
    file: IO[bytes],
    size: int | None,
    name: str,
    kernel_path: str = "",
    initrd_path: str = "",
    cmdline: str = "console=ttyS0",
    is_public: bool = True,
    remote_addr: str | None = None,
) -> Image:
    """Check the OVA, put its disk in every host's pool, and record the image (400 with the
    reason on a bad OVA, nothing kept). A kernel path makes it a direct-kernel-boot image whose
    disk is the imported one (for guests whose disk has no boot loader)."""
    require_platform_admin(imported_by)
    check_upload_size(size)
    image = Image(
        name=name,
        kind=ImageKind.KERNEL if kernel_path else ImageKind.DISK,
        base_volume=_volume_name(name),
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        cmdline=cmdline,
        is_public=is_public,
    )
    try:
        image.full_clean()
    except ValidationError as exc:
        raise ValidationError(
            {field: " ".join(msgs) for field, msgs in exc.message_dict.items()}
        ) from None
    hosts = _import_hosts()
    if not hosts:
        raise ValidationError({"file": _("No host takes new VMs: the image has nowhere to go.")})
    scratch_root = Path(settings.NUAGE["EXPORT_DIR"])
    scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".import-", dir=scratch_root))
    made: list[Host] = []
    try:
        try:
            read = ovf.read_ova(file, scratch, ova_limits())
        except ovf.OvaError as exc:
            raise ValidationError({"file": str(exc)}) from None
        if len(read.disks) != 1:
            raise ValidationError(
                {
                    "file": _(
                        "This OVA has %(n)s disks; a Nuage image has one (attach data volumes "
                        "to the VMs instead)."
                    )
                    % {"n": len(read.disks)}
                }
            )
        disk = read.disks[0]
        base = scratch / "base.qcow2"
        try:
            convert_to_qcow2(disk.path, disk.disk.format, base)
            disk.path.unlink()
            for host in hosts:
                import_base_volume(
                    host.uri,
                    pool=host.storage_pool,
                    name=image.base_volume,
                    source=base,
                    capacity=disk.virtual_size,
                )
                made.append(host)
        except hypervisor.HypervisorError as exc:
            raise ValidationError({"file": str(exc)}) from None
        env = read.envelope
        image.min_vcpus = env.vcpus
        image.min_ram_mib = env.ram_mib
        image.min_disk_gib = -(-disk.virtual_size // GiB)
        image.os_type = env.os_type
        with transaction.atomic():
            image.save()
            audit_record(
                actor=imported_by,
                action="image.import",
                obj=image,
                changes={
                    "name": name,
                    "vcpus": env.vcpus,
                    "ram_mib": env.ram_mib,
                    "disk_gib": image.min_disk_gib,
                    "os_type": env.os_type,
                    "hosts": [h.name for h in made],
                },
                remote_addr=remote_addr,
            )
        made = []  # kept: the image uses them
        return image
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        for host in made:
            try:
                hypervisor.remove_volume(host.uri, pool=host.storage_pool, name=image.base_volume)
            except hypervisor.HypervisorError:
                logger.warning("Could not remove %s from %s", image.base_volume, host.name)
