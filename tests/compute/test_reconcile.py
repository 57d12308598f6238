"""The reconciler repairs what lost messages and crashed workers leave, and reads live state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from compute import hypervisor, services
from compute.choices import OperationStatus, RuntimeState, StepStatus, VMState
from compute.hypervisor.connection import get_connection
from compute.models import Host, Operation, VirtualMachine
from tests.support.worker import broker

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def messages_lost() -> Iterator[None]:
    """Task messages sent inside go to an in-memory broker that no worker reads."""
    with broker("memory://"):
        yield


def pending_request(world, flavor, image, name="web-1"):
    return services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name=name,
    )


def test_lost_message_is_redispatched_and_finishes(world, sim_host, flavor, image, settings):
    vm = pending_request(world, flavor, image)
    with messages_lost():  # the approval's task message never reaches a worker
        op = services.vm_approve(vm=vm, approved_by=world.approver)
    assert VirtualMachine.objects.get(pk=vm.pk).state == VMState.PROVISIONING
    # Too early: a recent operation is left alone.
    assert services.reconcile()["redispatched"] == 0
    later = timezone.now() + timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
    counts = services.reconcile(now=later)
    assert counts["redispatched"] == 1
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert Operation.objects.get(pk=op.pk).attempts == 1


def test_operation_that_never_progresses_ends_in_error(world, sim_host, flavor, image, settings):
    vm = pending_request(world, flavor, image)
    with messages_lost():
        op = services.vm_approve(vm=vm, approved_by=world.approver)
        Operation.objects.filter(pk=op.pk).update(attempts=settings.NUAGE["MAX_ATTEMPTS"])
        later = timezone.now() + timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
        assert services.reconcile(now=later)["failed"] == 1
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "no progress after" in vm.error_message
    assert Operation.objects.get(pk=op.pk).status == OperationStatus.FAILED


def test_runtime_state_follows_libvirt(world, sim_host, flavor, image):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    vm.refresh_from_db()
    assert vm.runtime_state == RuntimeState.RUNNING
    # Someone powers the domain off behind Nuage's back: the lifecycle state stays, runtime follows.
    get_connection(sim_host.uri).lookupByUUIDString(str(vm.uuid)).destroy()
    services.reconcile()
    vm.refresh_from_db()
    assert (vm.state, vm.runtime_state) == (VMState.RUNNING, RuntimeState.SHUTOFF)
    hypervisor.remove_domain(sim_host.uri, str(vm.uuid))
    services.reconcile()
    vm.refresh_from_db()
    assert vm.runtime_state == RuntimeState.NO_DOMAIN


def test_unreachable_host_is_marked(world, sim_host, tmp_path):
    Host.objects.filter(pk=sim_host.pk).update(uri=f"test://{tmp_path}/gone.xml")
    services.reconcile()
    host = Host.objects.get(pk=sim_host.pk)
    assert host.reachable is False
    assert "Cannot reach the host" in host.last_error


def test_a_step_already_done_is_not_run_again(world, sim_host, flavor, image):
    vm = pending_request(world, flavor, image)
    with messages_lost():
        op = services.vm_approve(vm=vm, approved_by=world.approver)
    # Two deliveries of every message (a redelivery racing the first run).
    while services.operation_advance(operation_id=op.id):
        services.operation_advance(operation_id=op.id)
    services.operation_advance(operation_id=op.id)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert list(op.steps.values_list("status", flat=True)) == [StepStatus.DONE] * 5
    assert hypervisor.domain_runtime_states(sim_host.uri) == {str(vm.uuid): "running"}


def test_vanished_domain_is_flagged_and_unknown_domains_are_listed(world, sim_host, flavor, image):
    vm = pending_request(world, flavor, image)
    services.vm_approve(vm=vm, approved_by=world.approver)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    stranger = hypervisor.DomainSpec(
        name="someone-elses",
        uuid="6f1c1f0e-0000-4000-8000-000000000001",
        title="",
        vcpus=1,
        memory_mib=128,
        disk_path="/nonexistent.qcow2",
    )
    hypervisor.ensure_domain_defined(sim_host.uri, stranger)
    hypervisor.remove_domain(sim_host.uri, str(vm.uuid))  # behind Nuage's back

    counts = services.reconcile()

    assert (counts["vanished"], counts["orphans"]) == (1, 1)
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "disappeared from host" in vm.error_message
    sim_host.refresh_from_db()
    assert sim_host.orphan_domains == [
        {"uuid": stranger.uuid, "name": "someone-elses", "state": "shutoff"}
    ]


def test_orphans_are_adopted_or_destroyed_through_the_api(world, sim_host, flavor, image):
    from tests.test_api import client_for

    conn = get_connection(sim_host.uri)
    specs = [
        hypervisor.DomainSpec(
            name=f"legacy-{i}",
            uuid=f"6f1c1f0e-0000-4000-8000-00000000000{i}",
            title="",
            vcpus=1,
            memory_mib=128,
            disk_path="/nonexistent.qcow2",
        )
        for i in (1, 2)
    ]
    for spec in specs:
        hypervisor.ensure_domain_defined(sim_host.uri, spec)
    conn.lookupByUUIDString(specs[0].uuid).create()
    services.reconcile()
    admin = client_for(world.platform_admin)
    listed = admin.get(f"/api/v1/hosts/{sim_host.pk}/orphans/").json()
    assert {o["name"] for o in listed} == {"legacy-1", "legacy-2"}
    assert client_for(world.member).get(f"/api/v1/hosts/{sim_host.pk}/orphans/").status_code == 404

    adopt = {
        "uuid": specs[0].uuid,
        "environment": world.development.pk,
        "owner": world.member.pk,
        "flavor": flavor.pk,
        "image": image.pk,
        "name": "legacy-app",
    }
    bad = admin.post(
        f"/api/v1/hosts/{sim_host.pk}/orphans/adopt/", {**adopt, "name": "Bad Name"}, format="json"
    )
    assert bad.status_code == 400 and "name" in bad.json()
    outsider = admin.post(
        f"/api/v1/hosts/{sim_host.pk}/orphans/adopt/",
        {**adopt, "owner": world.platform_admin.pk},
        format="json",
    )
    assert outsider.status_code == 400 and "owner" in outsider.json()
    adopted = admin.post(f"/api/v1/hosts/{sim_host.pk}/orphans/adopt/", adopt, format="json")
    assert adopted.status_code == 201, adopted.content
    assert (adopted.json()["state"], adopted.json()["tenant"]) == ("running", "apollo")
    vm = VirtualMachine.objects.get(uuid=specs[0].uuid)
    # It is an ordinary VM now: its owner stops it like any other.
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED

    gone = admin.post(
        f"/api/v1/hosts/{sim_host.pk}/orphans/destroy/", {"uuid": specs[1].uuid}, format="json"
    )
    assert gone.status_code == 204
    assert specs[1].uuid not in hypervisor.domain_runtime_states(sim_host.uri)
    again = admin.post(
        f"/api/v1/hosts/{sim_host.pk}/orphans/destroy/", {"uuid": specs[0].uuid}, format="json"
    )
    assert again.status_code == 400  # adopted: no longer an orphan
    assert services.reconcile()["orphans"] == 0


def test_an_operation_a_worker_is_running_is_left_alone(world, sim_host, flavor, image, settings):
    """A long step (a live migration) holds the worker's claim, not a row lock, for minutes:
    the reconciler neither re-dispatches it nor counts an attempt, however old its progress."""
    import threading

    from django.db import connection

    from compute.services._common import operation_claim

    vm = pending_request(world, flavor, image)
    with messages_lost():
        op = services.vm_approve(vm=vm, approved_by=world.approver)
    Operation.objects.filter(pk=op.pk).update(
        progressed_at=timezone.now() - timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
    )
    holding, release = threading.Event(), threading.Event()

    def worker() -> None:
        with operation_claim(op.pk, wait=False) as claimed:
            assert claimed
            holding.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    assert holding.wait(10)
    try:
        assert services.reconcile()["redispatched"] == 0
        op.refresh_from_db()
        assert op.attempts == 0
    finally:
        release.set()
        thread.join()
    assert services.reconcile()["redispatched"] == 1


def test_a_vm_provisioned_while_its_host_is_listed_is_not_called_vanished(
    world, sim_host, flavor, image, monkeypatch
):
    """The reconciler lists a host's domains, then reads the VM rows: a VM that a worker
    provisioned in between has a domain the listing could not show, and must stay running."""
    vm = pending_request(world, flavor, image)
    with messages_lost():
        op = services.vm_approve(vm=vm, approved_by=world.approver)
    real_list = hypervisor.domain_list

    def list_then_provision(uri: str):
        domains = real_list(uri)  # the VM has no domain yet
        while services.operation_advance(operation_id=op.pk):
            pass
        return domains

    monkeypatch.setattr(hypervisor, "domain_list", list_then_provision)
    counts = services.reconcile()
    vm.refresh_from_db()
    assert (vm.state, vm.error_message) == (VMState.RUNNING, "")
    assert counts["vanished"] == 0
    monkeypatch.setattr(hypervisor, "domain_list", real_list)
    services.reconcile()  # the next cycle sees the domain
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.runtime_state == RuntimeState.RUNNING
