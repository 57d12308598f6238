"""Many requests at once against one quota, each on its own PostgreSQL connection."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections

from compute import services
from compute.models import VirtualMachine
from quotas import services as quota_services
from quotas.models import Quota
from tests.factories import FlavorFactory, HostFactory, ImageFactory

REQUESTS = 200
# At most this many connections at once: PostgreSQL's default max_connections is 100 and other
# test runs may share the server. Each request still has its own connection and transaction.
THREADS = 40
ALLOWED = 10


@pytest.mark.django_db(transaction=True)
def test_200_concurrent_requests_against_room_for_10(world):
    """Exactly 10 accepted, 190 refused with the quota message, counters equal a recount."""
    if connection.vendor != "postgresql":
        pytest.skip("the guarantee under test is PostgreSQL's row locking")
    HostFactory()
    flavor = FlavorFactory(vcpus=2, ram_mib=1024, disk_gib=5)
    image = ImageFactory()
    # vCPUs allow exactly 10 VMs of this flavor; every other resource has room to spare.
    Quota.objects.filter(environment=world.production).update(vcpus_limit=2 * ALLOWED)
    start = threading.Barrier(THREADS)  # the first wave leaves together

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
            return "accepted"
        except ValidationError as exc:
            return " ".join(exc.message_dict.get("flavor", [])) or repr(exc.message_dict)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(submit, range(REQUESTS)))

    accepted = results.count("accepted")
    refused = [r for r in results if r != "accepted"]
    assert accepted == ALLOWED
    assert len(refused) == REQUESTS - ALLOWED
    assert all(
        r == "Quota exceeded for vCPUs in production: asked 2, 0 left of 20." for r in refused
    ), set(refused)
    quota = Quota.objects.get(environment=world.production)
    assert (quota.vcpus_reserved, quota.vms_reserved, quota.ram_mib_reserved) == (20, 10, 10240)
    assert VirtualMachine.objects.filter(environment=world.production).count() == ALLOWED
    assert quota_services.quota_drift_check() == []
