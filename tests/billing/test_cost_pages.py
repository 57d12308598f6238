"""Cost pages: a VM's month, the tenant's month in its own zone, the finance usage page."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from billing import selectors
from billing.choices import UsageKind
from billing.periods import day_bounds, month_bounds
from billing.rating.python import LedgerEvent, Prices, total, usage_lines, usage_lines_split
from tests.billing.conftest import Clock, price_list, run
from tests.factories import FlavorFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
# March in Paris: 2025-02-28 23:00 UTC to 2025-03-31 22:00 UTC (DST starts on the 30th).
MONTH = month_bounds(PARIS, 2025, 3)


@pytest.fixture
def costed(world, clock: Clock):
    """Two VMs at 0.29 EUR/h running (0.08 CPU, 0.01 RAM, 0.20 disk), tenant in Paris."""
    world.tenant.timezone = "Europe/Paris"
    world.tenant.save()
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    flavor = FlavorFactory(name="m2", vcpus=2, ram_mib=2048, disk_gib=20)
    web = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, name="web"
    )
    db = VirtualMachineFactory(
        environment=world.production, owner=world.member, flavor=flavor, name="db"
    )
    # web: running since 22:00 UTC on Feb 28, one hour before March begins in Paris.
    run(web, datetime(2025, 2, 28, 22, 0, tzinfo=UTC))
    # db: 12 h running on March 10, then stopped (its disk is still charged).
    run(db, datetime(2025, 3, 10, 6, 0, tzinfo=UTC), datetime(2025, 3, 10, 18, 0, tzinfo=UTC))
    clock.set(NOW)
    return web, db


def _figure(page: str, name: str) -> str:
    match = re.search(rf'data-cost="{name}">([^<]+)<', page)
    assert match, name
    return match.group(1).strip()


def test_cost_page_figures_equal_the_usage_report_in_the_tenants_zone(world, costed, client):
    client.force_login(world.member)
    page = client.get("/costs/").content.decode()
    lines = selectors.usage_report(
        fetched_by=world.member, start=MONTH[0], end=NOW, tenant=world.tenant
    )
    # By hand: web 349 h × 0.29 = 101.21; db 12 h × 0.09 + 126 h × 0.20 = 26.28.
    assert total(lines) == Decimal("127.49")
    assert _figure(page, "month") == "127.49 EUR"
    # Run rate: 743 h in the month (31 days less the DST hour), 349 h gone, 394 h to come at
    # what runs now: web 0.29/h (0.08 CPU + 0.01 RAM + 0.20 disk), db's disk 0.20/h.
    # 127.49 + 394 × 0.08 + 394 × 0.01 + 394 × 0.20 (web) + 394 × 0.20 (db)
    #        = 127.49 + 31.52 + 3.94 + 78.80 + 78.80 = 320.55.
    assert _figure(page, "forecast") == "320.55 EUR"
    assert "at 0.4900 EUR per hour now" in page
    assert re.search(
        r'data-environment="development"><td>development</td><td class="num">101.21', page
    )
    assert re.search(
        r'data-environment="production"><td>production</td><td class="num">26.28', page
    )
    assert 'data-vm="web"' in page and 'data-vm="db"' in page
    # In UTC the month would have started an hour later: 0.29 less.
    utc = selectors.usage_report(
        fetched_by=world.member,
        start=datetime(2025, 3, 1, tzinfo=UTC),
        end=NOW,
        tenant=world.tenant,
    )
    assert total(utc) == Decimal("127.20")


def test_days_are_local_days_each_rounded_and_charted(world, costed, client):
    client.force_login(world.member)
    page = client.get("/costs/").content.decode()
    days = re.findall(r'data-day="([\d-]+)"><td>[^<]*</td><td class="num">([^<]+)<', page)
    assert [d for d, _ in days] == [f"2025-03-{n:02d}" for n in range(1, 16)]
    for day, amount in days:
        start, end = day_bounds(PARIS, date.fromisoformat(day))
        expected = total(
            selectors.usage_report(
                fetched_by=world.member, start=start, end=min(end, NOW), tenant=world.tenant
            )
        )
        assert Decimal(amount) == expected, day
    assert dict(days)["2025-03-01"] == "6.96"  # 24 h × 0.29
    # web 6.96 + db 12 h running × 0.29 + 5 h stopped × 0.20 (its day ends at 23:00 UTC).
    assert dict(days)["2025-03-10"] == "11.44"
    assert _figure(page, "days-sum") == "127.49"
    assert page.count('class="chart"') == 1 and "Daily cost by resource" in page


def test_vm_page_shows_its_month_so_far(world, costed, client, sim_host):
    web, db = costed
    client.force_login(world.member)
    page = client.get(f"/vms/{web.pk}/").content.decode()
    assert _figure(page, "vm-month") == "101.21 EUR"
    assert "Europe/Paris" in page
    assert _figure(client.get(f"/vms/{db.pk}/").content.decode(), "vm-month") == "26.28 EUR"


def test_cost_page_reads_the_ledger_once(world, costed, client, django_assert_max_num_queries):
    client.force_login(world.member)
    client.get("/costs/")
    # Session, user, navigation and names included; the ledger is one query however many
    # days and VMs the month has (the days are split in memory), the volumes' ledger another;
    # the navigation's unread notifications one more.
    with django_assert_max_num_queries(17):
        assert client.get("/costs/").status_code == 200


def test_members_of_another_tenant_see_none_of_it(world, other_world, costed, client):
    web, _db = costed
    client.force_login(other_world.member)
    page = client.get("/costs/").content.decode()
    assert _figure(page, "month") == "0.00 EUR" and "web" not in page
    assert client.get(f"/vms/{web.pk}/").status_code == 404


def test_split_equals_one_computation_per_period_across_a_dst_change():
    """Random ledgers: the one-pass split gives each day exactly its own computation."""
    rng = random.Random(5)
    zone = ZoneInfo("Europe/Paris")
    bounds = [day_bounds(zone, date(2025, 3, d))[0] for d in range(27, 32)]
    bounds.append(bounds[-1] + timedelta(hours=7, minutes=13))
    prices = [
        Prices(
            1,
            "EUR",
            datetime(2025, 1, 1, tzinfo=UTC),
            None,
            Decimal("0.031"),
            Decimal("0.0043"),
            Decimal("0.011"),
        ),
        Prices(
            2,
            "EUR",
            datetime(2025, 3, 29, 13, 7, tzinfo=UTC),
            None,
            Decimal("0.05"),
            Decimal("0.006"),
            Decimal("0.02"),
        ),
    ]
    for _round in range(20):
        events = []
        for vm in range(1, 4):
            at = bounds[0] - timedelta(hours=rng.randint(0, 30))
            kinds = [UsageKind.CREATED, UsageKind.STARTED]
            kinds += rng.choices([UsageKind.STOPPED, UsageKind.STARTED, UsageKind.RESIZED], k=6)
            kinds.append(UsageKind.DELETED) if rng.random() < 0.5 else None
            for n, kind in enumerate(kinds):
                at += timedelta(seconds=rng.randint(1, 40 * 3600), microseconds=rng.randint(0, 999))
                events.append(
                    LedgerEvent(
                        key=f"{vm}-{n}", vm_id=vm, tenant_id=1, environment_id=1, kind=kind,
                        at=at, vcpus=rng.randint(1, 8), ram_mib=rng.choice([512, 1536, 4096]),
                        disk_gib=10, flavor_id=1, seq=n,
                    )
                )  # fmt: skip
        split = usage_lines_split(events, prices, bounds=bounds)
        for i, lines in enumerate(split):
            assert lines == usage_lines(events, prices, start=bounds[i], end=bounds[i + 1])


def test_forecast_is_the_cost_so_far_plus_the_rest_of_the_month_at_the_current_rate(world, clock):
    """The reported case: VMs costing tens of EUR an hour, started late in the month, were
    forecast at 2.75 EUR (cost so far × month ÷ elapsed)."""
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "1.00", "0.50", "0.10")
    big = FlavorFactory(name="big", vcpus=16, ram_mib=16384, disk_gib=100)  # 34.00/h
    for name in ("a", "b"):
        run(
            VirtualMachineFactory(
                environment=world.development, owner=world.member, flavor=big, name=name
            ),
            datetime(2025, 4, 10, 11, 55, tzinfo=UTC),
        )
    clock.set(datetime(2025, 4, 10, 12, 0, tzinfo=UTC))
    cost = selectors.month_cost(fetched_by=world.member, tenant=world.tenant)
    # By hand: 5 minutes of 2 × 34.00/h, each line rounded: 2 × (1.33 + 0.67 + 0.83) = 5.66
    # so far; April 10 12:00 to May 1 00:00 is 492 h: 2 × 492 × 34.00 = 33456.00 to come.
    assert cost.total == Decimal("5.66")
    assert cost.run_rate == Decimal("68.0000")
    assert cost.forecast == Decimal("33461.66")
    # (The former average-rate rule said 5.66 × 720 h ÷ 228 h = 17.87.)


def test_a_vms_forecast_agrees_with_its_flavors_estimate(world, clock, client, sim_host):
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    flavor = FlavorFactory(name="m2", vcpus=2, ram_mib=2048, disk_gib=20)
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, name="web"
    )
    started = datetime(2025, 4, 30, 14, 0, tzinfo=UTC)  # 10 h before May (UTC tenant)
    run(vm, started)
    clock.set(started)
    client.force_login(world.member)
    flavors = client.get("/flavors/").content.decode()
    assert re.search(r'data-flavor="m2">.*?data-cost="hour">0.2900 EUR', flavors, re.S)
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert _figure(page, "vm-month") == "0.00 EUR"
    # The estimate per hour × the 10 hours left: 0.2900 × 10.
    assert _figure(page, "vm-forecast") == "2.90 EUR"
    assert "at 0.2900 EUR per hour now" in page
    clock.set(started + timedelta(hours=4))
    page = client.get(f"/vms/{vm.pk}/").content.decode()
    assert _figure(page, "vm-month") == "1.16 EUR"  # 4 × 0.29
    assert _figure(page, "vm-forecast") == "2.90 EUR"  # unchanged while nothing changes


def test_a_stopped_vm_forecasts_only_its_disk(world, clock):
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.04", "0.005", "0.01")
    flavor = FlavorFactory(name="m2", vcpus=2, ram_mib=2048, disk_gib=20)
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, flavor=flavor, name="web"
    )
    run(vm, datetime(2025, 4, 30, 0, 0, tzinfo=UTC), datetime(2025, 4, 30, 2, 0, tzinfo=UTC))
    clock.set(datetime(2025, 4, 30, 4, 0, tzinfo=UTC))
    cost = selectors.month_cost(fetched_by=world.member, tenant=world.tenant, vm=vm)
    # 2 h running (0.58) + 2 h stopped (disk 0.40); 20 h to come at the disk's 0.20/h.
    assert cost.total == Decimal("0.98")
    assert cost.run_rate == Decimal("0.2000")
    assert cost.forecast == Decimal("4.98")


# --- the finance page ----------------------------------------------------------------------------


def test_finance_page_per_tenant_environment_vm_and_resource(world, other_world, costed, client):
    theirs = VirtualMachineFactory(
        environment=other_world.development, owner=other_world.member, name="their-vm"
    )
    run(theirs, datetime(2025, 3, 14, 12, 0, tzinfo=UTC))  # 1 vCPU, 0.5 GiB, 1 GiB: 24 h
    client.force_login(world.finance)
    page = client.get("/finance/?start=2025-03-01&end=2025-03-15").content.decode()
    everyone = selectors.usage_report(
        fetched_by=world.finance, start=datetime(2025, 3, 1, tzinfo=UTC), end=NOW
    )
    assert _figure(page, "total") == f"{total(everyone)} EUR"
    assert 'data-tenant="Apollo"' in page and 'data-tenant="Zephyr"' in page
    assert 'data-vm="their-vm"' in page and 'data-vm="web"' in page
    assert (
        "Cost per tenant" in page
        and "Cost by resource" in page
        and page.count('class="chart"') == 2
    )
    assert "vCPU-hours" in page


def test_finance_page_for_one_tenant_uses_its_zone_and_links_the_exports(world, costed, client):
    client.force_login(world.platform_admin)
    page = client.get("/finance/?start=2025-03-01&end=2025-03-31&tenant=apollo").content.decode()
    assert _figure(page, "total") == "127.49 EUR"  # Paris month, as on the tenant's own page
    links = re.findall(r'href="([^"]+)" data-download="([^"]+)"', page)
    assert [label for _url, label in links] == ["CSV", "Excel (XLSX)", "PDF"]
    for url, _label in links:
        parts = urlsplit(url.replace("&amp;", "&"))
        assert parts.path == "/api/v1/usage/"
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        assert query["format"] in ("csv", "xlsx", "pdf")
        assert query["tenant"] == "apollo"
        assert datetime.fromisoformat(query["start"]) == MONTH[0]
        assert datetime.fromisoformat(query["end"]) == NOW  # the period stops now


def test_finance_period_errors(world, client, clock):
    clock.set(NOW)
    client.force_login(world.finance)
    answer = client.get("/finance/?start=2025-03-10&end=2025-03-01")
    assert answer.status_code == 400
    assert "The end must come after the start." in answer.content.decode()
    assert (
        "has not begun" in client.get("/finance/?start=2025-04-10&end=2025-04-11").content.decode()
    )
    default = client.get("/finance/").content.decode()
    assert 'value="2025-03-01"' in default and 'value="2025-03-15"' in default


@pytest.mark.parametrize("role", ["member", "approver", "tenant_admin"])
def test_finance_page_is_for_finance_and_platform_admins(world, client, role):
    client.force_login(getattr(world, role))
    assert client.get("/finance/").status_code == 404  # as a missing page
    assert 'href="/finance/"' not in client.get("/costs/").content.decode()


def test_integer_rounding_is_the_exact_half_even_rounding():
    from fractions import Fraction

    from billing.rating.python import MICROS_PER_HOUR, _amount, round_money

    rng = random.Random(11)
    cases = [
        (Decimal("0.005"), Fraction(2), 3_600_000_000),
        (Decimal("0.015"), Fraction(1), 3_600_000_000),
    ]
    for _ in range(5000):
        unit = Decimal(rng.randint(0, 10**6)).scaleb(-rng.randint(0, 6))
        quantity = Fraction(rng.choice([1, 2, 512, 1536, 4096]), rng.choice([1, 1024]))
        cases.append((unit, quantity, rng.randint(0, 40 * MICROS_PER_HOUR)))
    for unit, quantity, micros in cases:
        exact = Fraction(unit) * quantity * Fraction(micros, MICROS_PER_HOUR)
        assert _amount(unit, quantity, micros) == round_money(exact), (unit, quantity, micros)
    assert _amount(Decimal("0.005"), Fraction(2), 1_800_000_000) == Decimal("0.00")  # a tie: even


def test_all_tenants_in_the_header_sends_finance_to_the_finance_page(world, client):
    client.force_login(world.finance)
    assert client.get("/costs/").url == "/finance/"
