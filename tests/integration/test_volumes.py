"""A data volume hot-plugged into a real running guest: the guest sees /dev/vdb, grows it when
the volume grows, and loses it when the volume is detached (read from /proc/partitions through
the guest's serial console shell)."""

from __future__ import annotations

import itertools
import re
import threading

import pytest

from compute import hypervisor, services
from compute.choices import VMState, VolumeState
from compute.hypervisor.console import SerialConsole
from compute.models import Host, Image, Volume
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory
from tests.integration.conftest import POOL, Guests
from tests.support.worker import wait_for

pytestmark = pytest.mark.integration

_commands = itertools.count(1)


class Shell:
    """The guest's root shell on its serial console: run a command, get its output."""

    def __init__(self, uri: str, uuid: str) -> None:
        self._buffer = bytearray()
        self._lock = threading.Lock()
        self._console = SerialConsole(uri, uuid, self._received)
        self._console.open()

    def _received(self, data: bytes | None) -> None:
        if data:
            with self._lock:
                self._buffer.extend(data)

    def _text(self) -> str:
        with self._lock:
            return self._buffer.decode(errors="replace")

    def run(self, command: str, *, timeout: float = 60) -> str:
        n = next(_commands)
        # The shell prints the markers' values; the echoed command line shows the arithmetic.
        begin, end = f"BEGIN-{n}-DONE", f"END-{n}-DONE"
        line = f"echo BEGIN-$(({n}))-DONE; {command}; echo END-$(({n}))-DONE\n"
        self._console.send(line.encode())
        pattern = re.compile(re.escape(begin) + r"\r?\n(.*?)" + re.escape(end), re.S)

        def output() -> str | None:
            found = pattern.search(self._text())
            return found.group(1) if found else None

        return str(wait_for(output, timeout=timeout, what=f"the guest to run {command!r}"))

    def close(self) -> None:
        self._console.close()


def partitions(shell: Shell) -> dict[str, int]:
    """Block devices the guest's kernel knows, with their size in KiB."""
    sizes = {}
    for line in shell.run("cat /proc/partitions").splitlines():
        fields = line.split()
        if len(fields) == 4 and fields[2].isdigit():
            sizes[fields[3]] = int(fields[2])
    return sizes


def test_hot_plug_grow_and_unplug_a_volume_on_a_running_guest(
    world: TenantWorld, qemu_host: Host, tiny_image: Image, guests: Guests
):
    flavor = FlavorFactory(name="it-vol", vcpus=1, ram_mib=256, disk_gib=1)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=tiny_image,
        name="it-volumes",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    shell = Shell(qemu_host.uri, str(vm.uuid))
    volume: Volume | None = None
    try:
        assert "vdb" not in partitions(shell)

        # Created with the VM named: placed on its host, made in its pool, plugged in live.
        volume = services.volume_create(
            created_by=world.member,
            environment=world.development,
            name="it-data",
            size_gib=1,
            vm=vm,
        )
        volume.refresh_from_db()
        assert (volume.state, volume.target_dev, volume.host) == (
            VolumeState.IN_USE,
            "vdb",
            qemu_host,
        ), volume.error_message
        assert volume.volume_name in guests.volumes("nuage-vol-")
        seen = wait_for(
            lambda: partitions(shell).get("vdb"), timeout=60, what="the guest to see /dev/vdb"
        )
        assert seen == 1024 * 1024  # 1 GiB in KiB
        # In the definition too: it is there after the next boot.
        assert "vdb" in hypervisor.domain_disks(qemu_host.uri, str(vm.uuid), live=False)

        services.volume_resize(volume=volume, size_gib=2, requested_by=world.member)
        volume.refresh_from_db()
        assert (volume.state, volume.size_gib) == (VolumeState.IN_USE, 2), volume.error_message
        wait_for(
            lambda: partitions(shell).get("vdb") == 2 * 1024 * 1024,
            timeout=60,
            what="the guest to see /dev/vdb grow to 2 GiB",
        )

        services.volume_detach(volume=volume, requested_by=world.member)
        volume.refresh_from_db()
        assert (volume.state, volume.vm) == (VolumeState.AVAILABLE, None), volume.error_message
        wait_for(lambda: "vdb" not in partitions(shell), timeout=60, what="/dev/vdb to go away")
        assert "vdb" not in hypervisor.domain_disks(qemu_host.uri, str(vm.uuid))
        assert "vdb" not in hypervisor.domain_disks(qemu_host.uri, str(vm.uuid), live=False)

        services.volume_delete(volume=volume, requested_by=world.member)
        volume.refresh_from_db()
        assert volume.state == VolumeState.DELETED
        assert volume.volume_name not in guests.volumes("nuage-vol-")
    finally:
        shell.close()
        if volume is not None:
            hypervisor.remove_volume(qemu_host.uri, pool=POOL, name=volume.volume_name)


def test_cold_attach_to_a_stopped_guest_shows_at_its_next_boot(
    world: TenantWorld, qemu_host: Host, tiny_image: Image, guests: Guests, settings
):
    settings.NUAGE = {**settings.NUAGE, "STOP_GRACE_SECONDS": 30}
    flavor = FlavorFactory(name="it-vol-cold", vcpus=1, ram_mib=256, disk_gib=1)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=tiny_image,
        name="it-volumes-cold",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED, vm.error_message
    volume: Volume | None = None
    shell: Shell | None = None
    try:
        volume = services.volume_create(
            created_by=world.member,
            environment=world.development,
            name="it-cold",
            size_gib=1,
            keep_after_vm_deletion=True,
            vm=vm,
        )
        volume.refresh_from_db()
        assert volume.state == VolumeState.IN_USE, volume.error_message
        assert "vdb" in hypervisor.domain_disks(qemu_host.uri, str(vm.uuid))  # its definition
        services.vm_action(vm=vm, action="start", requested_by=world.member)
        guests.wait_booted(vm.domain_name)
        shell = Shell(qemu_host.uri, str(vm.uuid))
        assert partitions(shell).get("vdb") == 1024 * 1024
        shell.close()
        shell = None
        # Kept after the VM's deletion: detached, its storage still in the pool.
        services.vm_action(vm=vm, action="delete", requested_by=world.member)
        volume.refresh_from_db()
        assert (volume.state, volume.vm) == (VolumeState.AVAILABLE, None)
        assert volume.volume_name in guests.volumes("nuage-vol-")
    finally:
        if shell is not None:
            shell.close()
        if volume is not None:
            hypervisor.remove_volume(qemu_host.uri, pool=POOL, name=volume.volume_name)
