"""The usage ledger: events written with each state change, exact lines, replay-proof."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import Error, connection, transaction

from billing import invoicing, sampling, selectors, services
from billing.choices import UsageKind
from billing.ledger import usage_record_transition
from billing.models import BudgetAlert, Invoice, LedgerImmutableError, UsageEvent
from billing.rating.python import LedgerEvent, Prices, total, usage_lines
from compute import services as compute_services
from compute.choices import Transition, VMState
from tests.billing.conftest import Clock
from tests.factories import FlavorFactory

T = datetime(2025, 3, 10, 11, 30, tzinfo=UTC)
MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))


def _scenario(world, image, clock: Clock):
    """Running 1 h 17 min 3 s, stopped 20 min, then deleted; prices change at 12:00."""
    flavor = FlavorFactory(name="scenario", vcpus=2, ram_mib=2048, disk_gib=20)
    services.price_list_create(
        created_by=world.finance,
        name="2025",
        currency="EUR",
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        vcpu_hour=Decimal("0.04"),
        ram_gib_hour=Decimal("0.005"),
        disk_gib_hour=Decimal("0.01"),
    )
    services.price_list_create(
        created_by=world.platform_admin,
        name="March change",
        currency="EUR",
        effective_from=datetime(2025, 3, 10, 12, 0, tzinfo=UTC),
        vcpu_hour=Decimal("0.05"),
        ram_gib_hour=Decimal("0.006"),
        disk_gib_hour=Decimal("0.02"),
        flavor_prices={flavor: Decimal("0.01")},
    )
    clock.set(T)
    vm = compute_services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="metered",
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    clock.set(T + timedelta(hours=1, minutes=17, seconds=3))
    compute_services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    clock.set(T + timedelta(hours=1, minutes=37, seconds=3))
    compute_services.vm_action(vm=vm, action="delete", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    return vm


def _figures(lines):
    return [(ln.resource, ln.seconds, ln.unit_price, ln.amount) for ln in lines]


# Hand-computed: amount = seconds × quantity × price / 3600, rounded once, half to even.
EXPECTED = [
    # 11:30:00-12:00:00 = 1800 s × 2 vCPU × 0.04 / 3600 = 0.04
    ("cpu", Decimal(1800), Decimal("0.04"), Decimal("0.04")),
    # 12:00:00-12:47:03 = 2823 s × 2 × 0.05 / 3600 = 0.078416… -> 0.08
    ("cpu", Decimal(2823), Decimal("0.05"), Decimal("0.08")),
    # 1800 s × 2 GiB × 0.005 / 3600 = 0.005 exactly -> 0.00 (half to even, not up)
    ("ram", Decimal(1800), Decimal("0.005"), Decimal("0.00")),
    # 2823 s × 2 GiB × 0.006 / 3600 = 0.00941 -> 0.01
    ("ram", Decimal(2823), Decimal("0.006"), Decimal("0.01")),
    # disk while the VM exists, stopped too: 1800 s × 20 GiB × 0.01 / 3600 = 0.10
    ("disk", Decimal(1800), Decimal("0.01"), Decimal("0.10")),
    # 12:00:00-13:07:03 = 4023 s × 20 × 0.02 / 3600 = 0.447 -> 0.45
    ("disk", Decimal(4023), Decimal("0.02"), Decimal("0.45")),
    # the flat flavor price only exists in the second list: 2823 s × 0.01 / 3600 -> 0.01
    ("flavor", Decimal(2823), Decimal("0.01"), Decimal("0.01")),
]


def test_running_stopped_deleted_across_a_price_change_gives_exact_lines(
    world, sim_host, image, clock, run_on_commit
):
    vm = _scenario(world, image, clock)
    events = list(UsageEvent.objects.filter(vm=vm).values_list("kind", "at"))
    assert events == [
        (UsageKind.CREATED, T),
        (UsageKind.STARTED, T),
        (UsageKind.STOPPED, T + timedelta(seconds=4623)),
        (UsageKind.DELETED, T + timedelta(seconds=5823)),
    ]
    lines = selectors.usage_report(fetched_by=world.member, start=MARCH[0], end=MARCH[1])
    assert _figures(lines) == EXPECTED
    assert total(lines) == Decimal("0.69")
    # The same usage seen in two halves that meet at the price change adds up to the same lines.
    noon = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    halves = selectors.usage_report(
        fetched_by=world.finance, start=MARCH[0], end=noon
    ) + selectors.usage_report(fetched_by=world.finance, start=noon, end=MARCH[1])
    assert sorted(_figures(halves)) == sorted(EXPECTED)


def test_replaying_every_event_and_every_periodic_job_changes_no_figure(
    world, sim_host, image, clock, run_on_commit
):
    vm = _scenario(world, image, clock)
    before = selectors.usage_report(fetched_by=world.finance, start=MARCH[0], end=MARCH[1])
    rows = list(UsageEvent.objects.all())
    count = len(rows)
    services.budget_set(
        updated_by=world.tenant_admin,
        tenant=world.tenant,
        amount=Decimal("0.10"),
        block_requests=False,
    )
    april = datetime(2025, 4, 2, 4, 0, tzinfo=UTC)

    def every_periodic_job() -> None:
        sampling.sample_host(host_id=sim_host.pk, at=april)
        sampling.rollup(now=april)
        services.budget_check(now=datetime(2025, 3, 20, tzinfo=UTC))
        invoicing.invoices_draft_due(now=april)

    every_periodic_job()
    invoice = Invoice.objects.get()

    def lines_of(invoice: Invoice) -> list[tuple[str, Decimal, Decimal]]:
        return [(ln.description, ln.seconds, ln.amount) for ln in invoicing.invoice_lines(invoice)]

    invoice_lines = lines_of(invoice)
    assert invoice_lines and invoice.line_count == len(invoice_lines)
    alerts = BudgetAlert.objects.count()
    for _ in range(2):
        every_periodic_job()
        # The same facts again, through the ledger's own insert (ON CONFLICT DO NOTHING) …
        for row in rows:
            row.pk = None
            row._state.adding = True
            UsageEvent.objects.bulk_create([row], ignore_conflicts=True)
        # … and through the hook, as a redelivered transition would.
        usage_record_transition(
            vm=vm, transition=Transition.PROVISIONED, previous_state=VMState.PROVISIONING, at=T
        )
        compute_services.reconcile()
    assert UsageEvent.objects.count() == count
    after = selectors.usage_report(fetched_by=world.finance, start=MARCH[0], end=MARCH[1])
    assert after == before
    # The jobs, run twice more, drafted nothing new, changed no line and announced nothing.
    redrafted = Invoice.objects.get()
    assert redrafted == invoice and (redrafted.total, redrafted.line_count) == (
        invoice.total,
        invoice.line_count,
    )
    assert lines_of(redrafted) == invoice_lines
    assert invoice.total == sum((line.amount for line in before), Decimal("0.00"))
    assert BudgetAlert.objects.count() == alerts > 0
    # The pure computation, fed every event twice, agrees.
    doubled = [selectors._ledger_event(r) for r in UsageEvent.objects.all()] * 2
    prices = selectors.prices_for_period(start=MARCH[0], end=MARCH[1])
    assert usage_lines(doubled, prices, start=MARCH[0], end=MARCH[1]) == before


def test_usage_events_cannot_be_changed_or_removed(world, sim_host, image, clock, run_on_commit):
    _scenario(world, image, clock)
    event = UsageEvent.objects.first()
    assert event is not None
    with pytest.raises(LedgerImmutableError):
        event.save()
    with pytest.raises(LedgerImmutableError):
        event.delete()
    with pytest.raises(LedgerImmutableError):
        UsageEvent.objects.filter(pk=event.pk).update(vcpus=0)
    # Below the ORM, the database refuses too.
    for sql in (
        "UPDATE billing_usageevent SET vcpus = 0",
        "DELETE FROM billing_usageevent",
    ):
        with pytest.raises(Error, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
    assert UsageEvent.objects.filter(vcpus=0).count() == 0


def test_a_failed_provisioning_and_a_withdrawn_request_are_never_charged(
    world, sim_host, image, clock, run_on_commit
):
    flavor = FlavorFactory(vcpus=1, ram_mib=512)
    pending = compute_services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="withdrawn",
    )
    compute_services.vm_action(vm=pending, action="delete", requested_by=world.member)
    # No reachable host: placement fails and the provisioning is undone.
    type(sim_host).objects.filter(pk=sim_host.pk).update(reachable=False)
    failed = compute_services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="unplaced",
    )
    failed.refresh_from_db()
    assert failed.state == VMState.ERROR
    compute_services.vm_action(vm=failed, action="delete", requested_by=world.member)
    failed.refresh_from_db()
    assert failed.state == VMState.DELETED
    assert not UsageEvent.objects.exists()


def _event(kind: str, at: datetime, n: int, **alloc: int) -> LedgerEvent:
    fields = {"vcpus": 1, "ram_mib": 1024, "disk_gib": 10, **alloc}
    return LedgerEvent(
        key=f"vm1:{n}:{kind}",
        vm_id=1,
        tenant_id=1,
        environment_id=1,
        kind=kind,
        at=at,
        flavor_id=1,
        seq=n,
        **fields,
    )


def test_an_interval_across_midnight_of_the_first_splits_exactly_between_months():
    started = datetime(2025, 3, 31, 23, 0, 0, 250_000, tzinfo=UTC)
    stopped = datetime(2025, 4, 1, 0, 30, tzinfo=UTC)
    events = [
        _event(UsageKind.CREATED, started, 1),
        _event(UsageKind.STARTED, started, 2),
        _event(UsageKind.STOPPED, stopped, 3),
    ]
    prices = [
        Prices(
            id=1,
            currency="EUR",
            effective_from=datetime(2025, 1, 1, tzinfo=UTC),
            effective_to=None,
            vcpu_hour=Decimal("3.6"),
            ram_gib_hour=Decimal("0"),
            disk_gib_hour=Decimal("0"),
        )
    ]
    april_end = datetime(2025, 5, 1, tzinfo=UTC)
    march = usage_lines(events, prices, start=MARCH[0], end=MARCH[1])
    april = usage_lines(events, prices, start=MARCH[1], end=april_end)
    cpu = {ln.start.month: ln for ln in march + april if ln.resource == "cpu"}
    # 23:00:00.25 to midnight is 3599.75 s at 3.6/h = 0.001 per second -> 3.59975 -> 3.60
    assert (cpu[3].seconds, cpu[3].end, cpu[3].amount) == (
        Decimal("3599.75"),
        MARCH[1],
        Decimal("3.60"),
    )
    assert (cpu[4].seconds, cpu[4].start, cpu[4].amount) == (
        Decimal(1800),
        MARCH[1],
        Decimal("1.80"),
    )
    # The disk stays charged after the stop (the VM still exists) until the period's end.
    disk_april = next(ln for ln in april if ln.resource == "disk")
    assert disk_april.seconds == Decimal((april_end - MARCH[1]).total_seconds())


def test_resize_and_snapshots_are_valued_at_the_allocation_of_each_stretch():
    t0 = datetime(2025, 3, 2, tzinfo=UTC)
    hour = timedelta(hours=1)
    events = [
        _event(UsageKind.STARTED, t0, 1, vcpus=1),
        _event(UsageKind.RESIZED, t0 + hour, 2, vcpus=4),
        LedgerEvent(
            key="vm1:snap:c",
            vm_id=1,
            tenant_id=1,
            environment_id=1,
            kind=UsageKind.SNAPSHOT_CREATED,
            at=t0,
            vcpus=4,
            ram_mib=1024,
            disk_gib=10,
            flavor_id=1,
            snapshot_ref="s1",
            snapshot_gib=5,
            seq=3,
        ),
        _event(UsageKind.DELETED, t0 + 2 * hour, 4, vcpus=4),
    ]
    prices = [
        Prices(
            id=7,
            currency="EUR",
            effective_from=t0,
            effective_to=None,
            vcpu_hour=Decimal("1"),
            ram_gib_hour=Decimal("0"),
            disk_gib_hour=Decimal("0"),
            snapshot_gib_hour=Decimal("0.10"),
        )
    ]
    lines = usage_lines(events, prices, start=MARCH[0], end=MARCH[1])
    cpu = [(ln.quantity, ln.seconds, ln.amount) for ln in lines if ln.resource == "cpu"]
    assert cpu == [
        (Decimal(1), Decimal(3600), Decimal("1.00")),
        (Decimal(4), Decimal(3600), Decimal("4.00")),
    ]
    snap = [(ln.quantity, ln.seconds, ln.amount) for ln in lines if ln.resource == "snapshot"]
    assert snap == [(Decimal(5), Decimal(7200), Decimal("1.00"))]


def test_time_no_price_list_covers_is_reported_but_not_charged():
    t0 = datetime(2025, 3, 2, tzinfo=UTC)
    events = [
        _event(UsageKind.STARTED, t0, 1),
        _event(UsageKind.STOPPED, t0 + timedelta(hours=2), 2),
    ]
    prices = [
        Prices(
            id=1,
            currency="EUR",
            effective_from=t0 + timedelta(hours=1),
            effective_to=None,
            vcpu_hour=Decimal("1"),
            ram_gib_hour=Decimal("0"),
            disk_gib_hour=Decimal("0"),
        )
    ]
    cpu = [
        ln
        for ln in usage_lines(events, prices, start=MARCH[0], end=MARCH[1])
        if ln.resource == "cpu"
    ]
    assert [(ln.price_list_id, ln.seconds, ln.amount) for ln in cpu] == [
        (None, Decimal(3600), Decimal("0.00")),
        (1, Decimal(3600), Decimal("1.00")),
    ]
