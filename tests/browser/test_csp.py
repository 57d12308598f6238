"""Every main page, for each role, runs under the Content-Security-Policy without a violation:
no inline script or handler is left, and the consoles' websockets are allowed (connect-src)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from billing import invoicing
from compute.choices import VMState
from tests.factories import HostFactory, VirtualMachineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EVERYONE = [
    "/",
    "/vms/new/",
    "/quotas/",
    "/tenant/",
    "/networks/",
    "/volumes/",
    "/flavors/",
    "/keys/",
    "/tokens/",
    "/account/password/",
    "/account/two-factor/",
    "/api/docs/",
    "/api/v1/vms/",
]
PAGES: dict[str, list[str]] = {
    "member": [*EVERYONE, "/costs/", "{vm}", "{serial}", "{vnc}"],
    "approver": [*EVERYONE, "/approvals/", "/costs/"],
    "tenant_admin": [*EVERYONE, "/approvals/", "/costs/", "/audit/", "/finance/invoices/"],
    "finance": [*EVERYONE, "/finance/", "/finance/invoices/", "{invoice}", "{vm}"],
    "platform_admin": [
        *EVERYONE,
        "/approvals/",
        "/audit/",
        "/hosts/",
        "/hosts/drs/",
        "/capacity/",
        "/images/",
        "/finance/",
        "{vm}",
        "/admin/",
        "/admin/portal/user/",
        "/admin/compute/host/",
        "/admin/portal/tenant/add/",
    ],
}

# Collects CSP violations as the page sees them (the event) and as Chromium reports them.
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


def violations_on(page: Page, path: str, console: list[str]) -> list[str]:
    console.clear()
    answer = page.goto(path)
    assert answer is not None and answer.status < 400, (path, answer and answer.status)
    assert "default-src 'self'" in (answer.header_value("content-security-policy") or ""), path
    page.wait_for_load_state("load")
    found = list(page.evaluate("window.__csp || []"))
    return found + [m for m in console if "Content Security Policy" in m]


@pytest.mark.parametrize("role", list(PAGES))
def test_main_pages_run_without_a_csp_violation(
    login: Callable[..., Page], world, role, host, flavor, image
):
    user = getattr(world, role)
    vm = VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        state=VMState.RUNNING,
        host=HostFactory(),
        flavor=flavor,
        image=image,
    )
    invoice, _ = invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=10
    )
    fill = {
        "{vm}": f"/vms/{vm.pk}/",
        "{serial}": f"/vms/{vm.pk}/console/serial/",
        "{vnc}": f"/vms/{vm.pk}/console/vnc/",
        "{invoice}": f"/finance/invoices/{invoice.pk}/",
    }
    page = login(user)
    page.context.add_init_script(WATCH)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    found = {}
    for path in PAGES[role]:
        problems = violations_on(page, fill.get(path, path), console)
        if problems:
            found[path] = problems
    assert found == {}


def test_a_websocket_to_the_same_host_is_allowed(login, world):
    """connect-src 'self' covers ws: to the page's own host (CSP Level 3), as the consoles need;
    another host is refused."""
    page = login(world.member)
    page.context.add_init_script(WATCH)
    page.goto("/")
    blocked = page.evaluate(
        """async () => {
          const seen = [];
          document.addEventListener("securitypolicyviolation", (e) => seen.push(e.blockedURI));
          const same = new WebSocket(`ws://${location.host}/ws/nothing/`);
          same.onerror = () => {};
          let refused = false;
          try { new WebSocket("ws://192.0.2.1:9/elsewhere/"); } catch (e) { refused = true; }
          await new Promise((resolve) => setTimeout(resolve, 300));
          return {seen, refused};
        }"""
    )
    own = page.evaluate("location.host")
    assert [uri for uri in blocked["seen"] if own in uri] == []
    assert blocked["refused"] or any("192.0.2.1" in uri for uri in blocked["seen"])


def test_the_login_page_runs_without_a_csp_violation(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    context.add_init_script(WATCH)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    assert violations_on(page, "/login/", console) == []
    context.close()
