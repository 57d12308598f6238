"""Live migration and maintenance mode, through the services, on libvirt's test driver.

The test driver has no migration of its own; the driver moves the domain's definition and starts
it on the target instead, so everything Nuage does around the move (claims, steps, host switch,
cleanup, failure) runs for real here. tests/integration/test_migration.py moves real guests.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compute import hypervisor, selectors, services
from compute.choices import OperationKind, OperationStatus, RuntimeState, VMState
from compute.hypervisor.connection import get_connection
from compute.models import Host, Operation, RollingMaintenance, VirtualMachine
from portal.errors import ConflictError
from tests.conftest import TenantWorld, make_sim_host

pytestmark = pytest.mark.usefixtures("run_on_commit")


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


def domains(host: Host) -> dict[str, str]:
    return hypervisor.domain_runtime_states(host.uri)


def volumes(host: Host) -> list[str]:
    pool = get_connection(host.uri).storagePoolLookupByName(host.storage_pool)
    pool.refresh()
    return sorted(pool.listVolumes())


@pytest.fixture
def two_hosts(tmp_path: Path) -> tuple[Host, Host]:
    first = make_sim_host(tmp_path)
    second = make_sim_host(tmp_path, memory_mib=16384)
    return first, second


def test_running_vm_moves_with_its_disk(world, two_hosts, flavor, image):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    assert vm.host == first  # more free memory

    services.vm_migrate(vm=vm, requested_by=world.platform_admin)

    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.host == second
    assert vm.runtime_state == RuntimeState.RUNNING
    assert domains(second) == {str(vm.uuid): "running"}
    assert domains(first) == {}
    assert volumes(second) == sorted([vm.volume_name, vm.seed_volume_name])
    assert volumes(first) == []
    op = vm.operations.get(kind=OperationKind.MIGRATE)
    assert op.status == OperationStatus.SUCCEEDED
    assert (op.source_host, op.target_host) == (first, second)
    assert [s.name for s in op.steps.all()] == [
        "preparing_target",
        "migrating",
        "cleaning_source",
        "applying_limits",
    ]
    assert "Running on sim-" in op.steps.get(name="migrating").detail


def test_migration_to_a_chosen_host_and_back(world, two_hosts, flavor, image):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=first)
    vm.refresh_from_db()
    assert (vm.host, vm.state) == (first, VMState.RUNNING)
    assert list(domains(first)) == [str(vm.uuid)]
    assert domains(second) == {}


def test_bad_targets_are_refused_and_change_nothing(world, two_hosts, flavor, image, tmp_path):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    with pytest.raises(ValidationError) as same:
        services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=first)
    assert "already runs on" in str(same.value.message_dict["host"])
    tiny = make_sim_host(tmp_path, memory_mib=256)
    with pytest.raises(ValidationError) as full:
        services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=tiny)
    assert "does not have room for the memory" in str(full.value.message_dict["host"])
    Host.objects.filter(pk=second.pk).update(maintenance=True)
    Host.objects.filter(pk=tiny.pk).update(enabled=False)
    with pytest.raises(ValidationError) as nowhere:
        services.vm_migrate(vm=vm, requested_by=world.platform_admin)
    assert "No host can take this VM" in str(nowhere.value.message_dict["host"])
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, first)
    assert not Operation.objects.filter(kind=OperationKind.MIGRATE).exists()


def test_only_platform_admins_migrate_and_only_running_vms(world, two_hosts, flavor, image):
    vm = running_vm(world, flavor, image, "web-1")
    for user in (world.member, world.tenant_admin, world.finance):
        with pytest.raises(PermissionDenied):
            services.vm_migrate(vm=vm, requested_by=user)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    with pytest.raises(ConflictError, match="Only a running VM"):
        services.vm_migrate(vm=vm, requested_by=world.platform_admin)


def test_failed_migration_leaves_the_guest_running_where_it_was(world, two_hosts, flavor, image):
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
    assert domains(first) == {str(vm.uuid): "running"}
    assert str(vm.uuid) not in domains(second)
    assert volumes(second) == []  # the disk and seed copies prepared there were removed
    assert volumes(first) == sorted([vm.volume_name, vm.seed_volume_name])
    op = vm.operations.get(kind=OperationKind.MIGRATE)
    assert op.status == OperationStatus.FAILED
    assert "already exists" in op.error_message
    # The target's claim ended with the operation: a new VM may be placed there again.
    (state,) = services._host_states(Host.objects.filter(pk=second.pk))
    assert (state.used_vcpus, state.used_ram_mib) == (0, 0)


def test_maintenance_empties_a_host_and_keeps_new_vms_away(world, two_hosts, flavor, image):
    first, second = two_hosts
    vms = [running_vm(world, flavor, image, f"web-{i}") for i in range(3)]
    assert {vm.host for vm in [VirtualMachine.objects.get(pk=v.pk) for v in vms]} == {first}

    counts = services.host_set_maintenance(
        host=first, enabled=True, requested_by=world.platform_admin
    )

    assert counts == {"started": 3, "no_room": 0}
    assert {vm.host_id for vm in VirtualMachine.objects.filter(pk__in=[v.pk for v in vms])} == {
        second.pk
    }
    first.refresh_from_db()
    assert selectors.host_maintenance_status(first) == {
        "maintenance": True,
        "vms": 0,
        "running_vms": 0,
        "ready": True,
    }
    newcomer = running_vm(world, flavor, image, "after")
    assert newcomer.host == second  # first has more free memory but is in maintenance

    services.host_set_maintenance(host=first, enabled=False, requested_by=world.platform_admin)
    first.refresh_from_db()
    assert not first.maintenance
    assert running_vm(world, flavor, image, "back").host == first


def test_reconciler_finishes_an_evacuation_when_room_appears(
    world, two_hosts, flavor, image, tmp_path
):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    Host.objects.filter(pk=second.pk).update(enabled=False)
    counts = services.host_set_maintenance(
        host=first, enabled=True, requested_by=world.platform_admin
    )
    assert counts == {"started": 0, "no_room": 1}
    first.refresh_from_db()
    assert selectors.host_maintenance_status(first)["ready"] is False

    Host.objects.filter(pk=second.pk).update(enabled=True)
    assert services.reconcile()["evacuations"] == 1
    vm.refresh_from_db()
    assert (vm.host, vm.state) == (second, VMState.RUNNING)
    assert selectors.host_maintenance_status(first)["ready"] is True


def test_api_migrate_and_maintenance(world, two_hosts, flavor, image):
    from tests.test_api import client_for

    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    member, admin = client_for(world.member), client_for(world.platform_admin)

    assert member.post(f"/api/v1/vms/{vm.pk}/migrate/", {}, format="json").status_code == 403
    assert (
        member.post(f"/api/v1/hosts/{first.pk}/maintenance/", {"enabled": True}).status_code == 404
    )

    answer = admin.post(f"/api/v1/vms/{vm.pk}/migrate/", {"host": 999999}, format="json")
    assert answer.status_code == 400
    assert answer.json()["host"] == ["Unknown host."]

    answer = admin.post(f"/api/v1/vms/{vm.pk}/migrate/", {"host": second.pk}, format="json")
    assert answer.status_code == 202, answer.content
    assert answer.json()["host"] == second.name

    answer = admin.post(
        f"/api/v1/hosts/{second.pk}/maintenance/", {"enabled": "yes"}, format="json"
    )
    assert answer.status_code == 200, answer.content
    assert answer.json() == {
        "maintenance": True,
        "vms": 0,
        "running_vms": 0,
        "ready": True,
        "migrations_started": 1,
        "no_room": 0,
    }
    assert admin.get(f"/api/v1/hosts/{second.pk}/").json()["maintenance"] is True
    vm.refresh_from_db()
    assert vm.host == first
    bad = admin.post(f"/api/v1/hosts/{second.pk}/maintenance/", {}, format="json")
    assert bad.status_code == 400 and "enabled" in bad.json()


# --- high availability ------------------------------------------------------------------------


def unplug(host: Host) -> str:
    """Point the host at an address where nothing answers; returns the URI to plug it back."""
    real = host.uri
    Host.objects.filter(pk=host.pk).update(uri=f"qemu+tcp://127.0.0.1:{host.pk % 1000 + 1}/system")
    return real


def plug(host: Host, uri: str) -> None:
    Host.objects.filter(pk=host.pk).update(uri=uri)


def beats(n: int) -> list[dict[str, int]]:
    return [services.heartbeat() for _ in range(n)]


def test_host_down_after_the_configured_misses_errors_its_local_vms(
    world, two_hosts, flavor, image, settings
):
    settings.NUAGE = {**settings.NUAGE, "HA_MISSES": 3}
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    real = unplug(first)

    first_two = beats(2)
    assert [b["declared_down"] for b in first_two] == [0, 0]
    assert VirtualMachine.objects.get(pk=vm.pk).state == VMState.RUNNING
    assert beats(1)[0]["declared_down"] == 1

    first.refresh_from_db()
    assert first.down_since is not None and not first.reachable
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "stopped answering" in vm.error_message
    assert "local storage" in vm.error_message
    assert running_vm(world, flavor, image, "elsewhere").host == second  # first is down

    # It comes back with the guest still running: the VM is running again, nothing fenced.
    plug(first, real)
    assert beats(1)[0]["rejoined"] == 1
    first.refresh_from_db()
    assert first.down_since is None and first.reachable and first.missed_heartbeats == 0
    vm.refresh_from_db()
    assert (vm.state, vm.host, vm.error_message) == (VMState.RUNNING, first, "")
    assert domains(first) == {str(vm.uuid): "running"}


def test_shared_storage_vms_restart_elsewhere_and_the_stale_copy_is_fenced(
    world, two_hosts, flavor, image, settings
):
    settings.NUAGE = {**settings.NUAGE, "HA_MISSES": 2}
    first, second = two_hosts
    Host.objects.filter(pk__in=[first.pk, second.pk]).update(shared_storage=True)
    vm = running_vm(world, flavor, image, "web-1")
    assert vm.host == first
    real = unplug(first)

    beats(2)

    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second), vm.error_message
    assert domains(second) == {str(vm.uuid): "running"}
    recover = vm.operations.get(kind=OperationKind.RECOVER)
    assert recover.status == OperationStatus.SUCCEEDED
    # The first host comes back with its copy of the guest still running: it is destroyed
    # before the host rejoins, so the VM never runs twice.
    plug(first, real)
    assert domains(first) == {str(vm.uuid): "running"}
    beats(1)
    assert domains(first) == {}
    assert domains(second) == {str(vm.uuid): "running"}
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second)


def test_hosts_page_shows_capacity_and_drives_maintenance(world, two_hosts, flavor, image, client):
    first, second = two_hosts
    vm = running_vm(world, flavor, image, "web-1")
    client.force_login(world.member)
    assert client.get("/hosts/").status_code == 404
    client.force_login(world.platform_admin)
    page = client.get("/hosts/").content.decode()
    assert 'data-host="sim-' in page and "512\xa0MiB / 32\xa0GiB" in page

    answer = client.post(f"/hosts/{first.pk}/maintenance/", {"enabled": "1"}, follow=True)
    assert "1 VM is moving away" in answer.content.decode()
    assert 'data-status="ready for maintenance"' in answer.content.decode()
    vm.refresh_from_db()
    assert vm.host == second

    detail = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'id="vm-migrate"' in detail
    client.post(f"/hosts/{first.pk}/maintenance/", {"enabled": "0"})
    client.post(f"/vms/{vm.pk}/migrate/", {"host": str(first.pk)})
    vm.refresh_from_db()
    assert vm.host == first


# --- rolling maintenance ----------------------------------------------------------------------


def host_of(vm: VirtualMachine) -> Host | None:
    return VirtualMachine.objects.get(pk=vm.pk).host


def test_rolling_maintenance_takes_hosts_one_at_a_time(world, two_hosts, flavor, image):
    first, second = two_hosts
    vms = [running_vm(world, flavor, image, f"web-{i}") for i in range(2)]
    assert {host_of(vm) for vm in vms} == {first}

    run = services.rolling_maintenance_start(requested_by=world.platform_admin)
    assert run.host_ids == [first.pk, second.pk]
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.maintenance and not second.maintenance
    assert {host_of(vm) for vm in vms} == {second}

    # Empty, but the work on it is not done yet: it stays in maintenance.
    services.reconcile()
    run.refresh_from_db()
    assert (run.position, run.ready_at is not None) == (0, True)
    with pytest.raises(ConflictError, match="already running"):
        services.rolling_maintenance_start(requested_by=world.platform_admin)

    services.rolling_maintenance_continue(run=run, requested_by=world.platform_admin)
    first.refresh_from_db()
    second.refresh_from_db()
    assert not first.maintenance and second.maintenance
    assert {host_of(vm) for vm in vms} == {first}

    run = services.rolling_maintenance_continue(run=run, requested_by=world.platform_admin)
    assert run.status == run.Status.DONE
    assert not Host.objects.filter(maintenance=True).exists()
    assert {vm.state for vm in VirtualMachine.objects.all()} == {VMState.RUNNING}


def test_rolling_maintenance_with_a_hold_needs_nobody(world, two_hosts, flavor, image):
    from datetime import timedelta

    from django.utils import timezone

    running_vm(world, flavor, image, "web-1")
    run = services.rolling_maintenance_start(requested_by=world.platform_admin, hold_seconds=60)
    services.reconcile()  # first host empty: the hold starts
    later = timezone.now() + timedelta(seconds=61)
    services.reconcile(now=later)  # hold over: second host's turn
    run.refresh_from_db()
    assert run.position == 1
    services.reconcile(now=later)
    services.reconcile(now=later + timedelta(seconds=61))
    run.refresh_from_db()
    assert run.status == run.Status.DONE


def test_rolling_maintenance_refusals(world, two_hosts, flavor, image):
    first, second = two_hosts
    with pytest.raises(PermissionDenied):
        services.rolling_maintenance_start(requested_by=world.tenant_admin)
    Host.objects.filter(pk=second.pk).update(enabled=False)
    with pytest.raises(ValidationError, match="two hosts up"):
        services.rolling_maintenance_start(requested_by=world.platform_admin)
    Host.objects.filter(pk=second.pk).update(enabled=True, memory_mib=256)  # no room there
    running_vm(world, flavor, image, "web-1")
    run = services.rolling_maintenance_start(requested_by=world.platform_admin)
    with pytest.raises(ConflictError, match="still has 1 VM;"):
        services.rolling_maintenance_continue(run=run, requested_by=world.platform_admin)
    services.rolling_maintenance_cancel(run=run, requested_by=world.platform_admin)
    with pytest.raises(ConflictError, match="over"):
        services.rolling_maintenance_continue(run=run, requested_by=world.platform_admin)


def test_api_rolling_maintenance(world, two_hosts, flavor, image):
    from tests.test_api import client_for

    first, second = two_hosts
    running_vm(world, flavor, image, "web-1")
    admin = client_for(world.platform_admin)
    assert client_for(world.member).post("/api/v1/rolling-maintenance/", {}).status_code == 403
    bad = admin.post("/api/v1/rolling-maintenance/", {"hold_seconds": -1}, format="json")
    assert bad.status_code == 400 and "hold_seconds" in bad.json()

    started = admin.post("/api/v1/rolling-maintenance/", {}, format="json")
    assert started.status_code == 201, started.content
    run = started.json()
    assert (run["status"], run["current_host"], run["position"]) == ("running", first.name, 0)
    again = admin.post("/api/v1/rolling-maintenance/", {}, format="json")
    assert again.status_code == 409

    after = admin.post(f"/api/v1/rolling-maintenance/{run['id']}/continue/").json()
    assert (after["current_host"], after["position"]) == (second.name, 1)
    done = admin.post(f"/api/v1/rolling-maintenance/{run['id']}/continue/").json()
    assert done["status"] == "done"
    assert admin.post(f"/api/v1/rolling-maintenance/{run['id']}/cancel/").status_code == 409


def test_hosts_page_runs_a_rolling_maintenance(world, two_hosts, flavor, image, client):
    first, second = two_hosts
    running_vm(world, flavor, image, "web-1")
    client.force_login(world.platform_admin)
    page = client.post("/hosts/rolling/", {"do": "start"}, follow=True).content.decode()
    assert "Rolling maintenance started" in page
    assert f"Host 1 of 2: {first.name}." in page
    services.reconcile()  # the first host is now empty
    page = client.get("/hosts/").content.decode()
    assert "It is empty" in page
    run = RollingMaintenance.objects.get()
    page = client.post(
        "/hosts/rolling/", {"do": "continue", "run": run.pk}, follow=True
    ).content.decode()
    assert f"Host 2 of 2: {second.name}." in page
    client.post("/hosts/rolling/", {"do": "cancel", "run": run.pk})
    run.refresh_from_db()
    assert run.status == run.Status.CANCELLED


def test_between_hosts_on_shared_storage_no_disk_is_copied_or_removed(
    world, tmp_path, flavor, image
):
    """Hosts on one shared pool reach the same disk: a move copies only the memory, and the
    disk that the VM now runs from is never removed as the "source's" (nor a copy undone)."""
    first = make_sim_host(tmp_path, shared_storage=True)
    second = make_sim_host(tmp_path, memory_mib=16384, shared_storage=True)
    vm = running_vm(world, flavor, image, "web-1")
    assert vm.host == first
    disk = sorted([vm.volume_name, vm.seed_volume_name])
    assert volumes(first) == disk

    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=second)

    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second)
    assert domains(second) == {str(vm.uuid): "running"} and domains(first) == {}
    # libvirt's test driver keeps each host's pool apart: nothing was made on the target, and
    # what the first host's pool holds (on real shared storage: the VM's very disk) is kept.
    assert volumes(first) == disk
    assert volumes(second) == []
    op = vm.operations.get(kind=OperationKind.MIGRATE)
    assert op.status == OperationStatus.SUCCEEDED
    details = dict(op.steps.values_list("name", "detail"))
    assert (
        details["preparing_target"]
        == f"Disks already reachable from {second.name} (shared storage)."
    )
    assert details["cleaning_source"] == "Nothing to remove: the disks are on shared storage."
