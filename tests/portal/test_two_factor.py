"""Two-factor sign-in: required for platform roles, optional for others, after the password,
on the API too, throttled and locked out like passwords, audited."""

from __future__ import annotations

import re
from base64 import b32encode

import pytest
from django.contrib.auth import login
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from portal import twofactor
from portal.models import AuditEntry, User
from tests.support.otp import enrolled_device, totp_code

PASSWORD = "pw-for-tests"
pytestmark = pytest.mark.django_db


def password_login(user: User) -> Client:
    """A browser that posted the login form (the real first step, no shortcut)."""
    browser = Client()
    answer = browser.post("/login/", {"username": user.username, "password": PASSWORD})
    assert answer.status_code == 302, answer.content
    return browser


def test_platform_admin_must_enrol_before_any_page(world):
    browser = password_login(world.platform_admin)
    for page in ("/", "/hosts/", "/tokens/", "/admin/", "/quotas/"):
        answer = browser.get(page)
        assert answer.status_code == 302, page
        assert answer["Location"].startswith("/account/two-factor/?next="), page
    page = browser.get("/account/two-factor/")
    assert page.status_code == 200
    assert b"<svg" in page.content
    assert b"requires two-factor sign-in" in page.content


def test_finance_must_enrol_too(world):
    answer = password_login(world.finance).get("/finance/")
    assert answer["Location"].startswith("/account/two-factor/")


def test_member_without_authenticator_goes_straight_in(world):
    assert password_login(world.member).get("/").status_code == 200


def test_enrolment_shows_the_secret_and_turns_on_with_a_right_code(world):
    admin = world.platform_admin
    browser = password_login(admin)
    page = browser.get("/account/two-factor/").content.decode()
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)<', page).group(1)
    assert secret.replace(" ", "") == b32encode(device.bin_key).decode()
    # Reloading keeps the same secret (the QR code a phone may have scanned already).
    assert browser.get("/account/two-factor/").content.decode().count(secret) == 1
    assert TOTPDevice.objects.filter(user=admin).count() == 1

    wrong = browser.post("/account/two-factor/", {"action": "confirm", "code": "000000"})
    assert wrong.status_code == 400
    assert b"does not match" in wrong.content
    assert browser.get("/hosts/").status_code == 302

    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    done = browser.post(
        "/account/two-factor/", {"action": "confirm", "code": totp_code(device), "next": "/hosts/"}
    )
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([0-9a-f]{10})</code></li>", done.content.decode())
    assert len(codes) == 10
    assert browser.get("/hosts/").status_code == 200
    entry = AuditEntry.objects.get(action="two_factor.enable")
    assert entry.actor == admin and entry.changes["method"] == "totp"


def test_enrolled_user_gives_a_code_after_the_password(world):
    device = enrolled_device(world.member)
    browser = password_login(world.member)
    answer = browser.get("/quotas/")
    assert answer["Location"] == "/account/two-factor/verify/?next=%2Fquotas%2F"
    wrong = browser.post("/account/two-factor/verify/", {"code": "123456", "next": "/quotas/"})
    assert wrong.status_code == 400
    assert browser.get("/").status_code == 302
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    right = browser.post(
        "/account/two-factor/verify/", {"code": totp_code(device), "next": "/quotas/"}
    )
    assert right["Location"] == "/quotas/"
    assert browser.get("/quotas/").status_code == 200


def test_a_code_is_accepted_once_only(world):
    device = enrolled_device(world.member)
    code = totp_code(device)
    first = password_login(world.member)
    assert first.post("/account/two-factor/verify/", {"code": code}).status_code == 302
    second = password_login(world.member)
    assert second.post("/account/two-factor/verify/", {"code": code}).status_code == 400


def test_the_second_step_gives_a_new_session_key(world):
    device = enrolled_device(world.member)
    browser = password_login(world.member)
    before = browser.cookies["sessionid"].value
    browser.post("/account/two-factor/verify/", {"code": totp_code(device)})
    assert browser.cookies["sessionid"].value != before


def test_a_recovery_code_signs_in_once(world):
    admin = world.platform_admin
    device = enrolled_device(admin)
    codes = twofactor.recovery_codes_renew(user=admin)
    browser = password_login(admin)
    assert browser.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 302
    assert browser.get("/hosts/").status_code == 200
    again = password_login(admin)
    assert again.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 400
    assert StaticDevice.objects.get(user=admin).token_set.count() == 9
    assert device.pk  # the authenticator itself is untouched


def test_wrong_codes_lock_the_user_out_like_wrong_passwords(world, settings):
    settings.AXES_FAILURE_LIMIT = 3
    device = enrolled_device(world.member)
    browser = password_login(world.member)
    answers = []
    for _attempt in range(3):
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
        answers.append(browser.post("/account/two-factor/verify/", {"code": "000000"}))
    assert [a.status_code for a in answers] == [400, 400, 429]
    assert b"Too many failed login attempts" in answers[-1].content
    # The session is gone, and the password alone no longer opens one.
    assert browser.get("/")["Location"].startswith("/login/")
    again = Client().post("/login/", {"username": world.member.username, "password": PASSWORD})
    assert again.status_code == 429


