"""The capacity dashboard: allocated against physical and the overcommit limit, measured load
from the metering samples, per host and in total; the page's charts and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from compute.choices import VMState
from compute.models import Host, VirtualMachine
from metering.models import MeterSample
from tests.factories import FlavorFactory, HostFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


def sample(vm: VirtualMachine, *, cpu: float, mem: int, minutes_ago: float) -> None:
    MeterSample.objects.create(
        vm=vm, host_id=vm.host_id, at=timezone.now() - timedelta(minutes=minutes_ago),
        cpu_time_ns=0, disk_read_bytes=0, disk_write_bytes=0, net_rx_bytes=0, net_tx_bytes=0,
        vcpus=vm.flavor.vcpus, memory_mib=vm.flavor.ram_mib, memory_used_mib=mem,
        cpu_used_vcpus=cpu,
    )  # fmt: skip


@pytest.fixture
def pool(world):
    """Two hosts: one with its own CPU ratio and two VMs measured, one empty and unmeasured."""
    web = HostFactory(name="web-host", cpus=8, memory_mib=16384, disk_gib=500, cpu_ratio=2)
    spare = HostFactory(name="spare-host", cpus=16, memory_mib=32768, disk_gib=1000)
    flavor = FlavorFactory(vcpus=4, ram_mib=4096, disk_gib=40)
    vms = [
        VirtualMachineFactory(
            environment=world.development,
            owner=world.member,
            flavor=flavor,
            host=web,
            state=state,
        )
        for state in (VMState.RUNNING, VMState.STOPPED)
    ]
    # A deleted VM holds nothing.
    VirtualMachineFactory(
        environment=world.development, owner=world.member, host=web, state=VMState.DELETED
    )
    for minutes in (2, 4):
        sample(vms[0], cpu=3.0, mem=3000, minutes_ago=minutes)
    sample(vms[0], cpu=8.0, mem=4000, minutes_ago=600)  # outside an hour's window
    return web, spare


def test_the_api_gives_allocated_limit_physical_and_measured_per_host_and_in_total(
    world, api, pool
):
    web, spare = pool
    api.force_authenticate(world.platform_admin)
    body = api.get("/api/v1/capacity/?minutes=60").json()
    rows = {r["name"]: r for r in body["rows"]}
    assert rows["web-host"]["vms"] == 2
    assert rows["web-host"]["cpu"] == {
        "physical": 8,
        "limit": 16,  # its own ratio 2
        "allocated": 8,
        "used": 3.0,
        "allocated_percent": 100.0,
        "limit_percent": 200.0,
        "used_percent": 37.5,
    }
    assert rows["web-host"]["memory"]["allocated"] == 8192
    assert rows["web-host"]["memory"]["used"] == 3000
    assert rows["web-host"]["disk"]["allocated"] == 80
    assert rows["web-host"]["disk"]["used"] is None
    assert rows["web-host"]["samples"] == 2
    # The spare host takes the platform's default ratio (4.0) and was not measured.
    assert rows["spare-host"]["cpu"]["limit"] == 64
    assert rows["spare-host"]["cpu"]["used"] is None
    total = body["total"]
    assert total["host_id"] is None
    assert (total["cpu"]["physical"], total["cpu"]["limit"], total["cpu"]["allocated"]) == (
        24,
        80,
        8,
    )
    assert total["cpu"]["used"] == 3.0
    assert total["memory"]["physical"] == 16384 + 32768
    # A longer window takes the old sample in.
    longer = api.get("/api/v1/capacity/?minutes=720").json()
    web_row = next(r for r in longer["rows"] if r["name"] == "web-host")
    assert web_row["cpu"]["used"] == pytest.approx((3.0 + 3.0 + 8.0) / 3)


def test_a_bad_window_is_a_field_error(world, api, pool):
    api.force_authenticate(world.platform_admin)
    answer = api.get("/api/v1/capacity/?minutes=0")
    assert answer.status_code == 400
    assert "minutes" in answer.json()


def test_the_page_draws_charts_with_the_limit_and_a_table(world, client, pool):
    client.force_login(world.platform_admin)
    page = client.get("/capacity/").content.decode()
    assert page.count('class="chart"') == 4  # the pool, then vCPUs, memory and disk per host
    # Hosts have different CPU ratios: each host's limit is a bar of its own...
    assert "web-host · Overcommit limit: 200.00%" in page
    # ...while every host has the same memory ratio: one dashed limit line at 100%.
    assert 'stroke-dasharray="4 3"' in page
    assert "web-host · Measured: 37.50%" in page
    assert '<tr data-host="web-host">' in page
    assert "8 / 16 / 8" in page  # vCPUs allocated / limit / physical
    assert "—" in page  # the spare host's measured load: no samples
    assert 'href="/capacity/"' in page  # in the navigation


def test_the_dashboard_reads_a_fixed_number_of_queries(
    world, client, pool, django_assert_max_num_queries
):
    Host.objects.bulk_create(
        Host(name=f"more-{i}", uri=f"test:///more-{i}.xml", cpus=8, memory_mib=8192)
        for i in range(30)
    )
    client.force_login(world.platform_admin)
    with django_assert_max_num_queries(12):
        assert client.get("/capacity/").status_code == 200


def test_only_platform_admins_see_capacity(world, client, api, pool):
    for user in (world.member, world.tenant_admin, world.finance):
        client.force_login(user)
        assert client.get("/capacity/").status_code == 404
        assert 'href="/capacity/"' not in client.get("/").content.decode()
        api.force_authenticate(user)
        assert api.get("/api/v1/capacity/").status_code == 403


def _three_views(world, host: Host) -> dict[str, tuple[int, int, int]]:
    """vCPUs, RAM and disk allocated on `host` as placement, DRS and both capacity pages see it."""
    from compute import balancing, selectors
    from compute.services.placement import _host_states

    (placed,) = _host_states(Host.objects.filter(pk=host.pk))
    drs_host = next(
        h.capacity
        for h in balancing.drs_states(since=timezone.now())[0]
        if h.capacity.id == host.pk
    )
    report = selectors.capacity_report(fetched_by=world.platform_admin, since=timezone.now())
    assert report is not None
    row = next(r for r in report.rows if r.host_id == host.pk)
    listed = next(
        r for r in selectors.host_capacity_list(fetched_by=world.platform_admin) if r.host == host
    )
    views = {
        "placement": (placed.used_vcpus, placed.used_ram_mib, placed.used_disk_gib),
        "drs": (drs_host.used_vcpus, drs_host.used_ram_mib, drs_host.used_disk_gib),
        "capacity": (row.cpu.allocated, row.memory.allocated, row.disk.allocated),
    }
    assert (listed.vcpus_allocated, listed.ram_allocated_mib) == views["capacity"][:2]
    return views


def test_placement_drs_and_capacity_agree_on_a_migration_in_flight(world, pool):
    from compute.choices import OperationKind, OperationStatus
    from compute.models import Operation

    web, spare = pool
    moving = VirtualMachine.objects.filter(host=web, state=VMState.RUNNING).get()
    VirtualMachine.objects.filter(pk=moving.pk).update(state=VMState.MIGRATING)
    op = Operation.objects.create(
        vm=moving,
        kind=OperationKind.MIGRATE,
        status=OperationStatus.RUNNING,
        source_host=web,
        target_host=spare,
    )
    # Before the switch: the VM holds room on its source and its claim on the target.
    for host, expected in ((web, (8, 8192, 80)), (spare, (4, 4096, 40))):
        views = _three_views(world, host)
        assert set(views.values()) == {expected}, (host.name, views)

    # The migrating step switched the VM's host; the operation is still cleaning the source.
    VirtualMachine.objects.filter(pk=moving.pk).update(host=spare)
    for host, expected in ((web, (4, 4096, 40)), (spare, (4, 4096, 40))):
        views = _three_views(world, host)
        assert set(views.values()) == {expected}, (host.name, views)

    # Once the operation ended, nothing is claimed twice.
    Operation.objects.filter(pk=op.pk).update(status=OperationStatus.SUCCEEDED)
    VirtualMachine.objects.filter(pk=moving.pk).update(state=VMState.RUNNING)
    assert set(_three_views(world, spare).values()) == {(4, 4096, 40)}


def test_one_query_sums_what_is_placed_and_what_is_coming_on_each_host(
    world, pool, django_assert_num_queries
):
    from compute.choices import OperationKind, OperationStatus
    from compute.models import Operation
    from compute.services.placement import HostAllocation, host_allocations

    web, spare = pool
    VirtualMachineFactory(
        environment=world.development,
        owner=world.member,
        flavor=FlavorFactory(vcpus=1, ram_mib=1024, disk_gib=10),
        host=spare,
        state=VMState.STOPPED,
    )
    moving = VirtualMachine.objects.filter(host=web, state=VMState.RUNNING).get()
    VirtualMachine.objects.filter(pk=moving.pk).update(state=VMState.MIGRATING)
    Operation.objects.create(
        vm=moving,
        kind=OperationKind.MIGRATE,
        status=OperationStatus.RUNNING,
        source_host=web,
        target_host=spare,
    )

    with django_assert_num_queries(1):
        sums = host_allocations()

    # The migrating VM counts on its source and, as incoming, on its target with what is
    # already placed there.
    assert sums[web.pk] == HostAllocation(vms=2, running=0, vcpus=8, ram_mib=8192, disk_gib=80)
    assert sums[spare.pk] == HostAllocation(
        vms=1, running=0, incoming=1, vcpus=5, ram_mib=5120, disk_gib=50
    )
    assert host_allocations([spare.pk]) == {spare.pk: sums[spare.pk]}
    # The statement written out for PostgreSQL (prepared) gives the ORM's rows.
    from compute.services.placement import _allocation_rows, _allocation_rows_orm

    for ids in (None, [spare.pk], [web.pk, spare.pk], []):
        assert sorted(_allocation_rows(ids)) == sorted(_allocation_rows_orm(ids))
