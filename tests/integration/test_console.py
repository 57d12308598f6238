"""The browser consoles of a real QEMU guest: type into its serial console, see its display.

The tiny guest runs a shell on ttyS0 after its marker. Nuage's pages and websockets are served
by uvicorn in this process (tests.support.asgi); Chromium drives xterm.js and noVNC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from playwright.sync_api import Browser, Page, expect
from websockets import InvalidStatus, Origin
from websockets.sync.client import connect

from compute import hypervisor
from compute.choices import VMState
from compute.models import Host, Image, VirtualMachine
from compute.services import steps
from portal.choices import Role
from portal.models import AuditEntry, Membership, User
from tests.browser.conftest import PASSWORD, browser, shot  # noqa: F401 - the fixture
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)
from tests.integration.conftest import POOL, Guests
from tests.support.asgi import asgi_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CONNECT_TIMEOUT = 20_000  # ms; a loaded 2-core machine


@pytest.fixture
def site() -> Iterator[str]:
    with asgi_server() as url:
        yield url


@pytest.fixture
def running_vm(qemu_host: Host, tiny_image: Image, guests: Guests) -> VirtualMachine:
    """alice's VM, booted on qemu:///system with the domain XML Nuage's provisioning writes."""
    tenant = TenantFactory(name="Apollo", slug="apollo")
    development = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    alice = UserFactory(username="alice")
    MembershipFactory(tenant=tenant, user=alice, role=Role.MEMBER)
    vm = VirtualMachine.objects.create(
        tenant=tenant,
        environment=development,
        owner=alice,
        name="it-console",
        flavor=FlavorFactory(name="it-console", vcpus=1, ram_mib=256, disk_gib=1),
        image=tiny_image,
        host=qemu_host,
        state=VMState.RUNNING,
    )
    path = hypervisor.ensure_volume(
        qemu_host.uri, pool=POOL, name=vm.volume_name, capacity_gib=1, backing_volume=None
    )
    hypervisor.ensure_domain_defined(qemu_host.uri, steps._domain_spec(vm, path))
    hypervisor.ensure_domain_running(qemu_host.uri, str(vm.uuid))
    guests.wait_booted(vm.domain_name)
    return vm


def _login(browser: Browser, site: str, user: User, *, width: int = 1200) -> Page:  # noqa: F811
    context = browser.new_context(
        base_url=site, locale="en-GB", viewport={"width": width, "height": 800}
    )
    context.set_default_timeout(CONNECT_TIMEOUT)
    page = context.new_page()
    page.goto("/login/")
    page.locator("input[name=username]").fill(user.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").first.click()
    page.wait_for_url(lambda url: "/login/" not in url)
    return page


def _screen_text(page: Page) -> str:
    return page.locator(".xterm-rows").inner_text()


def _wait_line(page: Page, pattern: str) -> None:
    """Wait until a row of the terminal matches `pattern` entirely."""
    regex = re.compile(rf"^\s*{pattern}\s*$", re.MULTILINE)
    page.wait_for_function(
        "(source) => new RegExp(source, 'm').test(document.querySelector('.xterm-rows').innerText)",
        arg=regex.pattern,
        timeout=CONNECT_TIMEOUT,
    )


def _handshake_status(site: str, page: Page, ws_path: str) -> tuple[int, str]:
    """Open the console websocket outside the browser with the page's cookies; the HTTP
    status and body of the refusal (101 if it opened)."""
    cookies = SimpleCookie()
    for c in page.context.cookies():
        cookies[c["name"]] = c["value"]
    header = "; ".join(f"{k}={m.value}" for k, m in cookies.items())

    try:
        with connect(
            site.replace("http://", "ws://") + ws_path,
            additional_headers={"Cookie": header},
            origin=Origin(site),
            open_timeout=10,
        ):
            return 101, ""
    except InvalidStatus as exc:
        return exc.response.status_code, exc.response.body.decode()


def test_serial_console_runs_commands_in_two_tabs_and_closes_when_access_ends(
    browser: Browser,  # noqa: F811
    site: str,
    running_vm: VirtualMachine,
):
    vm = running_vm
    alice = vm.owner
    page = _login(browser, site, alice)
    page.goto(f"/vms/{vm.pk}/")
    page.locator("[data-console=serial]").click()
    status = page.locator("#console-status")
    expect(status).to_have_attribute("data-state", "connected", timeout=CONNECT_TIMEOUT)
    assert AuditEntry.objects.filter(action="vm.console_open", object_id=str(vm.pk)).count() == 1

    # Typing: the guest's shell answers on the serial port.
    page.locator(".xterm-helper-textarea").press_sequentially("hostname")
    page.keyboard.press("Enter")
    _wait_line(page, "nuage-guest")

    # Pasting (the form, as on a phone): a line the shell runs.
    page.locator("#console-paste-text").fill("echo pasted-$((40+2))\n")
    page.locator("#console-paste button").click()
    _wait_line(page, "pasted-42")
    shot(page, "console-serial-desktop")

    # The ticket in the page was spent: the same address is refused, and says why.
    ws_path = page.locator("#console").get_attribute("data-ws-path")
    assert ws_path
    code, body = _handshake_status(site, page, ws_path)
    assert code == 410, body
    assert "already used" in body

    # A second tab of the same VM (a phone-sized one): both stay open and see the same shell.
    phone = _login(browser, site, alice, width=390)
    phone.goto(f"/vms/{vm.pk}/console/serial/")
    expect(phone.locator("#console-status")).to_have_attribute(
        "data-state", "connected", timeout=CONNECT_TIMEOUT
    )
    phone.locator(".xterm-helper-textarea").press_sequentially("echo two-$((1+1))-tabs")
    phone.keyboard.press("Enter")
    _wait_line(phone, "two-2-tabs")
    _wait_line(page, "two-2-tabs")
    expect(status).to_have_attribute("data-state", "connected")
    shot(phone, "console-serial-390")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the console page scrolls sideways at 390 px ({width} px wide)"

    # alice leaves the tenant: both sessions close within a few seconds, saying why.
    Membership.objects.filter(user=alice).delete()
    for p in (page, phone):
        expect(p.locator("#console-status")).to_have_attribute(
            "data-state", "closed", timeout=CONNECT_TIMEOUT
        )
        expect(p.locator("#console-status")).to_contain_text("No such VM")


def test_graphical_console_connects_and_ends_when_the_vm_stops(
    browser: Browser,  # noqa: F811
    site: str,
    running_vm: VirtualMachine,
):
    vm = running_vm
    page = _login(browser, site, vm.owner)
    page.goto(f"/vms/{vm.pk}/console/vnc/")
    status = page.locator("#console-status")
    expect(status).to_have_attribute("data-state", "connected", timeout=CONNECT_TIMEOUT)
    expect(page.locator("#console canvas")).to_be_visible()
    # The display has drawn something: the kernel's text console on a VGA screen.
    page.wait_for_timeout(1500)
    shot(page, "console-vnc-desktop")
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    shot(page, "console-vnc-390")

    # A serial console open beside it: both end when the VM goes away, before any periodic
    # check could notice (Nuage still believes the VM runs).
    serial = page.context.new_page()
    serial.goto(f"/vms/{vm.pk}/console/serial/")
    expect(serial.locator("#console-status")).to_have_attribute(
        "data-state", "connected", timeout=CONNECT_TIMEOUT
    )

    assert vm.host is not None
    hypervisor.remove_domain(vm.host.uri, str(vm.uuid))
    expect(status).to_have_attribute("data-state", "closed", timeout=CONNECT_TIMEOUT)
    expect(serial.locator("#console-status")).to_have_attribute(
        "data-state", "closed", timeout=CONNECT_TIMEOUT
    )
    expect(serial.locator("#console-status")).to_contain_text("the VM stopped")
