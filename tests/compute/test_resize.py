"""Resizing a stopped VM on libvirt's test driver: disk grown, domain redefined, quota and host
capacity moved at once; refusals write nothing; a failed resize goes back to the old flavor."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from lxml import etree

from billing.choices import UsageKind
from billing.models import UsageEvent
from compute import hypervisor, services
from compute.choices import OperationKind, OperationStatus, VMState
from compute.hypervisor.connection import get_connection
from compute.models import Operation
from portal.errors import ConflictError
from portal.models import AuditEntry
from quotas.models import Allocation, Quota
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory


@pytest.fixture
def small(db):
    return FlavorFactory(name="small", vcpus=1, ram_mib=512, disk_gib=1)


@pytest.fixture
def big(db):
    return FlavorFactory(
        name="big", vcpus=2, ram_mib=1024, disk_gib=2, cpu_cap_percent=50, disk_read_iops=300
    )


def stopped_vm(world, flavor, image, name="web-1"):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    return vm


def quota_used(world):
    q = Quota.objects.get(environment=world.development)
    return (q.vcpus_used, q.ram_mib_used, q.disk_gib_used, q.vcpus_reserved)


def domain(vm):
    dom = get_connection(vm.host.uri).lookupByUUIDString(str(vm.uuid))
    return etree.fromstring(dom.XMLDesc(0))


def disk_gib(vm):
    pool = get_connection(vm.host.uri).storagePoolLookupByName(vm.host.storage_pool)
    return pool.storageVolLookupByName(vm.volume_name).info()[1] // 2**30


def test_stopped_vm_is_resized_disk_grown_domain_redefined_quota_moved(
    world, sim_host, small, big, image, run_on_commit
):
    vm = stopped_vm(world, small, image)
    assert quota_used(world) == (1, 512, 1, 0)

    op = services.vm_resize(vm=vm, flavor=big, requested_by=world.member)
    vm.refresh_from_db()
    op.refresh_from_db()
    assert op.kind == OperationKind.RESIZE and op.status == OperationStatus.SUCCEEDED
    assert [(s.name, s.status) for s in op.steps.all()] == [
        ("growing_disk", "done"),
        ("redefining", "done"),
    ]
    assert op.flavor_before == small
    assert (vm.state, vm.flavor, vm.runtime_state) == (VMState.STOPPED, big, "shutoff")
    xml = domain(vm)
    assert xml.findtext("vcpu") == "2"
    assert xml.findtext("memory") == str(1024 * 1024)  # KiB
    assert xml.findtext("cputune/quota") == "50000"
    assert xml.findtext("devices/disk[@device='disk']/iotune/read_iops_sec") == "300"
    assert disk_gib(vm) == 2
    assert quota_used(world) == (2, 1024, 2, 0)
    alloc = Allocation.objects.get(vm=vm)
    assert (alloc.vcpus, alloc.ram_mib, alloc.disk_gib) == (2, 1024, 2)
    entry = AuditEntry.objects.get(action="vm.resize")
    assert entry.changes["flavor"] == ["small", "big"]
    event = UsageEvent.objects.get(vm=vm, kind=UsageKind.RESIZED)
    assert (event.vcpus, event.ram_mib, event.disk_gib, event.flavor_id) == (2, 1024, 2, big.pk)

    # It starts at its new size; deleting it gives back exactly what it holds now.
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    assert quota_used(world) == (0, 0, 0, 0)


def test_a_smaller_disk_is_refused_and_nothing_is_written(
    world, sim_host, big, image, run_on_commit
):
    tiny = FlavorFactory(name="tiny", vcpus=4, ram_mib=512, disk_gib=1)
    vm = stopped_vm(world, big, image)
    before = quota_used(world)
    with pytest.raises(ValidationError) as exc:
        services.vm_resize(vm=vm, flavor=tiny, requested_by=world.member)
    assert "never shrinks" in " ".join(exc.value.message_dict["flavor"])
    vm.refresh_from_db()
    assert (vm.state, vm.flavor) == (VMState.STOPPED, big)
    assert quota_used(world) == before
    assert not Operation.objects.filter(vm=vm, kind=OperationKind.RESIZE).exists()
    assert disk_gib(vm) == 2


def test_a_running_vm_is_a_conflict(world, sim_host, small, big, image, run_on_commit):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=small,
        image=image,
        name="web-1",
    )
    with pytest.raises(ConflictError, match="Stop the VM"):
        services.vm_resize(vm=vm, flavor=big, requested_by=world.member)


def test_over_quota_is_refused_with_what_is_left(world, sim_host, small, big, image, run_on_commit):
    vm = stopped_vm(world, small, image)
    Quota.objects.filter(environment=world.development).update(vcpus_limit=1)
    with pytest.raises(ValidationError) as exc:
        services.vm_resize(vm=vm, flavor=big, requested_by=world.member)
    message = " ".join(exc.value.message_dict["flavor"])
    assert "Quota exceeded for vCPUs in development: asked 1, 0 left of 1." in message
    vm.refresh_from_db()
    assert (vm.state, vm.flavor) == (VMState.STOPPED, small)
    assert quota_used(world) == (1, 512, 1, 0)


def test_when_no_host_can_take_the_new_size_it_is_a_conflict(
    world, tmp_path, small, image, run_on_commit
):
    host = make_sim_host(tmp_path, cpus=2, memory_mib=4096, cpu_ratio=1)
    vm = stopped_vm(world, small, image)
    neighbour = FlavorFactory(name="one", vcpus=1, ram_mib=256, disk_gib=1)
    services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=neighbour,
        image=image,
        name="web-2",
    )
    double = FlavorFactory(name="double", vcpus=2, ram_mib=512, disk_gib=1)
    with pytest.raises(ConflictError, match="host cannot take the new size .* nor can another"):
        services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor, vm.host) == (VMState.STOPPED, small, host)
    assert quota_used(world) == (2, 768, 2, 0)


def test_a_vm_whose_host_is_too_full_moves_to_another_host_stopped_and_resized(
    world, tmp_path, small, image, run_on_commit
):
    first = make_sim_host(tmp_path, cpus=2, memory_mib=8192, cpu_ratio=1)
    vm = stopped_vm(world, small, image)
    neighbour = FlavorFactory(name="one", vcpus=1, ram_mib=256, disk_gib=1)
    services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=neighbour,
        image=image,
        name="web-2",
    )
    second = make_sim_host(tmp_path, cpus=8, memory_mib=4096)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=3)
    assert vm.host == first

    op = services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    op.refresh_from_db()
    vm.refresh_from_db()
    assert op.kind == OperationKind.RESIZE_MOVE, op.kind
    assert op.status == OperationStatus.SUCCEEDED, op.error_message
    assert [s.name for s in op.steps.all()] == [
        "preparing_move",
        "moving",
        "growing_disk",
        "redefining",
        "cleaning_source",
    ]
    assert (op.source_host, op.target_host) == (first, second)
    assert (vm.state, vm.flavor, vm.host) == (VMState.STOPPED, double, second)
    assert hypervisor.domain_runtime_state(second.uri, str(vm.uuid)) == "shutoff"
    assert hypervisor.domain_runtime_state(first.uri, str(vm.uuid)) == "no_domain"
    assert domain(vm).findtext("vcpu") == "2"
    assert disk_gib(vm) == 3
    assert hypervisor.volume_path(first.uri, pool=first.storage_pool, name=vm.volume_name) is None
    assert quota_used(world) == (3, 1280, 4, 0)

    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, second)


def _production_vm_on_a_full_host(world, tmp_path, small, image):
    first = make_sim_host(tmp_path, cpus=1, memory_mib=8192, cpu_ratio=1)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=small,
        image=image,
        name="prod-1",
    )
    services.vm_approve(vm=vm, approved_by=world.approver)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    second = make_sim_host(tmp_path, cpus=8, memory_mib=4096)
    vm.refresh_from_db()
    return vm, first, second


def prod_quota(world):
    q = Quota.objects.get(environment=world.production)
    return (q.vcpus_used, q.ram_mib_used, q.disk_gib_used)


def test_a_resize_that_needs_another_host_waits_for_an_approver_where_the_policy_says_so(
    world, tmp_path, small, image, run_on_commit, client
):
    vm, first, second = _production_vm_on_a_full_host(world, tmp_path, small, image)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=1)
    assert services.vm_resize(vm=vm, flavor=double, requested_by=world.member) is None
    vm.refresh_from_db()
    assert (vm.state, vm.flavor, vm.resize_to, vm.host) == (
        VMState.RESIZE_PENDING,
        small,
        double,
        first,
    )
    assert prod_quota(world) == (2, 1024, 1)  # held for the new size while it waits
    from quotas.services import quota_drift_check

    assert quota_drift_check() == []
    client.force_login(world.approver)
    assert "Resize small → double" in client.get("/approvals/").content.decode()

    with pytest.raises(PermissionDenied):
        services.vm_approve(vm=vm, approved_by=world.member)
    op = services.vm_approve(vm=vm, approved_by=world.approver)
    op.refresh_from_db()
    vm.refresh_from_db()
    assert op.kind == OperationKind.RESIZE_MOVE and op.status == OperationStatus.SUCCEEDED
    assert (vm.state, vm.flavor, vm.resize_to, vm.host) == (
        VMState.STOPPED,
        double,
        None,
        second,
    )
    assert prod_quota(world) == (2, 1024, 1)
    assert AuditEntry.objects.filter(action="vm.resize_approve").count() == 1


def test_a_rejected_resize_leaves_the_vm_as_it_was(world, tmp_path, small, image, run_on_commit):
    vm, first, _second = _production_vm_on_a_full_host(world, tmp_path, small, image)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=1)
    services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    vm.refresh_from_db()
    services.vm_reject(vm=vm, rejected_by=world.approver, reason="Not this quarter.")
    vm.refresh_from_db()
    assert (vm.state, vm.flavor, vm.resize_to, vm.host) == (VMState.STOPPED, small, None, first)
    assert "Not this quarter." in vm.error_message
    assert prod_quota(world) == (1, 512, 1)
    with pytest.raises(ConflictError):
        services.vm_approve(vm=vm, approved_by=world.approver)


def test_a_failed_resize_goes_back_to_the_old_flavor_and_quota(
    world, sim_host, small, big, image, run_on_commit
):
    vm = stopped_vm(world, small, image)
    # The domain vanished behind Nuage's back: redefining it fails.
    hypervisor.remove_domain(sim_host.uri, str(vm.uuid))
    op = services.vm_resize(vm=vm, flavor=big, requested_by=world.member)
    op.refresh_from_db()
    vm.refresh_from_db()
    assert op.status == OperationStatus.FAILED
    assert "no longer exists" in op.error_message
    assert (vm.state, vm.flavor) == (VMState.STOPPED, small)
    assert "no longer exists" in vm.error_message
    assert quota_used(world) == (1, 512, 1, 0)
    assert Allocation.objects.get(vm=vm).vcpus == 1
    assert not UsageEvent.objects.filter(vm=vm, kind=UsageKind.RESIZED).exists()


def test_resize_through_the_api(
    world, other_world, sim_host, small, big, image, run_on_commit, api
):
    vm = stopped_vm(world, small, image)
    tiny = FlavorFactory(name="tiny", vcpus=1, ram_mib=256, disk_gib=1)
    api.force_authenticate(other_world.member)
    assert api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": big.pk}).status_code == 404
    api.force_authenticate(world.other_member)
    assert api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": big.pk}).status_code == 403
    api.force_authenticate(world.member)
    response = api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": 999999})
    assert response.status_code == 400 and "flavor" in response.json()
    response = api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": big.pk})
    assert response.status_code == 202, response.content
    assert response.json()["state"] == "stopped"
    assert response.json()["flavor"] == big.pk
    response = api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": tiny.pk})
    assert response.status_code == 400
    assert "never shrinks" in str(response.json()["flavor"])
    api.post(f"/api/v1/vms/{vm.pk}/start/")
    huge = FlavorFactory(name="huge", vcpus=2, ram_mib=1024, disk_gib=4)
    response = api.post(f"/api/v1/vms/{vm.pk}/resize/", {"flavor": huge.pk})
    assert response.status_code == 409
    assert "Stop the VM" in str(response.json())


def test_resize_from_the_vm_page(world, sim_host, small, big, image, run_on_commit, client):
    vm = stopped_vm(world, small, image)
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert 'id="vm-resize"' in page and f'value="{big.pk}"' in page
    response = client.post(f"/vms/{vm.pk}/resize/", {"flavor": big.pk}, follow=True)
    assert "Resizing web-1 to big." in response.content.decode()
    vm.refresh_from_db()
    assert vm.flavor == big


def test_the_owner_withdraws_a_resize_waiting_for_approval_and_gets_the_quota_back(
    world, other_world, tmp_path, small, image, run_on_commit, api
):
    vm, first, _second = _production_vm_on_a_full_host(world, tmp_path, small, image)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=1)
    services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    assert prod_quota(world) == (2, 1024, 1)  # held for the new size
    url = f"/api/v1/vms/{vm.pk}/resize/withdraw/"
    api.force_authenticate(other_world.member)
    assert api.post(url).status_code == 404
    api.force_authenticate(world.other_member)  # not the owner, no right on others' VMs
    assert api.post(url).status_code == 403

    api.force_authenticate(world.member)
    answer = api.post(url)

    assert answer.status_code == 202, answer.content
    assert (answer.json()["state"], answer.json()["flavor"]) == ("stopped", small.pk)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor, vm.resize_to, vm.host) == (VMState.STOPPED, small, None, first)
    assert prod_quota(world) == (1, 512, 1)
    from quotas.services import quota_drift_check

    assert quota_drift_check() == []
    entry = AuditEntry.objects.get(action="vm.resize_withdraw")
    assert (entry.actor, entry.changes) == (world.member, {"flavor": ["small", "double"]})
    assert not UsageEvent.objects.filter(vm=vm, kind=UsageKind.RESIZED).exists()
    # Nothing waits any more: a second withdrawal, or an approval, is a 409.
    assert api.post(url).status_code == 409
    with pytest.raises(ConflictError):
        services.vm_approve(vm=vm, approved_by=world.approver)


def test_the_vm_page_offers_to_withdraw_a_waiting_resize(
    world, tmp_path, small, image, run_on_commit, client
):
    vm, _first, _second = _production_vm_on_a_full_host(world, tmp_path, small, image)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=1)
    services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    client.force_login(world.approver)  # deciding is theirs; withdrawing is not
    assert 'data-action="resize-withdraw"' not in client.get(f"/vms/{vm.pk}/").content.decode()
    client.force_login(world.member)
    assert 'data-action="resize-withdraw"' in client.get(f"/vms/{vm.pk}/").content.decode()

    answer = client.post(f"/vms/{vm.pk}/resize/withdraw/", follow=True)

    page = answer.content.decode()
    assert "The resize of prod-1 is withdrawn; it keeps its flavor." in page
    assert 'data-action="resize-withdraw"' not in page
    vm.refresh_from_db()
    assert (vm.state, vm.resize_to) == (VMState.STOPPED, None)
    assert prod_quota(world) == (1, 512, 1)
