"""Rating in SQL from the ledger's intervals (billing/rating/sql.py) gives exactly the billable
lines of the Python replay: same lines, same amounts to the cent, same counts and totals per
tenant; and invoicing takes headers and lines from one engine (billing/rating/lines.py)."""

from __future__ import annotations

import random
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from billing import invoicing, selectors
from billing.choices import Resource, UsageKind
from billing.models import FlavorPrice, Invoice, UsageEvent, UsageInterval
from billing.rating.lines import billable_lines, billable_summaries
from billing.rating.python import usage_lines
from billing.rating.sql import line_rows_sql, lines_sql, summaries_sql
from compute.models import VirtualMachine
from portal.choices import PlatformRole
from portal.models import Tenant
from tests.billing.conftest import price_list
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    ImageFactory,
    TenantFactory,
    UserFactory,
    VirtualMachineFactory,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only"),
]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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


RANK = {resource: i for i, resource in enumerate(Resource.values)}


def _sql_lines(tenant_ids, *, start, end):
    rows = line_rows_sql(
        tenant_ids, selectors.prices_for_period(start=start, end=end), start=start, end=end
    )
    return [
        (
            tenant,
            vm,
            rank,
            Decimal(qn) / Decimal(qd),
            flavor,
            price,
            Decimal(unit).scaleb(-6),
            Decimal(micros).scaleb(-6),
            EPOCH + timedelta(microseconds=first),
            EPOCH + timedelta(microseconds=last),
            Decimal(cents).scaleb(-2),
        )
        for tenant, vm, rank, qn, qd, flavor, price, unit, micros, first, last, cents in rows
    ]


def _reference(tenant_ids, *, start, end):
    """The Python replay's billable lines, in the same terms and order."""
    return [
        (
            ln.tenant_id,
            ln.vm_id,
            RANK[ln.resource],
            ln.quantity,
            ln.flavor_id,
            ln.price_list_id,
            ln.unit_price,
            ln.seconds,
            ln.start,
            ln.end,
            ln.amount,
        )
        for ln in _python_lines(tenant_ids, start=start, end=end)
        if ln.price_list_id is not None
    ]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_interval_lines_are_the_python_replays_to_the_cent(prices, seed):
    tenant_ids = _random_ledger(random.Random(seed), prices, tenants=5, vms=40)
    resources = set()
    for start, end in PERIODS:
        expected = _reference(tenant_ids, start=start, end=end)
        assert _sql_lines(tenant_ids, start=start, end=end) == expected
        resources |= {line[2] for line in expected}
        summaries = summaries_sql(
            tenant_ids, selectors.prices_for_period(start=start, end=end), start=start, end=end
        )
        by_tenant: dict[int, tuple[int, Decimal]] = {}
        for line in expected:
            count, amount = by_tenant.get(line[0], (0, Decimal("0.00")))
            by_tenant[line[0]] = (count + 1, amount + line[-1])
        assert summaries == by_tenant
    # The ledgers exercised every resource, the flat flavor price included.
    charged = (Resource.CPU, Resource.RAM, Resource.DISK, Resource.FLAVOR)
    assert resources == {RANK[r] for r in charged}


def test_intervals_follow_events_inserted_one_at_a_time_in_any_order(prices):
    """Each insert rewrites its VM's intervals from all of its events, so events arriving late
    and out of order still give the replay of the whole ledger."""
    rng = random.Random(7)
    tenant_ids = _random_ledger(rng, prices, tenants=1, vms=12)
    events = list(UsageEvent.objects.filter(tenant_id__in=tenant_ids))
    fields = ("start_us", "end_us", "existing", "running", "vcpus", "ram_mib", "disk_gib")
    fields += ("flavor_id", "deleted_us")

    def intervals(vm_ids):
        return sorted(
            UsageInterval.objects.filter(vm_id__in=vm_ids).values_list(*fields),
        )

    # The same facts for twin VMs in another tenant, one INSERT per event, in random order.
    env = EnvironmentFactory()
    twins = {}
    for vm_id in sorted({e.vm_id for e in events}):
        twins[vm_id] = VirtualMachineFactory(tenant=env.tenant, environment=env).pk
    rng.shuffle(events)
    for event in events:
        event.pk, event.key = None, f"twin-{event.key}"
        event.vm_id = twins[event.vm_id]
        event.tenant_id, event.environment_id = env.tenant_id, env.pk
        UsageEvent.objects.bulk_create([event])
    # Events of one instant go by id, and the twins' ids came in another order: the reference
    # is the Python replay of the twins' own ledger.
    assert len(intervals(list(twins.values()))) > 30
    start, end = PERIODS[0]
    assert _sql_lines([env.tenant_id], start=start, end=end) == _reference(
        [env.tenant_id], start=start, end=end
    )


