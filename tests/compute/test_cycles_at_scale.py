"""The periodic cycles (heartbeat, reconciler) cost a fixed number of queries whatever the
number of hosts: bench/scale.py runs them over 2,000 hosts, these tests pin why they can."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compute import hypervisor, services
from compute.choices import RuntimeState, VMState
from compute.hypervisor.connection import get_connection
from compute.models import Host, VirtualMachine
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


def _running_vm(world, host: Host, flavor, image, name: str) -> VirtualMachine:
    """A VM recorded as running on `host`, with its domain defined and started there."""
    vm = VirtualMachine.objects.create(
        tenant=world.tenant, environment=world.development, owner=world.member, name=name,
        flavor=flavor, image=image, host=host, state=VMState.RUNNING,
        runtime_state=RuntimeState.RUNNING,
    )  # fmt: skip
    spec = hypervisor.DomainSpec(
        name=f"nuage-{name}", uuid=str(vm.uuid), title="", vcpus=1, memory_mib=128,
        disk_path=f"/nonexistent-{name}.qcow2",
    )  # fmt: skip
    hypervisor.ensure_domain_defined(host.uri, spec)
    get_connection(host.uri).lookupByUUIDString(str(vm.uuid)).create()
    VirtualMachine.objects.filter(pk=vm.pk).update(state_changed_at=NOW - timedelta(hours=1))
    return vm


def test_reconciler_queries_do_not_grow_with_the_hosts_and_vms(world, tmp_path, flavor, image):
    hosts = [make_sim_host(tmp_path, reachable=True) for _ in range(2)]
    for n, host in enumerate(hosts):
        _running_vm(world, host, flavor, image, f"a{n}")
    services.reconcile(now=NOW)
    with CaptureQueriesContext(connection) as few:
        counts = services.reconcile(now=NOW)
    assert (counts["runtime_updated"], counts["vanished"], counts["orphans"]) == (0, 0, 0)
    more = [make_sim_host(tmp_path, reachable=True) for _ in range(4)]
    for n, host in enumerate(hosts + more):
        _running_vm(world, host, flavor, image, f"b{n}")
    services.reconcile(now=NOW)
    with CaptureQueriesContext(connection) as many:
        services.reconcile(now=NOW)
    assert len(many.captured_queries) == len(few.captured_queries)
    assert set(Host.objects.values_list("last_seen_at", flat=True)) == {NOW}


def test_reconciler_updates_runtime_states_flags_vanished_domains_and_lists_orphans(
    world, tmp_path, flavor, image
):
    first, second = (make_sim_host(tmp_path, reachable=True) for _ in range(2))
    stopped = _running_vm(world, first, flavor, image, "stopped")
    gone = _running_vm(world, second, flavor, image, "gone")
    kept = _running_vm(world, second, flavor, image, "kept")
    get_connection(first.uri).lookupByUUIDString(str(stopped.uuid)).destroy()
    hypervisor.remove_domain(second.uri, str(gone.uuid))
    get_connection(second.uri).lookupByUUIDString(str(kept.uuid))  # still there
    stranger = hypervisor.DomainSpec(
        name="someone-elses", uuid="6f1c1f0e-0000-4000-8000-000000000002", title="", vcpus=1,
        memory_mib=128, disk_path="/nonexistent.qcow2",
    )  # fmt: skip
    hypervisor.ensure_domain_defined(first.uri, stranger)

    counts = services.reconcile(now=NOW)

    assert (counts["runtime_updated"], counts["vanished"], counts["orphans"]) == (2, 1, 1)
    states = dict(VirtualMachine.objects.values_list("name", "runtime_state"))
    assert states == {
        "stopped": RuntimeState.SHUTOFF,
        "gone": RuntimeState.NO_DOMAIN,
        "kept": RuntimeState.RUNNING,
    }
    gone.refresh_from_db()
    assert gone.state == VMState.ERROR and "disappeared from host" in gone.error_message
    first.refresh_from_db()
    second.refresh_from_db()
    assert [o["uuid"] for o in first.orphan_domains] == [stranger.uuid]
    assert second.orphan_domains == []


def test_a_vm_deleted_after_its_host_is_listed_is_not_an_orphan(
    world, tmp_path, flavor, image, monkeypatch
):
    """The reconciler lists every host first, then reads the VMs: a VM deleted in between
    (its row now deleted, its domain in the listing) is not a domain Nuage does not know."""
    host = make_sim_host(tmp_path, reachable=True)
    vm = _running_vm(world, host, flavor, image, "leaving")
    real_list = hypervisor.domain_list

    def list_then_delete(uri: str):
        domains = real_list(uri)
        VirtualMachine.objects.filter(pk=vm.pk).update(
            state=VMState.DELETED, state_changed_at=timezone.now()
        )
        return domains

    monkeypatch.setattr(hypervisor, "domain_list", list_then_delete)
    assert services.reconcile()["orphans"] == 0
    host.refresh_from_db()
    assert host.orphan_domains == []
