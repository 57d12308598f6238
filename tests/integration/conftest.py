"""Real QEMU guests on qemu:///system: libvirtd started, the tiny guest built, a host and image.

These tests never skip: on a machine that cannot run them (not root, packages missing) they
fail and say what is missing, so that CI cannot go green without booting a guest.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import libvirt
import pytest
from django.conf import settings

from compute.choices import ImageKind
from compute.models import Host, Image, VirtualMachine
from compute.services import host_refresh
from compute.tinyguest import FORMAT_VERSION, TinyGuest, build_tiny_guest

REPO = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
# scripts/libvirt-up.sh --second-host: a second libvirtd, and how it reaches the first one.
SECOND_URI = "qemu+tcp://127.0.0.1:16510/system"
HOST1_PEER_URI = "qemu+unix:///system?socket=/run/nuage-host1/libvirt-sock"
POOL = "nuage"
# QEMU must be able to read it; one folder per initramfs format, so that checkouts of
# different formats running at the same time do not rebuild each other's guest.
GUEST_DIR = Path(f"/var/lib/libvirt/nuage-images/tiny-v{FORMAT_VERSION}")
BOOT_TIMEOUT = 120.0  # one boot takes ~7 s; generous for a loaded 2-core CI machine

# Every VM these tests create is named "it-…", so its domain is "nuage-<8 hex>-it-…". A later
# run removes only such leftovers: other guests on this host belong to other people.
VM_PREFIX = "it-"
LEFTOVER = re.compile(r"^nuage-[0-9a-f]{8}-it-")

REQUIRED = {
    "virsh": "libvirt-clients",
    "libvirtd": "libvirt-daemon-system",
    "virtlogd": "libvirt-daemon-system",
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "unshare": "util-linux",
    "nsenter": "util-linux",
    "dropbear": "dropbear-bin",
}

LOCK_DIR = Path("/run/lock")
SETUP_LOCK = LOCK_DIR / "nuage-integration.setup.lock"
# Held shared by every pytest process running these tests; a run may only sweep leftovers
# when it can take it exclusively, that is when no other run uses the host right now.
ACTIVE_LOCK = LOCK_DIR / "nuage-integration.active.lock"
RUN_STAMP = LOCK_DIR / "nuage-integration.run"
_PROCESS_RUN_ID = uuid.uuid4().hex


# --- talking to the host --------------------------------------------------------------------


def serial_log_path(domain_name: str) -> Path:
    return Path(settings.NUAGE["SERIAL_LOG_DIR"]) / f"{domain_name}-serial.log"


def purge(matches: Callable[[str], bool], *, uri: str = URI) -> list[str]:
    """Destroy and undefine matching domains; delete their volumes, serial and QEMU logs."""
    conn = libvirt.open(uri)
    try:
        doms = [d for d in conn.listAllDomains(0) if matches(d.name())]

        def remove(dom: libvirt.virDomain) -> str:
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
            except libvirt.libvirtError as exc:  # gone meanwhile
                if exc.get_error_code() != libvirt.VIR_ERR_NO_DOMAIN:
                    raise
            return dom.name()

        with ThreadPoolExecutor(max_workers=8) as pool:  # destroy() takes ~2 s each
            removed = list(pool.map(remove, doms))
        try:
            sp = conn.storagePoolLookupByName(POOL)
        except libvirt.libvirtError:
            sp = None
        if sp is not None and sp.isActive():
            try:  # also lists files a crashed run left behind libvirt's back
                sp.refresh(0)
            except libvirt.libvirtError:
                pass  # "asynchronous jobs running": a parallel test is creating a volume
            for vol in sp.listAllVolumes(0):
                if matches(vol.name()):
                    vol.delete(0)
                    removed.append(vol.name())
    finally:
        conn.close()
    log_dir = Path(settings.NUAGE["SERIAL_LOG_DIR"])
    for log in log_dir.glob("nuage-*.log"):
        if matches(log.name):
            log.unlink(missing_ok=True)
    return removed


@dataclass(frozen=True)
class Guests:
    """What a test checks on the host: virsh output and the guests' serial consoles."""

    guest: TinyGuest

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["virsh", "-c", URI, "-q", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def dominfo(self, domain_name: str) -> dict[str, str]:
        out = self.virsh("dominfo", domain_name).stdout
        return {
            key.strip(): value.strip()
            for key, _, value in (line.partition(":") for line in out.splitlines())
        }

    def domains(self, prefix: str) -> list[str]:
        out = self.virsh("list", "--all", "--name").stdout
        return sorted(n for n in out.split() if n.startswith(prefix))

    def volumes(self, prefix: str) -> list[str]:
        out = self.virsh("vol-list", POOL).stdout
        names = (line.split()[0] for line in out.splitlines() if line.strip())
        return sorted(name for name in names if name.startswith(prefix))

    def console(self, domain_name: str) -> str:
        try:
            return serial_log_path(domain_name).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_booted(self, domain_name: str, *, timeout: float = BOOT_TIMEOUT) -> str:
        """Wait until the guest printed its marker on the serial console; return the console."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.console(domain_name)
            if self.guest.marker in text:
                return text
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{domain_name} did not print {self.guest.marker} within {timeout}s; "
                    f"console so far:\n{text[-2000:]}"
                )
            time.sleep(0.2)


# --- session setup --------------------------------------------------------------------------


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        pytest.fail(
            "Integration tests boot real QEMU guests through qemu:///system and must run as "
            "root (they start libvirtd and read /var/log/libvirt/qemu). Run them as root; "
            "to leave them out on purpose, pass -m 'not integration'.",
            pytrace=False,
        )
    missing = sorted({pkg for binary, pkg in REQUIRED.items() if shutil.which(binary) is None})
    if missing:
        pytest.fail(
            "Integration tests need these packages: "
            + " ".join(missing)
            + " (apt-get install --no-install-recommends; see scripts/bootstrap.sh).",
            pytrace=False,
        )


def _libvirt_up(*args: str) -> None:
    proc = subprocess.run(
        [str(REPO / "scripts" / "libvirt-up.sh"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(
            f"scripts/libvirt-up.sh failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}",
            pytrace=False,
        )


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def tiny_guest(request: pytest.FixtureRequest) -> Iterator[TinyGuest]:
    """libvirtd running with the `nuage` pool, the tiny guest built, old leftovers removed.

    pytest-xdist runs this once per worker process: the setup lock serialises them, and only
    the first process of a run sweeps leftovers, so a sibling's fresh guests are never taken
    for a crashed run's.
    """
    _check_prerequisites()
    workerinput = getattr(request.config, "workerinput", {})
    run_id = workerinput.get("testrunuid") or _PROCESS_RUN_ID
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    active: IO[str] = ACTIVE_LOCK.open("a")
    try:
        with _exclusive(SETUP_LOCK):
            _libvirt_up()
            try:
                guest = build_tiny_guest(GUEST_DIR)
            except (FileNotFoundError, RuntimeError) as exc:
                pytest.fail(f"Cannot build the tiny guest: {exc}", pytrace=False)
            first_of_run = not RUN_STAMP.exists() or RUN_STAMP.read_text().strip() != run_id
            if first_of_run:
                try:
                    fcntl.flock(active, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass  # another run is using the host: its guests are not leftovers
                else:
                    purge(lambda name: bool(LEFTOVER.match(name)))
                RUN_STAMP.write_text(run_id + "\n")
            fcntl.flock(active, fcntl.LOCK_SH)
        yield guest
    finally:
        active.close()


# --- per test -------------------------------------------------------------------------------


@pytest.fixture
def guests(tiny_guest: TinyGuest) -> Guests:
    return Guests(guest=tiny_guest)


@pytest.fixture
def qemu_host(transactional_db: None, tiny_guest: TinyGuest) -> Iterator[Host]:
    """The local libvirtd as a Nuage host; afterwards, the test's guests are removed from it.

    Tests stop their Celery worker before this teardown runs (the worker is a context
    manager inside the test), so nothing recreates a guest behind the cleanup.
    """
    host = host_refresh(
        host=Host.objects.create(name="local-qemu", uri=URI, storage_pool=POOL, domain_type="qemu")
    )
    assert host.reachable, f"{URI} is not reachable: {host.last_error}"
    yield host
    prefixes = _vm_domain_prefixes()
    if prefixes:
        purge(lambda name: name.startswith(prefixes))


def _vm_domain_prefixes() -> tuple[str, ...]:
    return tuple(
        f"nuage-{u.hex[:8]}-" for u in VirtualMachine.objects.values_list("uuid", flat=True)
    )


@pytest.fixture
def second_qemu_host(qemu_host: Host) -> Iterator[Host]:
    """A second libvirtd on this machine (own mount namespace, qemu+tcp on 127.0.0.1:16510).

    The first host is registered with the URI by which the second one reaches it for
    peer-to-peer migration (its socket, bind-mounted into the second host's namespace).
    """
    with _exclusive(SETUP_LOCK):
        _libvirt_up("--second-host")
    Host.objects.filter(pk=qemu_host.pk).update(peer_uri=HOST1_PEER_URI)
    host = host_refresh(
        host=Host.objects.create(
            name="second-qemu", uri=SECOND_URI, storage_pool=POOL, domain_type="qemu"
        )
    )
    assert host.reachable, f"{SECOND_URI} is not reachable: {host.last_error}"
    yield host
    prefixes = _vm_domain_prefixes()
    if prefixes:
        purge(lambda name: name.startswith(prefixes), uri=SECOND_URI)


@pytest.fixture
def tiny_image(transactional_db: None, tiny_guest: TinyGuest) -> Image:
    return Image.objects.create(
        name="tiny-guest",
        kind=ImageKind.KERNEL,
        kernel_path=str(tiny_guest.kernel),
        initrd_path=str(tiny_guest.initrd),
        cmdline="console=ttyS0",
    )


# --- system containers (lxc:///) ------------------------------------------------------------

LXC_URI = "lxc:///"
# The tests' busybox rootfs image; containers' copies go under NUAGE["CONTAINER_ROOT"].
ROOTFS_DIR = Path("/var/lib/libvirt/nuage-images/busybox-rootfs")


@pytest.fixture(scope="session")
def lxc_rootfs(tiny_guest: TinyGuest) -> Path:
    """libvirtd up (with the LXC driver, in its mount namespace) and the busybox rootfs built."""
    from compute.busyboxroot import build_busybox_rootfs

    with _exclusive(SETUP_LOCK):
        try:
            conn = libvirt.open(LXC_URI)
        except libvirt.libvirtError as exc:
            pytest.fail(
                f"{LXC_URI} does not answer ({exc.get_error_message()}): install "
                "libvirt-daemon-driver-lxc and run scripts/libvirt-up.sh.",
                pytrace=False,
            )
        conn.close()
        return build_busybox_rootfs(ROOTFS_DIR)


@pytest.fixture
def lxc_host(transactional_db: None, lxc_rootfs: Path) -> Iterator[Host]:
    """The local LXC driver as a Nuage host; afterwards, the test's containers are removed."""
    host = host_refresh(
        host=Host.objects.create(
            name="local-lxc", uri=LXC_URI, storage_pool=POOL, domain_type="lxc"
        )
    )
    assert host.reachable, f"{LXC_URI} is not reachable: {host.last_error}"
    yield host
    prefixes = _vm_domain_prefixes()
    if prefixes:
        purge(lambda name: name.startswith(prefixes), uri=LXC_URI)
        root = Path(settings.NUAGE["CONTAINER_ROOT"])
        for leftover in root.glob("nuage-*"):
            if leftover.name.startswith(prefixes):
                shutil.rmtree(leftover, ignore_errors=True)
