"""A worker killed in the middle of provisioning: the reconciler finishes the job, nothing doubles.

Recovery goes through compute.services.reconcile(), the path production relies on (Celery beat
runs it every NUAGE_RECONCILE_INTERVAL seconds), with NUAGE_STALE_SECONDS shortened for the test.
Redis redelivery of the unacknowledged message would also work, but only once the broker's
visibility timeout expires; shortening that timeout makes every long step (a 30 s graceful stop)
run twice in parallel, and the timing of kombu's restore loop is not ours to pin down in a test.
The reconciler is deterministic here: the test calls it until it has re-dispatched.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator

import pytest

from compute import services
from compute.choices import OperationStatus, StepStatus, VMState
from compute.models import OperationStep, VirtualMachine
from portal.celery import app as celery_app
from tests.integration.conftest import BOOT_TIMEOUT, Guests
from tests.support.worker import Worker, celery_worker, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

STEP_DELAY = "1"  # seconds each step shows as running before it runs: long enough to kill in


def _steps(vm: VirtualMachine) -> dict[str, str]:
    return dict(OperationStep.objects.filter(operation__vm=vm).values_list("name", "status"))


def _forget_unacked(queue: str) -> int:
    """Drop the killed worker's unacknowledged message from Redis.

    kombu would restore it after the visibility timeout (15 min) into a queue that no longer
    exists; the reconciler has already done its job.
    """
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        client = channel.client
        tags = [
            tag
            for tag, raw in client.hgetall(channel.unacked_key).items()
            if json.loads(raw)[2] == queue  # [message, exchange, routing_key]
        ]
        if tags:
            client.hdel(channel.unacked_key, *tags)
            client.zrem(channel.unacked_index_key, *tags)
    return len(tags)


@pytest.fixture
def killed_queues() -> Iterator[list[str]]:
    """Queues whose worker the test killed; their unacked messages are dropped afterwards."""
    queues: list[str] = []
    yield queues
    for queue in queues:
        _forget_unacked(queue)


def test_worker_killed_while_defining_recovers_with_one_domain_one_disk_and_one_seed(
    world, flavor, qemu_host, tiny_image, guests: Guests, tmp_path, settings, killed_queues
):
    with celery_worker(
        tmp_path, extra_env={"NUAGE_STEP_DELAY_SECONDS": STEP_DELAY}, pool="prefork", concurrency=1
    ) as first:
        killed_queues.append(first.queue)
        vm = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,  # no approval: provisioning starts at once
            flavor=flavor,
            image=tiny_image,
            name="it-crash",
        )
        prefix = f"nuage-{vm.uuid.hex[:8]}-"
        wait_for(
            lambda: (
                _steps(vm).get("creating_disk") == StepStatus.DONE
                and _steps(vm).get("defining") == StepStatus.RUNNING
            ),
            timeout=60,
            interval=0.05,
            what="the defining step in progress",
        )
        first.kill(signal.SIGKILL)  # parent and pool child at once: a crash, not a shutdown

        op = vm.operations.get()
        assert op.status == OperationStatus.RUNNING
        assert _steps(vm)["defining"] == StepStatus.RUNNING
        # The first worker made the disk and the seed.
        assert guests.volumes(prefix) == sorted([vm.volume_name, vm.seed_volume_name])

        second = Worker(
            queue=first.queue,
            env={**first.env, "NUAGE_STEP_DELAY_SECONDS": "0"},
            log_path=tmp_path / "second-worker.log",
            pool="prefork",
            concurrency=1,
        )
        second.start()
        try:
            settings.NUAGE = {**settings.NUAGE, "STALE_SECONDS": 2}
            wait_for(
                lambda: services.reconcile()["redispatched"],
                timeout=30,
                interval=0.5,
                what="the reconciler to re-dispatch the stalled operation",
            )
            settled = wait_for(
                lambda: VirtualMachine.objects.filter(
                    pk=vm.pk, state__in=[VMState.RUNNING, VMState.ERROR]
                ).first(),
                timeout=BOOT_TIMEOUT,
                what="VM running after recovery",
            )
            assert (settled.state, settled.error_message) == (VMState.RUNNING, ""), second.log()
            guests.wait_booted(vm.domain_name)
        finally:
            second.kill(signal.SIGTERM)

    op.refresh_from_db()
    assert (op.status, op.attempts) == (OperationStatus.SUCCEEDED, 1)
    assert set(_steps(vm).values()) == {StepStatus.DONE}
    assert guests.domains(prefix) == [vm.domain_name]
    assert guests.volumes(prefix) == sorted([vm.volume_name, vm.seed_volume_name])
    assert guests.dominfo(vm.domain_name)["State"] == "running"
