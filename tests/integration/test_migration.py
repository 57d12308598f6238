"""Live migration and maintenance between two real libvirt hosts on this machine.

Tasks run eagerly in this process (tests.settings): each service call returns once its
operation has finished, so the test reads the outcome right after it.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import libvirt
import pytest
from lxml import etree

from compute import hypervisor, selectors, services
from compute.choices import OperationKind, OperationStatus, VMState, VolumeState
from compute.console import console_vnc_password
from compute.models import Host, VirtualMachine
from portal.choices import Role
from portal.models import Environment, User
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import POOL, REPO, Guests
from tests.support.worker import wait_for

# Host 2's memory cgroups (scripts/libvirt-up.sh mounts this over the hierarchy's root there).
SECOND_HOST_MEMCG = "/sys/fs/cgroup/memory/nuage-host2"

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def where(uri: str, vm: VirtualMachine) -> tuple[str | None, bool]:
    """(libvirt state name or None, disk and seed present) for the VM on the host at `uri`."""
    conn = libvirt.open(uri)
    try:
        try:
            state = conn.lookupByUUIDString(str(vm.uuid)).state()[0]
            name = {libvirt.VIR_DOMAIN_RUNNING: "running", libvirt.VIR_DOMAIN_SHUTOFF: "shutoff"}
            shown: str | None = name.get(state, str(state))
        except libvirt.libvirtError:
            shown = None
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        volumes = set(pool.listVolumes())
        # The cloud-init seed travels with the disk: both are on a host, or neither.
        disk, seed = vm.volume_name in volumes, vm.seed_volume_name in volumes
        assert disk == seed, f"on {uri}: disk present {disk}, seed present {seed}"
        return shown, disk
    finally:
        conn.close()


@dataclass
class Booted:
    vm: VirtualMachine
    alice: User  # its owner, a member of its tenant
    admin: User  # a platform admin
    development: Environment


def boot_on_first(
    first: Host, second: Host, tiny_image, guests: Guests, name: str, **flavor_fields: int
) -> Booted:
    """A guest of alice's booted on the first host (the second kept out of placement meanwhile)."""
    tenant = TenantFactory(slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    alice = UserFactory(username="alice")
    admin = UserFactory(username="admin", platform_role="admin")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    flavor = FlavorFactory(name=f"{name}-flavor", vcpus=1, ram_mib=256, disk_gib=1, **flavor_fields)
    Host.objects.filter(pk=second.pk).update(enabled=False)
    vm = services.vm_request_create(
        requested_by=alice, environment=development, flavor=flavor, image=tiny_image, name=name
    )
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, first), vm.error_message
    guests.wait_booted(vm.domain_name)
    Host.objects.filter(pk=second.pk).update(enabled=True)
    return Booted(vm=vm, alice=alice, admin=admin, development=development)


def test_running_guest_moves_there_and_back_then_shuts_down_cleanly(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests
):
    first, second = qemu_host, second_qemu_host
    booted = boot_on_first(first, second, tiny_image, guests, "it-mig")
    vm, alice, admin = booted.vm, booted.alice, booted.admin

    services.vm_migrate(vm=vm, requested_by=admin, target=second)
    vm.refresh_from_db()
    op = vm.operations.filter(kind=OperationKind.MIGRATE).first()
    assert op is not None and op.status == OperationStatus.SUCCEEDED, op and op.error_message
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert where(second.uri, vm) == ("running", True)
    assert where(first.uri, vm) == (None, False)

    services.vm_migrate(vm=vm, requested_by=admin)  # automatic: the only other host
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, first)
    assert where(first.uri, vm) == ("running", True)
    assert where(second.uri, vm) == (None, False)

    # The guest survived both moves: it answers the ACPI power button and powers itself off.
    services.vm_action(vm=vm, action="stop", requested_by=alice)
    vm.refresh_from_db()
    stop = vm.operations.get(kind=OperationKind.STOP)
    assert vm.state == VMState.STOPPED
    assert stop.steps.get().detail == "Guest shut down.", stop.steps.get().detail
    assert "ACPI power button" in guests.console(vm.domain_name)


