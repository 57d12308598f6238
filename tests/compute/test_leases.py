"""Leases: an environment's default and maximum lifetime, warnings 7 days and 1 day before
(once each), extension (up to the maximum, an approver beyond), expired VMs stopped, then
deleted after a grace period. The lease counts from when it was SET, never from the VM's
creation: a VM years old when a policy arrives gets a full lease from that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from compute import hypervisor, services
from compute.choices import VMState
from compute.models import VirtualMachine
from portal import services as portal_services
from portal.models import AuditEntry, Notification

pytestmark = pytest.mark.usefixtures("run_on_commit")

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def set(self, when: datetime) -> None:
        self.now = when


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c


@pytest.fixture
def owner(world):
    world.member.email = "alice@x.test"
    world.member.save()
    world.approver.email = "bob@x.test"
    world.approver.save()
    return world.member


def request_vm(world, flavor, image, name="web-1") -> VirtualMachine:
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    return vm


def set_policy(world, default: int | None, longest: int | None = None) -> None:
    portal_services.environment_update(
        updated_by=world.tenant_admin,
        environment=world.development,
        lease_default_days=default,
        lease_max_days=longest,
    )
    world.development.refresh_from_db()


def run(clock: Clock, when: datetime):
    clock.set(when)
    return services.leases_run()


def actions(vm: VirtualMachine) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_id=str(vm.pk), action__startswith="vm.lease")
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_an_old_vm_gets_a_full_lease_when_a_policy_arrives_not_an_expiry(
    world, sim_host, flavor, image, clock, owner
):
    """The peer's bug: counting from creation destroyed VMs older than the new lifetime."""
    vm = request_vm(world, flavor, image)
    assert vm.expires_at is None  # no policy yet: no lease
    VirtualMachine.objects.filter(pk=vm.pk).update(created_at=T0 - 400 * DAY)

    clock.set(T0 + timedelta(hours=1))
    set_policy(world, 30, 90)  # applied at once (after the commit), not at the next beat

    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.lease_set_at == T0 + timedelta(hours=1)
    assert vm.expires_at == T0 + timedelta(hours=1) + 30 * DAY
    assert hypervisor.domain_runtime_state(sim_host.uri, str(vm.uuid)) == "running"
    assert AuditEntry.objects.filter(action="environment.lease.applied").count() == 1
    # Run again, and again a day later: nothing stops, nothing is deleted, nothing re-set.
    for when in (T0 + timedelta(hours=1), T0 + DAY):
        result = run(clock, when)
        assert (result.applied, result.stopped, result.deleted) == (0, 0, 0)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.expires_at == T0 + timedelta(hours=1) + 30 * DAY
    assert not [m.subject for m in mail.outbox if "expires" in m.subject]


def test_warnings_once_each_then_stopped_then_deleted_after_the_grace(
    world, sim_host, flavor, image, clock, owner, settings
):
    settings.NUAGE = {**settings.NUAGE, "LEASE_GRACE_DAYS": 7}
    set_policy(world, 30, 90)
    vm = request_vm(world, flavor, image)  # its lease is set by the request, at T0
    assert (vm.lease_set_at, vm.expires_at) == (T0, T0 + 30 * DAY)
    end = T0 + 30 * DAY

    mail.outbox.clear()  # "web-1 is running"
    assert run(clock, end - 7 * DAY - timedelta(minutes=1)).warned == 0
    assert run(clock, end - 7 * DAY + timedelta(minutes=1)).warned == 1
    assert [m.to for m in mail.outbox] == [["alice@x.test"]]
    assert "web-1 expires on" in mail.outbox[0].subject
    assert f"/vms/{vm.pk}/#lease" in mail.outbox[0].body
    note = Notification.objects.get(user=owner, kind__startswith="lease.")
    assert note.kind == "lease.warning_7d" and note.url == f"/vms/{vm.pk}/#lease"
    assert run(clock, end - 6 * DAY).warned == 0  # said once
    assert len(mail.outbox) == 1

    assert run(clock, end - DAY + timedelta(minutes=1)).warned == 1
    assert len(mail.outbox) == 2
    assert Notification.objects.filter(user=owner, kind__startswith="lease.").count() == 2
    assert run(clock, end - timedelta(hours=1)).warned == 0

    result = run(clock, end + timedelta(minutes=1))
    assert result.stopped == 1
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert vm.lease_expired_at == end + timedelta(minutes=1)
    assert hypervisor.domain_runtime_state(sim_host.uri, str(vm.uuid)) == "shutoff"
    assert run(clock, end + timedelta(minutes=2)).stopped == 0  # stopped once
    told = Notification.objects.get(user=owner, kind="lease.expired")
    assert "will be deleted with its disk on" in told.text
    assert mail.outbox[-1].subject == "[Nuage] web-1 was stopped: its lease ended"

    assert run(clock, end + 7 * DAY).deleted == 0  # the grace is not over yet
    assert run(clock, end + 7 * DAY + timedelta(minutes=2)).deleted == 1
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert Notification.objects.filter(user=owner, kind="lease.deleted").count() == 1
    assert run(clock, end + 8 * DAY).deleted == 0
    assert actions(vm) == [
        "vm.lease.warning_7d",
        "vm.lease.warning_1d",
        "vm.lease.expired",
        "vm.lease.delete",
    ]


