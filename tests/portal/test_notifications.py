"""Notifications: e-mails to approvers and requesters, and webhooks signed with HMAC-SHA256,
checked by a real HTTP receiver on 127.0.0.1 that verifies each body's signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from rest_framework.test import APIClient

from compute import services as compute
from compute.choices import VMState
from portal import services
from portal.delivery import webhooks
from portal.models import AuditEntry, WebhookDelivery

pytestmark = pytest.mark.usefixtures("run_on_commit")


@dataclass
class Receiver:
    """An HTTP server that answers with the queued status codes (then 200) and keeps requests."""

    url: str = ""
    answers: list[int | str] = field(default_factory=list)  # a code, or "hang"
    received: list[dict[str, object]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append({"headers": dict(self.headers), "body": body})
            answer = state.answers.pop(0) if state.answers else 200
            if answer == "hang":
                time.sleep(1.5)  # longer than the test's webhook timeout
                return
            self.send_response(int(answer))
            self.end_headers()
            self.wfile.write(b"thanks")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def quick_webhooks(settings) -> None:
    settings.NUAGE = {
        **settings.NUAGE,
        "WEBHOOK_TIMEOUT_SECONDS": 0.5,
        "WEBHOOK_MAX_ATTEMPTS": 3,
        "WEBHOOK_BACKOFF_SECONDS": 0.01,
    }


def signed_correctly(secret: str, request: dict[str, object]) -> bool:
    headers = request["headers"]
    assert isinstance(headers, dict)
    body = request["body"]
    assert isinstance(body, bytes)
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Nuage-Signature"], expected)


def request_vm(world, flavor, image, env, name="web-1"):
    return compute.vm_request_create(
        requested_by=world.member, environment=env, flavor=flavor, image=image, name=name
    )


def test_approvers_then_the_requester_are_mailed(world, sim_host, flavor, image):
    for user, address in ((world.member, "m@x.test"), (world.approver, "a@x.test")):
        user.email = address
        user.save()
    vm = request_vm(world, flavor, image, world.production)
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["a@x.test"], "[Nuage] web-1 waits for your approval")
    ]
    compute.vm_approve(vm=vm, approved_by=world.approver)
    assert [m.subject for m in mail.outbox[1:]] == [
        "[Nuage] web-1 was approved",
        "[Nuage] web-1 is running",
    ]
    assert all(m.to == ["m@x.test"] for m in mail.outbox[1:])
    assert f"/vms/{vm.pk}/" in mail.outbox[-1].body

    other = request_vm(world, flavor, image, world.production, name="web-2")
    compute.vm_reject(vm=other, rejected_by=world.approver, reason="Too big for prod")
    assert mail.outbox[-1].subject == "[Nuage] web-2 was rejected"
    assert "Too big for prod" in mail.outbox[-1].body


def test_webhook_gets_signed_events_the_receiver_can_verify(
    world, sim_host, flavor, image, receiver
):
    hook, secret = services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url
    )
    vm = request_vm(world, flavor, image, world.production)
    compute.vm_approve(vm=vm, approved_by=world.approver)

    events = [json.loads(r["body"])["event"] for r in receiver.received]  # type: ignore[arg-type]
    assert events == ["vm.pending_approval", "vm.approved", "vm.running"]
    assert all(signed_correctly(secret, r) for r in receiver.received)
    assert not signed_correctly("another-secret", receiver.received[0])
    first = json.loads(receiver.received[0]["body"])  # type: ignore[arg-type]
    assert first["vm"]["name"] == "web-1" and first["tenant"] == world.tenant.slug
    headers = receiver.received[0]["headers"]
    assert headers["X-Nuage-Delivery"] == first["id"]  # type: ignore[index]
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}


def test_event_filter_and_disabled_hooks(world, sim_host, flavor, image, receiver):
    services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url, events=["vm.running"]
    )
    off, _ = services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url
    )
    services.webhook_update(updated_by=world.tenant_admin, webhook=off, enabled=False)
    request_vm(world, flavor, image, world.development)
    assert [json.loads(r["body"])["event"] for r in receiver.received] == ["vm.running"]  # type: ignore[arg-type]


def test_a_failing_receiver_is_retried_until_it_answers(world, sim_host, flavor, image, receiver):
    hook, _ = services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url, events=["vm.running"]
    )
    receiver.answers = [500, 503]
    request_vm(world, flavor, image, world.development)
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert len(receiver.received) == 3
    # The same event id every time: the receiver can tell a retry from a new event.
    assert len({r["headers"]["X-Nuage-Delivery"] for r in receiver.received}) == 1  # type: ignore[index]


def test_a_receiver_that_times_out_is_logged_and_finally_given_up(
    world, sim_host, flavor, image, receiver
):
    hook, _ = services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url, events=["vm.running"]
    )
    receiver.answers = ["hang", "hang", "hang"]
    vm = request_vm(world, flavor, image, world.development)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING  # a slow receiver never holds the VM back
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert "timed out" in delivery.last_error


def test_overdue_deliveries_are_sent_again(world, receiver):
    hook, _ = services.webhook_create(
        created_by=world.tenant_admin, tenant=world.tenant, url=receiver.url
    )
    stuck = WebhookDelivery.objects.create(
        webhook=hook, event="vm.running", event_id="6f1c1f0e-0000-4000-8000-000000000009", body="{}"
    )
    from datetime import timedelta

    from django.utils import timezone

    assert webhooks.redeliver_stale() == []
    assert webhooks.redeliver_stale(now=timezone.now() + timedelta(minutes=5)) == [stuck.pk]


def test_webhooks_through_the_api(world, other_world, receiver):
    admin = APIClient()
    admin.force_authenticate(world.tenant_admin)
    for url in ("ftp://example.com/x", "not a url", "http:///nohost"):
        bad = admin.post(
            "/api/v1/webhooks/", {"tenant": world.tenant.pk, "url": url}, format="json"
        )
        assert bad.status_code == 400 and "url" in bad.json(), (url, bad.content)
    unknown = admin.post(
        "/api/v1/webhooks/",
        {"tenant": world.tenant.pk, "url": receiver.url, "events": ["vm.exploded"]},
        format="json",
    )
    assert unknown.status_code == 400 and "events" in unknown.json()
    created = admin.post(
        "/api/v1/webhooks/", {"tenant": world.tenant.pk, "url": receiver.url}, format="json"
    )
    assert created.status_code == 201
    secret, hook_id = created.json()["secret"], created.json()["id"]
    assert "secret" not in admin.get(f"/api/v1/webhooks/{hook_id}/").json()
    ping = admin.post(f"/api/v1/webhooks/{hook_id}/ping/")
    assert ping.status_code == 202 and ping.json()["status"] == "delivered"
    assert signed_correctly(secret, receiver.received[-1])
    log = admin.get(f"/api/v1/webhook-deliveries/?webhook={hook_id}").json()["results"]
    assert [(d["event"], d["last_status_code"]) for d in log] == [("ping", 200)]
    assert AuditEntry.objects.filter(action="webhook.create").exists()

    for outsider in (other_world.tenant_admin, world.member):
        client = APIClient()
        client.force_authenticate(outsider)
        assert client.get("/api/v1/webhooks/").json()["results"] == []
        assert client.get(f"/api/v1/webhooks/{hook_id}/").status_code == 404
    member = APIClient()
    member.force_authenticate(world.member)
    refused = member.post(
        "/api/v1/webhooks/", {"tenant": world.tenant.pk, "url": receiver.url}, format="json"
    )
    assert refused.status_code == 403
