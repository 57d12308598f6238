"""Many VM requests at once on one network, each on its own PostgreSQL connection: every one
gets its own address, MAC and forwarded port, and a full pool refuses the rest cleanly."""

from __future__ import annotations

import ipaddress
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from compute import ipam, services
from compute.models import NetworkGrant, NetworkInterface, VirtualMachine
from quotas.models import Quota
from tests.factories import FlavorFactory, HostFactory, ImageFactory

# At most this many connections at once (PostgreSQL's default max_connections is 100 and other
# test runs share the server); each request still has its own connection and transaction.
THREADS = 30


def burst(world, count: int) -> list[str]:
    """`count` requests in production (they wait for approval: no worker runs), the first
    THREADS leaving together; each result is "ok" or the `network` field's message."""
    flavor, image = FlavorFactory(), ImageFactory()
    Quota.objects.filter(environment=world.production).update(
        vcpus_limit=10_000, ram_mib_limit=10_000_000, disk_gib_limit=100_000, vms_limit=10_000
    )
    start = threading.Barrier(min(THREADS, count))

    def submit(i: int) -> str:
        try:
            if i < THREADS:
                start.wait(timeout=60)
            services.vm_request_create(
                requested_by=world.member,
                environment=world.production,
                flavor=flavor,
                image=image,
                name=f"burst-{i}",
            )
            return "ok"
        except ValidationError as exc:
            return " ".join(exc.message_dict.get("network", [])) or repr(exc.message_dict)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(submit, range(count)))


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_requests_get_distinct_addresses_and_macs(world):
    if connection.vendor != "postgresql":
        pytest.skip("the guarantee under test is PostgreSQL's row locking")
    HostFactory()
    net = ipam.network_create(
        created_by=world.platform_admin,
        name="lan",
        kind="bridge",
        bridge="br0",
        subnet="10.50.0.0/24",
        gateway="10.50.0.1",
        pool_start="10.50.0.1",
        pool_end="10.50.0.254",
    )
    NetworkGrant.objects.create(network=net, tenant=world.tenant)

    results = burst(world, 200)

    assert results == ["ok"] * 200, {r for r in results if r != "ok"}
    nics = list(NetworkInterface.objects.filter(network=net))
    assert len(nics) == 200
    assert len({n.ip for n in nics}) == 200
    assert len({n.mac for n in nics}) == 200
    # The lowest free addresses, none skipped, the gateway never handed out.
    assert sorted(ipaddress.ip_address(n.ip) for n in nics) == [
        ipaddress.ip_address("10.50.0.2") + i for i in range(200)
    ]
    assert VirtualMachine.objects.filter(interfaces__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_on_a_small_pool_fill_it_and_refuse_the_rest(world):
    if connection.vendor != "postgresql":
        pytest.skip("the guarantee under test is PostgreSQL's row locking")
    HostFactory()
    net = ipam.network_create(
        created_by=world.platform_admin,
        name="small",
        kind="nat",
        subnet="10.60.0.0/24",
        gateway="10.60.0.1",
        pool_start="10.60.0.10",
        pool_end="10.60.0.19",
    )
    NetworkGrant.objects.create(network=net, tenant=world.tenant)

    results = burst(world, 40)

    assert results.count("ok") == 10
    assert {r for r in results if r != "ok"} == {
        "Network small has no free address left (pool 10.60.0.10-10.60.0.19). Choose another "
        "network or ask an admin to widen the pool."
    }
    # Nothing of the refused requests stayed: no VM, no port, no quota reservation.
    assert VirtualMachine.objects.count() == 10
    assert NetworkInterface.objects.count() == 10
    quota = Quota.objects.get(environment=world.production)
    assert quota.vms_reserved == 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_user_network_requests_get_distinct_host_ports(world, settings):
    if connection.vendor != "postgresql":
        pytest.skip("the guarantee under test is PostgreSQL's row locking")
    settings.NUAGE = {**settings.NUAGE, "USER_NET_PORTS": (23000, 23059)}
    HostFactory()
    net = ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    NetworkGrant.objects.create(network=net, tenant=world.tenant)

    results = burst(world, 60)

    assert results == ["ok"] * 60, {r for r in results if r != "ok"}
    ports = sorted(NetworkInterface.objects.values_list("host_port", flat=True))
    assert ports == list(range(23000, 23060))
