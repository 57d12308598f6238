"""Build a tiny bootable test guest: the host's Debian kernel plus a busybox initramfs."""

from __future__ import annotations

import gzip
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

MARKER = "NUAGE-GUEST-READY"

# Modules the guest loads, in this order; their dependencies (from modules.dep) come first.
GUEST_MODULES: tuple[str, ...] = (
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "virtio_balloon",
    "button",
    "evdev",
    # The cloud-init seed: an IDE CD-ROM (PIIX on the `pc` machine) with an ISO 9660 file system.
    "ata_piix",
    "sr_mod",
    "isofs",
)

BOOT_DIR = Path("/boot")
MODULES_ROOT = Path("/lib/modules")
BUSYBOX = Path("/bin/busybox")
# SSH server for the guest (Debian package dropbear-bin); copied with the libraries it links.
DROPBEAR = Path("/usr/sbin/dropbear")
DROPBEARKEY = Path("/usr/bin/dropbearkey")

KERNEL_NAME = "vmlinuz"
INITRD_NAME = "initrd.img"
STAMP_NAME = "tinyguest.stamp"

# Bump when the initramfs layout changes, to invalidate caches.
FORMAT_VERSION = 2

INIT_SCRIPT = """#!/bin/busybox sh
# nuage tiny guest init (PID 1): mount, load virtio drivers, announce, wait for ACPI.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /root /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
for m in $(cat /etc/modules); do
    insmod "/lib/modules/$m.ko" || echo "nuage-guest: insmod $m failed"
done
hostname nuage-guest
ifconfig lo 127.0.0.1 up
acpid -c /etc/acpi -l /dev/null
echo "nuage-guest: modules: $(cut -d' ' -f1 /proc/modules | sort | tr '\\n' ' ')"
if . /etc/nuage/seed.sh; then
    echo "nuage-guest: seed applied"
elif ifconfig eth0 up 2>/dev/null; then
    udhcpc -b -q -t 5 -i eth0 -s /etc/udhcpc.script >/dev/null 2>&1
fi
echo "@MARKER@"
while :; do
    setsid cttyhack sh -l
    sleep 1
done
"""

PWRF_HANDLER = """#!/bin/sh
echo "nuage-guest: ACPI power button, powering off" >/dev/console
sync
poweroff -f
"""

UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
    bound|renew)
        ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
        for r in $router; do route add default gw "$r" dev "$interface"; break; done
        echo "nuage-guest: $interface $ip" >/dev/console
        ;;
esac
exit 0
"""


# Sourced by /init: apply a cloud-init NoCloud seed as cloud-init would, for the files that
# compute/cloudinit.py writes (a few busybox tools, not a YAML parser). Returns 1 without one.
SEED_SCRIPT = r"""
SEED=/mnt/seed
# The ATA probe finishes inside insmod (sr0 exists by then if there is a CD-ROM drive); the
# device node follows from devtmpfs.
i=0
while [ ! -b /dev/sr0 ] && [ $i -lt 20 ]; do
    [ -e /sys/block/sr0 ] || [ $i -lt 2 ] || break
    sleep 0.1
    i=$((i + 1))
done
[ -b /dev/sr0 ] || return 1
mkdir -p $SEED
mount -t iso9660 -o ro /dev/sr0 $SEED 2>/dev/null || return 1
if [ ! -f $SEED/meta-data ]; then
    umount $SEED
    return 1
fi
echo "nuage-guest: seed on $(findfs LABEL=cidata 2>/dev/null || echo /dev/sr0, not labelled cidata)"

meta() { awk -v key="$1" -f /etc/nuage/meta.awk $SEED/meta-data; }
name=$(meta local-hostname)
[ -n "$name" ] && hostname "$name" && echo "nuage-guest: hostname $name"
mkdir -p /var/lib/cloud
meta instance-id > /var/lib/cloud/instance-id
echo "nuage-guest: instance-id $(cat /var/lib/cloud/instance-id)"

mkdir -p /root/.ssh
chmod 700 /root /root/.ssh
[ -f $SEED/user-data ] && awk -f /etc/nuage/keys.awk $SEED/user-data > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
echo "nuage-guest: $(grep -c . /root/.ssh/authorized_keys) authorized key(s) for root"

nic_by_mac() {
    for dev in /sys/class/net/*; do
        [ "$(cat "$dev/address")" = "$1" ] && echo "${dev##*/}" && return 0
    done
    return 1
}
if [ -f $SEED/network-config ]; then
    awk -f /etc/nuage/net.awk $SEED/network-config > /run/nics
else
    echo "$(cat /sys/class/net/eth0/address 2>/dev/null) dhcp - - -" > /run/nics
