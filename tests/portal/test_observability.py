"""What an operator sees: /healthz, /readyz, /metrics, request ids in answers, logs, tasks and
the audit trail."""

from __future__ import annotations

import json
import logging
import re

import pytest
from django.test import override_settings

from compute import services
from compute.choices import VMState
from compute.models import VirtualMachine
from portal import requestid
from portal.logs import JsonFormatter, RequestIdFilter
from portal.models import AuditEntry
from tests.factories import HostFactory
from tests.portal.test_keypairs import ed25519_key
from tests.support.worker import broker, celery_worker, wait_for

TOKEN = "metrics-test-token-0123456789"  # noqa: S105 - a test value


def nuage(**extra: object) -> dict[str, object]:
    from django.conf import settings

    return {**settings.NUAGE, **extra}


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of the Prometheus text `text`, or None."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][\w:]*)(\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted((match.group(3) or "").split(","))) if match.group(3) else ""
        if got == want:
            return float(match.group(4))
    return None


# --- /healthz --------------------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: pytest-django makes any query fail this test.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@override_settings(SECURE_SSL_REDIRECT=True)
def test_probes_are_not_redirected_to_https(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/login/").status_code == 301


# --- /metrics --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_metrics_do_not_exist_unless_configured(client):
    with override_settings(NUAGE=nuage(METRICS_TOKEN="", METRICS_ALLOWED_NETWORKS=[])):
        assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_metrics_refuse_a_wrong_token_and_other_networks(client):
    with override_settings(
        NUAGE=nuage(METRICS_TOKEN=TOKEN, METRICS_ALLOWED_NETWORKS=["10.9.0.0/16"])
    ):
        assert client.get("/metrics").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
        assert client.get("/metrics", REMOTE_ADDR="10.8.1.1").status_code == 403
        assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200
        assert client.get("/metrics", REMOTE_ADDR="10.9.3.4").status_code == 200


def test_metrics_show_vms_hosts_operations_and_quota_rejections(
    run_on_commit, client, api, world, sim_host, flavor, image
):
    HostFactory(name="off", uri="test:///default?off", enabled=False)
    for name in ("a", "b"):
        services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=flavor,
            image=image,
            name=name,
        )
    services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="waits",
    )
    from quotas.models import Quota

    Quota.objects.filter(environment=world.development).update(vms_limit=0)
    api.force_authenticate(world.member)
    refused = api.post(
        "/api/v1/vms/",
        {
            "name": "no-room",
            "environment": world.development.pk,
            "flavor": flavor.pk,
            "image": image.pk,
        },
        format="json",
    )
    assert refused.status_code == 400

    with override_settings(NUAGE=nuage(METRICS_TOKEN=TOKEN)):
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    states = {s: VirtualMachine.objects.filter(state=s).count() for s in VMState.values}
    assert metric(text, "nuage_vms", state="running") == states["running"] == 2
    assert metric(text, "nuage_vms", state="pending_approval") == 1
    assert metric(text, "nuage_hosts", status="up") == 1
    assert metric(text, "nuage_hosts", status="disabled") == 1
    assert (metric(text, "nuage_quota_rejections_total") or 0) >= 1
    # Two provisionings ran (eagerly here): their steps and end-to-end times are recorded.
    assert (metric(text, "nuage_provisioning_seconds_count") or 0) >= 2
    assert (
        metric(text, "nuage_operation_step_seconds_count", kind="provision", step="defining") or 0
    ) >= 2
    assert "nuage_operations_in_flight" in text
    assert "nuage_metering_lag_seconds" in text
    assert metric(text, "nuage_webhook_deliveries", status="failed") == 0
    assert metric(text, "nuage_scrape_errors", source="vms") == 0


# --- /readyz ---------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readyz_is_ready_with_a_live_worker(client, sim_host, tmp_path):
    with celery_worker(tmp_path) as worker:
        response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["broker"]["ok"]
    assert any(
        name.startswith(f"test-{worker.queue}@") for name in body["checks"]["workers"]["names"]
    )
    assert body["checks"]["hosts"]["up"] == 1


@pytest.mark.django_db
def test_readyz_is_503_without_a_worker_or_a_broker(client):
    # A Redis database no worker listens on: the broker answers, nobody answers the ping.
    with broker("redis://127.0.0.1:6379/13"):
        response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] and not checks["workers"]["ok"]
    with broker("redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert not response.json()["checks"]["broker"]["ok"]


# --- request ids -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_answer_has_a_request_id_and_a_sane_one_is_kept(client):
    fresh = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", fresh)
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abc-123.DEF")["X-Request-ID"] == "abc-123.DEF"
    for bad in ("has space", "x" * 200, 'quote"d', "line\nbreak", ""):
        given = client.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"]
        assert given != bad and re.fullmatch(r"[0-9a-f]{32}", given)


@pytest.mark.django_db
def test_an_api_write_records_its_request_id_in_the_audit(api, world):
    api.force_authenticate(world.member)
    response = api.post(
        "/api/v1/keypairs/",
        {"name": "laptop", "public_key": ed25519_key()},
        format="json",
        HTTP_X_REQUEST_ID="req-audit-1",
    )
    assert response.status_code == 201, response.content
    entry = AuditEntry.objects.get(action__startswith="keypair.")
    assert entry.request_id == "req-audit-1"
    api.force_authenticate(world.platform_admin)
    listed = api.get("/api/v1/audit/", {"request_id": "req-audit-1"})
    assert [e["request_id"] for e in listed.json()["results"]] == ["req-audit-1"]


@pytest.mark.django_db(transaction=True)
def test_the_request_id_follows_the_tasks_into_the_worker(
    api, world, sim_host, flavor, image, tmp_path
):
    with celery_worker(tmp_path) as worker:
        api.force_authenticate(world.member)
        response = api.post(
            "/api/v1/vms/",
            {
                "name": "traced",
                "environment": world.development.pk,
                "flavor": flavor.pk,
                "image": image.pk,
            },
            format="json",
            HTTP_X_REQUEST_ID="trace-me-42",
        )
        assert response.status_code == 201, response.content
        vm_id = response.json()["id"]
        wait_for(
            lambda: VirtualMachine.objects.filter(pk=vm_id, state=VMState.RUNNING).exists(),
            timeout=60,
            what="VM running",
        )
        log = worker.log()
    # Written by the worker, several tasks (one per step) after the request.
    done = AuditEntry.objects.get(action="vm.provision.succeeded", object_id=str(vm_id))
    assert done.actor_id is None
    assert done.request_id == "trace-me-42"
    assert "trace-me-42" in log


def test_json_log_lines_carry_the_request_id():
    record = logging.LogRecord(
        "nuage.test", logging.WARNING, __file__, 1, "hello %s", ("you",), None
    )
    record.vm_id = 7
    token = requestid.bind("log-id-9")
    try:
        RequestIdFilter().filter(record)
    finally:
        requestid.unbind(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you"
    assert line["level"] == "WARNING"
    assert line["request_id"] == "log-id-9"
    assert line["vm_id"] == 7
