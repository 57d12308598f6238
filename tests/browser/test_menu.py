"""The top menu folds behind a "Menu" button on phones; the platform pages are grouped."""

from __future__ import annotations

import pytest

from tests.browser.conftest import shot
from tests.browser.test_reach import AXE, _axe

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_menu_folds_on_a_phone_and_opens_with_the_keyboard(login, world):
    page = login(world.platform_admin)
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto("/")
    toggle = page.get_by_role("button", name="Menu")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not page.get_by_role("link", name="Hosts").is_visible()
    toggle.focus()
    page.keyboard.press("Enter")
    assert toggle.get_attribute("aria-expanded") == "true"
    platform = page.get_by_role("group", name="Platform")
    assert platform.get_by_role("link", name="Hosts").is_visible()
    assert platform.get_by_role("link", name="Capacity").is_visible()
    shot(page, "reach-menu-open-390")
    if AXE.exists():  # the open menu on a phone passes the same checks as the pages
        assert _axe(page) == []
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false"
    assert not page.get_by_role("link", name="Hosts").is_visible()
    page.set_viewport_size({"width": 1366, "height": 800})
    assert page.get_by_role("link", name="Hosts").is_visible()
    assert not toggle.is_visible()