fi
: > /etc/resolv.conf
while read -r mac mode addr gw dns; do
    ifname=$(nic_by_mac "$mac") || { echo "nuage-guest: no NIC with MAC $mac"; continue; }
    ip link set "$ifname" up
    if [ "$mode" = dhcp ]; then
        udhcpc -q -n -t 5 -T 2 -i "$ifname" -s /etc/udhcpc.script >/dev/null 2>&1 \
            || echo "nuage-guest: $ifname no DHCP lease"
        continue
    fi
    ip addr add "$addr" dev "$ifname"
    [ "$gw" != - ] && ip route add default via "$gw" dev "$ifname"
    [ "$dns" != - ] && echo "$dns" | tr , '\n' | sed 's/^/nameserver /' >> /etc/resolv.conf
    echo "nuage-guest: $ifname ${addr%/*}"
done < /run/nics

script=/var/lib/nuage/user-script
[ -f $SEED/user-data ] &&
    awk -v path=$script -f /etc/nuage/script.awk $SEED/user-data > /run/script.b64
if [ -s /run/script.b64 ]; then
    mkdir -p "${script%/*}"
    base64 -d < /run/script.b64 > $script
    chmod 700 $script
    if [ "$(head -c 2 $script)" = "#!" ]; then
        echo "nuage-guest: running user script"
        $script > /dev/console 2>&1
        echo "nuage-guest: user script exited $?"
    fi
fi

mkdir -p /etc/dropbear
key=/etc/dropbear/dropbear_ed25519_host_key
dropbearkey -t ed25519 -f $key > /dev/null 2>&1
# Keys only (-s): root has no password, and password logins are refused anyway.
if dropbear -s -r $key -p 22; then
    echo "nuage-guest: sshd listening on port 22"
fi
return 0
"""

_AWK_UNQUOTE = r"""
function unquote(s) {
    if (s ~ /^'.*'$/) { s = substr(s, 2, length(s) - 2); gsub(/''/, "'", s) }
    else if (s ~ /^".*"$/) { s = substr(s, 2, length(s) - 2) }
    return s
}
"""

# `key: value` at the top of meta-data.
META_AWK = (
    _AWK_UNQUOTE
    + r"""
index($0, key ": ") == 1 { print unquote(substr($0, length(key) + 3)); exit }
"""
)

# The items of the top-level `ssh_authorized_keys` list, one key per line.
KEYS_AWK = (
    _AWK_UNQUOTE
    + r"""
/^ssh_authorized_keys:/ { inkeys = 1; next }
inkeys && /^- / { print unquote(substr($0, 3)); next }
{ inkeys = 0 }
"""
)

# One line per NIC of network-config v2: "mac dhcp|static address/prefix gateway dns,dns".
NET_AWK = (
    _AWK_UNQUOTE
    + r"""
function flush() {
    if (mac != "")
        print mac, (dhcp ? "dhcp" : "static"), d(addr), d(gw), d(dns)
    mac = ""; dhcp = 0; addr = ""; gw = ""; dns = ""; section = ""
}
function d(s) { return s == "" ? "-" : s }
/^ethernets:/ { eth = 1; next }
/^[^ ]/ { if (eth) flush(); eth = 0; next }
!eth { next }
/^  [^ ]/ { flush(); next }
/^    [^ -]/ { section = $1 }
/^      macaddress: / { mac = tolower(unquote($2)) }
/^    dhcp4: true/ { dhcp = 1 }
section == "addresses:" && /^    - / && addr == "" { addr = unquote($2) }
section == "routes:" && /via: / { gw = unquote($NF) }
section == "nameservers:" && /^      - / { dns = dns (dns == "" ? "" : ",") unquote($2) }
END { flush() }
"""
)

# The base64 content of the write_files entry at `path` (the user's #! script).
SCRIPT_AWK = (
    _AWK_UNQUOTE
    + r"""
