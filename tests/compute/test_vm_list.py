"""The VM list in the browser and the API: pages of 100, filters, stable sort orders."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compute.choices import VMState
from tests.factories import VirtualMachineFactory

pytestmark = pytest.mark.django_db


def names_on(page: str) -> list[str]:
    return re.findall(r'<tr data-vm="([^"]+)"', page)


def make_vms(world, n: int, prefix: str = "web", **fields):
    return [
        VirtualMachineFactory(
            environment=world.development, owner=world.member, name=f"{prefix}-{i:03d}", **fields
        )
        for i in range(n)
    ]


def test_browser_list_pages_by_100_and_keeps_filters_in_links(world, other_world, client):
    make_vms(world, 130)
    VirtualMachineFactory(environment=other_world.development, name="web-theirs")
    client.force_login(world.member)
    first = client.get("/?sort=name").content.decode()
    assert names_on(first) == [f"web-{i:03d}" for i in range(100)]
    assert "Page 1 of 2 (130 VMs)" in first
    assert 'href="?sort=name&amp;page=2"' in first
    second = client.get("/?sort=name&page=2").content.decode()
    assert names_on(second) == [f"web-{i:03d}" for i in range(100, 130)]
    assert "web-theirs" not in first + second


def test_browser_list_filters_by_state_environment_and_name(world, client):
    make_vms(world, 3)
    VirtualMachineFactory(
        environment=world.production, owner=world.member, name="db-1", state=VMState.RUNNING
    )
    client.force_login(world.member)
    assert names_on(client.get("/?state=running").content.decode()) == ["db-1"]
    assert names_on(client.get("/?environment=production").content.decode()) == ["db-1"]
    assert names_on(client.get("/?q=WEB-00&sort=-name").content.decode()) == [
        "web-002",
        "web-001",
        "web-000",
    ]
    page = client.get("/?state=bogus").content.decode()
    assert "Select a valid choice" in page  # the bad filter is named, the list still shows
    assert len(names_on(page)) == 4


def test_api_orders_stably_and_filters_by_name(world, api):
    vms = make_vms(world, 5)
    api.force_authenticate(world.member)
    body = api.get("/api/v1/vms/?ordering=-name&limit=2&offset=1").json()
    assert [v["name"] for v in body["results"]] == ["web-003", "web-002"]
    assert body["count"] == 5
    body = api.get("/api/v1/vms/?name__icontains=004").json()
    assert [v["id"] for v in body["results"]] == [vms[4].pk]
    assert api.get("/api/v1/vms/?ordering=owner__password").status_code == 200  # ignored
    # Ties on the sort key fall back to the id, so pages neither overlap nor skip.
    names = [
        v["name"]
        for offset in range(5)
        for v in api.get(f"/api/v1/vms/?ordering=state&limit=1&offset={offset}").json()["results"]
    ]
    assert sorted(names) == [f"web-{i:03d}" for i in range(5)]


def test_query_count_does_not_grow_with_the_list(world, client, api):
    client.force_login(world.member)
    api.force_authenticate(world.member)

    def queries(path: str, via) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert via.get(path).status_code == 200
        return len(ctx.captured_queries)

    make_vms(world, 3)
    small = (queries("/", client), queries("/api/v1/vms/", api))
    make_vms(world, 40, prefix="app", state=VMState.RUNNING)
    assert (queries("/", client), queries("/api/v1/vms/", api)) == small
