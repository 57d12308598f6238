"""Lists read as JSON columns of another query (portal/jsonrows.py) give what the ORM reads."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import OuterRef
from django.utils import timezone

from billing.models import FlavorPrice, PriceList
from billing.selectors import _with_next_start, prices_for_period, prices_of
from compute.choices import VMState
from compute.models import Network, NetworkInterface, VirtualMachine
from portal.jsonrows import instances, model_rows
from portal.models import Tenant
from tests.factories import HostFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


def test_rows_come_back_as_the_orm_reads_them(world):
    host = HostFactory()
    network = Network.objects.create(name="net", kind="user")
    vms = [
        VirtualMachineFactory(environment=world.development, owner=world.member, host=host),
        VirtualMachineFactory(
            environment=world.development,
            owner=world.member,
            state=VMState.PENDING_APPROVAL,
            authorized_keys=["ssh-ed25519 AAAA one", "ssh-ed25519 AAAA two"],
            expires_at=timezone.now() + timedelta(days=3, microseconds=7),
        ),
    ]
    NetworkInterface.objects.create(
        vm=vms[0], network=network, mac="52:54:00:aa:00:09", ip="10.1.2.3"
    )
    row = (
        Tenant.objects.filter(pk=world.tenant.pk)
        .values(
            vm_rows=model_rows(
                VirtualMachine.objects.filter(tenant=OuterRef("pk")).order_by("id"),
                related={"host": type(host)},
            ),
            port_rows=model_rows(
                NetworkInterface.objects.filter(vm__tenant=OuterRef("pk")),
                related={"network": Network},
            ),
        )
        .get()
    )
    found = instances(VirtualMachine, row["vm_rows"], related={"host": type(host)})
    orm = list(VirtualMachine.objects.filter(tenant=world.tenant).order_by("id"))
    fields = [f.attname for f in VirtualMachine._meta.concrete_fields]
    assert [[getattr(v, f) for f in fields] for v in found] == [
        [getattr(v, f) for f in fields] for v in orm
    ]
    assert found[0].host.name == host.name and found[1].host is None
    assert found[1].authorized_keys == ["ssh-ed25519 AAAA one", "ssh-ed25519 AAAA two"]
    (port,) = instances(NetworkInterface, row["port_rows"], related={"network": Network})
    assert (port.ip, port.network.name, port.vm_id) == ("10.1.2.3", "net", vms[0].pk)


def test_price_lists_in_one_query_are_what_their_rows_give(world, django_assert_num_queries):
    now = timezone.now()
    first = PriceList.objects.create(
        name="a", currency="EUR", effective_from=now - timedelta(days=40),
        vcpu_hour=Decimal("0.0125"), ram_gib_hour=Decimal("0.005"), disk_gib_hour=Decimal("0.0001"),
        snapshot_gib_hour=Decimal("0.0002"),
    )  # fmt: skip
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    FlavorPrice.objects.create(price_list=first, flavor=vm.flavor, per_hour=Decimal("0.0300"))
    second = PriceList.objects.create(
        name="b", currency="EUR", effective_from=now - timedelta(days=2), vcpu_hour=Decimal("1"),
        ram_gib_hour=Decimal("0.0050"), disk_gib_hour=Decimal("0.0001"),
    )  # fmt: skip
    with django_assert_num_queries(1):
        read = prices_for_period(start=now - timedelta(days=60), end=now)
    expected = [
        prices_of(p)
        for p in _with_next_start(PriceList.objects.filter(pk__in=[first.pk, second.pk]))
    ]
    assert read == expected
    assert read[1].flavor_hour == {vm.flavor_id: Decimal("0.0300")}
    assert [str(p.vcpu_hour) for p in read] == [str(p.vcpu_hour) for p in expected]
