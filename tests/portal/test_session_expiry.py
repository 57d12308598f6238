"""A form sent after the session ended: after login the user is back on the page to retry it,
with what was typed (not a 405 on the form's address), and nothing was done meanwhile."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.test import RequestFactory

from compute.choices import VMState
from compute.models import VirtualMachine
from portal.security import LAST_SEEN
from portal.session_replay import STASH, _kept_fields, page_to_retry
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def _login(client, user, next_url: str):
    return client.post(
        "/login/", {"username": user.username, "password": "pw-for-tests", "next": next_url}
    )


def _replayed(page: str) -> dict:
    match = re.search(r'<script id="nuage-replay" type="application/json">(.*?)</script>', page)
    assert match, "no form given back"
    return json.loads(match.group(1))


@pytest.fixture
def running(world, flavor, image):
    return VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, image=image,
        state=VMState.RUNNING,
    )  # fmt: skip


def test_stop_after_the_session_ended_comes_back_to_the_vm_page_not_a_405(world, client, running):
    client.force_login(world.member)
    client.logout()  # the session ended (expired cookie, logout in another tab)
    page = f"/vms/{running.pk}/"
    answer = client.post(
        f"/vms/{running.pk}/stop/", headers={"Referer": f"http://testserver{page}"}
    )
    assert answer.status_code == 302
    assert answer["Location"] == f"/login/?next=/vms/{running.pk}/"
    running.refresh_from_db()
    assert running.state == VMState.RUNNING  # nothing done without a session

    after = _login(client, world.member, f"/vms/{running.pk}/")
    assert after.status_code == 302 and after["Location"] == page
    shown = client.get(page)
    assert shown.status_code == 200
    content = shown.content.decode()
    assert "what you sent was not done" in content
    assert _replayed(content)["action"] == f"/vms/{running.pk}/stop/"
    assert "js/replay.js" in content
    # Given back once: a reload is the plain page.
    assert "nuage-replay" not in client.get(page).content.decode()


def test_without_a_referer_the_page_above_the_forms_address_is_used(world, client, running):
    answer = client.post(f"/vms/{running.pk}/reboot/")
    assert answer["Location"] == f"/login/?next=/vms/{running.pk}/"
    answer = client.post("/tokens/12/revoke/")
    assert answer["Location"] == "/login/?next=/tokens/"


def test_a_foreign_referer_is_not_followed(world, client, running):
    answer = client.post(
        f"/vms/{running.pk}/stop/", headers={"Referer": "https://evil.example/phish/"}
    )
    assert answer["Location"] == f"/login/?next=/vms/{running.pk}/"


def test_an_idle_logout_keeps_the_typed_fields_but_never_secrets(world, client, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 600
    client.force_login(world.member)
    client.get("/vms/new/")
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 601
    session.save()
    sent = {
        "name": "web-42",
        "environment": str(world.development.pk),
        "ssh_public_key": "ssh-ed25519 AAAA me@laptop",
        "key_pairs": ["3", "4"],
    }
    answer = client.post("/vms/new/", sent, headers={"Referer": "http://testserver/vms/new/"})
    assert answer["Location"] == "/login/?next=/vms/new/"
    assert not VirtualMachine.objects.filter(name="web-42").exists()

    assert _login(client, world.member, "/vms/new/")["Location"] == "/vms/new/"
    content = client.get("/vms/new/").content.decode()
    stash = _replayed(content)
    assert stash["action"] == "/vms/new/"
    assert stash["fields"]["name"] == ["web-42"]
    assert stash["fields"]["key_pairs"] == ["3", "4"]
    assert "csrfmiddlewaretoken" not in stash["fields"]
    assert "without activity" in content


def test_secret_fields_are_never_kept():
    request = RequestFactory().post(
        "/account/password/",
        {"old_password": "x", "new_password1": "y", "totp_code": "123456", "note": "kept"},
    )
    assert _kept_fields(request) == {"note": ["kept"]}


def test_the_api_is_not_redirected(world, client, running):
    answer = client.post(f"/api/v1/vms/{running.pk}/stop/")
    assert answer.status_code in (401, 403)
    assert STASH not in client.session


def test_page_to_retry_skips_the_login_page_as_referer():
    request = RequestFactory().post(
        "/vms/7/stop/", headers={"Referer": "http://testserver/login/?next=/"}
    )
    assert page_to_retry(request) == "/vms/7/"