def live_xml(uri: str, vm: VirtualMachine) -> etree._Element:
    """The running domain's XML as libvirt shows it now, secrets included."""
    conn = libvirt.open(uri)
    try:
        dom = conn.lookupByUUIDString(str(vm.uuid))
        return etree.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
    finally:
        conn.close()


def test_a_guest_with_a_memory_hard_limit_migrates_and_keeps_its_limit(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests
):
    """The live limit shows in the live XML as <memtune>; started under it, the target's QEMU
    fails ("cannot limit locked memory"). The guest moves without it and gets it back there."""
    from tests.integration.test_volumes import Shell

    first, second = qemu_host, second_qemu_host
    booted = boot_on_first(
        first, second, tiny_image, guests, "it-memcap", memory_hard_limit_mib=512
    )
    vm, admin = booted.vm, booted.admin
    assert hypervisor.memory_hard_limit_mib(first.uri, str(vm.uuid)) == 512
    assert live_xml(first.uri, vm).findtext("memtune/hard_limit") == str(512 * 1024)

    services.vm_migrate(vm=vm, requested_by=admin, target=second)

    vm.refresh_from_db()
    op = vm.operations.filter(kind=OperationKind.MIGRATE).first()
    assert op is not None and op.status == OperationStatus.SUCCEEDED, op and op.error_message
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert where(second.uri, vm) == ("running", True)
    assert where(first.uri, vm) == (None, False)
    assert hypervisor.memory_hard_limit_mib(second.uri, str(vm.uuid)) == 512
    applied = op.steps.get(name="applying_limits")
    assert "512 MiB" in applied.detail, applied.detail
    xml = live_xml(second.uri, vm)
    assert xml.findtext("memtune/hard_limit") == str(512 * 1024)
    # The destination XML kept the console's password (it is asked for with the secrets).
    assert xml.find("devices/graphics").get("passwd") == console_vnc_password(vm.uuid)
    # Nothing of the limit went into the definition the next cold start uses.
    conn = libvirt.open(second.uri)
    try:
        inactive = conn.lookupByUUIDString(str(vm.uuid)).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    finally:
        conn.close()
    assert etree.fromstring(inactive).find("memtune") is None

    # The kernel enforces it: the guest's memory cgroup on host 2 (its tree: libvirt-up.sh).
    (group,) = Path(SECOND_HOST_MEMCG, "machine").glob(f"qemu-*-{vm.domain_name}.libvirt-qemu")
    assert int((group / "memory.limit_in_bytes").read_text()) == 512 * 2**20

    shell = Shell(second.uri, str(vm.uuid))
    try:  # the guest kept running through the move, and answers on its new host
        assert "alive-42" in shell.run("echo alive-$((40 + 2))")
    finally:
        shell.close()


