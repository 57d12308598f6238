"""Snapshots are billed per GiB-hour of their size measured on the host (whole GiB, rounded
up), exactly to the second, from the instant they are taken to their deletion (or their VM's):
cents computed by hand below."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.choices import Resource
from billing.selectors import usage_report
from compute import services
from compute.models import Snapshot
from tests.billing.conftest import price_list

pytestmark = pytest.mark.django_db

CREATED = datetime(2025, 10, 3, 8, 0, 0, tzinfo=UTC)
TAKEN = CREATED + timedelta(hours=1)
DELETED = TAKEN + timedelta(seconds=181_815)  # 50 h 30 min 15 s later
OCTOBER = (datetime(2025, 10, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC))


def snapshot_lines(world):
    lines = usage_report(fetched_by=world.tenant_admin, start=OCTOBER[0], end=OCTOBER[1])
    return [
        (ln.quantity, ln.seconds, ln.amount) for ln in lines if ln.resource == Resource.SNAPSHOT
    ]


@pytest.fixture
def vm(world, clock, sim_host, flavor, image, run_on_commit):
    price_list(
        datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "0.0137", snapshot_gib_hour="0.05"
    )
    clock.set(CREATED)
    return services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
    )


def test_a_snapshot_is_charged_from_taken_to_deleted(world, clock, vm):
    clock.set(TAKEN)
    snapshot = services.snapshot_create(vm=vm, name="before", requested_by=world.member)
    snapshot.refresh_from_db()
    assert snapshot.state == "ready"
    # The test driver's disk does not grow: the size billed is the minimum, 1 GiB.
    assert (snapshot.size_bytes, snapshot.size_gib) == (0, 1)
    clock.set(DELETED)
    services.snapshot_delete(snapshot=snapshot, requested_by=world.member)
    clock.set(datetime(2025, 12, 1, tzinfo=UTC))
    # 1 GiB x 181,815 s x 0.05 / 3,600 = 2.52520833... -> 2.53
    assert snapshot_lines(world) == [(Decimal(1), Decimal(181_815), Decimal("2.53"))]


def test_deleting_the_vm_stops_its_snapshots_charge_at_that_second(world, clock, vm):
    clock.set(TAKEN)
    services.snapshot_create(vm=vm, name="one", requested_by=world.member)
    services.snapshot_create(vm=vm, name="two", requested_by=world.member)
    clock.set(DELETED)
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    clock.set(datetime(2025, 12, 1, tzinfo=UTC))
    assert set(Snapshot.objects.values_list("state", flat=True)) == {"deleted"}
    # 2 snapshots of 1 GiB: 2 GiB x 181,815 s x 0.05 / 3,600 = 5.05041666... -> 5.05
    assert snapshot_lines(world) == [(Decimal(2), Decimal(181_815), Decimal("5.05"))]


def test_the_billed_size_rounds_the_measured_bytes_up_to_whole_gib():
    gib = 1 << 30
    sizes = [0, 1, gib, gib + 1, 5 * gib // 2]
    assert [Snapshot(size_bytes=n).size_gib for n in sizes] == [1, 1, 1, 2, 3]