def test_drafting_every_tenant_matches_the_python_path_with_snapshots(prices, settings):
    tenant_ids = _random_ledger(random.Random(11), prices, tenants=4, vms=15)
    # Snapshots on some VMs: those are replayed in Python and merged with the SQL sums.
    for vm_id in sorted(set(UsageEvent.objects.values_list("vm_id", flat=True)))[::7]:
        first = UsageEvent.objects.filter(vm_id=vm_id).order_by("at", "id").first()
        assert first is not None
        UsageEvent.objects.create(
            key=f"snap-{vm_id}", vm_id=vm_id, tenant_id=first.tenant_id,
            environment_id=first.environment_id, kind=UsageKind.SNAPSHOT_CREATED,
            at=T0 + timedelta(days=3), vcpus=first.vcpus, ram_mib=first.ram_mib,
            disk_gib=first.disk_gib, flavor_id=first.flavor_id, snapshot_ref="s1", snapshot_gib=7,
        )  # fmt: skip
    now = datetime(2025, 4, 2, 3, tzinfo=UTC)
    results = {}
    digests = {}
    for sql in (True, False):
        settings.NUAGE = {**settings.NUAGE, "RATING_SQL": sql}
        Invoice.objects.all().delete()
        invoicing.invoices_draft_due(now=now)
        results[sql] = sorted(
            Invoice.objects.values_list("tenant_id", "year", "month", "total", "line_count")
        )
        # What a reviewer is shown digests the same whichever engine computed it.
        digests[sql] = [
            invoicing.lines_digest(invoicing.draft_lines(invoice))
            for invoice in Invoice.objects.order_by("tenant_id")
        ]
    assert results[True] == results[False]
    assert digests[True] == digests[False]
    assert {t for t, *_rest in results[True]} == set(tenant_ids)
    # And each draft's header is what its lines, computed when shown, add up to.
    resources = set()
    for invoice in Invoice.objects.filter(tenant_id__in=tenant_ids):
        lines = invoicing.invoice_lines(invoice)
        assert (len(lines), sum(ln.amount for ln in lines)) == (invoice.line_count, invoice.total)
        resources |= {ln.resource for ln in lines}
    assert Resource.SNAPSHOT in resources
    # Issuing recomputes the lines with the header's engine: an unchanged ledger never reads as
    # a changed one (409), resized VMs and snapshots included.
    finance = UserFactory(username="finance", platform_role=PlatformRole.FINANCE)
    for invoice in Invoice.objects.filter(tenant_id__in=tenant_ids):
        digest = invoicing.lines_digest(invoicing.draft_lines(invoice))
        issued = invoicing.invoice_issue(issued_by=finance, invoice=invoice, digest=digest)
        assert len(invoicing.invoice_lines(issued)) == invoice.line_count


