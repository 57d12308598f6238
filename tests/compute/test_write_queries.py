"""What the write paths cost in SQL statements: an approval is a handful, whatever the VM.

bench/containers.py measures approve -> container running; every statement before the commit
is on that way. These pin the counts and that the fewer statements still do all they did.
"""

from __future__ import annotations

from unittest import mock

import pytest
from rest_framework.test import APIClient

from compute import services
from compute.choices import OperationStatus, StepStatus, VMState
from compute.models import Network, NetworkInterface, Operation, VirtualMachine
from portal.models import AuditEntry, OutboxEvent
from quotas.models import Quota

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def _requested(world, flavor, image, name: str = "web") -> VirtualMachine:
    return services.vm_request_create(
        requested_by=world.member,
        environment=world.production,  # requires approval
        flavor=flavor,
        image=image,
        name=name,
    )


def test_an_approval_is_three_statements_and_answers_as_a_read_would(
    world, sim_host, flavor, image, django_assert_num_queries
):
    vm = _requested(world, flavor, image)
    network = Network.objects.create(name="net", kind="bridge", bridge="br0")
    NetworkInterface.objects.create(vm=vm, network=network, mac="52:54:00:aa:00:09", ip="10.9.0.9")
    quota_before = Quota.objects.get(environment=world.production)
    approver = client_for(world.approver)
    # The VM found in scope with what the approval and its answer need (one query); in the
    # service's transaction (a savepoint here): the transition's UPDATE, which checks the
    # approver's role too, and the event, operation, steps and audit entry in one INSERT. The
    # answer is built from those: no read after the commit.
    with django_assert_num_queries(3 + 2):
        answer = approver.post(f"/api/v1/vms/{vm.pk}/approve/")
    assert answer.status_code == 202, answer.json()
    body = answer.json()
    # The same as reading the VM back (the worker has not run: on_commit does not fire here).
    assert body == approver.get(f"/api/v1/vms/{vm.pk}/").json()
    assert body["state"] == VMState.PROVISIONING
    assert [a["ip"] for a in body["addresses"]] == ["10.9.0.9"]
    op = Operation.objects.get(vm=vm)
    assert (op.kind, op.status, op.requested_by) == (
        "provision",
        OperationStatus.PENDING,
        world.approver,
    )
    assert body["operation"]["id"] == op.pk
    assert [s["name"] for s in body["operation"]["steps"]] == [s.name for s in op.steps.all()]
    assert {s.status for s in op.steps.all()} == {StepStatus.PENDING}
    vm.refresh_from_db()
    assert vm.approved_by == world.approver
    entry = AuditEntry.objects.get(action="vm.approve")
    assert (entry.actor, entry.tenant, entry.object_id) == (world.approver, vm.tenant, str(vm.pk))
    event = OutboxEvent.objects.get(kind="vm.approved")
    assert (event.tenant, event.payload) == (vm.tenant, {"vm_id": vm.pk})
    # The quota was reserved at the request; the approval leaves it as it was.
    assert Quota.objects.get(environment=world.production).vcpus_used == quota_before.vcpus_used


def test_an_approval_publishes_its_event_before_its_task(
    world, sim_host, flavor, image, django_capture_on_commit_callbacks
):
    vm = _requested(world, flavor, image)
    with django_capture_on_commit_callbacks() as callbacks:
        services.vm_approve(vm=vm, approved_by=world.approver)
    published: list[str] = []
    with (
        mock.patch("portal.tasks.event_deliver.delay", lambda pk: published.append("event")),
        mock.patch("compute.tasks.operation_advance.delay", lambda pk: published.append("task")),
    ):
        for callback in callbacks:
            callback()
    # "approved" reaches the requester before "running", even with a quick worker.
    assert published == ["event", "task"]


def test_refused_approvals_say_why_and_change_nothing(world, sim_host, flavor, image):
    vm = _requested(world, flavor, image)
    # Not an approver (the role is checked in the UPDATE; the refusal says so, not a 409).
    assert client_for(world.other_member).post(f"/api/v1/vms/{vm.pk}/approve/").status_code == 403
    # One's own request, even as an approver.
    own = services.vm_request_create(
        requested_by=world.approver,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="own",
    )
    refused = client_for(world.approver).post(f"/api/v1/vms/{own.pk}/approve/")
    assert refused.status_code == 400
    assert "approved_by" in refused.json()
    assert not Operation.objects.exists()
    assert not OutboxEvent.objects.filter(kind="vm.approved").exists()
    # Decided already: a conflict.
    assert client_for(world.approver).post(f"/api/v1/vms/{vm.pk}/approve/").status_code == 202
    again = client_for(world.tenant_admin).post(f"/api/v1/vms/{vm.pk}/approve/")
    assert again.status_code == 409
    assert Operation.objects.filter(vm=vm).count() == 1


