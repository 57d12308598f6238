"""The main pages in French carry no English left over, and sizes read in Gio / Mio."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from compute.choices import RuntimeState, VMState
from tests.factories import FlavorFactory, HostFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db

# English a French reader must never meet: navigation, headings, table columns, units, filters.
ENGLISH = [
    "Virtual machines",
    "Request a VM",
    "My VMs",
    "Tenant VMs",
    "Flavor",
    "Environment",
    "State",
    "Owner",
    "Requested",
    "Costs",
    "Approvals",
    "Audit log",
    "Log out",
    "used",
    "reserved",
    "Name contains",
    "Filter",
    "All states",
    "All environments",
    "Newest first",
    "Invoices",
    "Password",
    "SSH keys",
    "API tokens",
    "ago",
    "Skip to content",
    "Platform",
    "GiB",
    "MiB",
    "Resize requested",
]


class _Text(HTMLParser):
    """The text a reader sees, plus the labels a screen reader reads (aria-label, title)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "title", "placeholder") and value:
                self.parts.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


@pytest.fixture
def seeded(world):
    flavor = FlavorFactory(name="xlarge", vcpus=16, ram_mib=131072, disk_gib=400)
    host = HostFactory(name="node-1")
    vm = VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=flavor,
        name="web-1",
        state=VMState.RUNNING,
        runtime_state=RuntimeState.RUNNING,
        host=host,
    )
    VirtualMachineFactory(environment=world.production, owner=world.member, name="db-1")
    return vm


@pytest.mark.parametrize(
    ("role", "paths"),
    [
        ("member", ["/", "/vms/new/", "/quotas/", "/flavors/", "/volumes/", "/vms/{vm}/"]),
        ("tenant_admin", ["/", "/approvals/", "/tenant/", "/audit/", "/costs/"]),
        ("platform_admin", ["/hosts/", "/capacity/", "/finance/invoices/"]),
        ("finance", ["/finance/"]),
    ],
)
def test_french_pages_have_no_english_left(world, seeded, client, role, paths):
    client.force_login(getattr(world, role))
    for path in paths:
        answer = client.get(path.format(vm=seeded.pk), HTTP_ACCEPT_LANGUAGE="fr")
        assert answer.status_code == 200, path
        text = visible_text(answer.content.decode())
        left = [w for w in ENGLISH if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
        assert left == [], f"{path}: {left}"


def test_sizes_read_in_gio_in_french(world, seeded, client):
    client.force_login(world.member)
    flavors = visible_text(client.get("/flavors/", HTTP_ACCEPT_LANGUAGE="fr").content.decode())
    assert "128\u00a0Gio" in flavors and "400\u00a0Gio" in flavors
    page = visible_text(
        client.get(f"/vms/{seeded.pk}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    )
    assert "128\u00a0Gio" in page
