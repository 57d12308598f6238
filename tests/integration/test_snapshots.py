"""Snapshots of real QEMU guests: what the guest had is back after a revert.

Tasks run eagerly in this process (tests.settings): each service call returns once its
operation has finished. The guest is driven through its serial console shell. Its root is an
initramfs in RAM, so a file there survives a revert only through a snapshot WITH memory; a
disk-only snapshot is checked with raw bytes written to its qcow2 disk (/dev/vda).
"""

from __future__ import annotations

import pytest

from compute import hypervisor, services
from compute.choices import SnapshotState, VMState
from compute.models import Host, Snapshot, VirtualMachine
from portal.choices import Role
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import Guests
from tests.integration.test_shape import guest_run

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alice(db: None):
    tenant = TenantFactory(slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    user = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=user, role=Role.MEMBER)
    user.environment = development
    return user


def booted_vm(alice, tiny_image, guests: Guests, name: str, **flavor_fields: int) -> VirtualMachine:
    flavor = FlavorFactory(name=f"{name}-flavor", vcpus=1, ram_mib=256, disk_gib=1, **flavor_fields)
    vm = services.vm_request_create(
        requested_by=alice,
        environment=alice.environment,
        flavor=flavor,
        image=tiny_image,
        name=name,
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)
    return vm


def take(vm: VirtualMachine, alice, name: str) -> Snapshot:
    snapshot = services.snapshot_create(vm=vm, name=name, requested_by=alice)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.READY, snapshot.error_message
    return snapshot


def revert(snapshot: Snapshot, alice) -> None:
    services.snapshot_revert(snapshot=snapshot, requested_by=alice)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.READY, snapshot.error_message


def test_a_file_in_the_guests_memory_is_back_after_reverting_a_live_snapshot(
    qemu_host: Host, tiny_image, guests: Guests, alice
):
    vm = booted_vm(alice, tiny_image, guests, "it-snap-mem")
    assert "first" in guest_run(vm, "echo first > /root-note; cat /root-note")

    snapshot = take(vm, alice, "with-note")
    assert snapshot.with_memory
    # The guest went on: the snapshot was live; what it took is on the host, in the qcow2.
    assert guest_run(vm, "echo alive").strip() == "alive"
    assert snapshot.size_bytes > 0
    assert hypervisor.snapshot_names(qemu_host.uri, domain_uuid=str(vm.uuid)) == [
        snapshot.libvirt_name
    ]
    listed = guests.virsh("snapshot-list", vm.domain_name, "--name").stdout.split()
    assert listed == [snapshot.libvirt_name]

    changed = guest_run(vm, "echo second > /root-note; cat /root-note")
    assert "second" in changed

    revert(snapshot, alice)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert guests.dominfo(vm.domain_name)["State"] == "running"
    assert guest_run(vm, "cat /root-note").strip() == "first"

    services.snapshot_delete(snapshot=snapshot, requested_by=alice)
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.DELETED
    assert guests.virsh("snapshot-list", vm.domain_name, "--name").stdout.strip() == ""


def test_bytes_on_the_disk_are_back_after_reverting_a_disk_only_snapshot(
    qemu_host: Host, tiny_image, guests: Guests, alice
):
    vm = booted_vm(alice, tiny_image, guests, "it-snap-disk")
    write = "printf %s {word} | dd of=/dev/vda bs=512 count=1 conv=notrunc 2>/dev/null; sync"
    read = "dd if=/dev/vda bs=8 count=1 2>/dev/null; echo"
    guest_run(vm, write.format(word="NUAGE-V1"))
    assert guest_run(vm, read).strip() == "NUAGE-V1"

    services.vm_action(vm=vm, action="stop", requested_by=alice)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    snapshot = take(vm, alice, "disk-v1")
    assert not snapshot.with_memory

    _start_and_boot(vm, alice, guests)
    guest_run(vm, write.format(word="NUAGE-V2"))
    assert guest_run(vm, read).strip() == "NUAGE-V2"

    # Reverting a running VM to a snapshot taken stopped leaves it stopped, its disk as then.
    revert(snapshot, alice)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert guests.dominfo(vm.domain_name)["State"] == "shut off"
    _start_and_boot(vm, alice, guests)
    assert guest_run(vm, read).strip() == "NUAGE-V1"

    # Deleting the VM takes its snapshots with it.
    services.vm_action(vm=vm, action="delete", requested_by=alice)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.DELETED
    assert guests.domains(vm.domain_name) == []


def _start_and_boot(vm: VirtualMachine, alice, guests: Guests) -> None:
    # The serial log starts afresh with each start of QEMU (append off), before start()
    # returns: the marker found after it is this boot's.
    services.vm_action(vm=vm, action="start", requested_by=alice)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    guests.wait_booted(vm.domain_name)


def test_a_guest_with_a_memory_hard_limit_reverts_to_a_live_snapshot_and_keeps_its_limit(
    qemu_host: Host, tiny_image, guests: Guests, alice
):
    """The snapshot saved the live XML, <memtune><hard_limit> included; a revert started QEMU
    from it, which failed ("cannot limit locked memory") after the running guest was gone.
    Running or stopped before, the guest comes back running, with its limit."""
    vm = booted_vm(alice, tiny_image, guests, "it-snap-cap", memory_hard_limit_mib=512)
    assert "kept" in guest_run(vm, "echo kept > /root-note; cat /root-note")
    snapshot = take(vm, alice, "capped")

    for before in ("running", "stopped"):
        if before == "stopped":
            services.vm_action(vm=vm, action="stop", requested_by=alice)
            vm.refresh_from_db()
            assert vm.state == VMState.STOPPED
        revert(snapshot, alice)
        vm.refresh_from_db()
        assert vm.state == VMState.RUNNING, before
        assert hypervisor.domain_runtime_state(qemu_host.uri, str(vm.uuid)) == "running", before
        assert hypervisor.memory_hard_limit_mib(qemu_host.uri, str(vm.uuid)) == 512, before
        assert guest_run(vm, "cat /root-note").strip() == "kept", before
