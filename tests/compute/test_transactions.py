"""No libvirt call while a transaction is open, and audit entries written with their change.

Each hypervisor function is wrapped by a spy that notes whether a transaction was open
(`connection.in_atomic_block`) when it was called, then calls the real one on libvirt's test
driver. These tests commit for real (`run_on_commit`): the test's own transaction would
otherwise always be open.
"""

from __future__ import annotations

import inspect
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from compute import hypervisor, services
from compute.choices import OperationKind, OperationStatus, VMState
from compute.hypervisor.simulated import write_test_node
from compute.models import Host, Operation, VirtualMachine
from portal.models import AuditEntry
from tests.conftest import TenantWorld, make_sim_host

pytestmark = pytest.mark.usefixtures("run_on_commit")


@pytest.fixture
def libvirt_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(function, whether a transaction was open) for every hypervisor call, in order."""
    calls: list[tuple[str, bool]] = []
    for name in hypervisor.__all__:
        real = getattr(hypervisor, name)
        if not inspect.isfunction(real):
            continue

        def spy(*args: Any, _real: Any = real, _name: str = name, **kwargs: Any) -> Any:
            calls.append((_name, connection.in_atomic_block))
            return _real(*args, **kwargs)

        monkeypatch.setattr(hypervisor, name, spy)
    return calls


def inside_a_transaction(calls: list[tuple[str, bool]]) -> list[str]:
    return [name for name, atomic in calls if atomic]


@pytest.fixture
def two_hosts(tmp_path: Path) -> tuple[Host, Host]:
    return make_sim_host(tmp_path), make_sim_host(tmp_path, memory_mib=16384)


def running_vm(world: TenantWorld, flavor, image, name: str) -> VirtualMachine:
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


def test_registering_a_host_asks_libvirt_before_the_write(world, libvirt_calls, tmp_path):
    uri = write_test_node(tmp_path / "new-host.xml", cpus=8, memory_mib=8192)
    host = services.host_register(registered_by=world.platform_admin, name="new-host", uri=uri)
    assert (host.cpus, host.memory_mib) == (8, 8192)
    assert {"host_info", "pool_capacity_gib"} <= {name for name, _ in libvirt_calls}
    assert inside_a_transaction(libvirt_calls) == []
    assert AuditEntry.objects.filter(action="host.register").count() == 1


def test_a_vm_lives_and_migrates_with_no_libvirt_call_inside_a_transaction(
    world, two_hosts, flavor, image, libvirt_calls
):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)
    for action in ("stop", "start", "reboot", "delete"):
        services.vm_action(vm=vm, action=action, requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    called = {name for name, _ in libvirt_calls}
    assert {"ensure_volume", "ensure_domain_defined", "migrate_domain", "remove_volume"} <= called
    assert inside_a_transaction(libvirt_calls) == []


def test_a_failed_migration_is_undone_with_no_libvirt_call_inside_a_transaction(
    world, two_hosts, flavor, image, libvirt_calls
):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    # Something else on the target already holds the domain's name: the move cannot happen.
    squatter = hypervisor.DomainSpec(
        name=vm.domain_name,
        uuid=str(uuid.uuid4()),
        title="not Nuage's",
        vcpus=1,
        memory_mib=128,
        disk_path="/nonexistent.qcow2",
    )
    hypervisor.ensure_domain_defined(second.uri, squatter)
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, first)
    assert vm.operations.get(kind=OperationKind.MIGRATE).status == OperationStatus.FAILED
    assert inside_a_transaction(libvirt_calls) == []


def test_the_operation_and_vm_rows_stay_free_while_the_migration_runs(
    world, two_hosts, flavor, image, monkeypatch
):
    """Another worker (the reconciler, HA, an admin) can lock them at once, without waiting."""
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    real = hypervisor.migrate_domain
    seen: list[str] = []

    def lock_from_elsewhere() -> None:
        try:
            with transaction.atomic():
                Operation.objects.select_for_update(nowait=True).get(vm=vm, kind="migrate")
                VirtualMachine.objects.select_for_update(nowait=True).get(pk=vm.pk)
            seen.append("free")
        except DatabaseError as exc:
            seen.append(f"locked: {exc}")
        finally:
            connection.close()

    def migrate(*args: Any, **kwargs: Any) -> bool:
        other = threading.Thread(target=lock_from_elsewhere)
        other.start()
        other.join()
        return real(*args, **kwargs)

    monkeypatch.setattr(hypervisor, "migrate_domain", migrate)
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)
    assert seen == ["free"]
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second)


def test_adopting_an_orphan_asks_libvirt_before_the_write(
    world, two_hosts, flavor, image, libvirt_calls
):
    first, _second = two_hosts
    orphan = hypervisor.DomainSpec(
        name="found-here",
        uuid=str(uuid.uuid4()),
        title="",
        vcpus=1,
        memory_mib=128,
        disk_path="/nonexistent.qcow2",
    )
    hypervisor.ensure_domain_defined(first.uri, orphan)
    vm = services.host_orphan_adopt(
        host=first,
        uuid=orphan.uuid,
        requested_by=world.platform_admin,
        environment=world.development,
        owner=world.member,
        flavor=flavor,
        image=image,
        name="found-here",
    )
    assert (vm.state, vm.host) == (VMState.STOPPED, first)
    assert "domain_list" in {name for name, _ in libvirt_calls}
    assert inside_a_transaction(libvirt_calls) == []
    # The same domain cannot be adopted twice.
    with pytest.raises(Exception, match="No unknown domain"):
        services.host_orphan_adopt(
            host=first,
            uuid=orphan.uuid,
            requested_by=world.platform_admin,
            environment=world.development,
            owner=world.member,
            flavor=flavor,
            image=image,
            name="found-again",
        )


@pytest.fixture
def audits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, bool]]:
    """(action, whether a transaction was open) for every audit entry compute's services write."""
    from compute.services import ha, maintenance
    from portal import audit

    written: list[tuple[str, bool]] = []

    def spy(**kwargs: Any) -> Any:
        written.append((kwargs["action"], connection.in_atomic_block))
        return audit.audit_record(**kwargs)

    for module in (ha, maintenance):
        monkeypatch.setattr(module, "audit_record", spy)
    return written


def test_continuing_a_rolling_maintenance_is_audited_with_the_move(world, two_hosts, audits):
    first, second = two_hosts
    run = services.rolling_maintenance_start(requested_by=world.platform_admin)
    services.rolling_maintenance_continue(run=run, requested_by=world.platform_admin)
    run.refresh_from_db()
    assert run.position == 1
    assert ("host.rolling_maintenance.continue", True) in audits
    assert AuditEntry.objects.filter(action="host.rolling_maintenance.continue").count() == 1


def test_a_host_that_rejoins_is_audited_with_its_change(world, two_hosts, audits):
    from django.utils import timezone

    first, _second = two_hosts
    Host.objects.filter(pk=first.pk).update(down_since=timezone.now(), reachable=False)
    assert services.heartbeat()["rejoined"] == 1
    first.refresh_from_db()
    assert first.down_since is None
    assert ("host.up", True) in audits
