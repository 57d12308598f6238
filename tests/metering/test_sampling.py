"""Sampling cycles on libvirt test-driver hosts with real domains, rollups and pruning."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import UsageEvent
from compute import hypervisor, services
from compute.choices import RuntimeState, VMState
from compute.hypervisor import DomainStats
from compute.hypervisor.connection import get_connection
from compute.models import Host, VirtualMachine
from metering import sampling, tasks
from metering.models import MeterDaily, MeterHourly, MeterSample
from tests.conftest import make_sim_host

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2026, 3, 2, 10, 0, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def long_gaps(settings) -> None:
    """Cycles minutes apart in these tests still give rates."""
    settings.NUAGE = {**settings.NUAGE, "METER_MAX_GAP_SECONDS": 3600}


def running_vm(world, flavor, image, name: str) -> VirtualMachine:
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    vm.refresh_from_db()
    return vm


def cycle(host: Host, at: datetime) -> sampling.CycleResult:
    return sampling.sample_host(host_id=host.pk, at=at)


def figures(model: type) -> list[tuple]:
    return list(model.objects.order_by("vm_id", "bucket").values_list(
        "vm_id", "host_id", "tenant_id", "bucket", "cpu_avg_vcpus", "cpu_max_vcpus",
        "memory_avg_mib", "disk_read_bytes", "disk_write_bytes", "net_rx_bytes", "net_tx_bytes",
        "samples",
    ))  # fmt: skip


def test_a_cycle_stores_one_row_per_running_vm_in_one_copy(world, sim_host, flavor, image):
    vms = [running_vm(world, flavor, image, f"web-{i}") for i in range(3)]
    stopped = running_vm(world, flavor, image, "stopped")
    get_connection(sim_host.uri).lookupByUUIDString(str(stopped.uuid)).destroy()

    with CaptureQueriesContext(connection) as queries:
        result = cycle(sim_host, T0)

    assert (result.domains, result.stored, result.error) == (3, 3, "")
    rows = MeterSample.objects.order_by("vm_id")
    assert [r.vm_id for r in rows] == [vm.pk for vm in vms]
    first = rows[0]
    assert (first.host_id, first.at, first.vcpus, first.memory_mib) == (sim_host.pk, T0, 1, 512)
    assert first.cpu_time_ns > 0 and first.memory_used_mib > 0
    # A first sample has no rate yet.
    assert first.cpu_used_vcpus is None and first.disk_read_delta == 0
    # Written by COPY: no INSERT of samples went through the ORM.
    assert not [q for q in queries if "INSERT" in q["sql"] and "metersample" in q["sql"]]


def test_the_next_cycle_gives_cpu_use_and_bytes_from_the_deltas(world, sim_host, flavor, image):
    vm = running_vm(world, flavor, image, "web-1")
    cycle(sim_host, T0)
    # As if the guest had kept half a vCPU busy for the minute and read 6 MB: the earlier
    # counters are set back by that much (the test driver's counters follow the wall clock).
    before = MeterSample.objects.get(vm=vm)
    MeterSample.objects.filter(pk=before.pk).update(
        cpu_time_ns=before.cpu_time_ns - 30 * 10**9,
        disk_read_bytes=before.disk_read_bytes - 6_000_000,
    )
    cycle(sim_host, T0 + timedelta(seconds=60))

    after = MeterSample.objects.filter(vm=vm).latest("at")
    assert after.interval_seconds == 60.0
    # Half a vCPU, plus the real milliseconds that passed between the two reads.
    assert after.cpu_used_vcpus == pytest.approx(0.5, abs=0.02)
    assert after.disk_read_delta >= 6_000_000
    assert after.disk_read_delta == after.disk_read_bytes - before.disk_read_bytes + 6_000_000


def test_counters_that_went_back_are_a_new_baseline_with_no_use() -> None:
    stats = DomainStats(
        uuid="u", state="running", cpu_time_ns=5 * 10**9, vcpus=2, memory_kib=1024 * 1024,
        memory_available_kib=None, memory_unused_kib=None, memory_rss_kib=300 * 1024,
        disk_read_bytes=100, disk_write_bytes=200, net_rx_bytes=300, net_tx_bytes=400,
    )  # fmt: skip
    previous = sampling._Previous(  # the domain restarted after this sample
        host_id=1, at=T0, cpu_time_ns=9 * 10**12, disk_read_bytes=10**9, disk_write_bytes=0,
        net_rx_bytes=0, net_tx_bytes=0,
    )  # fmt: skip
    row = dict(
        zip(
            sampling.SAMPLE_COLUMNS,
            sampling.sample_row(
                vm_id=7,
                host_id=1,
                at=T0 + timedelta(minutes=1),
                stats=stats,
                vcpus=2,
                previous=previous,
            ),  # fmt: skip
            strict=True,
        )
    )
    assert (row["cpu_used_vcpus"], row["interval_seconds"]) == (None, None)
    assert (row["disk_read_delta"], row["disk_write_delta"]) == (0, 0)
    assert (row["net_rx_delta"], row["net_tx_delta"]) == (0, 0)
    assert (row["disk_read_bytes"], row["net_tx_bytes"]) == (100, 400)  # the new baseline
    assert (row["memory_mib"], row["memory_used_mib"]) == (1024, 300)


def test_a_second_cycle_at_the_same_instant_changes_nothing(world, sim_host, flavor, image):
    running_vm(world, flavor, image, "web-1")
    running_vm(world, flavor, image, "web-2")
    assert cycle(sim_host, T0).stored == 2
    rows = list(MeterSample.objects.values())

    assert cycle(sim_host, T0).stored == 0
    assert list(MeterSample.objects.values()) == rows


def test_unreachable_host_is_skipped_and_the_others_sampled(
    world, sim_host, flavor, image, tmp_path, caplog
):
    vm = running_vm(world, flavor, image, "web-1")
    gone = make_sim_host(tmp_path)
    Path(gone.uri.removeprefix("test://")).unlink()  # its libvirt no longer opens
    from compute.hypervisor.connection import drop_connection

    drop_connection(gone.uri)
    ledger = list(UsageEvent.objects.values_list("pk", flat=True))

    with caplog.at_level(logging.WARNING, logger="metering.sampling"):
        assert tasks.meter_dispatch() == 2  # eager: both hosts' tasks ran, neither raised
    assert f"host {gone.name} not sampled" in caplog.text

    assert list(MeterSample.objects.values_list("vm_id", "host_id")) == [(vm.pk, sim_host.pk)]
    assert sampling.sample_host(host_id=gone.pk).error
    assert list(UsageEvent.objects.values_list("pk", flat=True)) == ledger


def test_rollup_twice_changes_nothing_and_a_missed_hour_is_caught_up(
    world, sim_host, flavor, image
):
    a = running_vm(world, flavor, image, "web-1")
    running_vm(world, flavor, image, "web-2")
    for minutes in range(0, 180, 20):  # 10:00:30 to 12:40:30, three samples an hour
        cycle(sim_host, T0 + timedelta(minutes=minutes))

    first = sampling.rollup(now=datetime(2026, 3, 2, 11, 5, tzinfo=UTC))
    assert first.hourly == 2  # the 10:00 hour of both VMs
    ten = figures(MeterHourly)
    assert sampling.rollup(now=datetime(2026, 3, 2, 11, 50, tzinfo=UTC)).hourly == 2
    assert figures(MeterHourly) == ten

    # The 12:05 run never happened; the 13:10 one rolls up 11:00 and 12:00 (and 10:00 again).
    sampling.rollup(now=datetime(2026, 3, 2, 13, 10, tzinfo=UTC))
    buckets = MeterHourly.objects.filter(vm=a).values_list("bucket__hour", "samples")
    assert sorted(buckets) == [(10, 3), (11, 3), (12, 3)]
    assert figures(MeterHourly)[:1] == ten[:1]
    hourly = figures(MeterHourly)
    sampling.rollup(now=datetime(2026, 3, 2, 13, 10, tzinfo=UTC))
    assert figures(MeterHourly) == hourly

    # The next day, the day is rolled up from its hours, once.
    sampling.rollup(now=datetime(2026, 3, 3, 0, 30, tzinfo=UTC))
    daily = figures(MeterDaily)
    assert [(d[0], d[3].day, d[-1]) for d in daily if d[0] == a.pk] == [(a.pk, 2, 9)]
    sampling.rollup(now=datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    assert figures(MeterDaily) == daily


def test_hourly_figures_are_the_samples_means_and_sums(world, sim_host, flavor, image):
    vm = running_vm(world, flavor, image, "web-1")
    for minutes in (0, 20, 40):
        cycle(sim_host, T0 + timedelta(minutes=minutes))
    samples = list(MeterSample.objects.filter(vm=vm).order_by("at"))
    sampling.rollup(now=datetime(2026, 3, 2, 11, 1, tzinfo=UTC))

    hour = MeterHourly.objects.get(vm=vm)
    rates = [s.cpu_used_vcpus for s in samples if s.cpu_used_vcpus is not None]
    assert hour.samples == 3
    assert hour.cpu_avg_vcpus == pytest.approx(sum(rates) / len(rates), abs=1e-6)
    assert hour.cpu_max_vcpus == pytest.approx(max(rates), abs=1e-6)
    assert hour.disk_read_bytes == samples[-1].disk_read_bytes - samples[0].disk_read_bytes
    assert hour.net_tx_bytes == samples[-1].net_tx_bytes - samples[0].net_tx_bytes
    assert (hour.host_id, hour.tenant_id) == (sim_host.pk, world.tenant.pk)


def test_pruning_keeps_samples_whose_hour_is_not_rolled_up(
    world, sim_host, flavor, image, settings
):
    settings.NUAGE["METER_RETENTION_DAYS"] = 2
    vm = running_vm(world, flavor, image, "web-1")
    old = T0 - timedelta(days=3)  # 10:00:30 three days ago, then 11:00:30
    cycle(sim_host, old)
    cycle(sim_host, old + timedelta(hours=1))
    sampling.rollup(now=old + timedelta(minutes=70))  # rolls up the 10:00 hour only
    now = T0

    # Older than the retention, but 10:00 is the last hour rolled up (recomputed next time) and
    # 11:00 is not rolled up at all: both are kept.
    assert sampling.prune_samples(now=now) == 0
    assert MeterSample.objects.filter(vm=vm).count() == 2

    result = sampling.rollup(now=now)
    assert result.pruned == 1  # 10:00, now that 11:00 is rolled up after it
    assert list(MeterSample.objects.values_list("at", flat=True)) == [old + timedelta(hours=1)]
    assert MeterHourly.objects.filter(vm=vm).count() == 2


def test_a_previous_sample_older_than_the_gap_gives_no_rate(world, sim_host, flavor, image):
    vm = running_vm(world, flavor, image, "web-1")
    cycle(sim_host, T0)
    cycle(sim_host, T0 + timedelta(hours=2))  # the gap allowed here is one hour

    later = MeterSample.objects.filter(vm=vm).latest("at")
    assert (later.cpu_used_vcpus, later.interval_seconds, later.disk_read_delta) == (None, None, 0)


def test_only_enabled_hosts_that_answer_are_sampled(world, sim_host, flavor, image, tmp_path):
    running_vm(world, flavor, image, "web-1")
    make_sim_host(tmp_path, enabled=False)
    silent = make_sim_host(tmp_path)
    Host.objects.filter(pk=silent.pk).update(reachable=False)  # missed its heartbeats

    assert sampling.hosts_to_sample() == [sim_host.pk]
    assert tasks.meter_dispatch() == 1
    assert MeterSample.objects.count() == 1


def placed_vm(world, flavor, image, host: Host, name: str) -> VirtualMachine:
    """A VM recorded as running on `host`, its domain defined and started there."""
    vm = VirtualMachine.objects.create(
        tenant=world.tenant, environment=world.development, owner=world.member, name=name,
        flavor=flavor, image=image, host=host, state=VMState.RUNNING,
        runtime_state=RuntimeState.RUNNING,
    )  # fmt: skip
    define_running(host, vm, name)
    return vm


def define_running(host: Host, vm: VirtualMachine, name: str) -> None:
    spec = hypervisor.DomainSpec(
        name=f"nuage-{name}", uuid=str(vm.uuid), title="", vcpus=1, memory_mib=128,
        disk_path=f"/nonexistent-{name}.qcow2",
    )  # fmt: skip
    hypervisor.ensure_domain_defined(host.uri, spec)
    get_connection(host.uri).lookupByUUIDString(str(vm.uuid)).create()


def test_dispatch_sends_one_task_per_group_of_hosts_and_every_vm_is_sampled(
    world, flavor, image, tmp_path, settings, monkeypatch
):
    settings.NUAGE = {**settings.NUAGE, "METER_HOSTS_PER_TASK": 2}
    hosts = [make_sim_host(tmp_path, reachable=True) for _ in range(5)]
    vms = [placed_vm(world, flavor, image, h, f"web-{i}") for i, h in enumerate(hosts)]
    sent: list[list[int]] = []
    real = tasks.meter_sample_hosts.apply_async

    def spy(args, **options):
        sent.append(list(args[0]))
        return real(args, **options)

    monkeypatch.setattr(tasks.meter_sample_hosts, "apply_async", spy)
    assert tasks.meter_dispatch() == 5

    ids = sorted(h.pk for h in hosts)
    assert sent == [ids[0:2], ids[2:4], ids[4:5]]
    assert sorted(MeterSample.objects.values_list("vm_id", "host_id")) == sorted(
        (vm.pk, vm.host_id) for vm in vms
    )


def test_a_group_of_hosts_costs_the_same_queries_as_one_host(world, flavor, image, tmp_path):
    one = make_sim_host(tmp_path, reachable=True)
    placed_vm(world, flavor, image, one, "solo")
    many = [make_sim_host(tmp_path, reachable=True) for _ in range(6)]
    for i, host in enumerate(many):
        for k in range(3):
            placed_vm(world, flavor, image, host, f"vm-{i}-{k}")
    sampling.sample_hosts(host_ids=[one.pk], at=T0)
    sampling.sample_hosts(host_ids=[h.pk for h in many], at=T0)

    with CaptureQueriesContext(connection) as single:
        sampling.sample_hosts(host_ids=[one.pk], at=T0 + timedelta(minutes=1))
    with CaptureQueriesContext(connection) as group:
        results = sampling.sample_hosts(host_ids=[h.pk for h in many], at=T0 + timedelta(minutes=1))
    assert [r.stored for r in results] == [3] * 6
    assert len(group.captured_queries) == len(single.captured_queries)
    assert MeterSample.objects.filter(at=T0 + timedelta(minutes=1)).count() == 19
    assert (
        MeterSample.objects.filter(
            at=T0 + timedelta(minutes=1), cpu_used_vcpus__isnull=True
        ).count()
        == 0
    )


def test_a_vm_on_two_hosts_of_a_group_is_stored_once_from_its_own_host(
    world, flavor, image, tmp_path
):
    """Both ends of a live migration show the domain running for a moment."""
    source, target = (make_sim_host(tmp_path, reachable=True) for _ in range(2))
    vm = placed_vm(world, flavor, image, target, "moving")
    define_running(source, vm, "moving")

    results = sampling.sample_hosts(host_ids=[source.pk, target.pk], at=T0)

    assert list(MeterSample.objects.values_list("vm_id", "host_id")) == [(vm.pk, target.pk)]
    assert {r.host_id: r.stored for r in results} == {source.pk: 0, target.pk: 1}


def test_with_shards_each_task_holds_one_shard_and_goes_to_its_queue(
    world, flavor, image, tmp_path, settings, monkeypatch
):
    settings.NUAGE = {
        **settings.NUAGE,
        "METER_HOSTS_PER_TASK": 2,
        "METER_SHARDS": 2,
        "QUEUES": {**settings.NUAGE["QUEUES"], "metering": "metering"},
    }
    hosts = [make_sim_host(tmp_path, reachable=True) for _ in range(5)]
    vms = [placed_vm(world, flavor, image, h, f"web-{i}") for i, h in enumerate(hosts)]
    sent: list[tuple[str, list[int]]] = []
    real = tasks.meter_sample_hosts.apply_async

    def spy(args, **options):
        sent.append((options["queue"], list(args[0])))
        return real(args, **{k: v for k, v in options.items() if k != "queue"})

    monkeypatch.setattr(tasks.meter_sample_hosts, "apply_async", spy)
    assert tasks.meter_dispatch() == 5

    for queue, members in sent:
        assert {f"metering.{h % 2}" for h in members} == {queue}
        assert len(members) <= 2
    assert sorted(h for _q, members in sent for h in members) == sorted(h.pk for h in hosts)
    assert MeterSample.objects.count() == len(vms)


def test_a_vm_that_moved_host_counts_no_use_from_the_new_hosts_counters(
    world, flavor, image, tmp_path
):
    """After a live migration the destination's counters are another QEMU process's: even
    when they run far ahead of the source's (163 TB on a 1 GiB VM was seen), the first sample
    there is a new baseline, and the next one counts only what moved since."""
    source, target = (make_sim_host(tmp_path, reachable=True) for _ in range(2))
    vm = placed_vm(world, flavor, image, source, "moving")
    sampling.sample_hosts(host_ids=[source.pk, target.pk], at=T0)
    first = MeterSample.objects.get(vm=vm)
    assert first.host_id == source.pk

    # The move: the domain now runs on the target, the source's copy is gone.
    get_connection(source.uri).lookupByUUIDString(str(vm.uuid)).destroy()
    define_running(target, vm, "moving")
    VirtualMachine.objects.filter(pk=vm.pk).update(host=target)
    # The target's counters run far ahead of the source's (bigger, so not "went back").
    real_stats = hypervisor.domain_stats
    huge = 163 * 10**12

    def ahead(uri: str) -> list[DomainStats]:
        stats = real_stats(uri)
        if uri != target.uri:
            return stats
        return [
            dataclasses.replace(
                s,
                cpu_time_ns=s.cpu_time_ns + huge,
                disk_read_bytes=s.disk_read_bytes + huge,
                disk_write_bytes=s.disk_write_bytes + huge,
                net_rx_bytes=s.net_rx_bytes + huge,
                net_tx_bytes=s.net_tx_bytes + huge,
            )
            for s in stats
        ]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hypervisor, "domain_stats", ahead)
        sampling.sample_hosts(host_ids=[source.pk, target.pk], at=T0 + timedelta(minutes=1))
        moved = MeterSample.objects.filter(vm=vm).latest("at")
        assert moved.host_id == target.pk
        assert (moved.interval_seconds, moved.cpu_used_vcpus) == (None, None)
        assert (moved.disk_read_delta, moved.disk_write_delta) == (0, 0)
        assert (moved.net_rx_delta, moved.net_tx_delta) == (0, 0)

        # The next cycle on the target counts from that baseline: a rate again, small bytes.
        sampling.sample_hosts(host_ids=[source.pk, target.pk], at=T0 + timedelta(minutes=2))
    after = MeterSample.objects.filter(vm=vm).latest("at")
    assert after.interval_seconds == 60.0 and after.cpu_used_vcpus is not None
    assert after.cpu_used_vcpus < 2
    assert 0 <= after.disk_read_delta < 10**9

    # The VM's measured use over the three cycles: nothing near the counters' jump.
    totals = MeterSample.objects.filter(vm=vm).values_list(
        "disk_read_delta", "disk_write_delta", "net_rx_delta", "net_tx_delta"
    )
    assert sum(sum(row) for row in totals) < 10**9
