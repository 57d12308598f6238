"""Webhooks cannot reach inside the network: global addresses only (in any spelling), the
address pinned once resolved, no redirects, no proxies, status codes only; a cap per tenant and
a throttled ping."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.test import override_settings

from portal import metrics, services
from portal.delivery import safeurl
from portal.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.usefixtures("run_on_commit")


@pytest.fixture(autouse=True)
def one_attempt(settings) -> None:
    """One attempt per delivery: eager tasks would run the retries at once."""
    settings.NUAGE = {**settings.NUAGE, "WEBHOOK_MAX_ATTEMPTS": 1, "WEBHOOK_TIMEOUT_SECONDS": 2}


REFUSED_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8000/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://172.31.255.1/hook",
    "http://192.168.1.1/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://0177.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a9fe:a9fe]/hook",
    "http://localhost:8000/hook",
    "http://api.localhost/hook",
    "http://0.0.0.0/hook",
]


@dataclass
class Receiver:
    url: str = ""
    port: int = 0
    answer: int = 200
    location: str = ""
    body: bytes = b"internal secret: do not store"
    received: list[dict[str, str]] = field(default_factory=list)


def serve() -> tuple[Receiver, ThreadingHTTPServer]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            state.received.append({"path": self.path, **dict(self.headers)})
            self.send_response(state.answer)
            if state.location:
                self.send_header("Location", state.location)
            self.send_header("Content-Length", str(len(state.body)))
            self.end_headers()
            self.wfile.write(state.body)

        do_POST = do_GET = do_CONNECT = _any  # noqa: N815 - http.server's names

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}/hook"
    return state, server


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    started = [serve() for _ in range(2)]
    yield [state for state, _server in started]
    for _state, server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dns(monkeypatch) -> dict[str, list[str]]:
    """Names this test resolves itself: {"hooks.example.com": ["127.0.0.1"]}; other names go
    to the real resolver. Records each lookup."""
    table: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        lookups.append(host)
        if host in table:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in table[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(safeurl.socket, "getaddrinfo", getaddrinfo)
    table["__lookups__"] = lookups  # type: ignore[assignment]
    return table


def private(allowed: bool):  # type: ignore[no-untyped-def]
    return override_settings(NUAGE={**settings.NUAGE, "WEBHOOK_ALLOW_PRIVATE": allowed})


def hook_for(world, url: str) -> Webhook:  # type: ignore[no-untyped-def]
    with private(True):
        hook, _secret = services.webhook_create(
            created_by=world.tenant_admin, tenant=world.tenant, url=url
        )
    return hook


def ping(world, hook: Webhook) -> WebhookDelivery:  # type: ignore[no-untyped-def]
    delivery = services.webhook_ping(requested_by=world.tenant_admin, webhook=hook)
    delivery.refresh_from_db()
    return delivery


# --- which addresses ---------------------------------------------------------------------


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_a_webhook_to_an_internal_address_is_refused_at_creation(api, world, url):
    api.force_authenticate(world.tenant_admin)
    with private(False):
        response = api.post(
            "/api/v1/webhooks/", {"tenant": world.tenant.pk, "url": url}, format="json"
        )
    assert response.status_code == 400, response.content
    assert "url" in response.json()
    assert not Webhook.objects.exists()


def test_a_webhook_to_a_public_name_is_accepted(api, world):
    api.force_authenticate(world.tenant_admin)
    with private(False):
        response = api.post(
            "/api/v1/webhooks/",
            {"tenant": world.tenant.pk, "url": "https://hooks.example.com/nuage"},
            format="json",
        )
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("3232235777", "192.168.1.1"),
    ],
)
def test_numeric_spellings_are_read_as_the_addresses_they_are(spelling, address):
    assert safeurl.literal_address(spelling) == ipaddress.ip_address(address)
    with private(False), pytest.raises(safeurl.RefusedAddress):
        safeurl.check_host(spelling)


def test_global_addresses_pass_and_private_ones_do_not():
    with private(False):
        assert safeurl.address_allowed(ipaddress.ip_address("93.184.216.34"))
        assert safeurl.address_allowed(ipaddress.ip_address("2606:4700::1111"))
        for a in ("127.0.0.1", "::1", "169.254.1.1", "10.1.1.1", "172.20.0.1", "192.168.0.1",
                  "100.64.0.1", "::ffff:10.0.0.1", "fd00::1", "fe80::1", "224.0.0.1",
                  "2002:7f00:1::1"):  # fmt: skip
            assert not safeurl.address_allowed(ipaddress.ip_address(a)), a


def test_a_name_that_resolves_inside_is_refused_at_delivery(world, receivers, dns):
    """DNS that answers a public address at creation and a private one later changes nothing:
    the delivery checks what it connects to."""
    target = receivers[0]
    hook = hook_for(world, f"http://hooks.example.com:{target.port}/hook")
    dns["hooks.example.com"] = ["127.0.0.1"]
    before = metrics.WEBHOOK_FAILURES.labels(reason="refused")._value.get()
    with private(False):
        delivery = ping(world, hook)
    assert target.received == []
    assert delivery.last_status_code is None
    assert "public addresses" in delivery.last_error
    assert metrics.WEBHOOK_FAILURES.labels(reason="refused")._value.get() == before + 1


def test_a_name_with_one_private_record_among_public_ones_is_refused(world, receivers, dns):
    target = receivers[0]
    hook = hook_for(world, f"http://hooks.example.com:{target.port}/hook")
    dns["hooks.example.com"] = ["93.184.216.34", "127.0.0.1"]
    with private(False):
        delivery = ping(world, hook)
    assert target.received == []
    assert "public addresses" in delivery.last_error


# --- how it connects ---------------------------------------------------------------------


def test_the_address_is_resolved_once_and_the_host_header_keeps_the_name(world, receivers, dns):
    target = receivers[0]
    hook = hook_for(world, f"http://hooks.example.com:{target.port}/hook?x=1")
    dns["hooks.example.com"] = ["127.0.0.1"]
    lookups = dns["__lookups__"]
    lookups.clear()
    delivery = ping(world, hook)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    # (Connecting to the pinned address looks it up as a number: no DNS involved.)
    assert [name for name in lookups if safeurl.literal_address(name) is None] == [
        "hooks.example.com"
    ]
    (request,) = target.received
    assert request["Host"] == f"hooks.example.com:{target.port}"
    assert request["path"] == "/hook?x=1"


def test_a_redirect_is_not_followed(world, receivers):
    first, second = receivers
    first.answer, first.location = 302, second.url
    hook = hook_for(world, first.url)
    delivery = ping(world, hook)
    assert len(first.received) == 1
    assert second.received == []
    assert delivery.last_status_code == 302
    assert delivery.status != WebhookDelivery.Status.DELIVERED


def test_no_proxy_from_the_environment_is_used(world, receivers, monkeypatch):
    target, proxy = receivers
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url.rsplit("/", 1)[0])
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    hook = hook_for(world, target.url)
    delivery = ping(world, hook)
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert proxy.received == []
    assert len(target.received) == 1


def test_only_the_status_code_of_the_answer_is_kept(api, world, receivers):
    target = receivers[0]
    target.answer = 500
    hook = hook_for(world, target.url)
    delivery = ping(world, hook)
    assert delivery.last_status_code == 500
    assert delivery.response_excerpt == ""
    api.force_authenticate(world.tenant_admin)
    listed = api.get("/api/v1/webhook-deliveries/", {"webhook": hook.pk})
    assert listed.status_code == 200
    assert b"internal secret" not in listed.content
    assert "internal secret" not in delivery.last_error


# --- how many ------------------------------------------------------------------------------


def test_a_tenant_has_at_most_the_configured_number_of_webhooks(api, world):
    api.force_authenticate(world.tenant_admin)
    with override_settings(
        NUAGE={**settings.NUAGE, "WEBHOOKS_PER_TENANT": 2, "WEBHOOK_ALLOW_PRIVATE": False}
    ):
        codes = [
            api.post(
                "/api/v1/webhooks/",
                {"tenant": world.tenant.pk, "url": f"https://hooks.example.com/{n}"},
                format="json",
            ).status_code
            for n in range(3)
        ]
        assert codes == [201, 201, 400]
        assert Webhook.objects.filter(tenant=world.tenant).count() == 2


def test_pinging_a_webhook_again_at_once_is_throttled(api, world, receivers):
    hook = hook_for(world, receivers[0].url)
    api.force_authenticate(world.tenant_admin)
    with override_settings(NUAGE={**settings.NUAGE, "WEBHOOK_PING_SECONDS": 30.0}):
        first = api.post(f"/api/v1/webhooks/{hook.pk}/ping/")
        again = api.post(f"/api/v1/webhooks/{hook.pk}/ping/")
    assert first.status_code == 202
    assert again.status_code == 429
    assert 0 < int(again["Retry-After"]) <= 30
    assert len(receivers[0].received) == 1
    with override_settings(NUAGE={**settings.NUAGE, "WEBHOOK_PING_SECONDS": 0.0}):
        assert api.post(f"/api/v1/webhooks/{hook.pk}/ping/").status_code == 202