function emit() { if (p == path && content != "") print content; p = ""; content = "" }
/^write_files:/ { wf = 1; next }
/^[^ -]/ { if (wf) emit(); wf = 0; next }
!wf { next }
/^- / { emit(); sub(/^- /, "  ") }
/^  path: / { p = unquote($2) }
/^  content: / { content = unquote($2) }
END { if (wf) emit() }
"""
)

_AWK_PROGRAMS = {
    "meta.awk": META_AWK,
    "keys.awk": KEYS_AWK,
    "net.awk": NET_AWK,
    "script.awk": SCRIPT_AWK,
}

ETC_PASSWD = "root:x:0:0:root:/root:/bin/sh\n"  # noqa: S105 (no password: "x", keys only)
GROUP = "root:x:0:\n"
SHELLS = "/bin/sh\n"


@dataclass(frozen=True)
class TinyGuest:
    """Kernel and initramfs of the tiny guest, and the line it prints once booted."""

    kernel: Path
    initrd: Path
    marker: str


def _version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[.\-+~]", version)
    )


def find_kernel(boot_dir: Path = BOOT_DIR, modules_root: Path = MODULES_ROOT) -> tuple[Path, Path]:
    """Return (kernel image, modules dir) of the newest Debian amd64 kernel with modules."""
    candidates: list[tuple[str, Path, Path]] = []
    for image in boot_dir.glob("vmlinuz-*-amd64"):
        version = image.name.removeprefix("vmlinuz-")
        moddir = modules_root / version
        if (moddir / "modules.dep").is_file():
            candidates.append((version, image, moddir))
    if not candidates:
        raise FileNotFoundError(
            f"no {boot_dir}/vmlinuz-*-amd64 with {modules_root}/<version>/modules.dep "
            "(install linux-image-amd64)"
        )
    _, image, moddir = max(candidates, key=lambda c: _version_key(c[0]))
    return image, moddir


def _module_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    name = re.sub(r"\.ko(\.(xz|zst|gz))?$", "", name)
    return name.replace("-", "_")


def resolve_modules(moddir: Path, wanted: Iterable[str] = GUEST_MODULES) -> list[Path]:
    """Module files for `wanted` and their dependencies, in load order (dependencies first)."""
    deps: dict[str, tuple[str, list[str]]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        target, _, rest = line.partition(":")
        deps[_module_name(target)] = (target, rest.split())

    ordered: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in seen:
            return
        if name in chain:
            raise ValueError(f"module dependency cycle: {' -> '.join((*chain, name))}")
        if name not in deps:
            raise FileNotFoundError(f"kernel module {name!r} not in {moddir}/modules.dep")
        target, requires = deps[name]
        for dep in requires:
            visit(_module_name(dep), (*chain, name))
        seen.add(name)
        ordered.append(moddir / target)

    for name in wanted:
        visit(name.replace("-", "_"), ())
    return ordered


def read_module(path: Path) -> bytes:
    """Module contents, decompressed (.ko, .ko.xz, .ko.gz, .ko.zst) for busybox insmod."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko.gz"):
        return gzip.decompress(data)
    if path.name.endswith(".ko.zst"):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise RuntimeError(f"{path} is zstd-compressed and the zstd tool is missing")
        return subprocess.run([zstd, "-dcq"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


class _Cpio:
    """Minimal writer of a newc ("070701") cpio archive, entries owned by root."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._ino = 0

    def _entry(
        self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)
    ) -> None:
        self._ino += 1
        encoded = name.encode() + b"\0"
        fields = (
            self._ino, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(encoded), 0,
        )  # fmt: skip
        header = b"070701" + b"".join(b"%08X" % f for f in fields)
        self._append(header + encoded)
        self._append(data)

    def _append(self, chunk: bytes) -> None:
        chunk += b"\0" * (-len(chunk) % 4)  # every header+name and body is 4-byte aligned
        self._chunks.append(chunk)

    def directory(self, name: str) -> None:
        self._entry(name, 0o040755)

    def file(self, name: str, data: bytes, perm: int = 0o644) -> None:
        self._entry(name, 0o100000 | perm, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, 0o120777, target.encode())

    def chardev(self, name: str, major: int, minor: int, perm: int = 0o600) -> None:
        self._entry(name, 0o020000 | perm, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return b"".join(self._chunks)


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries `ldd` lists for a dynamically linked binary, with its loader."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    found: list[Path] = []
    for line in out.splitlines():
        line = line.strip()
        path = line.split("=>", 1)[1] if "=>" in line else line
        path = path.split(" (", 1)[0].strip()
        if path.startswith("/") and Path(path) not in found:
            found.append(Path(path))
    return found


def guest_binaries() -> list[Path]:
    """Dropbear's programs and every library they load (Debian package dropbear-bin)."""
    programs = [DROPBEAR, DROPBEARKEY]
    for program in programs:
        if not program.is_file():
            raise FileNotFoundError(f"{program} missing (install dropbear-bin)")
    files = list(programs)
    for program in programs:
        files += [lib for lib in shared_libraries(program) if lib not in files]
    return files


def build_initramfs(
    busybox: Path, modules: list[Path], marker: str = MARKER, binaries: Iterable[Path] = ()
) -> bytes:
    """The gzip'd newc initramfs: busybox, decompressed modules, /init, acpid handler, the
    seed script, and `binaries` (absolute paths, copied to the same paths in the guest)."""
    archive = _Cpio()
    directories: set[str] = set()

    def directory(name: str) -> None:
        parts = name.split("/")
        for end in range(1, len(parts) + 1):
            path = "/".join(parts[:end])
            if path not in directories:
                directories.add(path)
                archive.directory(path)

    for name in ("bin", "sbin", "dev", "proc", "sys", "tmp", "run", "root", "etc",
                 "etc/acpi/PWRF", "etc/nuage", "lib/modules", "usr/bin", "usr/sbin",
                 "var/run", "var/log", "mnt"):  # fmt: skip
        directory(name)
    archive.chardev("dev/console", 5, 1)
    archive.chardev("dev/null", 1, 3, 0o666)
    archive.chardev("dev/ttyS0", 4, 64)
    archive.file("bin/busybox", busybox.read_bytes(), 0o755)
    archive.symlink("bin/sh", "busybox")
    names = []
    for path in modules:
        name = _module_name(path.name)
        names.append(name)
        archive.file(f"lib/modules/{name}.ko", read_module(path))
    for path in binaries:
        relative = str(path).lstrip("/")
        directory(relative.rsplit("/", 1)[0])
        archive.file(relative, path.read_bytes(), 0o755)  # the library itself, not a link
    archive.file("etc/modules", ("\n".join(names) + "\n").encode())
    archive.file("etc/passwd", ETC_PASSWD.encode())
    archive.file("etc/group", GROUP.encode())
    archive.file("etc/shells", SHELLS.encode())
    archive.file("etc/acpi/PWRF/00000080", PWRF_HANDLER.encode(), 0o755)
    archive.file("etc/udhcpc.script", UDHCPC_SCRIPT.encode(), 0o755)
    archive.file("etc/nuage/seed.sh", SEED_SCRIPT.encode())
    for name, program in _AWK_PROGRAMS.items():
        archive.file(f"etc/nuage/{name}", program.encode())
    archive.file("init", INIT_SCRIPT.replace("@MARKER@", marker).encode(), 0o755)
    return gzip.compress(archive.finish(), compresslevel=9, mtime=0)


def _fingerprint(
    kernel: Path, busybox: Path, modules: list[Path], marker: str, binaries: list[Path]
) -> str:
    def stat(path: Path) -> list[object]:
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]

    inputs = {
        "format": FORMAT_VERSION,
        "marker": marker,
        "init": INIT_SCRIPT,
        "pwrf": PWRF_HANDLER,
        "udhcpc": UDHCPC_SCRIPT,
        "seed": SEED_SCRIPT,
        "awk": _AWK_PROGRAMS,
        "kernel": stat(kernel),
        "busybox": stat(busybox),
        "modules": [stat(m) for m in modules],
        "binaries": [stat(b) for b in binaries],
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_tiny_guest(dest_dir: Path) -> TinyGuest:
    """Write dest_dir/vmlinuz and dest_dir/initrd.img (0644), reusing them if up to date.

    The guest prints MARKER on its serial console (kernel cmdline ``console=ttyS0``) once
    its virtio drivers are loaded and, when it has a cloud-init NoCloud seed on a CD-ROM, once
    it applied it (hostname, instance-id, root's SSH keys, network, user script) and started
    dropbear; it powers off on an ACPI power-button press. QEMU must
    be able to read dest_dir (e.g. /var/lib/libvirt/nuage-images, not a private tmp dir).
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    kernel_src, moddir = find_kernel()
    modules = resolve_modules(moddir)
    if not BUSYBOX.is_file():
        raise FileNotFoundError(f"{BUSYBOX} missing (install busybox-static)")
    binaries = guest_binaries()
    guest = TinyGuest(dest_dir / KERNEL_NAME, dest_dir / INITRD_NAME, MARKER)
    stamp = dest_dir / STAMP_NAME
    digest = _fingerprint(kernel_src, BUSYBOX, modules, MARKER, binaries)
    try:
        cached = stamp.read_text().strip() == digest
    except OSError:
        cached = False
    if cached and guest.kernel.is_file() and guest.initrd.is_file():
        return guest
    _write_atomic(guest.kernel, kernel_src.read_bytes())
    _write_atomic(guest.initrd, build_initramfs(BUSYBOX, modules, MARKER, binaries))
    _write_atomic(stamp, (digest + "\n").encode())
    return guest


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m compute.tinyguest DEST_DIR", file=sys.stderr)
        return 2
    guest = build_tiny_guest(Path(argv[1]))
    print(f"kernel {guest.kernel} ({guest.kernel.stat().st_size} bytes)")
    print(f"initrd {guest.initrd} ({guest.initrd.stat().st_size} bytes)")
    print(f"marker {guest.marker}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
