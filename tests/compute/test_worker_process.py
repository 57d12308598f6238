"""Provisioning through a real Celery worker process on Redis (simulated hosts)."""

from __future__ import annotations

import pytest

from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from tests.support.worker import celery_worker, wait_for


@pytest.mark.django_db(transaction=True)
def test_worker_process_provisions_on_commit(world, sim_host, flavor, image, tmp_path):
    with celery_worker(tmp_path) as worker:
        vm = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=flavor,
            image=image,
            name="via-redis",
        )
        settled = wait_for(
            lambda: VirtualMachine.objects.filter(
                pk=vm.pk, state__in=[VMState.RUNNING, VMState.ERROR]
            ).first(),
            timeout=60,
            what="VM running",
        )
        assert (settled.state, settled.error_message) == (VMState.RUNNING, ""), worker.log()
