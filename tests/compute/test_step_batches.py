"""A provisioning task runs consecutive quick steps in one go, each still recorded as it goes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from compute import hypervisor, services, tasks
from compute.choices import OperationStatus, Step, StepStatus, VMState
from compute.models import Operation, VirtualMachine
from compute.services import operations, steps
from tests.compute.test_reconcile import messages_lost, pending_request

pytestmark = pytest.mark.django_db(transaction=True)


def approved(world, flavor, image, name="web-1") -> Operation:
    """A VM approved with its task message lost: the test runs its operation by hand."""
    vm = pending_request(world, flavor, image, name=name)
    with messages_lost():
        return services.vm_approve(vm=vm, approved_by=world.approver)


def step_rows(op: Operation) -> list[tuple[str, str]]:
    return list(op.steps.order_by("position").values_list("name", "status"))


def test_one_batch_provisions_the_vm_and_records_every_step(world, sim_host, flavor, image):
    op = approved(world, flavor, image)

    assert services.operation_advance(operation_id=op.id, max_steps=10) is False

    vm = VirtualMachine.objects.get(pk=op.vm_id)
    assert (vm.state, vm.host_id) == (VMState.RUNNING, sim_host.pk)
    assert hypervisor.domain_runtime_states(sim_host.uri) == {str(vm.uuid): "running"}
    rows = list(op.steps.order_by("position"))
    assert [(s.name, s.status) for s in rows] == [
        (name, StepStatus.DONE)
        for name in ("scheduled", "creating_disk", "preparing_seed", "defining", "starting")
    ]
    # Each step has its own detail and timing, one after the other.
    assert rows[0].detail == f"Placed on host {sim_host.name}."
    assert all(s.detail and s.started_at and s.finished_at for s in rows)
    for earlier, later in zip(rows, rows[1:], strict=False):
        assert earlier.started_at <= earlier.finished_at <= later.started_at
    op.refresh_from_db()
    assert op.status == OperationStatus.SUCCEEDED
    assert op.finished_at >= rows[-1].finished_at


def test_a_batch_stops_after_max_steps_and_the_next_call_goes_on(world, sim_host, flavor, image):
    op = approved(world, flavor, image)

    assert services.operation_advance(operation_id=op.id, max_steps=2) is True
    assert [status for _name, status in step_rows(op)] == [
        StepStatus.DONE,
        StepStatus.DONE,
        StepStatus.PENDING,
        StepStatus.PENDING,
        StepStatus.PENDING,
    ]
    assert services.operation_advance(operation_id=op.id, max_steps=10) is False
    assert VirtualMachine.objects.get(pk=op.vm_id).state == VMState.RUNNING


def test_no_step_starts_once_the_batch_time_is_spent(world, sim_host, flavor, image):
    op = approved(world, flavor, image)
    calls = 1
    while services.operation_advance(operation_id=op.id, max_steps=10, budget_seconds=0):
        calls += 1
    assert calls == 5  # one step per call
    assert VirtualMachine.objects.get(pk=op.vm_id).state == VMState.RUNNING


def test_a_guest_shutdown_is_a_blocking_step():
    assert {Step.STOPPING, Step.MIGRATING, Step.MOVING} <= steps.BLOCKING_STEPS
    assert Step.CREATING_DISK not in steps.BLOCKING_STEPS


def test_a_blocking_step_runs_in_a_task_of_its_own(world, sim_host, flavor, image, monkeypatch):
    monkeypatch.setattr(operations, "BLOCKING_STEPS", frozenset({Step.CREATING_DISK}))
    op = approved(world, flavor, image)

    # The batch ends before the blocking step...
    assert services.operation_advance(operation_id=op.id, max_steps=10) is True
    assert [s for _n, s in step_rows(op)][:2] == [StepStatus.DONE, StepStatus.PENDING]
    # ... runs it alone ...
    assert services.operation_advance(operation_id=op.id, max_steps=10) is True
    assert [s for _n, s in step_rows(op)][:3] == [StepStatus.DONE] * 2 + [StepStatus.PENDING]
    # ... and the quick ones after it go together again.
    assert services.operation_advance(operation_id=op.id, max_steps=10) is False
    assert VirtualMachine.objects.get(pk=op.vm_id).state == VMState.RUNNING


def test_a_lost_message_between_batches_is_repaired_by_the_reconciler(
    world, sim_host, flavor, image, settings, monkeypatch
):
    monkeypatch.setattr(operations, "BLOCKING_STEPS", frozenset({Step.DEFINING}))
    op = approved(world, flavor, image)
    with messages_lost():
        tasks.operation_advance(op.id)  # the batch ends before `defining`; its message is lost
    assert [s for _n, s in step_rows(op)] == [StepStatus.DONE] * 3 + [StepStatus.PENDING] * 2
    assert VirtualMachine.objects.get(pk=op.vm_id).state == VMState.PROVISIONING

    later = timezone.now() + timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
    assert services.reconcile(now=later)["redispatched"] == 1

    vm = VirtualMachine.objects.get(pk=op.vm_id)
    assert vm.state == VMState.RUNNING
    assert [s for _n, s in step_rows(op)] == [StepStatus.DONE] * 5
    assert Operation.objects.get(pk=op.pk).attempts == 1


def test_an_operation_ended_during_a_step_records_nothing_more(
    world, sim_host, flavor, image, monkeypatch
):
    """While a step runs (no lock held), the operation is ended elsewhere (its host declared
    down): the step is not recorded done and the batch does not go on."""
    real = steps.STEP_RUNNERS[Step.CREATING_DISK]

    def disk_then_ended(vm):
        detail = real(vm)
        Operation.objects.filter(vm_id=vm.pk).update(status=OperationStatus.FAILED)
        return detail

    monkeypatch.setitem(steps.STEP_RUNNERS, Step.CREATING_DISK, disk_then_ended)
    op = approved(world, flavor, image)

    assert services.operation_advance(operation_id=op.id, max_steps=10) is False

    assert [s for _n, s in step_rows(op)][:3] == [
        StepStatus.DONE,
        StepStatus.RUNNING,
        StepStatus.PENDING,
    ]
    assert hypervisor.domain_runtime_states(sim_host.uri) == {}  # `defining` never ran


def test_a_redelivery_while_the_batch_runs_does_nothing(
    world, sim_host, flavor, image, monkeypatch
):
    """A second delivery of the message, arriving while a worker runs the batch, finds the
    claim held and leaves the operation to it (it neither runs nor records a step)."""
    real = steps.STEP_RUNNERS[Step.PREPARING_SEED]
    answers = []

    def seed_and_redelivery(vm):
        import threading

        from django.db import connection

        def other_worker():
            answers.append(services.operation_advance(operation_id=op.id, max_steps=10))
            connection.close()

        thread = threading.Thread(target=other_worker)
        thread.start()
        thread.join()
        return real(vm)

    monkeypatch.setitem(steps.STEP_RUNNERS, Step.PREPARING_SEED, seed_and_redelivery)
    op = approved(world, flavor, image)

    assert services.operation_advance(operation_id=op.id, max_steps=10) is False

    assert answers == [False]
    assert [s for _n, s in step_rows(op)] == [StepStatus.DONE] * 5
    assert VirtualMachine.objects.get(pk=op.vm_id).state == VMState.RUNNING