def test_repeated_wrong_codes_are_slowed_down_per_authenticator(world):
    device = enrolled_device(world.member)
    assert not twofactor.code_check(user=world.member, code="000000")
    # Within the delay after a failure, even the right code is refused.
    assert not twofactor.code_check(user=world.member, code=totp_code(device))
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_member_turns_two_factor_off_and_it_is_audited(world):
    device = enrolled_device(world.member)
    browser = password_login(world.member)
    browser.post("/account/two-factor/verify/", {"code": totp_code(device)})
    answer = browser.post("/account/two-factor/", {"action": "disable"})
    assert answer.status_code == 302
    assert not TOTPDevice.objects.filter(user=world.member).exists()
    assert AuditEntry.objects.filter(action="two_factor.disable", actor=world.member).exists()
    assert password_login(world.member).get("/").status_code == 200


def test_platform_admin_cannot_turn_own_two_factor_off(world):
    enrolled_device(world.platform_admin)
    with pytest.raises(PermissionDenied, match="requires two-factor"):
        twofactor.two_factor_disable(user=world.platform_admin, disabled_by=world.platform_admin)
    assert TOTPDevice.objects.filter(user=world.platform_admin).exists()


def test_platform_admin_resets_a_lost_authenticator_but_a_member_cannot(world):
    enrolled_device(world.finance)
    with pytest.raises(PermissionDenied, match="Only platform admins"):
        twofactor.two_factor_disable(user=world.finance, disabled_by=world.member)
    twofactor.two_factor_disable(user=world.finance, disabled_by=world.platform_admin)
    assert not TOTPDevice.objects.filter(user=world.finance).exists()
    entry = AuditEntry.objects.get(action="two_factor.disable")
    assert entry.actor == world.platform_admin and entry.object_id == str(world.finance.pk)
    # Finance enrols again at the next sign-in.
    assert password_login(world.finance).get("/")["Location"].startswith("/account/two-factor/")


def test_sso_sign_in_of_an_enrolled_user_still_owes_the_code(world):
    """Any login (password, single sign-on, the admin's form) starts the second step over."""
    enrolled_device(world.member)
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    request.session[twofactor.VERIFIED] = True
    login(request, world.member, backend="django.contrib.auth.backends.ModelBackend")
    assert twofactor.session_state(request) == "verify"


def test_session_api_calls_need_the_second_step(world):
    browser = password_login(world.platform_admin)
    refused = browser.get("/api/v1/hosts/")
    assert refused.status_code in (401, 403)
    assert "Two-factor" in refused.json()["detail"]
    device = enrolled_device(world.member)
    member = password_login(world.member)
    assert member.get("/api/v1/vms/").status_code in (401, 403)
    member.post("/account/two-factor/verify/", {"code": totp_code(device)})
    assert member.get("/api/v1/vms/").status_code == 200


def test_token_login_asks_the_code_of_enrolled_users(world):
    anonymous = APIClient()
    device = enrolled_device(world.member)
    url = "/api/v1/auth/token/"
    credentials = {"username": world.member.username, "password": PASSWORD}
    missing = anonymous.post(url, credentials, format="json")
    assert missing.status_code == 400 and "otp" in missing.json()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    wrong = anonymous.post(url, {**credentials, "otp": "000000"}, format="json")
    assert wrong.status_code == 400 and "otp" in wrong.json()
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)
    right = anonymous.post(url, {**credentials, "otp": totp_code(device)}, format="json")
    assert right.status_code == 200, right.content
    token = right.json()["token"]
    assert APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/vms/").status_code == 200


def test_platform_role_without_authenticator_gets_no_token(world):
    answer = APIClient().post(
        "/api/v1/auth/token/",
        {"username": world.platform_admin.username, "password": PASSWORD},
        format="json",
    )
    assert answer.status_code == 400
    assert "set up an authenticator" in answer.json()["otp"][0]


def test_platform_admin_token_works_without_a_session(world):
    device = enrolled_device(world.platform_admin)
    answer = APIClient().post(
        "/api/v1/auth/token/",
        {"username": world.platform_admin.username, "password": PASSWORD, "otp": totp_code(device)},
        format="json",
    )
    token = answer.json()["token"]
    hosts = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/v1/hosts/")
    assert hosts.status_code == 200


def test_member_without_authenticator_gets_a_token_with_the_password_only(world):
    answer = APIClient().post(
        "/api/v1/auth/token/",
        {"username": world.member.username, "password": PASSWORD},
        format="json",
    )
    assert answer.status_code == 200


def test_admin_never_shows_an_authenticators_secret(world, admin_client):
    device = enrolled_device(world.member)
    page = admin_client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200
    assert device.key.encode() not in page.content


def test_the_second_step_page_offers_no_navigation(world):
    enrolled_device(world.member)
    page = password_login(world.member).get("/account/two-factor/verify/").content.decode()
    assert 'href="/quotas/"' not in page and 'href="/tokens/"' not in page
    assert "Log out" in page
