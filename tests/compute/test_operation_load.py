"""The operation a task reads (compute/services/operation_load.py): the same rows as the ORM's
read, with its VM's relations, its snapshot and its steps, in one prepared statement."""

from __future__ import annotations

import pytest
from django.db import models

from compute import services
from compute.models import Operation
from compute.services.operation_load import operation_load, operation_steps
from compute.services.operations import _load_operation_orm
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def values(obj: models.Model | None) -> dict[str, object] | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def same_as_the_orm(op_id: int) -> Operation:
    loaded, orm = operation_load(op_id), _load_operation_orm(op_id, for_update=False)
    assert values(loaded) == values(orm)
    for name in ("tenant", "environment", "flavor", "image", "host"):
        assert values(getattr(loaded.vm, name)) == values(getattr(orm.vm, name)), name
    assert values(loaded.vm) == values(orm.vm)
    assert values(loaded.snapshot) == values(orm.snapshot)
    assert [values(s) for s in operation_steps(loaded)] == [
        values(s) for s in orm.steps.order_by("position")
    ]
    return loaded


def test_a_provisioning_and_a_snapshot_are_read_as_the_orm_reads_them(
    world, sim_host, flavor, image, run_on_commit, django_assert_num_queries
):
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    provision = Operation.objects.unscoped().get(vm=vm, kind="provision")
    with django_assert_num_queries(1):
        loaded = operation_load(provision.pk)
        steps = operation_steps(loaded)
        assert (loaded.vm.host, loaded.vm.tenant.slug, loaded.snapshot) == (
            sim_host,
            "apollo",
            None,
        )
    assert len(steps) > 1 and [s.position for s in steps] == sorted(s.position for s in steps)
    same_as_the_orm(provision.pk)

    snapshot = services.snapshot_create(vm=vm, name="before", requested_by=world.member)
    op = same_as_the_orm(Operation.objects.unscoped().get(snapshot=snapshot).pk)
    assert (op.snapshot.name, op.snapshot.state) == ("before", "ready")


def test_a_vm_without_a_host_and_a_missing_operation(world, flavor, image):
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image
    )
    op = Operation.objects.create(vm=vm, kind="provision")
    loaded = same_as_the_orm(op.pk)
    assert (loaded.vm.host, operation_steps(loaded)) == (None, [])
    with pytest.raises(Operation.DoesNotExist):
        operation_load(op.pk + 1000)
