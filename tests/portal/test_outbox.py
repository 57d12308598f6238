"""The event outbox: an event is a row of the change's own transaction, delivered once after
the commit; what a lost task or a failed e-mail left behind is sent by the periodic sweep."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from portal import events, notifications
from portal.models import OutboxEvent
from portal.tasks import webhook_redeliver
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.usefixtures("run_on_commit")


@pytest.fixture
def vm(world):
    world.member.email = "m@x.test"
    world.member.save()
    return VirtualMachineFactory(environment=world.development, owner=world.member, name="web-1")


def test_an_event_of_a_rolled_back_change_is_never_sent(vm):
    with pytest.raises(RuntimeError), transaction.atomic():
        notifications.emit("vm.running", vm=vm)
        raise RuntimeError("the change fails after announcing itself")
    assert not OutboxEvent.objects.exists()
    assert mail.outbox == []


def test_an_event_is_delivered_once_after_the_commit(vm):
    with transaction.atomic():
        event = events.emit("vm.running", tenant=vm.tenant, payload={"vm_id": vm.pk})
        assert mail.outbox == []  # nothing leaves before the commit
    assert [m.subject for m in mail.outbox] == ["[Nuage] web-1 is running"]
    event.refresh_from_db()
    assert event.delivered_at is not None and event.attempts == 1
    events.deliver(event.pk)  # a redelivered task
    assert len(mail.outbox) == 1


def test_the_sweep_sends_what_a_lost_task_left_behind(vm):
    with mock.patch("portal.tasks.event_deliver.delay"):  # the broker lost the message
        event = events.emit("vm.running", tenant=vm.tenant, payload={"vm_id": vm.pk})
    assert webhook_redeliver() == 0  # too recent: its task may still come
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert webhook_redeliver() == 1
    assert [m.subject for m in mail.outbox] == ["[Nuage] web-1 is running"]
    assert webhook_redeliver() == 0


def test_a_failed_email_is_kept_and_tried_again(vm):
    with mock.patch("portal.delivery.mail.send_mail", side_effect=OSError("SMTP down")):
        with pytest.raises(OSError):
            events.emit("vm.running", tenant=vm.tenant, payload={"vm_id": vm.pk})
    event = OutboxEvent.objects.get()
    assert (event.delivered_at, event.attempts, event.last_error) == (None, 1, "SMTP down")
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(hours=1))
    assert webhook_redeliver() == 1
    event.refresh_from_db()
    assert event.delivered_at is not None and event.last_error == ""
    assert [m.subject for m in mail.outbox] == ["[Nuage] web-1 is running"]


def test_an_unknown_kind_is_refused(world):
    with pytest.raises(ValueError, match="Unknown event kind"):
        events.emit("vm.exploded", tenant=world.tenant, payload={})


def test_webhooks_subscribe_to_vm_and_budget_events_only():
    assert events.webhook_kinds() == (
        "vm.pending_approval",
        "vm.approved",
        "vm.rejected",
        "vm.running",
        "vm.error",
        "budget.threshold",
    )