def test_a_placement_is_three_statements_and_gives_the_host_as_read(
    world, sim_host, flavor, image, django_assert_num_queries
):
    from compute.services.placement import placement_claim

    vm = _requested(world, flavor, image)
    services.vm_approve(vm=vm, approved_by=world.approver)
    vm = VirtualMachine.objects.select_related("tenant", "environment", "flavor").get(pk=vm.pk)
    # In its transaction (a savepoint here): the candidate hosts' rows locked, what each has
    # allocated (one prepared statement), the VM's host written. The chosen host comes from
    # the locked rows, not read again.
    with django_assert_num_queries(3 + 2):
        host = placement_claim(vm=vm)
    fresh = type(host).objects.get(pk=sim_host.pk)
    assert {f.attname: getattr(host, f.attname) for f in fresh._meta.concrete_fields} == {
        f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields
    }
    assert VirtualMachine.objects.get(pk=vm.pk).host_id == sim_host.pk


def _values(obj) -> dict[str, object] | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _as_read(vm: VirtualMachine | None) -> dict[str, object] | None:
    if vm is None:
        return None
    return {
        "vm": _values(vm),
        **{name: _values(getattr(vm, name)) for name in ("tenant", "environment", "owner", "host")},
        "ports": [(_values(p), _values(p.network)) for p in vm.interfaces.all()],
    }


def test_the_approvals_read_is_the_orms_in_one_statement_and_keeps_the_scope(
    world, other_world, sim_host, flavor, image, django_assert_num_queries
):
    from compute import selectors

    vm = _requested(world, flavor, image)
    VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(host=sim_host)
    for n, name in enumerate(("b-net", "a-net")):
        network = Network.objects.create(name=name, kind="bridge", bridge=f"br{n}")
        NetworkInterface.objects.create(
            vm=vm, network=network, mac=f"52:54:00:aa:00:0{n}", ip=f"10.9.0.{n + 2}"
        )

    def orm(user, pk: int) -> VirtualMachine | None:
        qs = selectors.vm_to_approve(fetched_by=user).filter(pk=pk)
        return next(iter(selectors.ports_read(qs)), None)

    with django_assert_num_queries(1):
        found = selectors.vm_to_approve_one(fetched_by=world.approver, pk=vm.pk)
        seen = _as_read(found)  # its relations and ports came with it
    assert seen == _as_read(orm(world.approver, vm.pk))
    assert seen is not None and seen["host"] is not None and len(seen["ports"]) == 2
    # A platform admin sees it too (through the ORM); other tenants' users, no id and a
    # deleted VM are not found.
    assert _as_read(selectors.vm_to_approve_one(fetched_by=world.platform_admin, pk=vm.pk)) == (
        _as_read(orm(world.platform_admin, vm.pk))
    )
    assert selectors.vm_to_approve_one(fetched_by=other_world.approver, pk=vm.pk) is None
    assert selectors.vm_to_approve_one(fetched_by=world.approver, pk=vm.pk + 1000) is None
    answer = client_for(other_world.approver).post(f"/api/v1/vms/{vm.pk}/approve/")
    assert answer.status_code == 404
    assert client_for(world.approver).post("/api/v1/vms/x1/approve/").status_code == 404
    VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(state=VMState.DELETED)
    assert selectors.vm_to_approve_one(fetched_by=world.approver, pk=vm.pk) is None


def test_a_request_and_its_approval_are_delivered_in_a_handful_of_statements(
    world, sim_host, flavor, image, django_assert_num_queries
):
    # Their deliveries run in the worker beside the provisioning they announce (the request's
    # while it is being approved): each statement fewer is less work competing with it.
    from portal import events
    from portal.models import Notification

    world.tenant_admin.email = "admin@apollo.example"
    world.tenant_admin.save(update_fields=["email"])
    vm = _requested(world, flavor, image)
    requested = OutboxEvent.objects.get(kind="vm.pending_approval")
    OutboxEvent.objects.filter(pk=requested.pk).update(delivered_at=None)
    Notification.objects.all().delete()
    # The attempt counted; the event locked with its tenant; the VM; the approvers (once for
    # the e-mail and the portal); the webhooks; one INSERT per approver; delivered (and the
    # savepoint the test's own transaction makes of the delivery's, its release).
    with django_assert_num_queries(6 + 2 + 2):
        events.deliver(requested.pk)
    notified = set(Notification.objects.values_list("user__username", "url"))
    assert notified == {("apollo-approver", "/approvals/"), ("apollo-tenant_admin", "/approvals/")}
    from django.core import mail

    assert [m.to for m in mail.outbox] == [["admin@apollo.example"]]
    # Delivered again (a redelivered task that found it undelivered): nobody told twice.
    OutboxEvent.objects.filter(pk=requested.pk).update(delivered_at=None)
    events.deliver(requested.pk)
    assert Notification.objects.count() == 2 and len(mail.outbox) == 2

    services.vm_approve(vm=vm, approved_by=world.approver)
    approved = OutboxEvent.objects.get(kind="vm.approved")
    OutboxEvent.objects.filter(pk=approved.pk).update(delivered_at=None)
    with django_assert_num_queries(6 + 2):  # one owner told
        events.deliver(approved.pk)
    assert Notification.objects.filter(user=world.member, url=f"/vms/{vm.pk}/").count() == 1
