"""The session ends while a form is open: after login the page comes back with what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from compute.models import VirtualMachine
from tests.browser.conftest import PASSWORD, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_form_sent_after_the_session_ended_comes_back_filled_in(login, world, flavor, image):
    page = login(world.member)
    page.goto("/vms/new/")
    page.locator("input[name=name]").fill("web-42")
    # The session ends (expired, or logged out elsewhere); the CSRF cookie stays.
    page.context.clear_cookies(name="sessionid")
    page.get_by_role("button", name="Submit request").click()

    page.wait_for_url("**/login/**")
    expect(page.get_by_text("what you sent was not done")).to_be_visible()
    page.locator("input[name=username]").fill(world.member.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()

    page.wait_for_url("**/vms/new/")
    expect(page.locator("input[name=name]")).to_have_value("web-42")
    expect(page.locator("form[data-replayed]")).to_have_count(1)
    expect(page.locator("[data-replay-notice]")).to_contain_text("send it again")
    assert not VirtualMachine.objects.filter(name="web-42").exists()
    shot(page, "session-replay")
