"""Stop shows how long the guest has left before it is powered off, and "Force off" powers it
off without waiting (page and API)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from compute import hypervisor, services
from compute.choices import OperationKind, OperationStatus, Step, StepStatus, VMState
from compute.models import Operation, OperationStep, VirtualMachine
from portal.errors import ConflictError
from portal.models import AuditEntry
from tests.factories import VirtualMachineFactory


def _request(world, flavor, image) -> VirtualMachine:
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    return vm


def test_force_off_of_a_running_vm_powers_it_off_without_waiting(
    world, sim_host, flavor, image, run_on_commit, settings
):
    settings.NUAGE = {**settings.NUAGE, "STOP_GRACE_SECONDS": 3600}  # would wait an hour
    vm = _request(world, flavor, image)
    op = services.vm_force_off(vm=vm, requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert hypervisor.domain_runtime_state(sim_host.uri, str(vm.uuid)) == "shutoff"
    op.refresh_from_db()
    assert (op.kind, op.forced, op.status) == ("stop", True, OperationStatus.SUCCEEDED)
    assert "without waiting for the guest" in op.steps.get(name=Step.STOPPING).detail
    assert AuditEntry.objects.filter(action="vm.force_off", object_id=str(vm.pk)).exists()


def test_force_off_is_refused_when_nothing_runs_and_for_others(
    world, sim_host, flavor, image, run_on_commit
):
    vm = _request(world, flavor, image)
    with pytest.raises(PermissionDenied):
        services.vm_force_off(vm=vm, requested_by=world.other_member)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    with pytest.raises(ConflictError, match="stopped"):
        services.vm_force_off(vm=vm, requested_by=world.member)


@pytest.fixture
def stopping(world, flavor, image, db):
    """A VM whose stop waits for its guest: the stopping step began 10 s ago."""
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        state=VMState.STOPPING,
    )  # fmt: skip
    op = Operation.objects.create(vm=vm, kind=OperationKind.STOP, status=OperationStatus.RUNNING)
    OperationStep.objects.create(
        operation=op,
        position=0,
        name=Step.STOPPING,
        status=StepStatus.RUNNING,
        started_at=timezone.now() - timedelta(seconds=10),
    )
    return vm, op


def test_the_page_counts_down_the_grace_time_and_offers_force_off(
    world, client, stopping, settings
):
    settings.NUAGE = {**settings.NUAGE, "STOP_GRACE_SECONDS": 60}
    vm, op = stopping
    client.force_login(world.member)
    page = client.get(f"/vms/{vm.pk}/progress/").content.decode()
    left = int(re.search(r"<strong data-countdown>(\d+)</strong>", page).group(1))
    assert 48 <= left <= 50
    assert "If it has not within" in page and 'data-action="force-off"' in page

    answer = client.post(f"/vms/{vm.pk}/force-off/")
    assert answer.status_code == 302 and answer["Location"] == f"/vms/{vm.pk}/"
    op.refresh_from_db()
    assert op.forced
    page = client.get(f"/vms/{vm.pk}/progress/").content.decode()
    assert "Powering off now" in page and 'data-action="force-off"' not in page
    # Said twice, it is one force-off.
    client.post(f"/vms/{vm.pk}/force-off/")
    assert Operation.objects.filter(vm=vm).count() == 1


def test_finance_sees_the_countdown_but_no_force_off(world, client, stopping):
    vm, _op = stopping
    client.force_login(world.finance)
    page = client.get(f"/vms/{vm.pk}/progress/").content.decode()
    assert "data-countdown" in page and 'data-action="force-off"' not in page


def test_force_off_through_the_api(world, stopping, api):
    vm, op = stopping
    api.force_authenticate(world.member)
    answer = api.post(f"/api/v1/vms/{vm.pk}/force-off/")
    assert answer.status_code == 202
    assert answer.json()["state"] == "stopping"
    op.refresh_from_db()
    assert op.forced
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)
    Operation.objects.filter(pk=op.pk).update(status=OperationStatus.SUCCEEDED)
    refused = api.post(f"/api/v1/vms/{vm.pk}/force-off/")
    assert refused.status_code == 409 and refused.json()["state"] == "stopped"


def test_another_tenants_vm_cannot_be_forced_off(other_world, stopping, api, client):
    vm, _op = stopping
    api.force_authenticate(other_world.member)
    assert api.post(f"/api/v1/vms/{vm.pk}/force-off/").status_code == 404
    client.force_login(other_world.member)
    assert client.post(f"/vms/{vm.pk}/force-off/").status_code == 404