def test_a_short_lease_sends_only_the_one_day_warning(world, sim_host, flavor, image, clock, owner):
    set_policy(world, 1)
    vm = request_vm(world, flavor, image)
    mail.outbox.clear()  # "web-1 is running"
    assert run(clock, T0 + timedelta(hours=1)).warned == 1
    assert actions(vm) == ["vm.lease.warning_1d"]
    assert len(mail.outbox) == 1


def test_owner_extends_up_to_the_maximum_an_approver_beyond(
    world, sim_host, flavor, image, clock, owner
):
    set_policy(world, 30, 90)
    vm = request_vm(world, flavor, image)
    clock.set(T0 + 10 * DAY)
    services.vm_lease_extend(vm=vm, requested_by=world.member, days=90)
    vm.refresh_from_db()
    assert (vm.lease_set_at, vm.expires_at) == (T0 + 10 * DAY, T0 + 100 * DAY)
    with pytest.raises(ValidationError) as refused:
        services.vm_lease_extend(vm=vm, requested_by=world.member, days=91)
    assert "at most 90 days" in refused.value.message_dict["days"][0]
    assert "ask an approver" in refused.value.message_dict["days"][0]

    told = services.vm_lease_ask(
        vm=vm, requested_by=world.member, days=180, reason="Quarter-end batch runs."
    )
    assert told >= 1
    assert Notification.objects.filter(user=world.approver, kind="lease.extension_asked").exists()
    assert any("asks for a longer lease" in m.subject for m in mail.outbox)

    services.vm_lease_extend(vm=vm, requested_by=world.approver, days=180)
    vm.refresh_from_db()
    assert vm.expires_at == T0 + 190 * DAY
    assert actions(vm) == ["vm.lease.extend", "vm.lease.ask", "vm.lease.extend"]
    with pytest.raises(ValidationError):
        services.vm_lease_extend(vm=vm, requested_by=world.member, days=0)


def test_extending_an_expired_vm_saves_it_from_deletion(
    world, sim_host, flavor, image, clock, owner
):
    set_policy(world, 2)
    vm = request_vm(world, flavor, image)
    run(clock, T0 + 3 * DAY)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED and vm.lease_expired_at is not None
    services.vm_lease_extend(vm=vm, requested_by=world.member, days=2)
    assert run(clock, T0 + 11 * DAY).deleted == 0  # a new lease: expired again, not deleted
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert vm.lease_expired_at == T0 + 11 * DAY


def test_a_vm_started_again_after_expiry_is_stopped_again(
    world, sim_host, flavor, image, clock, owner
):
    set_policy(world, 1)
    vm = request_vm(world, flavor, image)
    run(clock, T0 + 2 * DAY)
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert run(clock, T0 + 2 * DAY + timedelta(hours=1)).stopped == 1
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED


def test_removing_the_policy_removes_the_leases(world, sim_host, flavor, image, clock, owner):
    set_policy(world, 5)
    vm = request_vm(world, flavor, image)
    assert vm.expires_at is not None
    set_policy(world, None)
    vm.refresh_from_db()
    assert (vm.expires_at, vm.lease_set_at) == (None, None)
    assert run(clock, T0 + 30 * DAY).stopped == 0


def test_policy_values_are_checked(world):
    with pytest.raises(ValidationError) as bad:
        set_policy(world, 30, 10)
    assert "lease_max_days" in bad.value.message_dict
    with pytest.raises(ValidationError) as bad:
        set_policy(world, None, 10)
    assert "lease_default_days" in bad.value.message_dict
    with pytest.raises(ValidationError):
        set_policy(world, 0)


def test_a_request_waiting_for_approval_gets_its_lease_when_approved(
    world, sim_host, flavor, image, clock, owner
):
    portal_services.environment_update(
        updated_by=world.platform_admin, environment=world.production, lease_default_days=10
    )
    world.production.refresh_from_db()
    vm = services.vm_request_create(
        requested_by=world.member, environment=world.production, flavor=flavor, image=image,
        name="db-1",
    )  # fmt: skip
    clock.set(T0 + 20 * DAY)  # the approver took their time
    services.vm_approve(vm=vm, approved_by=world.approver)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert (vm.lease_set_at, vm.expires_at) == (T0 + 20 * DAY, T0 + 30 * DAY)
    assert run(clock, T0 + 20 * DAY + timedelta(hours=1)).stopped == 0


def test_a_vm_in_error_when_its_lease_ends_is_deleted_after_the_grace(
    world, sim_host, flavor, image, clock, owner, settings
):
    settings.NUAGE = {**settings.NUAGE, "LEASE_GRACE_DAYS": 7}
    set_policy(world, 2)
    vm = request_vm(world, flavor, image)
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.ERROR, error_message="lost")
    mail.outbox.clear()

    end = T0 + 2 * DAY
    result = run(clock, end + timedelta(minutes=1))
    assert result.stopped == 0  # nothing to stop
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert vm.lease_expired_at == end + timedelta(minutes=1)
    told = Notification.objects.get(user=owner, kind="lease.expired")
    assert "ended while it is in error" in told.text
    assert "was stopped" not in told.text
    assert mail.outbox[-1].subject == "[Nuage] The lease of web-1 ended"

    assert run(clock, end + 7 * DAY).deleted == 0  # the grace is not over yet
    assert run(clock, end + 7 * DAY + timedelta(minutes=2)).deleted == 1
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert actions(vm) == ["vm.lease.expired", "vm.lease.delete"]
