"""Reaching a guest (skeleton): seed built and uploaded -> guest booted -> SSH answers.

Run: .venv/bin/python bench/reach.py [--guests 1 3] [--rounds 2]   (as root)

Boots the tiny guest on qemu:///system through the driver, as provisioning does, with a
cloud-init seed (a fresh ed25519 key) and a user-networking NIC forwarding a free port on
127.0.0.1 to the guest's SSH. N guests start at once; for each: the time to build and upload
the seed, from start to the console's marker, and from start to the first `hostname` over SSH
that answers the VM's name. Everything it makes is named nuage-bench-reach-* and removed.

Not yet: going through the API and a worker (the request form's NICs come from the ipam
work), and writing the figures to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import libvirt

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")

import django  # noqa: E402

django.setup()

import paramiko  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from bench.common import percentile  # noqa: E402
from compute import cloudinit  # noqa: E402
from compute.hypervisor import driver  # noqa: E402
from compute.hypervisor.xml import DomainSpec, NicSpec  # noqa: E402
from compute.tinyguest import FORMAT_VERSION, build_tiny_guest  # noqa: E402

URI = "qemu:///system"
POOL = "nuage"
PREFIX = "nuage-bench-reach-"
GUEST_DIR = Path(f"/var/lib/libvirt/nuage-images/tiny-v{FORMAT_VERSION}")
LOG_DIR = Path("/var/log/libvirt/qemu")
TIMEOUT = 180.0


@dataclass
class Result:
    seed_s: float
    marker_s: float
    ssh_s: float


def _key() -> tuple[paramiko.Ed25519Key, str]:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return paramiko.Ed25519Key(file_obj=io.StringIO(pem)), public.decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _hostname_over_ssh(port: int, key: paramiko.PKey) -> str | None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            "127.0.0.1", port=port, username="root", pkey=key, allow_agent=False,
            look_for_keys=False, timeout=10, banner_timeout=10, auth_timeout=10,
        )  # fmt: skip
        _in, out, _err = client.exec_command("hostname", timeout=10)
        return out.read().decode().strip()
    except (paramiko.SSHException, OSError):
        return None
    finally:
        client.close()


def boot_one(index: int, kernel: str, initrd: str, marker: str) -> Result:
    vm_uuid = str(uuid.uuid4())
    name = f"{PREFIX}{index}"
    key, public = _key()
    port, mac = _free_port(), f"52:54:00:be:00:{index:02x}"
    started = time.monotonic()
    files = cloudinit.seed_files(
        instance_id=vm_uuid,
        hostname=f"reach-{index}",
        ssh_keys=[public],
        nics=[cloudinit.GuestNic(mac=mac)],
    )
    seed = driver.ensure_seed_volume(
        URI, pool=POOL, name=f"{name}-seed.iso", data=cloudinit.seed_iso(files)
    )
    seed_s = time.monotonic() - started
    disk = driver.ensure_volume(
        URI, pool=POOL, name=f"{name}.qcow2", capacity_gib=1, backing_volume=None
    )
    log = LOG_DIR / f"{name}-serial.log"
    spec = DomainSpec(
        name=name, uuid=vm_uuid, title=name, vcpus=1, memory_mib=256, disk_path=disk,
        kernel=kernel, initrd=initrd, cmdline="console=ttyS0", serial_log=str(log),
        seed_path=seed, nics=(NicSpec("user", mac, host_port=port),),
    )  # fmt: skip
    driver.ensure_domain_defined(URI, spec)
    t0 = time.monotonic()
    driver.ensure_domain_running(URI, vm_uuid)
    marker_s = ssh_s = 0.0
    while time.monotonic() - t0 < TIMEOUT:
        if not marker_s and log.exists() and marker in log.read_text(errors="replace"):
            marker_s = time.monotonic() - t0
        if marker_s and _hostname_over_ssh(port, key) == f"reach-{index}":
            ssh_s = time.monotonic() - t0
            return Result(seed_s, marker_s, ssh_s)
        time.sleep(0.2)
    raise TimeoutError(f"{name} not reachable by SSH within {TIMEOUT:.0f}s")


def cleanup() -> None:
    conn = libvirt.open(URI)
    try:
        doms = [d for d in conn.listAllDomains(0) if d.name().startswith(PREFIX)]
        with ThreadPoolExecutor(max_workers=8) as pool:  # destroy() takes ~2 s each
            list(pool.map(lambda d: (d.isActive() and d.destroy(), d.undefine()), doms))
        sp = conn.storagePoolLookupByName(POOL)
        sp.refresh(0)
        for vol in sp.listAllVolumes(0):
            if vol.name().startswith(PREFIX):
                vol.delete(0)
    finally:
        conn.close()
    for log in LOG_DIR.glob(f"{PREFIX}*"):
        log.unlink(missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root (qemu:///system)", file=sys.stderr)
        return 2
    subprocess.run([str(REPO / "scripts" / "libvirt-up.sh")], check=True, capture_output=True)
    guest = build_tiny_guest(GUEST_DIR)
    cleanup()
    try:
        for n in args.guests:
            results: list[Result] = []
            for _ in range(args.rounds):
                with ThreadPoolExecutor(max_workers=n) as pool:
                    results += pool.map(
                        lambda i: boot_one(i, str(guest.kernel), str(guest.initrd), guest.marker),
                        range(n),
                    )
                cleanup()
            for label, values in (
                ("seed build + upload", [r.seed_s for r in results]),
                ("start -> marker", [r.marker_s for r in results]),
                ("start -> ssh hostname", [r.ssh_s for r in results]),
            ):
                print(
                    f"{n} at once  {label:<22} median {percentile(values, 0.5):6.2f} s"
                    f"  max {max(values):6.2f} s  ({len(values)} guests)"
                )
    finally:
        cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
