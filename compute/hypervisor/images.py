"""Disk images in and out of a host's storage pool: a VM's disk exported to a file, an imported
disk made an image's base volume.

Exports read the volume's file where the pool keeps it: the worker must run on the host (or see
the pool at the same path, as with shared storage); `qemu-img convert` flattens the VM's qcow2
overlay and its base into one self-contained image. Imports go the other way through the
libvirt connection (a volume upload), so a remote host needs no shared file system.

Libvirt's test driver has volumes but no files: there an export is a blank image of the
volume's size (the envelope, the archive and every error path stay real), and an import makes
the base volume at the image's size without uploading.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import libvirt
from lxml import etree

from compute.hypervisor.connection import call
from compute.hypervisor.driver import _is_test, _pool, _rescan, _volume
from compute.hypervisor.errors import HypervisorError
from compute.hypervisor.xml import volume_xml

# qemu-img's output format names, and the options that make each self-contained.
_OUTPUT = {
    "vmdk": ["-O", "vmdk", "-o", "subformat=streamOptimized"],
    "qcow2": ["-O", "qcow2"],
}
_QEMU_IMG_TIMEOUT = 6 * 3600


def _qemu_img(*args: str) -> None:
    try:
        done = subprocess.run(  # noqa: S603
            ["qemu-img", *args],  # noqa: S607
            capture_output=True,
            timeout=_QEMU_IMG_TIMEOUT,
            check=False,
        )
    except FileNotFoundError as exc:
        raise HypervisorError("qemu-img is not installed on the worker (qemu-utils).") from exc
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        raise HypervisorError(f"qemu-img {args[0]} failed: {(lines or [''])[-1][:300]}")


def _volume_facts(uri: str, pool: str, name: str) -> tuple[str, int, str]:
    """(path, capacity in bytes, format) of a volume of the pool."""

    def fn(conn: libvirt.virConnect) -> tuple[str, int, str]:
        p = _pool(conn, pool)
        vol = _volume(p, name)
        if vol is None:
            _rescan(p)
            vol = _volume(p, name)
        if vol is None:
            raise HypervisorError(f"The volume '{name}' is missing from pool '{pool}'.")
        found = etree.fromstring(vol.XMLDesc(0)).find("target/format")
        fmt = found.get("type", "") if found is not None else ""
        return str(vol.path()), int(vol.info()[1]), fmt or "qcow2"

    return call(uri, fn)


def export_volume(uri: str, *, pool: str, name: str, dest: Path, fmt: str = "vmdk") -> int:
    """Write the volume, flattened, to `dest` as `fmt` (vmdk: streamOptimized); return its
    size as the guest sees it, in bytes. `dest` is replaced if present (a rerun)."""
    if fmt not in _OUTPUT:
        raise HypervisorError(f"Nuage exports disks as vmdk or qcow2, not {fmt}.")
    path, capacity, src_fmt = _volume_facts(uri, pool, name)
    dest.unlink(missing_ok=True)
    if _is_test(uri):
        # A simulated host keeps no data: the export is a blank disk of the volume's size.
        create = ["create", "-f", fmt]
        if fmt == "vmdk":
            create += ["-o", "subformat=streamOptimized"]
        _qemu_img(*create, str(dest), str(capacity))
        return capacity
    if not Path(path).is_file():
        raise HypervisorError(
            f"The disk {path} is not readable from this worker: exports need the worker on "
            "the VM's host (or the host's pool mounted at the same path)."
        )
    # No force-share (-U): a guest started meanwhile holds the image's write lock, and the
    # conversion fails rather than copy a disk being written.
    _qemu_img("convert", "-f", src_fmt, *_OUTPUT[fmt], path, str(dest))
    return capacity


_UPLOAD_CHUNK = 1 << 20


def import_base_volume(uri: str, *, pool: str, name: str, source: Path, capacity: int) -> str:
    """Make `source` (a qcow2 file with no backing file) the volume `name` of the pool, sent
    through the libvirt connection; return the volume's path. A volume already there with
    the same size is kept (a rerun)."""
    size = source.stat().st_size

    def fn(conn: libvirt.virConnect) -> str:
        p = _pool(conn, pool)
        _rescan(p)
        vol = _volume(p, name)
        if vol is not None:
            return str(vol.path())
        capacity_gib = max(1, -(-capacity // 2**30))
        vol = p.createXML(volume_xml(name=name, capacity_gib=capacity_gib, backing_path=None), 0)
        if _is_test(uri):
            return str(vol.path())
        stream = conn.newStream(0)
        try:
            vol.upload(stream, 0, size, 0)
            with source.open("rb") as src:
                while chunk := src.read(_UPLOAD_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        sent = stream.send(bytes(view))
                        if sent <= 0:
                            raise HypervisorError("The host stopped taking the image's upload.")
                        view = view[sent:]
            stream.finish()
        except BaseException:
            try:
                stream.abort()
            except libvirt.libvirtError:
                pass
            try:
                vol.delete(0)
            except libvirt.libvirtError:
                pass
            raise
        _rescan(p)
        return str(vol.path())

    return call(uri, fn, timeout=None)  # an image upload lasts as long as its size


def convert_to_qcow2(source: Path, fmt: str, dest: Path) -> None:
    """Convert an imported disk (vmdk or qcow2) to a self-contained qcow2 on the worker."""
    dest.unlink(missing_ok=True)
    _qemu_img("convert", "-f", fmt, "-O", "qcow2", str(source), str(dest))
