"""A VM's memory hard limit follows it to every new host: after a live migration (the guest
arrives without it and the migration's last step sets it again), an HA restart and a resize
that moved it (both start it there, and starting applies it). libvirt's test driver. (The
revert to a snapshot with memory: tests/compute/test_snapshots.py.)

tests/integration/test_migration.py moves a real guest with a hard limit between two libvirtds.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from compute import hypervisor, services
from compute.choices import OperationKind, OperationStatus, Step, VMState
from compute.hypervisor.xml import without_memory_hard_limit
from compute.models import Host, VirtualMachine
from compute.services.steps import STEP_RUNNERS
from tests.conftest import TenantWorld, make_sim_host
from tests.factories import FlavorFactory

pytestmark = pytest.mark.usefixtures("run_on_commit")


@pytest.fixture
def capped(db: None):
    return FlavorFactory(name="capped", vcpus=1, ram_mib=512, disk_gib=1, memory_hard_limit_mib=768)


@pytest.fixture
def two_hosts(tmp_path: Path) -> tuple[Host, Host]:
    first = make_sim_host(tmp_path)
    second = make_sim_host(tmp_path, memory_mib=16384)
    return first, second


def running_vm(world: TenantWorld, flavor, image, name: str = "web-1") -> VirtualMachine:
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING, vm.error_message
    return vm


def hard_limit(host: Host, vm: VirtualMachine) -> int | None:
    return hypervisor.memory_hard_limit_mib(host.uri, str(vm.uuid))


def test_a_live_migrated_vm_has_its_memory_hard_limit_on_the_target(
    world, two_hosts, capped, image
):
    first, second = two_hosts
    vm = running_vm(world, capped, image)
    assert (vm.host, hard_limit(first, vm)) == (first, 768)

    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)

    vm.refresh_from_db()
    op = vm.operations.get(kind=OperationKind.MIGRATE)
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert hard_limit(second, vm) == 768
    steps = list(op.steps.values_list("name", "detail"))
    assert [name for name, _ in steps] == [
        "preparing_target",
        "migrating",
        "cleaning_source",
        "applying_limits",
    ]
    assert steps[-1][1] == "Memory limited to 768 MiB."


def test_applying_the_limit_again_changes_nothing_and_a_vm_without_one_is_told_so(
    world, two_hosts, capped, flavor, image
):
    first, _second = two_hosts
    vm = running_vm(world, capped, image)
    apply = STEP_RUNNERS[Step.APPLYING_LIMITS]
    # A rerun after a crash sets the same value again.
    assert apply(vm) == "Memory limited to 768 MiB."
    assert apply(vm) == "Memory limited to 768 MiB."
    assert hard_limit(first, vm) == 768

    plain = running_vm(world, flavor, image, name="web-2")
    assert apply(plain) == "No memory hard limit to apply."
    assert hard_limit(first, plain) is None


def test_a_limit_the_target_refuses_fails_the_migration_with_its_reason_after_the_move(
    world, two_hosts, capped, image, monkeypatch
):
    """The limit is set last: a refusal leaves the VM running on the target, its source
    cleaned up, and the failed operation saying why the guest has no limit."""
    first, second = two_hosts
    vm = running_vm(world, capped, image)

    def refuse(uri: str, uuid: str, *, mib: int) -> None:
        raise hypervisor.HypervisorError("cgroup memory controller is not mounted")

    monkeypatch.setattr(hypervisor, "set_memory_hard_limit", refuse)
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)

    vm.refresh_from_db()
    op = vm.operations.get(kind=OperationKind.MIGRATE)
    assert op.status == OperationStatus.FAILED
    assert "cgroup memory controller is not mounted" in op.error_message
    assert op.steps.get(name="applying_limits").status == "failed"
    assert op.steps.get(name="cleaning_source").status == "done"
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert hypervisor.domain_runtime_states(second.uri) == {str(vm.uuid): "running"}
    assert hypervisor.domain_runtime_states(first.uri) == {}


def test_a_vm_restarted_on_another_host_by_ha_has_its_limit_there(
    world, two_hosts, capped, image, settings
):
    settings.NUAGE = {**settings.NUAGE, "HA_MISSES": 1}
    first, second = two_hosts
    Host.objects.filter(pk__in=[first.pk, second.pk]).update(shared_storage=True)
    vm = running_vm(world, capped, image)
    assert vm.host == first
    Host.objects.filter(pk=first.pk).update(uri="qemu+tcp://127.0.0.1:1/system")  # gone

    services.heartbeat()

    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message
    assert vm.operations.get(kind=OperationKind.RECOVER).status == OperationStatus.SUCCEEDED
    assert hard_limit(second, vm) == 768


def test_a_vm_moved_by_a_resize_has_its_new_limit_once_started_on_its_new_host(
    world, tmp_path, image
):
    first = make_sim_host(tmp_path, cpus=1, memory_mib=8192, cpu_ratio=1)
    small = FlavorFactory(name="small", vcpus=1, ram_mib=512, disk_gib=1)
    vm = running_vm(world, small, image)
    assert vm.host == first
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    second = make_sim_host(tmp_path, cpus=8, memory_mib=4096)
    double = FlavorFactory(
        name="double", vcpus=2, ram_mib=1024, disk_gib=1, memory_hard_limit_mib=1536
    )

    op = services.vm_resize(vm=vm, flavor=double, requested_by=world.member)

    assert op is not None and op.kind == OperationKind.RESIZE_MOVE
    op.refresh_from_db()
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert hard_limit(second, vm) == 1536


def test_the_migrated_xml_loses_only_the_hard_limit():
    xml = (
        "<domain type='qemu'><name>a</name><memtune><hard_limit unit='KiB'>786432</hard_limit>"
        "<soft_limit unit='KiB'>524288</soft_limit></memtune>"
        "<devices><graphics type='vnc' passwd='secret'/></devices></domain>"
    )
    out = etree.fromstring(without_memory_hard_limit(xml) or "")
    assert out.find("memtune/hard_limit") is None
    assert out.findtext("memtune/soft_limit") == "524288"
    assert out.find("devices/graphics").get("passwd") == "secret"

    only_hard = "<domain><name>a</name><memtune><hard_limit>786432</hard_limit></memtune></domain>"
    assert etree.fromstring(without_memory_hard_limit(only_hard) or "").find("memtune") is None
    # A snapshot's XML: the domain saved in it loses it.
    snap = (
        "<domainsnapshot><name>s</name><domain><name>a</name><memtune>"
        "<hard_limit>786432</hard_limit></memtune></domain></domainsnapshot>"
    )
    saved = etree.fromstring(without_memory_hard_limit(snap) or "")
    assert (saved.tag, saved.find("domain/memtune")) == ("domainsnapshot", None)
    # No hard limit: the domain migrates as it is.
    assert without_memory_hard_limit("<domain><name>a</name></domain>") is None
    assert (
        without_memory_hard_limit("<domain><memtune><soft_limit>1</soft_limit></memtune></domain>")
        is None
    )
