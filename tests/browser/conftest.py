"""Fixtures for the browser tests: headless Chromium, logged-in pages, a real worker, a host."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from compute.models import Host
from portal import twofactor
from portal.models import User
from tests.conftest import make_sim_host
from tests.support.otp import enrolled_device, totp_code
from tests.support.worker import Worker, celery_worker

# Playwright's sync API keeps an event loop running in the test thread; Django would otherwise
# refuse ORM calls from it (the test's own setup and assertions).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "pw-for-tests"  # tests.factories.UserFactory
# Long enough that every progress step is seen by the page's 1 s poll, short enough to keep
# the module well under a minute.
STEP_DELAY_SECONDS = "0.7"
# Set to a directory to keep a PNG of the pages the tests look at.
SHOTS = os.environ.get("NUAGE_SCREENSHOT_DIR", "")


# Per module, not per session: Playwright's sync API keeps an event loop on the main thread while
# it runs, and tests that drive ASGI code with async_to_sync (the console consumers) must not run
# inside it.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def login(browser: Browser, live_server) -> Iterator[Callable[[User], Page]]:
    """login(user, locale) -> a page signed in as that user, in its own browser context (own
    cookies), whose browser asks for `locale` (Accept-Language)."""
    contexts: list[BrowserContext] = []

    def _login(user: User, locale: str = "en-GB") -> Page:
        context = browser.new_context(
            base_url=live_server.url, locale=locale, viewport={"width": 1200, "height": 800}
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        # Platform roles sign in with a code too: they get an authenticator, whose code the
        # second step is given.
        device = enrolled_device(user) if twofactor.required_for(user) else None
        page.goto("/login/")
        page.locator("input[name=username]").fill(user.username)
        page.locator("input[name=password]").fill(PASSWORD)
        page.locator("form button[type=submit]").first.click()
        page.wait_for_url(lambda url: "/login/" not in url)
        if device is not None:
            page.wait_for_url("**/account/two-factor/verify/**")
            page.locator("input[name=code]").fill(totp_code(device))
            page.locator("form button[type=submit]").first.click()
            page.wait_for_url(lambda url: "/two-factor/" not in url)
        return page

    yield _login
    for context in contexts:
        context.close()


def shot(page: Page, name: str) -> None:
    """Keep a full-page screenshot when NUAGE_SCREENSHOT_DIR is set (for looking, not asserting)."""
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def worker(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Worker]:
    """A Celery worker process (threads pool) on the test database, shared by a module.

    Started after the test database exists so that it connects to it; each test's rows are
    committed (live_server is transactional), so the worker sees them.
    """
    with django_db_blocker.unblock():
        with celery_worker(
            tmp_path_factory.mktemp("worker"),
            extra_env={"NUAGE_STEP_DELAY_SECONDS": STEP_DELAY_SECONDS},
        ) as running:
            yield running


@pytest.fixture
def host(transactional_db: None, tmp_path: Path) -> Host:
    """A simulated host (libvirt test driver); the worker process keeps its domains."""
    return make_sim_host(tmp_path)
