"""Build a busybox root file system for system containers (the demo's and the tests' image).

The container's init (PID 1) prints MARKER, keeps a shell on the console (what the browser
console shows) and stops cleanly on SIGTERM, which is how Nuage asks a container to shut down.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

MARKER = "NUAGE-CONTAINER-READY"
BUSYBOX = Path("/bin/busybox")
FORMAT_VERSION = 1

INIT_SCRIPT = f"""#!/bin/sh
# nuage busybox container init (PID 1): a shell on the console, a clean stop on SIGTERM.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
trap 'echo "nuage-container: stopping"; kill -TERM -1 2>/dev/null; exit 0' TERM
hostname "$(cat /etc/hostname 2>/dev/null || echo container)"
echo "{MARKER}"
(while :; do setsid -c /bin/sh -l; sleep 0.2; done) </dev/console >/dev/console 2>&1 &
while :; do wait; done
"""

_FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
    "etc/group": "root:x:0:\n",
    "etc/hostname": "container\n",
    "etc/profile": "export PS1='\\h:\\w# '\n",
}


def build_busybox_rootfs(dest: Path, *, busybox: Path = BUSYBOX) -> Path:
    """Make `dest` a busybox rootfs (idempotent: an existing one of this format is kept)."""
    stamp = dest / ".nuage-rootfs"
    if stamp.is_file() and stamp.read_text().strip() == str(FORMAT_VERSION):
        return dest
    if not busybox.is_file():
        raise FileNotFoundError(f"{busybox} missing (install busybox-static)")
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for folder in (
        "bin",
        "sbin",
        "usr/bin",
        "usr/sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "run",
        "var/log",
    ):
        (partial / folder).mkdir(parents=True, exist_ok=True)
    os.chmod(partial / "tmp", 0o1777)  # noqa: S103 - the container's /tmp, sticky like any
    shutil.copy2(busybox, partial / "bin/busybox")
    applets = subprocess.run(  # noqa: S603
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = partial / applet
        if applet == "bin/busybox" or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(partial / "bin/busybox", link.parent))
    init = partial / "sbin/init"
    if init.is_symlink() or init.exists():
        init.unlink()
    init.write_text(INIT_SCRIPT)
    init.chmod(0o755)
    for name, text in _FILES.items():
        (partial / name).write_text(text)
    (partial / ".nuage-rootfs").write_text(f"{FORMAT_VERSION}\n")
    shutil.rmtree(dest, ignore_errors=True)
    partial.rename(dest)
    return dest


def build_busybox_tarball(dest: Path, *, busybox: Path = BUSYBOX) -> Path:
    """The same rootfs as a gzip'd tarball at `dest` (a `.tar.gz`)."""
    tree = build_busybox_rootfs(dest.with_name(dest.name + ".tree"), busybox=busybox)
    partial = dest.with_name(dest.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(tree, arcname=".")
    partial.rename(dest)
    shutil.rmtree(tree)
    return dest


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m compute.busyboxroot DEST_DIR", file=sys.stderr)
        return 2
    print(build_busybox_rootfs(Path(argv[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
