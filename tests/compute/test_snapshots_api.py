"""/api/v1/vms/{id}/snapshots/ as a script uses it: take, list, revert, delete, and refusals."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from compute import services
from compute.choices import VMState
from compute.models import Operation, Snapshot, VirtualMachine
from portal.models import AuditEntry
from quotas.models import Quota
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def _vm(world, host, flavor, image, *, state: str = VMState.RUNNING, **fields) -> VirtualMachine:
    """A VM of the world's member in its development environment, placed on `host`."""
    return VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=flavor,
        image=image,
        host=host,
        state=state,
        **fields,
    )


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_snapshots_through_the_api(world, sim_host, flavor, image, run_on_commit):
    member = client_for(world.member)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    url = f"/api/v1/vms/{vm.pk}/snapshots/"
    assert member.get(url).json() == []

    created = member.post(url, {"name": "before-upgrade"}, format="json")
    assert created.status_code == 202, created.json()
    body = created.json()
    assert (body["name"], body["with_memory"], body["vm"], body["vm_name"]) == (
        "before-upgrade",
        True,
        vm.pk,
        "web-1",
    )
    sid = body["id"]
    listed = member.get(url).json()
    assert [(s["id"], s["state"], s["size_gib"]) for s in listed] == [(sid, "ready", 1)]

    duplicate = member.post(url, {"name": "before-upgrade"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    wrong = member.post(url, {"name": "disk", "with_memory": False}, format="json")
    assert wrong.status_code == 400 and "with_memory" in wrong.json()

    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    reverted = member.post(f"{url}{sid}/revert/")
    assert reverted.status_code == 202, reverted.json()
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING  # the snapshot was taken running, with its memory

    assert member.post(f"{url}99999/revert/").status_code == 404
    assert member.delete(f"{url}99999/").status_code == 404

    deleted = member.delete(f"{url}{sid}/")
    assert deleted.status_code == 202, deleted.json()
    assert member.get(url).json() == []
    assert member.post(f"{url}{sid}/revert/").status_code == 404  # deleted: missing


def test_taking_and_reverting_a_snapshot_are_a_handful_of_statements(
    world, sim_host, flavor, image, django_assert_num_queries
):
    vm = _vm(world, sim_host, flavor, image)
    member = client_for(world.member)
    url = f"/api/v1/vms/{vm.pk}/snapshots/"
    # The VM found in scope, then in the service's transaction (a savepoint here): the VM's row
    # locked with the checks' answers (role, busy, export, name), the quota taken, and the
    # snapshot, its operation, the step and the audit entry inserted in one statement.
    with django_assert_num_queries(6):
        taken = member.post(url, {"name": "before"}, format="json")
    assert taken.status_code == 202, taken.json()
    snapshot = Snapshot.objects.get(pk=taken.json()["id"])
    assert (snapshot.state, snapshot.with_memory, snapshot.created_by) == (
        "creating",
        True,
        world.member,
    )
    op = Operation.objects.get(snapshot=snapshot)
    assert (op.kind, op.status, op.vm_id, op.requested_by) == (
        "snapshot_create",
        "pending",
        vm.pk,
        world.member,
    )
    assert [s.name for s in op.steps.all()] == ["taking_snapshot"]
    entry = AuditEntry.objects.get(action="vm.snapshot.create")
    assert (entry.actor, entry.tenant, entry.object_id) == (world.member, vm.tenant, str(vm.pk))
    assert entry.changes == {"snapshot": "before", "with_memory": True, "scheduled": False}
    assert Quota.objects.get(environment=world.development).snapshots_used == 1

    # Busy while its operation runs; once it has ended, a revert: the snapshot found, its move.
    assert member.post(url, {"name": "again"}, format="json").status_code == 409
    Operation.objects.filter(pk=op.pk).update(status="succeeded")
    Snapshot.objects.filter(pk=snapshot.pk).update(state="ready")
    with django_assert_num_queries(7):
        reverted = member.post(f"{url}{snapshot.pk}/revert/")
    assert reverted.status_code == 202, reverted.json()
    assert Operation.objects.get(snapshot=snapshot, kind="snapshot_revert").status == "pending"
    assert AuditEntry.objects.filter(action="vm.snapshot.revert").count() == 1


def test_a_vm_in_transition_is_a_409(world, sim_host, flavor, image):
    vm = _vm(world, sim_host, flavor, image, state=VMState.STARTING)
    answer = client_for(world.member).post(
        f"/api/v1/vms/{vm.pk}/snapshots/", {"name": "now"}, format="json"
    )
    assert answer.status_code == 409
    assert not Snapshot.objects.unscoped().exists()


def test_another_tenants_vm_and_snapshots_are_unknown(world, other_world, sim_host, flavor, image):
    theirs = _vm(other_world, sim_host, flavor, image)
    snapshot = Snapshot.objects.create(vm=theirs, name="theirs", state="ready")
    member = client_for(world.member)
    base = f"/api/v1/vms/{theirs.pk}/snapshots/"
    assert member.get(base).status_code == 404
    assert member.post(base, {"name": "mine"}, format="json").status_code == 404
    assert member.post(f"{base}{snapshot.pk}/revert/").status_code == 404
    assert member.delete(f"{base}{snapshot.pk}/").status_code == 404
    # Their snapshot under one of our own VMs is just as unknown.
    ours = _vm(world, sim_host, flavor, image)
    own = f"/api/v1/vms/{ours.pk}/snapshots/{snapshot.pk}/"
    assert member.post(f"{own}revert/").status_code == 404
    assert member.delete(own).status_code == 404
    snapshot.refresh_from_db()
    assert snapshot.state == "ready"
    assert VirtualMachine.objects.get(pk=theirs.pk).state == VMState.RUNNING


def test_snapshot_schedule_through_the_api(world, sim_host, flavor, image, run_on_commit):
    from datetime import datetime, timedelta

    from portal.models import AuditEntry

    member = client_for(world.member)
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    url = f"/api/v1/vms/{vm.pk}/snapshot-schedule/"
    assert member.get(url).status_code == 404  # none yet
    assert member.delete(url).status_code == 404

    for body, field in (
        ({"frequency": "hourly", "retention": 3}, "frequency"),
        ({"frequency": "daily", "retention": 0}, "retention"),
        ({"frequency": "daily", "retention": 51}, "retention"),
        ({"frequency": "daily", "retention": "many"}, "retention"),
        ({"retention": 3}, "frequency"),
        ({"frequency": "daily", "retention": 3, "enabled": "perhaps"}, "enabled"),
    ):
        refused = member.put(url, body, format="json")
        assert refused.status_code == 400 and field in refused.json(), (body, refused.json())
    assert member.get(url).status_code == 404  # nothing written

    saved = member.put(url, {"frequency": "daily", "retention": 2}, format="json")
    assert saved.status_code == 200, saved.json()
    body = saved.json()
    assert (body["vm"], body["frequency"], body["retention"], body["enabled"]) == (
        vm.pk,
        "daily",
        2,
        True,
    )
    assert (body["last_run_at"], body["next_run_at"]) == (None, None)  # due at the next run
    # Only who may operate the VM changes its schedule; the tenant's approver reads it.
    approver = client_for(world.approver)
    assert approver.get(url).json()["retention"] == 2
    assert approver.put(url, {"frequency": "weekly", "retention": 9}).status_code == 403
    assert approver.delete(url).status_code == 403

    assert services.snapshot_schedules_run() == {"taken": 1}
    body = member.get(url).json()
    taken = datetime.fromisoformat(body["last_run_at"])
    assert datetime.fromisoformat(body["next_run_at"]) == taken + timedelta(days=1)
    assert [s["name"] for s in member.get(f"/api/v1/vms/{vm.pk}/snapshots/").json()] == [
        f"auto-{taken:%Y%m%d-%H%M%S}"
    ]

    weekly = member.put(url, {"frequency": "weekly", "retention": 3, "enabled": False})
    assert weekly.status_code == 200
    assert (weekly.json()["frequency"], weekly.json()["enabled"]) == ("weekly", False)
    assert weekly.json()["next_run_at"] is None  # off

    assert member.delete(url).status_code == 204
    assert member.get(url).status_code == 404
    assert len(member.get(f"/api/v1/vms/{vm.pk}/snapshots/").json()) == 1  # taken ones stay
    assert list(
        AuditEntry.objects.filter(action__startswith="vm.snapshot_schedule")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["vm.snapshot_schedule.set", "vm.snapshot_schedule.set", "vm.snapshot_schedule.remove"]


def test_the_vm_of_a_snapshot_action_is_found_as_the_orm_finds_it_and_keeps_the_scope(
    world, other_world, sim_host, flavor, image, django_assert_num_queries
):
    from compute import selectors

    vm = _vm(world, sim_host, flavor, image)

    def values(found: VirtualMachine | None) -> tuple[dict[str, object], dict[str, object]] | None:
        if found is None:
            return None
        return tuple(  # type: ignore[return-value]
            {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}
            for obj in (found, found.tenant)
        )

    def orm(user) -> VirtualMachine | None:
        return selectors.vm_scope(fetched_by=user).filter(pk=vm.pk).first()

    with django_assert_num_queries(1):  # the VM with its tenant, in one prepared statement
        seen = values(selectors.vm_scope_one(fetched_by=world.member, pk=vm.pk))
    assert seen is not None and seen == values(orm(world.member))
    assert seen[1]["slug"] == world.tenant.slug
    # A platform admin finds it too (through the ORM); another tenant's member, an unknown id
    # and a deleted VM are not found; and a user made inactive no longer finds it.
    admin = selectors.vm_scope_one(fetched_by=world.platform_admin, pk=vm.pk)
    assert values(admin) == values(orm(world.platform_admin)) == seen
    assert selectors.vm_scope_one(fetched_by=other_world.member, pk=vm.pk) is None
    assert selectors.vm_scope_one(fetched_by=world.member, pk=vm.pk + 1000) is None
    assert client_for(world.member).post("/api/v1/vms/x1/snapshots/").status_code == 404
    world.other_member.is_active = False
    world.other_member.save(update_fields=["is_active"])
    assert selectors.vm_scope_one(fetched_by=world.other_member, pk=vm.pk) is None
    VirtualMachine.objects.unscoped().filter(pk=vm.pk).update(state=VMState.DELETED)
    assert selectors.vm_scope_one(fetched_by=world.member, pk=vm.pk) is None


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris"])
def test_a_snapshot_action_answers_what_the_serializer_gives(world, sim_host, flavor, image, zone):
    from datetime import UTC, datetime

    from django.utils import timezone

    from compute.api.serializers import SnapshotSerializer, snapshot_row

    vm = _vm(world, sim_host, flavor, image, name="db-1")
    cases = [
        Snapshot(vm=vm, name="new", with_memory=True),  # as the request leaves it: no size
        Snapshot(vm=vm, name="ready", state="ready", size_bytes=(3 << 30) + 1, scheduled=True),
        Snapshot(vm=vm, name="broken", state="error", error_message='Host said "no" é ✓'),
    ]
    for snapshot in cases:
        snapshot.save()
    cases[1].state_changed_at = datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)  # no microseconds
    with timezone.override(zone):
        for snapshot in cases:
            snapshot.vm = vm
            assert snapshot_row(snapshot) == SnapshotSerializer(snapshot).data
    assert snapshot_row(cases[1])["size_gib"] == 4
