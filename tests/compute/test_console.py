"""Console tickets: one use, 30 s, one user, one VM that runs; each session opened is audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from asgiref.testing import ApplicationCommunicator
from django.utils import timezone
from lxml import etree

from compute.choices import ConsoleKind, VMState
from compute.console import (
    ConsoleRefused,
    console_session_check,
    console_token_issue,
    console_token_redeem,
    console_vnc_password,
)
from compute.hypervisor.xml import domain_xml
from compute.models import ConsoleToken, VirtualMachine
from compute.services import steps
from portal.models import AuditEntry, Membership
from tests.conftest import TenantWorld
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db

SERIAL = ConsoleKind.SERIAL


@pytest.fixture
def vm(world: TenantWorld, sim_host) -> VirtualMachine:
    return VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.RUNNING, host=sim_host
    )


def opened(vm: VirtualMachine) -> int:
    return AuditEntry.objects.filter(action="vm.console_open", object_id=str(vm.pk)).count()


def redeem(token: str, user, vm: VirtualMachine, kind: str = SERIAL) -> VirtualMachine:
    return console_token_redeem(token=token, user=user, vm_id=vm.pk, kind=kind)


def test_ticket_opens_one_session_and_it_is_audited(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)

    assert redeem(token, world.member, vm) == vm

    entry = AuditEntry.objects.get(action="vm.console_open", object_id=str(vm.pk))
    assert entry.actor == world.member
    assert entry.tenant == world.tenant
    assert entry.changes == {"console": "serial"}
    # Only a digest is kept: the ticket itself is nowhere in the database.
    assert not ConsoleToken.objects.filter(digest=token).exists()


def test_a_ticket_used_twice_is_refused(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    redeem(token, world.member, vm)

    with pytest.raises(ConsoleRefused) as refused:
        redeem(token, world.member, vm)

    assert refused.value.status == 410
    assert "already used" in refused.value.message
    assert opened(vm) == 1


def test_a_ticket_older_than_30_seconds_is_refused(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    row = ConsoleToken.objects.get()
    assert abs(row.expires_at - row.created_at - timedelta(seconds=30)) < timedelta(seconds=1)
    ConsoleToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    with pytest.raises(ConsoleRefused) as refused:
        redeem(token, world.member, vm)

    assert refused.value.status == 410
    assert "expired" in refused.value.message
    assert opened(vm) == 0


def test_another_users_ticket_is_refused_and_stays_unspent(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)

    with pytest.raises(ConsoleRefused) as refused:
        redeem(token, world.tenant_admin, vm)

    assert refused.value.status == 403
    assert opened(vm) == 0
    # The rightful user can still use it.
    assert redeem(token, world.member, vm) == vm


def test_a_ticket_for_another_vm_or_console_is_refused(world, vm, sim_host):
    other = VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.RUNNING, host=sim_host
    )
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)

    for target, kind in ((other, SERIAL), (vm, ConsoleKind.VNC)):
        with pytest.raises(ConsoleRefused) as refused:
            redeem(token, world.member, target, kind)
        assert refused.value.status == 403
    assert opened(vm) == opened(other) == 0


def test_nobody_gets_a_ticket_for_another_tenants_vm(world, other_world, vm):
    with pytest.raises(ConsoleRefused) as refused:
        console_token_issue(vm=vm, user=other_world.tenant_admin, kind=SERIAL)

    assert refused.value.status == 404  # as if it did not exist
    assert not ConsoleToken.objects.exists()


def test_a_member_cannot_open_a_colleagues_vm(world, vm):
    with pytest.raises(ConsoleRefused) as refused:
        console_token_issue(vm=vm, user=world.other_member, kind=SERIAL)

    assert refused.value.status == 403
    # A tenant admin may operate every VM of the tenant, so may open its console.
    assert console_token_issue(vm=vm, user=world.tenant_admin, kind=SERIAL)


def test_no_console_for_a_vm_that_does_not_run(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)

    with pytest.raises(ConsoleRefused) as refused:
        redeem(token, world.member, vm)
    assert refused.value.status == 409
    assert "not running" in refused.value.message

    vm.refresh_from_db()
    with pytest.raises(ConsoleRefused):
        console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    assert opened(vm) == 0


def test_removed_member_loses_the_open_session_and_the_ticket(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    console_session_check(user_id=world.member.pk, vm_id=vm.pk)  # allowed: no exception

    Membership.objects.filter(user=world.member, tenant=world.tenant).delete()

    with pytest.raises(ConsoleRefused) as refused:
        console_session_check(user_id=world.member.pk, vm_id=vm.pk)
    assert refused.value.status == 404
    with pytest.raises(ConsoleRefused):
        redeem(token, world.member, vm)


def test_vnc_password_is_per_vm_and_in_the_domain_xml(world, vm, sim_host):
    other = VirtualMachineFactory(environment=world.development, owner=world.member)
    password = console_vnc_password(vm.uuid)
    assert len(password) == 8
    assert password == console_vnc_password(str(vm.uuid))
    assert password != console_vnc_password(other.uuid)

    sim_host.domain_type = "qemu"
    vm.host = sim_host
    spec = steps._domain_spec(vm, "/var/lib/libvirt/images/x.qcow2")
    graphics = etree.fromstring(domain_xml(spec)).find("devices/graphics")
    assert graphics is not None
    assert graphics.attrib == {
        "type": "vnc",
        "autoport": "yes",
        "listen": "127.0.0.1",
        "passwd": password,
    }


# --- the websocket endpoint ----------------------------------------------------------------


def handshake(user, path: str, *, language: str = "en") -> dict:
    """What the ASGI application answers to a websocket handshake (as uvicorn would send it)."""
    from portal.asgi import application

    scope = {
        "type": "websocket",
        "path": path,
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"origin", b"http://127.0.0.1"),
            (b"accept-language", language.encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "extensions": {"websocket.http.response": {}},
        "user": user,
    }

    async def run() -> dict:
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "websocket.connect"})
        answer = await communicator.receive_output(timeout=5)
        if answer["type"] == "websocket.http.response.start":
            answer["body"] = (await communicator.receive_output(timeout=5))["body"]
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait(timeout=5)
        return answer

    return async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_a_reused_ticket_before_opening_anything(world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)
    console_token_redeem(token=token, user=world.member, vm_id=vm.pk, kind=SERIAL)

    answer = handshake(world.member, f"/ws/vms/{vm.pk}/console/serial/{token}/")

    assert answer["type"] == "websocket.http.response.start"
    assert answer["status"] == 410
    assert "already used" in answer["body"].decode()
    assert opened(vm) == 1


@pytest.mark.django_db(transaction=True)
def test_websocket_refuses_another_tenants_vm(world, other_world, vm):
    token = console_token_issue(vm=vm, user=world.member, kind=SERIAL)

    answer = handshake(other_world.member, f"/ws/vms/{vm.pk}/console/serial/{token}/")

    assert answer["status"] == 403
    assert opened(vm) == 0


@pytest.mark.django_db(transaction=True)
def test_websocket_refusal_speaks_the_browsers_language(world, vm):
    answer = handshake(world.member, f"/ws/vms/{vm.pk}/console/serial/x/", language="fr-FR,fr")

    assert answer["status"] == 403
    assert answer["body"].decode() == "Ce lien de console n’est pas valide."


# --- the console page ----------------------------------------------------------------------


def test_console_page_carries_a_fresh_ticket(world, vm, client):
    client.force_login(world.member)

    response = client.get(f"/vms/{vm.pk}/console/serial/")

    assert response.status_code == 200
    assert f"/ws/vms/{vm.pk}/console/serial/" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert ConsoleToken.objects.filter(user=world.member, vm=vm, used_at=None).count() == 1


def test_console_page_of_a_stopped_vm_says_why(world, vm, client):
    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)
    client.force_login(world.member)

    response = client.get(f"/vms/{vm.pk}/console/vnc/")

    assert response.status_code == 409
    assert "is not running" in response.content.decode()
    assert not ConsoleToken.objects.exists()


def test_console_page_of_another_tenants_vm_is_not_found(other_world, vm, client):
    client.force_login(other_world.member)

    assert client.get(f"/vms/{vm.pk}/console/serial/").status_code == 404


def test_vm_page_offers_both_consoles_only_while_it_runs(world, vm, client):
    client.force_login(world.member)

    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert f"/vms/{vm.pk}/console/serial/" in page
    assert f"/vms/{vm.pk}/console/vnc/" in page

    VirtualMachine.objects.filter(pk=vm.pk).update(state=VMState.STOPPED)
    assert "/console/" not in client.get(f"/vms/{vm.pk}/").content.decode()


# --- the VNC handshake ---------------------------------------------------------------------


def test_vnc_auth_response_is_des_of_the_challenge_with_the_bit_reversed_password():
    from compute.vnc import _des_key, vnc_auth_response

    # 'a' = 0x61 = 0b01100001 -> 0b10000110 = 0x86; padding zeros stay zeros.
    assert _des_key("a") == bytes([0x86, 0, 0, 0, 0, 0, 0, 0])
    challenge = bytes(range(16))
    response = vnc_auth_response("secret12", challenge)
    assert len(response) == 16
    assert response != vnc_auth_response("secret13", challenge)
    # Only the first 8 characters count, as in every VNC server.
    assert response == vnc_auth_response("secret12-and-more", challenge)


def test_browser_handshake_offers_no_authentication_then_relays():
    from compute.vnc import BrowserHandshake, VncError

    hs = BrowserHandshake()
    assert hs.greeting() == b"RFB 003.008\n"
    # The version may come in pieces.
    assert hs.feed(b"RFB 003") == (b"", b"")
    reply, rest = hs.feed(b".008\n")
    assert (reply, rest) == (bytes([1, 1]), b"")
    # Security type None, then ClientInit (shared flag) which belongs to the display.
    reply, rest = hs.feed(b"\x01\x01")
    assert reply == b"\x00\x00\x00\x00"
    assert rest == b"\x01"
    assert hs.done

    with pytest.raises(VncError):
        BrowserHandshake().feed(b"GET / HTTP/1.1\r\n")
    refused = BrowserHandshake()
    refused.feed(b"RFB 003.008\n")
    with pytest.raises(VncError):
        refused.feed(b"\x02")
