"""The periodic cycles (heartbeat, reconciler) cost a fixed number of queries whatever the
number of hosts: bench/scale.py runs them over 2,000 hosts, these tests pin why they can."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

from compute import services
from compute.models import Host
from tests.conftest import make_sim_host

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _writes(ctx: CaptureQueriesContext, table: str) -> int:
    return sum(1 for q in ctx.captured_queries if q["sql"].startswith(f'UPDATE "{table}"'))


def test_heartbeat_writes_every_answering_host_in_one_update(db, tmp_path: Path):
    hosts = [make_sim_host(tmp_path, reachable=False) for _ in range(5)]
    Host.objects.filter(pk=hosts[2].pk).update(uri="qemu+tcp://127.0.0.1:9/system")

    with CaptureQueriesContext(connection) as ctx:
        counts = services.heartbeat(now=NOW)

    assert counts == {"up": 4, "missed": 1, "declared_down": 0, "rejoined": 0}
    by_pk = {h.pk: h for h in Host.objects.all()}
    for host in hosts:
        fresh = by_pk[host.pk]
        if host == hosts[2]:
            assert (fresh.reachable, fresh.missed_heartbeats) == (False, 1)
            assert fresh.last_error
        else:
            assert (fresh.reachable, fresh.missed_heartbeats, fresh.last_seen_at) == (True, 0, NOW)
    # One UPDATE for the four that answered, one for the one that did not.
    assert _writes(ctx, "compute_host") == 2


def test_heartbeat_queries_do_not_grow_with_the_hosts(db, tmp_path: Path):
    for _ in range(2):
        make_sim_host(tmp_path)
    services.heartbeat(now=NOW)  # connections opened
    with CaptureQueriesContext(connection) as few:
        services.heartbeat(now=NOW)
    for _ in range(6):
        make_sim_host(tmp_path)
    services.heartbeat(now=NOW)
    with CaptureQueriesContext(connection) as many:
        services.heartbeat(now=NOW)
    assert len(many.captured_queries) == len(few.captured_queries)
