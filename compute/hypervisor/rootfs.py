"""Containers' root file systems on the host: each container runs on its own copy of its image.

An image is a directory or a tarball on the host. A container's copy is made with `cp -a
--reflink=auto` from a directory (copy-on-write where the file system shares extents: Btrfs,
XFS; a plain copy elsewhere) or unpacked from the tarball, into a folder of its own that goes
with the container. The copy is made beside its final place and renamed there, so that a
half-made copy (a worker killed in the middle) is never taken for a finished one.

The messages of `rootfs_problem` answer a user's request: they are translated.
These run on the machine of the worker: the host must be that machine (an `lxc:///` host).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from django.utils.translation import gettext as _

from compute.hypervisor.errors import HypervisorError
from compute.hypervisor.xml import CONTAINER_INIT

TARBALL_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
_INIT = CONTAINER_INIT.lstrip("/")


def is_tarball(path: str) -> bool:
    return path.endswith(TARBALL_SUFFIXES)


def rootfs_problem(path: str) -> str:
    """Why `path` is not a rootfs image a container can boot ("" when it is one).

    A rootfs is a directory or a tarball holding an executable /sbin/init (a link counts: the
    container resolves it inside its own root).
    """
    if not path.startswith("/"):
        return _("Give the absolute path of the rootfs on the host, not %(path)s.") % {
            "path": repr(path)
        }
    if is_tarball(path):
        if not os.path.isfile(path):
            return _("There is no tarball at %(path)s.") % {"path": path}
        try:
            with tarfile.open(path) as tar:
                for member in tar:
                    if member.name.lstrip("./") == _INIT and (member.isfile() or member.issym()):
                        return ""
        except (tarfile.TarError, OSError, EOFError) as exc:
            return _("%(path)s is not a readable tarball: %(error)s.") % {
                "path": path,
                "error": exc,
            }
        return _("The tarball %(path)s has no %(init)s: it is not a root file system.") % {
            "path": path,
            "init": CONTAINER_INIT,
        }
    if not os.path.isdir(path):
        return _("There is no directory or tarball (%(suffixes)s) at %(path)s.") % {
            "suffixes": ", ".join(TARBALL_SUFFIXES),
            "path": path,
        }
    init = Path(path, _INIT)
    if not (init.is_symlink() or (init.is_file() and os.access(init, os.X_OK))):
        return _(
            "The directory %(path)s has no executable %(init)s: it is not a root file system."
        ) % {"path": path, "init": CONTAINER_INIT}
    return ""


def _run(args: list[str]) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise HypervisorError(f"{args[0]} failed: {proc.stderr.strip()[-500:]}")


def rootfs_prepare(*, source: str, dest: str) -> bool:
    """Make `dest` the container's own copy of the image at `source`; True if made now.

    A rerun finds the finished copy and keeps it (the container's files survive a retried
    provisioning); a half-made one from a crash is thrown away and made again.
    """
    target = Path(dest)
    if target.is_dir():
        return False
    problem = rootfs_problem(source)
    if problem:
        raise HypervisorError(problem)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    if is_tarball(source):
        partial.mkdir(mode=0o755)
        _run(["tar", "-xpf", source, "-C", str(partial), "--numeric-owner"])
    else:
        _run(["cp", "-a", "--reflink=auto", "--", source, str(partial)])
    partial.rename(target)
    return True


def rootfs_remove(dest: str) -> bool:
    """Delete the container's copy (and any half-made one); False if there was none."""
    target = Path(dest)
    shutil.rmtree(target.with_name(target.name + ".partial"), ignore_errors=True)
    if not target.exists():
        return False
    shutil.rmtree(target)
    return True
