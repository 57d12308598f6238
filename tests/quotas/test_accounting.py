"""Quota accounting through the VM lifecycle: reserve, charge, release, limits and drift."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compute import services
from compute.choices import OperationStatus, VMState
from compute.models import VirtualMachine
from quotas import services as quota_services
from quotas.models import Allocation, Quota
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory

pytestmark = pytest.mark.django_db


def request_vm(world: TenantWorld, flavor, image, *, env=None, name="web-1", user=None):
    return services.vm_request_create(
        requested_by=user or world.member,
        environment=env or world.production,
        flavor=flavor,
        image=image,
        name=name,
    )


def counters(env) -> dict[str, tuple[int, int]]:
    q = Quota.objects.get(environment=env)
    return {r: (q.used(r), q.reserved(r)) for r in ("vcpus", "ram_mib", "disk_gib", "vms")}


def set_limits(world: TenantWorld, env, **limits) -> Quota:
    return quota_services.quota_update(
        updated_by=world.platform_admin, quota=Quota.objects.get(environment=env), limits=limits
    )


def test_new_environments_get_the_platform_defaults(world):
    quota_services.quota_defaults_update(
        updated_by=world.platform_admin, limits={"vcpus": 12, "vms": 3}
    )
    from portal.services import tenant_create

    tenant = tenant_create(created_by=world.platform_admin, name="Nova", slug="nova")
    for env in tenant.environments.all():
        assert (env.quota.vcpus_limit, env.quota.vms_limit) == (12, 3)
    # Existing environments keep their limits.
    assert world.production.quota.vcpus_limit == 64


def test_request_reserves_at_submission_and_rejection_releases(world, sim_host, image):
    flavor = FlavorFactory(vcpus=2, ram_mib=1024, disk_gib=10)
    vm = request_vm(world, flavor, image)
    assert vm.state == VMState.PENDING_APPROVAL
    assert counters(world.production) == {
        "vcpus": (0, 2),
        "ram_mib": (0, 1024),
        "disk_gib": (0, 10),
        "vms": (0, 1),
    }
    services.vm_reject(vm=vm, rejected_by=world.approver, reason="Not now")
    assert set(counters(world.production).values()) == {(0, 0)}
    # Deleting the rejected request afterwards does not release a second time.
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    assert set(counters(world.production).values()) == {(0, 0)}
    assert quota_services.quota_drift_check() == []


def test_provisioning_moves_reservation_to_use_and_deletion_frees_it(
    world, sim_host, flavor, image, run_on_commit
):
    vm = request_vm(world, flavor, image, env=world.development)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert counters(world.development)["vcpus"] == (1, 0)
    assert counters(world.development)["vms"] == (1, 0)
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert set(counters(world.development).values()) == {(0, 0)}
    assert Allocation.objects.get(vm=vm).status == "released"
    assert quota_services.quota_drift_check() == []


def test_provisioning_failure_releases_the_reservation_once(world, sim_host, flavor, image):
    vm = request_vm(world, flavor, image)
    op = services.vm_approve(vm=vm, approved_by=world.approver)
    assert counters(world.production)["vcpus"] == (0, 1)
    services.operation_fail(operation_id=op.pk, reason="Host on fire.")
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert set(counters(world.production).values()) == {(0, 0)}
    # The error VM is deleted later: nothing more to release, counters do not go negative.
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    delete_op = vm.operations.filter(status=OperationStatus.PENDING).get()
    while services.operation_advance(operation_id=delete_op.pk):
        pass
    services.operation_advance(operation_id=delete_op.pk)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert set(counters(world.production).values()) == {(0, 0)}
    assert quota_services.quota_drift_check() == []


def test_releasing_twice_does_not_release_twice(world, sim_host, image):
    flavor = FlavorFactory(vcpus=2)
    first = request_vm(world, flavor, image, name="a")
    request_vm(world, flavor, image, name="b")
    quota_services.quota_release(vm=first)
    quota_services.quota_release(vm=first)
    assert counters(world.production)["vcpus"] == (0, 2)


def test_over_quota_is_refused_naming_resource_asked_and_left(world, sim_host, image):
    set_limits(world, world.production, vcpus=8)
    flavor = FlavorFactory(vcpus=3)
    request_vm(world, flavor, image, name="a")
    request_vm(world, flavor, image, name="b")
    with pytest.raises(ValidationError) as exc:
        request_vm(world, flavor, image, name="c")
    assert exc.value.message_dict["flavor"] == [
        "Quota exceeded for vCPUs in production: asked 3, 2 left of 8."
    ]
    assert not VirtualMachine.objects.filter(name="c").exists()
    assert counters(world.production)["vcpus"] == (0, 6)


def test_zero_limit_blocks_and_every_exceeded_resource_is_named(world, sim_host, image):
    set_limits(world, world.production, vms=0, ram_mib=100)
    with pytest.raises(ValidationError) as exc:
        request_vm(world, FlavorFactory(ram_mib=512), image)
    messages = exc.value.message_dict["flavor"]
    assert "Quota exceeded for RAM (MiB) in production: asked 512, 100 left of 100." in messages
    assert "Quota exceeded for VMs in production: asked 1, 0 left of 0." in messages


def test_lowering_a_limit_below_use_blocks_new_requests_until_use_falls(
    world, sim_host, flavor, image
):
    vms = [request_vm(world, flavor, image, name=f"vm-{i}") for i in range(3)]
    quota = set_limits(world, world.production, vms=1)
    assert (quota.vms_limit, quota.vms_reserved) == (1, 3)
    with pytest.raises(ValidationError, match="asked 1, 0 left of 1"):
        request_vm(world, flavor, image, name="more")
    for vm in vms:
        services.vm_reject(vm=vm, rejected_by=world.approver, reason="Limit lowered")
    request_vm(world, flavor, image, name="more")
    assert counters(world.production)["vms"] == (0, 1)


@pytest.mark.parametrize(
    ("limits", "field", "message"),
    [
        ({"vcpus": -1}, "vcpus", "cannot be negative"),
        ({"vcpus": 10**7}, "vcpus", "above 1000000"),
        ({"cpu": 4}, "cpu", "Unknown resource"),
        ({"vms": "many"}, "vms", "whole number"),
    ],
)
def test_bad_limits_are_refused(world, limits, field, message):
    with pytest.raises(ValidationError) as exc:
        set_limits(world, world.production, **limits)
    assert message in " ".join(exc.value.message_dict[field])


def test_only_platform_admins_set_limits(world):
    for user in (world.member, world.tenant_admin, world.finance):
        with pytest.raises(PermissionDenied):
            quota_services.quota_update(
                updated_by=user, quota=world.production.quota, limits={"vcpus": 1000}
            )
        with pytest.raises(PermissionDenied):
            quota_services.quota_defaults_update(updated_by=user, limits={"vcpus": 1000})


def test_limit_changes_are_audited(world):
    from portal.models import AuditEntry

    set_limits(world, world.production, vcpus=10)
    entry = AuditEntry.objects.get(action="quota.update")
    assert entry.actor == world.platform_admin
    assert entry.tenant == world.tenant
    assert entry.changes == {"vcpus": [64, 10]}


def test_drift_is_reported_as_an_error_with_details(world, sim_host, flavor, image, caplog):
    request_vm(world, flavor, image)
    assert quota_services.quota_drift_check() == []
    Quota.objects.filter(environment=world.production).update(vcpus_reserved=5)
    with caplog.at_level(logging.ERROR, logger="quotas.services"):
        drifts = quota_services.quota_drift_check()
    assert [(d.environment, d.resource, d.counter, d.recorded, d.counted) for d in drifts] == [
        ("production", "vcpus", "reserved", 5, 1)
    ]
    assert "apollo/production: vcpus reserved is 5 in the counters but 1 by recount" in caplog.text


def test_drift_check_runs_in_beat():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULE["quota-drift"]["task"] == "quotas.drift_check"
