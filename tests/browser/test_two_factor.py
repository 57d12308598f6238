"""A platform admin's first sign-in leads into setting up an authenticator (QR code, secret, a
code); the next sign-in asks for a code after the password."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from tests.browser.conftest import PASSWORD, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def code_for(secret: str, *, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this secret (as read on the page)."""
    totp = TOTP(b32decode(secret.replace(" ", "")), 30, 0, 6, 0)
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def password_step(page: Page, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("width", [1200, 390])
def test_platform_admin_enrols_then_signs_in_with_a_code(browser, live_server, world, width):
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", viewport={"width": width, "height": 860}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    admin = world.platform_admin.username

    password_step(page, admin)
    expect(page).to_have_url(re.compile(r"/account/two-factor/\?next="))
    expect(page.locator(".notice")).to_contain_text("requires two-factor sign-in")
    expect(page.locator(".qr svg")).to_be_visible()
    # Nothing else is reachable before the set-up.
    page.goto("/hosts/")
    expect(page).to_have_url(re.compile(r"/account/two-factor/\?next=%2Fhosts%2F"))
    shot(page, f"two-factor-setup-{width}")

    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code", exact=True).fill(code_for(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    shot(page, f"two-factor-recovery-{width}")
    page.get_by_role("link", name="Continue").click()
    expect(page).to_have_url(re.compile(r"/hosts/$"))
    expect(page.get_by_role("heading", level=1)).to_be_visible()

    # Log out, log in again: the password, then a code (the next period's: a code counts once).
    if width < 900:  # on a phone the account links are behind the menu button
        page.get_by_role("button", name="Menu").click()
    page.locator(".who").get_by_role("button", name="Log out").click()
    password_step(page, admin)
    expect(page).to_have_url(re.compile(r"/account/two-factor/verify/"))
    shot(page, f"two-factor-verify-{width}")
    page.get_by_label("Code", exact=True).fill(code_for(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    expect(page).not_to_have_url(re.compile(r"two-factor"))
    page.goto("/account/two-factor/")
    expect(page.locator("#two-factor-on")).to_contain_text("cannot be turned off")
    shot(page, f"two-factor-on-{width}")
    context.close()
