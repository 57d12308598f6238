"""Random sequences of VM lifecycle events and limit changes: the counters never drift.

After every step the counters equal a recount from the VMs, and use stays within the limit
unless a platform admin lowered the limit below it, in which case no new request succeeds
until use falls.
"""

from __future__ import annotations

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from compute import services
from compute.choices import OperationStatus, VMState
from compute.models import Operation, VirtualMachine
from quotas import services as quota_services
from quotas.choices import RESOURCES
from quotas.models import Quota
from tests.factories import FlavorFactory

pytestmark = pytest.mark.django_db

LIMITS = {"vcpus": 6, "ram_mib": 4096, "disk_gib": 40, "vms": 4, "snapshots": 0}


def test_counters_always_equal_a_recount(world, sim_host, image):
    flavors = [
        FlavorFactory(name="q-small", vcpus=1, ram_mib=512, disk_gib=5),
        FlavorFactory(name="q-medium", vcpus=2, ram_mib=1024, disk_gib=10),
        FlavorFactory(name="q-large", vcpus=4, ram_mib=2048, disk_gib=20),
    ]
    envs = [world.development, world.production]
    names = itertools.count()

    class QuotaMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            # Each example starts from the same database: undone in teardown.
            self.savepoint = transaction.savepoint()
            Quota.objects.filter(environment__in=envs).update(
                **{f"{r}_limit": n for r, n in LIMITS.items()}
            )
            # Environments whose limit was lowered below their use, and not yet back under it.
            self.lowered: set[int] = set()

        def teardown(self) -> None:
            transaction.savepoint_rollback(self.savepoint)

        def _vms(self, *states: str) -> list[VirtualMachine]:
            return list(
                VirtualMachine.objects.filter(environment__in=envs, state__in=states).order_by("pk")
            )

        def _active(self) -> list[Operation]:
            return list(
                Operation.objects.filter(
                    vm__environment__in=envs,
                    status__in=[OperationStatus.PENDING, OperationStatus.RUNNING],
                ).order_by("pk")
            )

        @rule(env=st.sampled_from(envs), flavor=st.sampled_from(flavors))
        def request(self, env, flavor) -> None:
            quota = Quota.objects.get(environment=env)
            amounts = quota_services.flavor_amounts(flavor)
            fits = all(
                quota.used(r) + quota.reserved(r) + n <= quota.limit(r) for r, n in amounts.items()
            )
            try:
                services.vm_request_create(
                    requested_by=world.member,
                    environment=env,
                    flavor=flavor,
                    image=image,
                    name=f"h-{next(names)}",
                )
            except ValidationError as exc:
                assert not fits, exc.message_dict
                assert "Quota exceeded" in " ".join(exc.message_dict["flavor"])
            else:
                assert fits, "a request over the quota was accepted"

        @rule(data=st.data())
        def approve(self, data) -> None:
            pending = self._vms(VMState.PENDING_APPROVAL)
            if pending:
                vm = data.draw(st.sampled_from(pending))
                services.vm_approve(vm=vm, approved_by=world.approver)

        @rule(data=st.data())
        def reject(self, data) -> None:
            pending = self._vms(VMState.PENDING_APPROVAL)
            if pending:
                vm = data.draw(st.sampled_from(pending))
                services.vm_reject(vm=vm, rejected_by=world.approver, reason="random")

        @rule(data=st.data())
        def finish_operation(self, data) -> None:
            active = self._active()
            if active:
                op = data.draw(st.sampled_from(active))
                for _ in range(10):
                    if not services.operation_advance(operation_id=op.pk):
                        break
                services.operation_advance(operation_id=op.pk)

        @rule(data=st.data())
        def fail_operation(self, data) -> None:
            active = self._active()
            if active:
                op = data.draw(st.sampled_from(active))
                services.operation_fail(operation_id=op.pk, reason="forced failure")

        @rule(data=st.data())
        def delete(self, data) -> None:
            vms = self._vms(
                VMState.PENDING_APPROVAL,
                VMState.REJECTED,
                VMState.RUNNING,
                VMState.STOPPED,
                VMState.ERROR,
            )
            if vms:
                vm = data.draw(st.sampled_from(vms))
                services.vm_action(vm=vm, action="delete", requested_by=world.member)

        @rule(
            env=st.sampled_from(envs),
            resource=st.sampled_from(["vcpus", "ram_mib", "vms"]),
            factor=st.integers(min_value=0, max_value=8),
        )
        def change_limit(self, env, resource, factor) -> None:
            unit = {"vcpus": 1, "ram_mib": 512, "vms": 1}[resource]
            quota = quota_services.quota_update(
                updated_by=world.platform_admin,
                quota=Quota.objects.get(environment=env),
                limits={resource: factor * unit},
            )
            if quota.used(resource) + quota.reserved(resource) > quota.limit(resource):
                self.lowered.add(env.pk)

        @invariant()
        def counters_equal_recount_and_stay_within_limits(self) -> None:
            assert quota_services.quota_drift_check() == []
            for quota in Quota.objects.filter(environment__in=envs):
                over = [r for r in RESOURCES if quota.used(r) + quota.reserved(r) > quota.limit(r)]
                if over:
                    assert quota.environment_id in self.lowered, (quota, over)
                else:
                    self.lowered.discard(quota.environment_id)

    run_state_machine_as_test(
        QuotaMachine,
        settings=settings(
            max_examples=10,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