def test_maintenance_mode_empties_a_real_host(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests
):
    first, second = qemu_host, second_qemu_host
    tenant = TenantFactory(slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    alice = UserFactory(username="alice")
    admin = UserFactory(username="admin", platform_role="admin")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    flavor = FlavorFactory(name="it-maint", vcpus=1, ram_mib=128, disk_gib=1)

    Host.objects.filter(pk=first.pk).update(enabled=False)  # both guests on the second host
    vms = [
        services.vm_request_create(
            requested_by=alice,
            environment=development,
            flavor=flavor,
            image=tiny_image,
            name=f"it-maint-{i}",
        )
        for i in range(2)
    ]
    Host.objects.filter(pk=first.pk).update(enabled=True)
    for vm in vms:
        vm.refresh_from_db()
        assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message

    counts = services.host_set_maintenance(host=second, enabled=True, requested_by=admin)

    assert counts == {"started": 2, "no_room": 0}
    second.refresh_from_db()
    assert selectors.host_maintenance_status(second)["ready"] is True
    for vm in vms:
        vm.refresh_from_db()
        assert (vm.state, vm.host) == (VMState.RUNNING, first), vm.error_message
        assert where(first.uri, vm) == ("running", True)
        assert where(second.uri, vm) == (None, False)


def test_killing_the_second_libvirtd_is_handled_within_the_configured_time(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests, settings
):
    """HA: heartbeats every second, down after 2 misses; the VM (local disk) goes to error
    with the reason; when the daemon is back the guest, which kept running, is running again."""
    interval, misses = 1.0, 2
    settings.NUAGE = {**settings.NUAGE, "HA_MISSES": misses}
    first, second = qemu_host, second_qemu_host
    tenant = TenantFactory(slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    alice = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    flavor = FlavorFactory(name="it-ha", vcpus=1, ram_mib=128, disk_gib=1)
    Host.objects.filter(pk=first.pk).update(enabled=False)
    vm = services.vm_request_create(
        requested_by=alice, environment=development, flavor=flavor, image=tiny_image, name="it-ha"
    )
    Host.objects.filter(pk=first.pk).update(enabled=True)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message
    assert services.heartbeat()["declared_down"] == 0

    subprocess.run([str(REPO / "scripts" / "libvirt-down-second.sh")], check=True, timeout=60)
    killed = time.monotonic()
    try:
        while not Host.objects.get(pk=second.pk).down_since:
            assert time.monotonic() - killed < misses * interval + 10, "host never declared down"
            services.heartbeat()
            time.sleep(interval)
        took = time.monotonic() - killed
        vm.refresh_from_db()
        assert vm.state == VMState.ERROR
        assert "stopped answering" in vm.error_message and "local storage" in vm.error_message
        assert took <= misses * interval + 5, took
    finally:
        subprocess.run(
            [str(REPO / "scripts" / "libvirt-up.sh"), "--second-host"],
            check=True,
            timeout=120,
            capture_output=True,
        )

    assert services.heartbeat()["rejoined"] == 1
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message
    assert where(second.uri, vm) == ("running", True)


def pool_has(uri: str, name: str) -> bool:
    conn = libvirt.open(uri)
    try:
        pool = conn.storagePoolLookupByName(POOL)
        pool.refresh(0)
        return name in pool.listVolumes()
    finally:
        conn.close()


def test_an_attached_volume_moves_with_its_running_guest_and_keeps_its_bytes(
    qemu_host: Host, second_qemu_host: Host, tiny_image, guests: Guests
):
    from tests.integration.test_volumes import Shell

    first, second = qemu_host, second_qemu_host
    booted = boot_on_first(first, second, tiny_image, guests, "it-mv")
    vm, alice, admin, development = booted.vm, booted.alice, booted.admin, booted.development
    volume = services.volume_create(
        created_by=alice, environment=development, name="it-mv-data", size_gib=1, vm=vm
    )
    volume.refresh_from_db()
    assert (volume.state, volume.host) == (VolumeState.IN_USE, first), volume.error_message
    marker = "nuage-moved-bytes-42"
    try:
        shell = Shell(first.uri, str(vm.uuid))
        try:
            wait_for(
                lambda: "vdb" in shell.run("cat /proc/partitions"),
                timeout=60,
                what="the guest to see /dev/vdb",
            )
            # (with some output: `run` waits for it)
            assert "written" in shell.run(f"echo {marker} > /dev/vdb && sync && echo written")
        finally:
            shell.close()

        services.vm_migrate(vm=vm, requested_by=admin, target=second)

        vm.refresh_from_db()
        volume.refresh_from_db()
        op = vm.operations.filter(kind=OperationKind.MIGRATE).first()
        assert op is not None and op.status == OperationStatus.SUCCEEDED, op and op.error_message
        assert (vm.state, vm.host) == (VMState.RUNNING, second)
        assert (volume.state, volume.host, volume.vm) == (VolumeState.IN_USE, second, vm)
        assert pool_has(second.uri, volume.volume_name)
        assert not pool_has(first.uri, volume.volume_name)
        shell = Shell(second.uri, str(vm.uuid))
        try:
            # The guest kept running through the move, and reads back what it wrote.
            # From the disk, not the page cache that moved with the guest's memory.
            shell.run("sync; echo 3 > /proc/sys/vm/drop_caches; echo dropped")
            assert marker in shell.run(f"head -c {len(marker)} /dev/vdb")
        finally:
            shell.close()
    finally:
        for host in (first, second):
            hypervisor.remove_domain(host.uri, str(vm.uuid))
            hypervisor.remove_volume(host.uri, pool=POOL, name=volume.volume_name)