def test_a_vm_without_events_has_no_intervals_and_a_new_vm_gets_one():
    env = EnvironmentFactory()
    vm = VirtualMachineFactory(tenant=env.tenant, environment=env, owner=UserFactory())
    assert not UsageInterval.objects.filter(vm=vm).exists()
    at = datetime(2025, 5, 1, tzinfo=UTC)
    for n, kind in enumerate((UsageKind.CREATED, UsageKind.STARTED)):
        UsageEvent.objects.create(
            key=f"k{n}", vm=vm, tenant=env.tenant, environment=env, kind=kind, at=at,
            vcpus=2, ram_mib=2048, disk_gib=20, flavor=vm.flavor,
        )  # fmt: skip
    [interval] = UsageInterval.objects.filter(vm=vm)
    assert (interval.existing, interval.running, interval.end_us) == (True, True, None)
    assert interval.tenant_id == env.tenant_id and Tenant.objects.filter(pk=env.tenant_id).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_inserts_for_one_vm_keep_its_intervals_whole(prices):
    """Two transactions record events of the same VM at once: the second waits for the first
    (the trigger's lock), then replays both; no interval is lost or doubled."""
    env = EnvironmentFactory()
    vm = VirtualMachineFactory(tenant=env.tenant, environment=env)

    def event(n: int, kind: str) -> UsageEvent:
        return UsageEvent(
            key=f"c{n}", vm=vm, tenant=env.tenant, environment=env, kind=kind,
            at=T0 + timedelta(days=n), vcpus=2, ram_mib=2048, disk_gib=20, flavor=vm.flavor,
        )  # fmt: skip

    UsageEvent.objects.bulk_create([event(0, UsageKind.CREATED), event(1, UsageKind.STARTED)])
    first_inserted, second_started = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction.atomic():
                UsageEvent.objects.bulk_create([event(5, UsageKind.STOPPED)])
                first_inserted.set()
                second_started.wait(5)
                time.sleep(0.3)  # the second is now inside its insert, waiting
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            first_inserted.wait(5)
            with transaction.atomic():
                second_started.set()
                UsageEvent.objects.bulk_create([event(9, UsageKind.STARTED)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    day = 24 * 3600 * 10**6
    t0 = int((T0 - EPOCH).total_seconds()) * 10**6
    assert list(
        UsageInterval.objects.filter(vm=vm)
        .order_by("start_us", "end_us")
        .values_list("start_us", "end_us", "running")
    ) == [
        (t0, t0 + day, False),  # created, not started
        (t0 + day, t0 + 5 * day, True),
        (t0 + 5 * day, t0 + 9 * day, False),  # stopped: the disk only
        (t0 + 9 * day, None, True),
    ]


def test_amounts_past_bigint_are_computed_exactly_in_numeric():
    """A price near the column's limit for a whole month: the product overflows bigint, the
    numeric branch gives the Python replay's cents (odd remainders, ties to even)."""
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "99999999.999999", "12345678.123457", "0.000001")
    env = EnvironmentFactory()
    vm = VirtualMachineFactory(tenant=env.tenant, environment=env)
    at = T0 + timedelta(microseconds=333_333)
    for n, kind in enumerate((UsageKind.CREATED, UsageKind.STARTED, UsageKind.STOPPED)):
        UsageEvent.objects.create(
            key=f"big{n}", vm=vm, tenant=env.tenant, environment=env, kind=kind,
            at=at + timedelta(days=27 * (n // 2), seconds=n * 7), vcpus=3, ram_mib=3000,
            disk_gib=7, flavor=vm.flavor,
        )  # fmt: skip
    start, end = PERIODS[0]
    expected = _reference([env.tenant_id], start=start, end=end)
    assert expected and max(line[-1] for line in expected) > Decimal(10**10)
    assert _sql_lines([env.tenant_id], start=start, end=end) == expected
    summaries = summaries_sql(
        [env.tenant_id], selectors.prices_for_period(start=start, end=end), start=start, end=end
    )
    assert summaries == {env.tenant_id: (len(expected), sum(line[-1] for line in expected))}


def _billable(tenant_ids, *, start, end):
    return [ln for ln in _python_lines(tenant_ids, start=start, end=end) if ln.price_list_id]


@pytest.mark.parametrize("seed", [5, 6])
def test_sql_lines_are_the_python_replays_billable_lines_with_their_names(prices, seed):
    """Whole lines, not only their figures: environment, unit price as the list has it, bounds."""
    tenant_ids = _random_ledger(random.Random(seed), prices, tenants=3, vms=20)
    for start, end in PERIODS:
        prices_now = selectors.prices_for_period(start=start, end=end)
        summed = list(lines_sql(tenant_ids, prices_now, start=start, end=end))
        assert [ln for _names, lines in summed for ln in lines] == _billable(
            tenant_ids, start=start, end=end
        )
    vms = VirtualMachine.objects.select_related("tenant", "environment").in_bulk()
    for names, lines in summed:
        vm = vms[lines[0].vm_id]
        assert {ln.vm_id for ln in lines} == {vm.pk}
        assert (names.vm, names.environment, names.tenant) == (
            vm.name,
            vm.environment.name,
            vm.tenant.slug,
        )


def test_one_engine_gives_a_drafts_lines_and_header_snapshots_in_their_place(prices, settings):
    """Snapshot VMs are replayed in Python and merged in (tenant, VM) order; the lines, their
    digest and the per-tenant counts and totals equal the Python reference's."""
    tenant_ids = _random_ledger(random.Random(7), prices, tenants=3, vms=10)
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
    results = {}
    for sql in (True, False):
        settings.NUAGE = {**settings.NUAGE, "RATING_SQL": sql}
        lines = list(billable_lines(tenant_ids, start=start, end=end))
        results[sql] = (lines, billable_summaries(tenant_ids, start=start, end=end))
    assert results[True] == results[False]
    lines, summaries = results[True]
    flat = [ln for _names, vm_lines in lines for ln in vm_lines]
    assert flat == _billable(tenant_ids, start=start, end=end)
    assert {ln.vm_id for ln in flat if ln.resource == Resource.SNAPSHOT} <= set(snapped)
    assert any(ln.resource == Resource.SNAPSHOT for ln in flat)
    for tenant_id in tenant_ids:
        mine = [ln for ln in flat if ln.tenant_id == tenant_id]
        assert summaries[tenant_id] == (len(mine), sum(ln.amount for ln in mine))


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
    end = T0 + timedelta(hours=2)
    prices = selectors.prices_for_period(start=T0, end=end)
    [(names, lines)] = lines_sql([tenant.pk], prices, start=T0, end=end)
    assert names.vm == "web"
    got = {(ln.resource, ln.quantity, ln.seconds, ln.amount) for ln in lines}
    assert got == {
        (Resource.CPU, Decimal(2), Decimal(5400), Decimal("0.12")),
        (Resource.RAM, Decimal("1.5"), Decimal(5400), Decimal("0.01")),
        (Resource.DISK, Decimal(20), Decimal(7200), Decimal("0.40")),
    }
    assert {ln.price_list_id for ln in lines} == {listed.pk}
