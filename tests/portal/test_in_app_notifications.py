"""In-app notifications (the bell): approvers hear of a request, the requester of its decision
and of the run's result, each user sees and marks only their own, and `notify()` with a key
adds one notification however often it is called."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from compute import services as compute
from compute.models import VirtualMachine
from portal.models import Notification
from portal.notifications import notify
from tests.factories import ImageFactory

pytestmark = pytest.mark.usefixtures("run_on_commit")


def texts(user) -> list[str]:
    return list(
        Notification.objects.filter(user=user).order_by("id").values_list("text", flat=True)
    )


def test_approver_then_requester_get_notifications_without_an_email_address(
    world, sim_host, flavor, image
):
    assert not world.approver.email and not world.member.email
    vm = compute.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    assert texts(world.approver) == [
        f"apollo-member asks for web-1 in Apollo/production ({flavor.name})."
    ]
    assert Notification.objects.get(user=world.approver).url == "/approvals/"
    assert texts(world.member) == []  # one's own request needs no approval from oneself
    compute.vm_approve(vm=vm, approved_by=world.approver)
    assert texts(world.member) == [
        "web-1 in Apollo/production was approved; it is being built.",
        "web-1 in Apollo/production is running.",
    ]
    assert set(Notification.objects.filter(user=world.member).values_list("url", flat=True)) == {
        f"/vms/{vm.pk}/"
    }

    other = compute.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="web-2",
    )
    compute.vm_reject(vm=other, rejected_by=world.approver, reason="Too big for prod")
    assert texts(world.member)[-1] == "web-2 was rejected. Reason: Too big for prod"


def test_bell_shows_the_unread_count_and_the_page_marks_read(world):
    for i in range(3):
        notify(user=world.member, kind="test", text=f"Note {i}", url="/costs/")
    notify(user=world.approver, kind="test", text="Not yours")
    client = Client()
    client.force_login(world.member)
    page = client.get("/notifications/").content.decode()
    assert 'data-unread="3"' in page and "Note 2" in page and "Not yours" not in page

    first = Notification.objects.get(user=world.member, text="Note 0")
    answer = client.post("/notifications/", {"notification": first.pk, "do": "open"})
    assert answer.status_code == 302 and answer["Location"] == "/costs/"
    assert 'data-unread="2"' in client.get("/notifications/").content.decode()

    theirs = Notification.objects.get(user=world.approver)
    assert (
        client.post("/notifications/", {"notification": theirs.pk, "do": "read"}).status_code == 404
    )
    client.post("/notifications/", {"do": "read-all"})
    assert 'data-unread="0"' in client.get("/notifications/").content.decode()
    assert Notification.objects.get(user=world.approver).read_at is None


def test_api_lists_marks_read_and_hides_other_users_notifications(world):
    mine = notify(user=world.member, kind="test", text="Hello")
    notify(user=world.member, kind="test", text="Again")
    theirs = notify(user=world.approver, kind="test", text="Secret")
    api = APIClient()
    api.force_authenticate(world.member)
    assert api.get("/api/v1/notifications/unread-count/").json() == {"unread": 2}
    listed = api.get("/api/v1/notifications/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert [r["text"] for r in rows] == ["Again", "Hello"]
    answer = api.post(f"/api/v1/notifications/{mine.pk}/read/")
    assert answer.status_code == 200 and answer.json()["read"] is True
    unread = api.get("/api/v1/notifications/?unread=1").json()
    assert [r["text"] for r in (unread["results"] if isinstance(unread, dict) else unread)] == [
        "Again"
    ]
    assert api.post(f"/api/v1/notifications/{theirs.pk}/read/").status_code == 404
    assert api.get(f"/api/v1/notifications/{theirs.pk}/").status_code == 404
    assert api.post("/api/v1/notifications/read-all/").json() == {"marked": 1}


def test_notify_with_a_key_adds_one_notification_and_renders_in_the_language(world, settings):
    settings.LANGUAGE_CODE = "fr"
    from django.utils.translation import gettext as _

    first = notify(
        user=world.member, kind="lease.warning", text=lambda: _("Notifications"), key="k1"
    )
    again = notify(user=world.member, kind="lease.warning", text="other", key="k1")
    assert first.pk == again.pk and Notification.objects.filter(user=world.member).count() == 1
    assert first.text == "Notifications"  # the French catalogue has the same word


def test_failed_provisioning_tells_the_owner(world, sim_host, flavor):
    disk_image = ImageFactory(kind="disk", base_volume="missing.qcow2", kernel_path="")
    vm = compute.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=disk_image,
        name="doomed",
    )
    assert VirtualMachine.objects.unscoped().get(pk=vm.pk).state == "error"
    assert texts(world.member)[-1].startswith("doomed is in error:")
    assert "missing.qcow2" in texts(world.member)[-1]
