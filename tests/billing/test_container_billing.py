"""A container is billed as a VM of its flavor: from running to stopped (here, by itself)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from billing import selectors, services
from billing.choices import UsageKind
from billing.models import UsageEvent
from billing.rating.python import total
from compute import services as compute_services
from compute.busyboxroot import build_busybox_rootfs
from compute.choices import ImageKind, VMKind, VMState
from compute.hypervisor.connection import get_connection
from tests.billing.conftest import Clock
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory, ImageFactory

T = datetime(2025, 3, 10, 11, 30, tzinfo=UTC)
MARCH = (datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 4, 1, tzinfo=UTC))


def test_container_that_died_is_billed_exactly_until_the_reconciler_saw_it(
    world, clock: Clock, run_on_commit, settings, tmp_path: Path
):
    settings.NUAGE = {**settings.NUAGE, "CONTAINER_ROOT": str(tmp_path / "containers")}
    host = make_sim_host(tmp_path, cpus=4, memory_mib=4096, domain_type="lxc")
    image = ImageFactory(
        kind=ImageKind.ROOTFS,
        kernel_path="",
        rootfs_path=str(build_busybox_rootfs(tmp_path / "rootfs")),
    )
    flavor = FlavorFactory(kind=VMKind.CONTAINER, vcpus=2, ram_mib=1024, disk_gib=4)
    services.price_list_create(
        created_by=world.finance,
        name="2025",
        currency="EUR",
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
        vcpu_hour=Decimal("0.04"),
        ram_gib_hour=Decimal("0.01"),
        disk_gib_hour=Decimal("0.01"),
    )
    clock.set(T)
    box = compute_services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="billed-box",
    )
    box.refresh_from_db()
    assert (box.kind, box.state) == (VMKind.CONTAINER, VMState.RUNNING)
    # An hour later its init has ended; the reconciler sees it then.
    get_connection(host.uri).lookupByUUIDString(str(box.uuid)).destroy()
    clock.set(T + timedelta(hours=1))
    compute_services.reconcile()
    box.refresh_from_db()
    assert box.state == VMState.STOPPED
    clock.set(T + timedelta(hours=1, minutes=30))
    compute_services.vm_action(vm=box, action="delete", requested_by=world.member)
    box.refresh_from_db()
    assert box.state == VMState.DELETED

    events = list(UsageEvent.objects.filter(vm=box).values_list("kind", "at"))
    assert events == [
        (UsageKind.CREATED, T),
        (UsageKind.STARTED, T),
        (UsageKind.STOPPED, T + timedelta(hours=1)),
        (UsageKind.DELETED, T + timedelta(hours=1, minutes=30)),
    ]
    lines = selectors.usage_report(fetched_by=world.member, start=MARCH[0], end=MARCH[1])
    figures = sorted((ln.resource, ln.seconds, ln.amount) for ln in lines)
    assert figures == [
        # 3600 s x 2 vCPU x 0.04 / 3600
        ("cpu", Decimal(3600), Decimal("0.08")),
        # the rootfs budget while the container exists: 5400 s x 4 GiB x 0.01 / 3600
        ("disk", Decimal(5400), Decimal("0.06")),
        # 3600 s x 1 GiB x 0.01 / 3600
        ("ram", Decimal(3600), Decimal("0.01")),
    ]
    assert total(lines) == Decimal("0.15")


pytestmark = pytest.mark.django_db
