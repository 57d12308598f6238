"""A VM resized mid-month is charged at each size, the line split at the second of the resize,
by both rating engines (the Python reference and the SQL path over the intervals)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing import invoicing
from billing.choices import UsageKind
from billing.models import UsageEvent
from compute import services
from tests.billing.conftest import price_list
from tests.factories import FlavorFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("sql", [True, False], ids=["sql", "python"])
def test_vm_resized_mid_month_is_charged_exactly_at_each_size(
    world, sim_host, image, clock, run_on_commit, settings, sql
):
    settings.NUAGE = {**settings.NUAGE, "RATING_SQL": sql}
    # Per hour: 0.01 a vCPU, 0.005 a GiB of RAM, 3.60 a GiB of disk (0.001 a GiB-second, so
    # one second more or less at either size would move the disk lines by whole cents).
    price_list(datetime(2025, 1, 1, tzinfo=UTC), "0.01", "0.005", "3.6")
    small = FlavorFactory(name="small", vcpus=1, ram_mib=1024, disk_gib=10)
    big = FlavorFactory(name="big", vcpus=2, ram_mib=2048, disk_gib=20)

    clock.set(datetime(2025, 10, 3, 10, 0, tzinfo=UTC))
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=small,
        image=image,
        name="web",
    )
    clock.set(datetime(2025, 10, 10, 10, 0, tzinfo=UTC))
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    resized_at = datetime(2025, 10, 15, 12, 0, 30, tzinfo=UTC)
    clock.set(resized_at)
    services.vm_resize(vm=vm, flavor=big, requested_by=world.member)
    clock.set(datetime(2025, 10, 20, 8, 0, tzinfo=UTC))
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor) == ("running", big)

    event = UsageEvent.objects.get(vm=vm, kind=UsageKind.RESIZED)
    assert (event.at, event.vcpus, event.ram_mib, event.disk_gib) == (resized_at, 2, 2048, 20)

    clock.set(datetime(2025, 11, 2, tzinfo=UTC))
    invoice, _changed = invoicing.invoice_draft(
        drafted_by=world.finance, tenant=world.tenant, year=2025, month=10
    )
    lines = sorted(
        (ln.resource, ln.quantity, ln.seconds, ln.amount) for ln in invoicing.invoice_lines(invoice)
    )
    # Small: running 3 Oct 10:00 to 10 Oct 10:00 (168 h); its disk until the resize at
    # 15 Oct 12:00:30 (290 h 0 min 30 s = 1,044,030 s). Big: its disk from the resize to the
    # end of October (395 h 59 min 30 s = 1,425,570 s); running from 20 Oct 08:00 (280 h).
    assert lines == [
        ("cpu", Decimal(1), Decimal(168 * 3600), Decimal("1.68")),  # 168 h x 1 x 0.01
        ("cpu", Decimal(2), Decimal(280 * 3600), Decimal("5.60")),  # 280 h x 2 x 0.01
        ("disk", Decimal(10), Decimal(1_044_030), Decimal("10440.30")),  # x 10 GiB x 0.001/s
        ("disk", Decimal(20), Decimal(1_425_570), Decimal("28511.40")),  # x 20 GiB x 0.001/s
        ("ram", Decimal(1), Decimal(168 * 3600), Decimal("0.84")),  # 168 h x 1 GiB x 0.005
        ("ram", Decimal(2), Decimal(280 * 3600), Decimal("2.80")),  # 280 h x 2 GiB x 0.005
    ]
    assert invoice.total == Decimal("38962.62")
