"""Usage summed by PostgreSQL (billing/usage_sql.py) gives exactly the Python replay's lines."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from billing import selectors
from billing.choices import Resource, UsageKind
from billing.models import FlavorPrice, UsageEvent
from billing.usage import usage_lines
from billing.usage_sql import usage_lines_sql
from compute.models import VirtualMachine
from tests.billing.conftest import price_list
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    ImageFactory,
    TenantFactory,
    UserFactory,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]

T0 = datetime(2025, 3, 1, tzinfo=UTC)
# A price change mid-March (with a flat price for one flavor), and a gap no list covers.
CHANGE = datetime(2025, 3, 12, 7, 31, 5, 250_000, tzinfo=UTC)
GAP = (datetime(2025, 3, 20, 0, 0, 0, 1, tzinfo=UTC), datetime(2025, 3, 21, 13, tzinfo=UTC))
# Periods starting and ending mid-stretch, the month, and one straddling the gap.
PERIODS = [
    (T0, datetime(2025, 4, 1, tzinfo=UTC)),
    (datetime(2025, 3, 5, 3, 17, 0, 123_457, tzinfo=UTC), datetime(2025, 3, 14, 22, 1, tzinfo=UTC)),
    (datetime(2025, 3, 19, 9, tzinfo=UTC), datetime(2025, 3, 23, 0, 0, 0, 999, tzinfo=UTC)),
]


@pytest.fixture
def prices():
    """Three lists: before the change, after it (ending at the gap), after the gap."""
    flavors = [
        FlavorFactory(name=f"f{i}", vcpus=i + 1, ram_mib=1024 * (i + 1), disk_gib=10)
        for i in range(3)
    ]
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.031", "0.0043", "0.011")
    changed = price_list(CHANGE, "0.05", "0.006", "0.0203", effective_to=GAP[0])
    FlavorPrice.objects.create(price_list=changed, flavor=flavors[0], per_hour=Decimal("0.0125"))
    late = price_list(GAP[1], "0.07", "0.0071", "0.03")
    FlavorPrice.objects.create(price_list=late, flavor=flavors[1], per_hour=Decimal("0.5"))
    return flavors


def _random_ledger(rng: random.Random, flavors, *, tenants: int, vms: int) -> list[int]:
    """VMs with random histories: created before or during the period, stopped and started,
    resized, deleted (some before the period), several events at one instant, some after."""
    owner = UserFactory()
    image = ImageFactory()
    tenant_ids = []
    made = []
    for _ in range(tenants):
        env = EnvironmentFactory()
        tenant_ids.append(env.tenant_id)
        for v in range(vms):
            flavor = rng.choice(flavors)
            made.append(
                VirtualMachine(
                    tenant_id=env.tenant_id,
                    environment=env,
                    owner=owner,
                    name=f"vm-{v}",
                    flavor=flavor,
                    image=image,
                )
            )
    VirtualMachine.objects.bulk_create(made)
    events = []
    for vm in made:
        at = T0 + timedelta(hours=rng.uniform(-20 * 24, 20 * 24))
        kinds = [UsageKind.CREATED, UsageKind.STARTED]
        kinds += rng.choices(
            [UsageKind.STOPPED, UsageKind.STARTED, UsageKind.RESIZED, UsageKind.DELETED],
            weights=[4, 4, 3, 1],
            k=rng.randint(0, 12),
        )
        flavor = vm.flavor
        for n, kind in enumerate(kinds):
            if rng.random() > 0.15:  # else: the same instant as the previous event
                at += timedelta(
                    seconds=rng.randint(1, 4 * 24 * 3600), microseconds=rng.randint(0, 999_999)
                )
            if kind in (UsageKind.RESIZED, UsageKind.STARTED) and rng.random() < 0.5:
                flavor = rng.choice(flavors)
            events.append(
                UsageEvent(
                    key=f"{vm.pk}-{n}", vm=vm, tenant_id=vm.tenant_id,
                    environment_id=vm.environment_id, kind=kind, at=at,
                    vcpus=flavor.vcpus * rng.choice([1, 1, 2]),
                    ram_mib=rng.choice([512, 1536, flavor.ram_mib]),
                    disk_gib=flavor.disk_gib + rng.choice([0, 0, 5]), flavor=flavor,
                )
            )  # fmt: skip
    rng.shuffle(events)  # ids out of time order: events of one instant go by id
    UsageEvent.objects.bulk_create(events)
    return tenant_ids


def _python_lines(tenant_ids, *, start, end):
    """The reference: `usage_lines` over every event of these tenants (VMs deleted before the
    period left out, as every reader of the ledger leaves them out)."""
    rows = UsageEvent.objects.filter(tenant_id__in=tenant_ids).order_by("at", "id")
    gone = {e.vm_id for e in rows if e.kind == UsageKind.DELETED and e.at < start}
    ledger = [selectors._ledger_event(e) for e in rows if e.vm_id not in gone]
    return usage_lines(
        ledger, selectors.prices_for_period(start=start, end=end), start=start, end=end
    )


def _both(tenant_ids, *, start, end, settings):
    settings.NUAGE = {**settings.NUAGE, "USAGE_SQL": True}
    summed = list(selectors.usage_lines_of_tenants(tenant_ids, start=start, end=end))
    settings.NUAGE = {**settings.NUAGE, "USAGE_SQL": False}
    replayed = list(selectors.usage_lines_of_tenants(tenant_ids, start=start, end=end))
    return summed, replayed


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_ledgers_give_the_python_replays_lines(prices, seed, settings):
    rng = random.Random(seed)
    tenant_ids = _random_ledger(rng, prices, tenants=6, vms=40)
    kinds = set()
    for start, end in PERIODS:
        summed, replayed = _both(tenant_ids, start=start, end=end, settings=settings)
        assert summed == replayed
        flat = [line for _names, lines in summed for line in lines]
        assert flat == _python_lines(tenant_ids, start=start, end=end)
        kinds |= {(line.resource, line.price_list_id is None) for line in flat}
    # The ledgers exercised every resource, charged and uncharged (the gap).
    assert {
        (r, False) for r in (Resource.CPU, Resource.RAM, Resource.DISK, Resource.FLAVOR)
    } <= kinds
    assert (Resource.DISK, True) in kinds


def test_names_are_those_of_the_vms_first_event(prices, settings):
    tenant_ids = _random_ledger(random.Random(9), prices, tenants=2, vms=5)
    summed, replayed = _both(tenant_ids, start=PERIODS[0][0], end=PERIODS[0][1], settings=settings)
    assert summed == replayed
    names = summed[0][0]
    vm = VirtualMachine.objects.select_related("tenant", "environment").get(
        pk=summed[0][1][0].vm_id
    )
    assert (names.vm, names.environment, names.tenant) == (
        vm.name,
        vm.environment.name,
        vm.tenant.slug,
    )


def test_vms_with_snapshots_are_replayed_in_python_in_their_place(prices, settings):
    rng = random.Random(7)
    tenant_ids = _random_ledger(rng, prices, tenants=3, vms=10)
    start, end = PERIODS[0]
    snapped = []
    for vm in VirtualMachine.objects.filter(tenant_id__in=tenant_ids).order_by("pk")[::4]:
        first = UsageEvent.objects.filter(vm=vm).order_by("at", "id").first()
        at = max(first.at, start) + timedelta(hours=3)
        for n, (kind, when) in enumerate(
            [
                (UsageKind.SNAPSHOT_CREATED, at),
                (UsageKind.SNAPSHOT_DELETED, at + timedelta(hours=30)),
            ]
        ):
            UsageEvent.objects.create(
                key=f"{vm.pk}-snap-{n}", vm=vm, tenant_id=vm.tenant_id,
                environment_id=vm.environment_id, kind=kind, at=when, vcpus=1, ram_mib=512,
                disk_gib=10, flavor=vm.flavor, snapshot_ref="s1", snapshot_gib=7,
            )  # fmt: skip
        snapped.append(vm.pk)
    summed, replayed = _both(tenant_ids, start=start, end=end, settings=settings)
    assert summed == replayed
    flat = [line for _names, lines in summed for line in lines]
    assert flat == _python_lines(tenant_ids, start=start, end=end)
    assert {line.vm_id for line in flat if line.resource == Resource.SNAPSHOT} <= set(snapped)
    assert any(line.resource == Resource.SNAPSHOT for line in flat)


def test_a_day_of_use_under_one_list_is_exact():
    """A hand-checked case: 2 vCPUs and 1.5 GiB running 1 h 30 min, the disk 2 h."""
    flavor = FlavorFactory(vcpus=2, ram_mib=1536, disk_gib=20)
    tenant = TenantFactory()
    env = EnvironmentFactory(tenant=tenant)
    vm = VirtualMachine.objects.create(
        tenant=tenant, environment=env, owner=UserFactory(), name="web", flavor=flavor,
        image=ImageFactory(),
    )  # fmt: skip
    listed = price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    for n, (kind, minutes) in enumerate(
        [(UsageKind.CREATED, 0), (UsageKind.STARTED, 30), (UsageKind.STOPPED, 120)]
    ):
        UsageEvent.objects.create(
            key=f"k{n}", vm=vm, tenant=tenant, environment=env, kind=kind,
            at=T0 + timedelta(minutes=minutes), vcpus=2, ram_mib=1536, disk_gib=20, flavor=flavor,
        )  # fmt: skip
    prices = selectors.prices_for_period(start=T0, end=T0 + timedelta(hours=2))
    [usage] = usage_lines_sql([tenant.pk], prices, start=T0, end=T0 + timedelta(hours=2))
    got = {(ln.resource, ln.quantity, ln.seconds, ln.amount) for ln in usage.lines}
    assert got == {
        (Resource.CPU, Decimal(2), Decimal(5400), Decimal("0.12")),
        (Resource.RAM, Decimal("1.5"), Decimal(5400), Decimal("0.01")),
        (Resource.DISK, Decimal(20), Decimal(7200), Decimal("0.40")),
    }
    assert {ln.price_list_id for ln in usage.lines} == {listed.pk}
