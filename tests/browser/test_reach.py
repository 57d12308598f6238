"""Every page each role can reach fits a phone (390 px) and a laptop (1366 px) without sideways
scrolling, and passes axe-core's WCAG 2.1 AA rules without serious or critical violations."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import resolve
from django.utils import timezone
from playwright.sync_api import Page

from billing.invoicing.services import invoice_draft
from compute.choices import ImportStatus, RuntimeState, VMState
from compute.models import ImportJob
from portal.models import Environment
from tests.billing.conftest import price_list, run
from tests.browser.conftest import shot
from tests.factories import FlavorFactory, HostFactory, QuotaRequestFactory, VirtualMachineFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = (390, 1366)
LONG = "analytics-pipeline-ingest-worker-long-name-0001"
LONGER = "staging-customer-portal-frontend-with-a-very-long-name-01"

# The HTML pages of the portal (url names). Everything else in the URL conf is a POST target,
# a download, an htmx partial, or a page of the signing-in flow that the login fixture walks.
PAGES = {
    "vm-list",
    "vm-request",
    "vm-detail",
    "vm-console",
    "approvals",
    "overview",
    "volumes",
    "networks",
    "flavors",
    "tenant",
    "costs",
    "finance",
    "invoice-list",
    "invoice-detail",
    "audit",
    "hosts",
    "drs",
    "capacity",
    "image-import",
    "image-import-job",
    "keypairs",
    "tokens",
    "password-change",
    "two-factor",
}
# Links that leave the portal's own templates (Django's admin, the Swagger page).
FOREIGN = ("/admin/", "/api/")


@dataclass
class Seeded:
    vm_pk: int
    invoice_pk: int
    import_pk: int
    visited: set[str] = field(default_factory=set)


@pytest.fixture
def seeded(world, monkeypatch) -> Seeded:
    """A tenant with long names, VMs in several states, usage, an invoice, audit entries."""
    now = timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if now - month_start < timedelta(hours=3):
        monkeypatch.setattr(timezone, "now", lambda: month_start + timedelta(days=9))
    world.tenant.name = "Apollo Interplanetary Research and Development Laboratories Europe"
    world.tenant.save()
    long_env = Environment.objects.create(
        tenant=world.tenant, name="continuous-integration-and-staging", requires_approval=True
    )
    price_list(datetime(2020, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    big = FlavorFactory(name="memory-optimised-xlarge", vcpus=16, ram_mib=131072, disk_gib=400)
    host = HostFactory(name="compute-node-rack-12-slot-04.datacentre-paris.example.net")
    vm = VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=big,
        name=LONG,
        state=VMState.RUNNING,
        runtime_state=RuntimeState.RUNNING,
        host=host,
    )
    run(vm, month_start - timedelta(days=20))
    VirtualMachineFactory(environment=long_env, owner=world.member, name=LONGER)
    VirtualMachineFactory(environment=world.production, owner=world.other_member, name="db-1")
    QuotaRequestFactory(environment=world.development, requested_by=world.member)
    last = month_start - timedelta(days=1)
    invoice, _ = invoice_draft(
        drafted_by=None, tenant=world.tenant, year=last.year, month=last.month
    )
    failed_import = ImportJob.objects.create(
        name=LONGER,
        requested_by=world.platform_admin,
        status=ImportStatus.FAILED,
        size_bytes=3 * 2**30,
        finished_at=now,
        error_message="The digest of 'analytics-pipeline-ingest-worker-long-name-0001-disk1.vmdk'"
        " does not match the manifest: the file is damaged or was changed.",
    )
    return Seeded(vm_pk=vm.pk, invoice_pk=invoice.pk, import_pk=failed_import.pk)


def _pages(page: Page, seeded: Seeded) -> list[str]:
    """The role's menu and account links, plus the detail pages its lists lead to."""
    hrefs = page.eval_on_selector_all(
        "#site-menu a[href]", "links => links.map(a => a.getAttribute('href'))"
    )
    paths = [h for h in hrefs if h.startswith("/") and not h.startswith(FOREIGN)]
    names = {resolve(urlsplit(p).path).url_name for p in paths}
    if "vm-list" in names:
        paths.append(f"/vms/{seeded.vm_pk}/")
    if "invoice-list" in names:
        paths.append(f"/finance/invoices/{seeded.invoice_pk}/")
    if "hosts" in names:
        paths.append("/hosts/drs/")
    if "image-import" in names:
        paths.append(f"/images/imports/{seeded.import_pk}/")
    paths.append("/account/two-factor/")
    return list(dict.fromkeys(paths))


def _axe(page: Page) -> list[dict]:
    # Not add_script_tag: the Content-Security-Policy (script-src 'self') refuses inline
    # scripts, and the check must run against the page as users get it. Playwright's evaluate
    # goes through the DevTools protocol, which the policy does not govern.
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
              values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:3]],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def axe_available() -> Iterator[None]:
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make install` (npm ci installs axe-core)")
    yield


ROLES = ("member", "tenant_admin", "approver", "finance", "platform_admin")


def _walk(page: Page, seeded: Seeded, label: str, widths: tuple[int, ...], axe: bool) -> str:
    """Every page of the role at each width; what overflowed and what axe found, as JSON."""
    overflowing: dict[str, list[int]] = {}
    violations: dict[str, list[dict]] = {}
    paths = _pages(page, seeded)
    for path in paths:
        name = resolve(urlsplit(path).path).url_name
        seeded.visited.add(name)
        for width in widths:
            page.set_viewport_size({"width": width, "height": 800})
            response = page.goto(path)
            assert response is not None and response.status == 200, (path, response)
            scroll, inner = page.evaluate(
                "[document.documentElement.scrollWidth, window.innerWidth]"
            )
            if scroll > inner:
                overflowing.setdefault(path, []).extend([width, scroll])
            shot(page, f"reach-{label}-{name}-{width}")
            if name == "vm-detail" and width == widths[-1]:
                # The consoles, for the roles whose VM page offers them.
                paths += page.eval_on_selector_all(
                    "main a[href*='/console/']", "links => links.map(a => a.getAttribute('href'))"
                )
            if axe:  # at both widths: the phone layout (cards, folded menu) too
                found = _axe(page)
                if found:
                    violations[path] = found
    if not overflowing and not violations:
        return ""
    return json.dumps(
        {"wider than the window (width, scrollWidth)": overflowing, "axe": violations}, indent=1
    )


@pytest.mark.parametrize("role", ROLES)
def test_every_page_fits_both_widths_and_passes_axe(login, world, seeded, axe_available, role):
    page = login(getattr(world, role))
    problems = _walk(page, seeded, role, WIDTHS, axe=True)
    _VISITED.update(seeded.visited)
    assert problems == ""


@pytest.mark.parametrize("role", ["tenant_admin", "platform_admin"])
def test_french_pages_fit_a_phone(login, world, seeded, role):
    """French words run longer: the same pages at 390 px, in French."""
    page = login(getattr(world, role), locale="fr-FR")
    assert _walk(page, seeded, f"fr-{role}", (390,), axe=False) == ""


_VISITED: set[str] = set()


def test_the_roles_together_reach_every_page():
    """Runs after the parametrised walk: a new page missing from every role's menu fails here."""
    if len(_VISITED) == 0:
        pytest.skip("the walk did not run in this session")
    assert PAGES - _VISITED == set()
