"""Accounts: password rules on new users, changing one's password, idle sessions, throttles,
and lock-out of the real client behind our proxies."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from portal.models import AuditEntry, User
from portal.security import LAST_SEEN, client_ip
from tests.factories import UserFactory

PASSWORD = "pw-for-tests"
STRONG = "correct-horse-battery-staple-42"


def client_for(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    return api


@pytest.mark.parametrize(
    "password,message",
    [
        ("password123", "too common"),
        ("Zq3!", "at least 8 characters"),
        ("12345678901", "entirely numeric"),
    ],
)
def test_api_created_users_need_a_password_the_validators_accept(world, password, message):
    answer = client_for(world.platform_admin).post(
        "/api/v1/users/", {"username": "newbie", "password": password}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert any(message in m for m in answer.json()["password"]), answer.json()
    assert not User.objects.filter(username="newbie").exists()


def test_password_like_the_username_is_refused(world):
    answer = client_for(world.platform_admin).post(
        "/api/v1/users/", {"username": "margaret.hamilton", "password": "margaret.hamilton"},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert "too similar" in " ".join(answer.json()["password"])


def test_api_created_user_with_a_good_password_can_log_in(world):
    answer = client_for(world.platform_admin).post(
        "/api/v1/users/", {"username": "newbie", "password": STRONG}, format="json"
    )
    assert answer.status_code == 201, answer.content
    login = APIClient().post(
        "/api/v1/auth/token/", {"username": "newbie", "password": STRONG}, format="json"
    )
    assert login.status_code == 200


def test_password_page_is_linked_from_the_user_menu_and_changes_the_password(world, client):
    client.force_login(world.member)
    page = client.get("/").content.decode()
    assert 'href="/account/password/"' in page
    wrong = client.post(
        "/account/password/",
        {"old_password": "nope", "new_password1": STRONG, "new_password2": STRONG},
    )
    assert wrong.status_code == 400
    assert "incorrectly" in wrong.content.decode()
    weak = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": "password", "new_password2": "password"},
    )
    assert weak.status_code == 400 and "too common" in weak.content.decode()
    done = client.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": STRONG, "new_password2": STRONG},
        follow=True,
    )
    assert "Your password was changed." in done.content.decode()
    world.member.refresh_from_db()
    assert world.member.check_password(STRONG)
    # This session goes on; the change is in the audit log.
    assert client.get("/").status_code == 200
    assert AuditEntry.objects.filter(action="user.password_change", actor=world.member).exists()


def test_sso_only_account_has_no_password_form(world, client):
    user = UserFactory(username="sso-only")
    user.set_unusable_password()
    user.save()
    client.force_login(user)
    page = client.get("/account/password/").content.decode()
    assert "single sign-on" in page and "new_password1" not in page


def test_idle_session_is_logged_out_and_live_refreshes_do_not_count(world, client, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 600
    client.force_login(world.member)
    assert client.get("/").status_code == 200
    session = client.session
    assert session[LAST_SEEN] >= time.time() - 5
    session[LAST_SEEN] = int(time.time()) - 590
    session.save()
    # A background refresh of a live region is not activity: it keeps the old time.
    client.get("/", headers={"X-Requested-With": "live"})
    assert client.session[LAST_SEEN] <= time.time() - 580
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 601
    session.save()
    page = client.get("/vms/", follow=True)
    assert page.redirect_chain[-1][0].startswith("/login/")
    assert "without activity" in page.content.decode()
    assert client.get("/").status_code == 302  # logged out for good


def test_active_session_stays(world, client, settings):
    settings.SESSION_IDLE_TIMEOUT_SECONDS = 600
    client.force_login(world.member)
    client.get("/")
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 300
    session.save()
    assert client.get("/").status_code == 200
    assert client.session[LAST_SEEN] >= time.time() - 5  # renewed


@pytest.fixture
def low_rates(monkeypatch):
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"anon": "1000/minute", "user": "3/minute", "login": "2/minute"},
    )
    cache.clear()
    yield
    cache.clear()


def test_login_endpoint_is_throttled_per_address(world, low_rates):
    anonymous = APIClient()
    good = {"username": world.member.username, "password": PASSWORD}
    for _ in range(2):
        assert anonymous.post("/api/v1/auth/token/", good, format="json").status_code == 200
    slowed = anonymous.post("/api/v1/auth/token/", good, format="json")
    assert slowed.status_code == 429
    assert "Retry-After" in slowed.headers


def test_api_is_throttled_per_user(world, low_rates):
    api = client_for(world.member)
    for _ in range(3):
        assert api.get("/api/v1/tenants/").status_code == 200
    assert api.get("/api/v1/tenants/").status_code == 429
    # Another user has their own allowance.
    assert client_for(world.approver).get("/api/v1/tenants/").status_code == 200


class FakeRequest:
    def __init__(self, remote: str, forwarded: str = "") -> None:
        self.META = {"REMOTE_ADDR": remote}
        if forwarded:
            self.META["HTTP_X_FORWARDED_FOR"] = forwarded


def test_client_address_trusts_forwarded_for_only_as_far_as_our_proxies(settings, monkeypatch):
    spoofed = FakeRequest("10.0.0.2", "6.6.6.6, 203.0.113.7")
    monkeypatch.setitem(settings.NUAGE, "TRUSTED_PROXY_COUNT", 0)
    assert client_ip(spoofed) == "10.0.0.2"
    monkeypatch.setitem(settings.NUAGE, "TRUSTED_PROXY_COUNT", 1)
    assert client_ip(spoofed) == "203.0.113.7"  # what our proxy saw, not what the client wrote
    monkeypatch.setitem(settings.NUAGE, "TRUSTED_PROXY_COUNT", 2)
    assert client_ip(spoofed) == "6.6.6.6"
    assert client_ip(FakeRequest("10.0.0.2")) == "10.0.0.2"


def test_lockout_counts_the_real_client_behind_the_proxy(world, client, settings, monkeypatch):
    monkeypatch.setitem(settings.NUAGE, "TRUSTED_PROXY_COUNT", 1)
    wrong = {"username": world.member.username, "password": "guess"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", wrong, headers={"X-Forwarded-For": "203.0.113.5"})
    good = {"username": world.member.username, "password": PASSWORD}
    locked = client.post("/login/", good, headers={"X-Forwarded-For": "203.0.113.5"})
    assert locked.status_code == 429
    # The same proxy forwarding another client: that client is not locked out.
    other = client.post("/login/", good, headers={"X-Forwarded-For": "203.0.113.6"})
    assert other.status_code == 302


def test_without_trusted_proxies_a_forged_forwarded_for_does_not_escape_lockout(
    world, client, settings
):
    wrong = {"username": world.member.username, "password": "guess"}
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post("/login/", wrong, headers={"X-Forwarded-For": f"198.51.100.{n}"})
    good = {"username": world.member.username, "password": PASSWORD}
    again = client.post("/login/", good, headers={"X-Forwarded-For": "198.51.100.99"})
    assert again.status_code == 429
