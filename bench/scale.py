"""Scale benchmark: 2,000 libvirt test-driver hosts and 50,000 VMs, 4 Celery worker processes.
Prints the time of a metering cycle of every host, of a heartbeat cycle, of a reconciler cycle
and of a DRS run, the workers' peak RSS, and the VM list p95 (API and page) at 50,000 VMs over
the same at 100 VMs.

Run: .venv/bin/python bench/scale.py [--hosts 2000] [--vms 50000] [--workers 4] [--cycles 3]

It needs PostgreSQL (scratch databases nuage_bench_scale_small and nuage_bench_scale, recreated
on each run and dropped at the end) and Redis (a private queue, deleted at the end).

What is seeded, and how (this measures the cycles, not provisioning):
- Hosts: rows made with bulk_create, each with a libvirt test-driver node file
  (`test:///…/host-N.xml`, 64 CPUs, 256 GiB) that holds its VMs' domains under their UUIDs:
  running for running VMs, shut off (the test driver's `test:runstate` 5) for stopped ones. A
  test-driver connection is private to its process, so every process sees the same domains.
- VMs: bulk_create, round-robin over 50 tenants (3 environments each), 3 flavors and the hosts:
  9 in 10 running (runtime state running), 1 in 10 stopped (shut off), 1 in 100 pending
  approval (no host, no domain). Each placed VM has one succeeded provisioning operation (no
  steps). Quotas are not charged (no allocation rows): no cycle reads them.
- Measured use for DRS: three samples per running VM in the last 10 minutes (binary COPY), a
  CPU use drawn at random and 2.5 times higher on a tenth of the hosts, so that DRS has
  something to balance; the metering cycles then find a previous sample for every VM.

The small database (100 VMs on 10 hosts, the same tenants and users) is built first, copied as
the template of the large one, which then grows: the lists are read with the same credentials.
Heartbeat, reconciler and DRS run in this process, as one worker runs their task. The metering
cycle is the real thing: `metering.dispatch` sends one task per host to the private queue, a
Celery worker with --workers processes (prefork) runs them; the cycle ends when every running
VM has its sample. With --shards N (per-host routing, NUAGE_METER_SHARDS), N workers each consume
one shard's queue, the --workers processes split between them. --metering-only skips the list,
heartbeat, reconciler and DRS.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import re
import shutil
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DEFAULT_BROKER,
    DEFAULT_PG,
    celery_worker,
    cpu_model,
    delete_private_queue,
    drop_database,
    load,
    percentile,
    recreate_database,
    session_cookie,
    stack_env,
    start_server,
    use_database,
    wait_until,
    write_doc,
)

DB_NAME = "nuage_bench_scale"
HEADING = "## Scale: 2,000 hosts, 50,000 VMs (bench/scale.py)"
QUEUE = "bench-scale"
TENANTS = 50
SMALL_HOSTS = 10
API_PATH = "/api/v1/vms/?limit=100"
PAGE_PATH = "/"
TEST_NS = "http://libvirt.org/schemas/domain/test/1.0"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=2000)
    p.add_argument("--vms", type=int, default=50_000)
    p.add_argument("--small", type=int, default=100, help="VMs in the small database")
    p.add_argument("--workers", type=int, default=4, help="worker processes (prefork)")
    p.add_argument("--cycles", type=int, default=3, help="metering cycles")
    p.add_argument("--requests", type=int, default=200, help="list requests per endpoint, size")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--skip-list", action="store_true", help="no list measurement")
    p.add_argument(
        "--metering-only", action="store_true", help="only the metering cycles (no list, no "
        "heartbeat, reconciler or DRS)"
    )  # fmt: skip
    p.add_argument(
        "--shards", type=int, default=0, help="NUAGE_METER_SHARDS: that many workers, each on "
        "its shard's queue, the --workers processes split between them (0: one worker)"
    )  # fmt: skip
    p.add_argument("--profile", type=Path, help="write cProfile stats of the in-process cycles")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--pg", default=DEFAULT_PG)
    p.add_argument("--broker", default=DEFAULT_BROKER)
    return p.parse_args()


def loadavg() -> float:
    return os.getloadavg()[0]


# --- seeding ---------------------------------------------------------------------------------


def build_world() -> dict[str, Any]:
    from compute.models import Flavor, Image
    from portal import services as portal_services
    from portal.choices import PlatformRole, Role

    admin = portal_services.user_create(
        created_by=None, username="bench-admin", password=None, platform_role=PlatformRole.ADMIN
    )
    finance = portal_services.user_create(
        created_by=None, username="bench-finance", password=None, platform_role=PlatformRole.FINANCE
    )
    ops = portal_services.user_create(created_by=None, username="bench-ops", password=None)
    tenants = []
    for i in range(TENANTS):
        tenant = portal_services.tenant_create(created_by=admin, name=f"T{i:02d}", slug=f"t{i:02d}")
        portal_services.membership_create(
            created_by=None, tenant=tenant, user=ops, role=Role.MEMBER
        )
        tenants.append(tenant)
    flavors = [
        Flavor.objects.create(name=f"f{v}", vcpus=v, ram_mib=1024 * v, disk_gib=10 * v)
        for v in (1, 2, 4)
    ]
    image = Image.objects.create(name="bench", kind="kernel", kernel_path="/k")
    _, secret = portal_services.token_create(user=ops, name="bench")
    return {
        "admin": admin,
        "finance": finance,
        "ops": ops,
        "tenants": tenants,
        "flavors": flavors,
        "image": image,
        "token": secret,
    }


def add_hosts(var_dir: Path, start: int, stop: int) -> None:
    from compute.models import Host

    now = datetime.now(UTC)
    Host.objects.bulk_create(
        [
            Host(
                name=f"h{n:05d}",
                uri=f"test://{var_dir / 'hosts' / f'host-{n}.xml'}",
                cpus=64,
                memory_mib=262_144,
                disk_gib=100_000,
                reachable=True,
                last_seen_at=now,
            )
            for n in range(start, stop)
        ],
        batch_size=2000,
    )


def add_vms(world: dict[str, Any], start: int, stop: int) -> None:
    """VMs start..stop-1 over the tenants, flavors and every host in the database."""
    from compute.choices import OperationKind, OperationStatus, RuntimeState, VMState
    from compute.models import Host, Operation, VirtualMachine

    hosts = list(Host.objects.order_by("pk").values_list("pk", flat=True))
    per_host = len(hosts)
    envs = {t.pk: list(t.environments.order_by("pk")) for t in world["tenants"]}
    base = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(start)
    batch = []
    for n in range(start, stop):
        tenant = world["tenants"][n % TENANTS]
        if n % 100 == 99:
            state, runtime, host = VMState.PENDING_APPROVAL, RuntimeState.UNKNOWN, None
        elif (n // per_host) % 10 == 3:  # a tenth of each host's VMs
            state, runtime, host = VMState.STOPPED, RuntimeState.SHUTOFF, hosts[n % len(hosts)]
        else:
            state, runtime, host = VMState.RUNNING, RuntimeState.RUNNING, hosts[n % len(hosts)]
        created = base + timedelta(seconds=n * 37)
        batch.append(
            VirtualMachine(
                uuid=uuid.UUID(int=rng.getrandbits(128), version=4),
                tenant=tenant,
                environment=envs[tenant.pk][n % 3],
                owner=world["ops"],
                name=f"vm-{n:06d}",
                flavor=world["flavors"][n % 3],
                image=world["image"],
                host_id=host,
                state=state,
                runtime_state=runtime,
                created_at=created,
                state_changed_at=created,
            )
        )
    VirtualMachine.objects.bulk_create(batch, batch_size=5000)
    placed = VirtualMachine.objects.unscoped().filter(
        name__in=[v.name for v in batch], host__isnull=False
    )
    Operation.objects.bulk_create(
        [
            Operation(
                vm_id=pk,
                kind=OperationKind.PROVISION,
                status=OperationStatus.SUCCEEDED,
                finished_at=base,
            )
            for pk in placed.values_list("pk", flat=True)
        ],
        batch_size=5000,
    )
    # auto_now_add overrode the dates given: set them back (list order is by creation date).
    with connection_cursor() as cur:
        cur.execute(
            "UPDATE compute_virtualmachine SET created_at = %s + (id * interval '37 seconds'), "
            "state_changed_at = %s + (id * interval '37 seconds')",
            [base, base],
        )


def connection_cursor() -> Any:
    from django.db import connection

    return connection.cursor()


def write_nodes(var_dir: Path) -> None:
    """One test-driver node file per host with its VMs' domains (running or shut off)."""
    from lxml import etree

    from compute.choices import VMState
    from compute.hypervisor.simulated import write_test_node
    from compute.models import Host, VirtualMachine

    by_host: dict[int, list[tuple[str, str]]] = {}
    for host_id, vm_uuid, state in (
        VirtualMachine.objects.unscoped()
        .filter(host__isnull=False)
        .values_list("host_id", "uuid", "state")
    ):
        by_host.setdefault(host_id, []).append((str(vm_uuid), state))
    for host_id, uri in Host.objects.values_list("pk", "uri"):
        path = Path(uri.removeprefix("test://"))
        write_test_node(path, cpus=64, memory_mib=262_144)
        node = etree.fromstring(path.read_bytes())
        for i, (u, state) in enumerate(by_host.get(host_id, [])):
            dom = etree.SubElement(node, "domain", type="test", nsmap={"test": TEST_NS})
            etree.SubElement(dom, "name").text = f"nuage-{u[:8]}"
            etree.SubElement(dom, "uuid").text = u
            etree.SubElement(dom, "memory", unit="MiB").text = "1024"
            etree.SubElement(dom, "vcpu").text = "1"
            os_el = etree.SubElement(dom, "os")
            etree.SubElement(os_el, "type").text = "hvm"
            devices = etree.SubElement(dom, "devices")
            disk = etree.SubElement(devices, "disk", type="file", device="disk")
            etree.SubElement(disk, "source", file=f"/bench/{u}.qcow2")
            etree.SubElement(disk, "target", dev="vda", bus="virtio")
            nic = etree.SubElement(devices, "interface", type="user")
            etree.SubElement(nic, "target", dev=f"vnet{i}")
            if state == VMState.STOPPED:
                etree.SubElement(dom, f"{{{TEST_NS}}}runstate").text = "5"  # shut off
        path.write_bytes(etree.tostring(node))


def seed_loads(now: datetime) -> int:
    """Three samples per running VM in the last 10 minutes, hot on a tenth of the hosts."""
    from django.db import transaction

    from compute.choices import VMState
    from compute.models import VirtualMachine
    from metering import sampling

    rng = random.Random(14)
    hot: dict[int, bool] = {}
    rows = []
    for pk, host_id, vcpus, ram in (
        VirtualMachine.objects.unscoped()
        .filter(state=VMState.RUNNING)
        .values_list("pk", "host_id", "flavor__vcpus", "flavor__ram_mib")
    ):
        busy_factor = 2.5 if hot.setdefault(host_id, rng.random() < 0.1) else 1.0
        busy = min(1.0, rng.random() * 0.5 * busy_factor)
        for minutes in (9, 6, 3):
            rows.append(
                (
                    pk,
                    host_id,
                    now - timedelta(minutes=minutes),
                    0,
                    0,
                    0,
                    0,
                    0,
                    vcpus,
                    ram,
                    int(ram * busy),
                    180.0,
                    round(vcpus * busy, 6),
                    0,
                    0,
                    0,
                    0,
                )  # fmt: skip
            )
    with transaction.atomic():
        return sampling.insert_samples(rows)


def vacuum() -> None:
    with connection_cursor() as cur:
        cur.execute("VACUUM ANALYZE")


# --- the VM list -----------------------------------------------------------------------------


def query_counts(world: dict[str, Any]) -> tuple[int, int, int, int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    with CaptureQueriesContext(connection) as api_q:
        api = client.get(API_PATH, HTTP_AUTHORIZATION=f"Token {world['token']}")
    client.force_login(world["finance"])
    from portal import twofactor

    session = client.session
    session[twofactor.VERIFIED] = session[twofactor.HAS_DEVICE] = True
    session.save()
    with CaptureQueriesContext(connection) as page_q:
        page = client.get(PAGE_PATH)
    assert api.status_code == 200 and page.status_code == 200, (api.status_code, page.status_code)
    page_rows = len(re.findall(r'<tr data-vm="', page.content.decode()))
    return (
        len(api_q.captured_queries),
        len(api.json()["results"]),
        len(page_q.captured_queries),
        page_rows,
    )


def measure_lists(
    args: argparse.Namespace, world: dict[str, Any], names: dict[str, str], envs: dict[str, Any],
    var_dir: Path,
) -> dict[str, Any]:  # fmt: skip
    """p50/p95 of the API and of the page at both sizes, sizes alternating in 10 rounds."""
    api_headers = {"Authorization": f"Token {world['token']}"}
    page_headers = {"Cookie": world["cookie"]}
    counts = {}
    for size, name in names.items():
        use_database(name)
        query_counts(world)  # the token's first use records it: count the next requests
        counts[size] = query_counts(world)
    use_database(names["large"])
    servers = []
    ports = {}
    try:
        for size in names:
            server, ports[size] = start_server(envs[size], var_dir / f"gunicorn-{size}.log")
            servers.append(server)
        kinds = (("api", API_PATH, api_headers), ("page", PAGE_PATH, page_headers))
        for size in names:
            for _kind, path, headers in kinds:
                load(ports[size], path, headers, requests=20, clients=args.clients)
        results: dict[str, dict[str, list[float]]] = {s: {"api": [], "page": []} for s in names}
        rounds = 10
        for _ in range(rounds):
            for kind, path, headers in kinds:
                for size in names:
                    results[size][kind] += load(
                        ports[size], path, headers, requests=args.requests // rounds,
                        clients=args.clients,
                    )  # fmt: skip
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    return {"counts": counts, "results": results}


# --- the cycles ------------------------------------------------------------------------------


def timed(fn: Any, profile: cProfile.Profile | None) -> tuple[float, Any]:
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    try:
        out = fn()
    finally:
        if profile is not None:
            profile.disable()
    return time.perf_counter() - started, out


def in_process_cycles(profile: cProfile.Profile | None) -> dict[str, Any]:
    """Heartbeat twice (first: connections opened), reconciler twice, one DRS run."""
    from compute import balancing
    from compute.services import heartbeat, reconcile

    out: dict[str, Any] = {}
    out["heartbeat_cold"], hb = timed(heartbeat, None)
    assert hb["up"] > 0 and hb["missed"] == 0, hb
    out["heartbeat"], out["heartbeat_counts"] = timed(heartbeat, profile)
    out["load_heartbeat"] = loadavg()
    out["reconcile_first"], rc = timed(reconcile, None)
    out["reconcile"], out["reconcile_counts"] = timed(reconcile, profile)
    out["load_reconcile"] = loadavg()
    now = datetime.now(UTC)
    conf = balancing.drs_settings()
    t_states, (hosts, vms) = timed(
        lambda: balancing.drs_states(since=now - timedelta(minutes=conf.window_minutes)), profile
    )
    out["drs_states"] = t_states
    out["drs"], run = timed(lambda: balancing.drs_run(now=now), profile)
    out["drs_run"] = {
        "hosts": run.hosts,
        "vms": run.vms,
        "imbalance": run.imbalance,
        "expected": run.expected_imbalance,
        "moves": run.recommendations.count(),
    }
    out["load_drs"] = loadavg()
    out["bench_rss"] = memory_of(os.getpid())
    return out


def worker_pids(root: int) -> list[int]:
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                pids.append(int(entry.name))
    return pids


def memory_of(pid: int) -> tuple[int, int]:
    """(peak RSS, RSS) in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kib = lambda k: int(fields[k].split()[0])  # noqa: E731
    return kib("VmHWM") // 1024, kib("VmRSS") // 1024


def metering_cycles(args: argparse.Namespace, env: dict[str, str], var_dir: Path) -> dict[str, Any]:
    from django.conf import settings

    from compute.choices import VMState
    from compute.models import VirtualMachine
    from metering import tasks
    from metering.models import MeterSample

    expected = VirtualMachine.objects.unscoped().filter(state=VMState.RUNNING).count()
    log = var_dir / "worker.log"
    for old in var_dir.glob("worker*.log"):
        old.unlink()
    cycles = []
    with ExitStack() as stack:
        if args.shards:
            pids = [
                stack.enter_context(
                    celery_worker(
                        env, queue=f"{QUEUE}.{k}", pool="prefork",
                        concurrency=max(1, args.workers // args.shards),
                        log=var_dir / f"worker-{k}.log",
                    )
                )
                for k in range(args.shards)
            ]  # fmt: skip
        else:
            pids = [
                stack.enter_context(
                    celery_worker(
                        env, queue=QUEUE, pool="prefork", concurrency=args.workers, log=log
                    )
                )
            ]
        for n in range(args.cycles):
            load_before = loadavg()
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            dispatched = tasks.meter_dispatch()
            samples = MeterSample.objects.filter(at__gte=started_at)
            wait_until(
                lambda: samples.count() >= expected,  # noqa: B023
                timeout=1800,
                what=f"metering cycle {n + 1}",
                interval=0.25,
            )
            seconds = time.perf_counter() - started
            cycles.append({"seconds": seconds, "tasks": dispatched, "load": load_before})
            print(
                f"    metering cycle {n + 1}: {seconds:.1f} s, {dispatched} hosts, "
                f"{expected} samples (load {load_before:.2f} before)",
                flush=True,
            )
        memory = {p: memory_of(p) for pid in pids for p in worker_pids(pid)}
        print(f"    worker (peak RSS, RSS) MiB: {sorted(memory.values(), reverse=True)}")
    text = "".join(f.read_text(errors="replace") for f in var_dir.glob("worker*.log"))
    runtimes = [
        float(s)
        for s in re.findall(r"Task metering\.sample_hosts?\[[^\]]+\] succeeded in ([0-9.]+)s", text)
    ]
    return {
        "cycles": cycles,
        "memory": memory,
        "expected": expected,
        "task_runtimes": runtimes,
        "hosts_per_task": settings.NUAGE["METER_HOSTS_PER_TASK"],
        "shards": args.shards,
    }


# --- the run ---------------------------------------------------------------------------------


def main() -> None:  # noqa: PLR0915
    args = parse_args()
    var_dir = Path("/tmp/nuage-bench-scale")
    shutil.rmtree(var_dir, ignore_errors=True)
    (var_dir / "hosts").mkdir(parents=True)
    names = {"small": f"{DB_NAME}_small", "large": DB_NAME}
    envs = {}
    for size, name in names.items():
        envs[size] = stack_env(
            pg=args.pg, db_name=name, broker=args.broker, queue=QUEUE, var_dir=var_dir
        )
        envs[size].update(
            {
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "AXES_ENABLED": "0",
                # A cycle still queued after this long expires; long enough to measure a slow one.
                "NUAGE_METER_INTERVAL_SECONDS": "3600",
                "NUAGE_METER_SHARDS": str(args.shards),
            }
        )
    envs["large"]["SECRET_KEY"] = envs["small"]["SECRET_KEY"]
    for name in names.values():
        drop_database(args.pg, name)
    recreate_database(args.pg, names["small"])
    os.environ.update(envs["small"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.db import connections

    from portal.celery import app as celery_app

    report: dict[str, Any] = {"load_start": loadavg()}
    profile = cProfile.Profile() if args.profile else None
    try:
        t = time.perf_counter()
        world = build_world()
        add_hosts(var_dir, 0, SMALL_HOSTS)
        add_vms(world, 0, args.small)
        world["cookie"] = session_cookie(world["finance"])
        vacuum()
        use_database(names["small"])
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {names['large']} TEMPLATE {names['small']}")
        use_database(names["large"])
        os.environ.update(envs["large"])
        add_hosts(var_dir, SMALL_HOSTS, args.hosts)
        add_vms(world, args.small, args.vms)
        write_nodes(var_dir)
        report["samples_seeded"] = seed_loads(datetime.now(UTC))
        vacuum()
        report["seed_seconds"] = time.perf_counter() - t
        print(
            f"==> seeded {args.hosts} hosts, {args.vms} VMs, "
            f"{report['samples_seeded']} samples in {report['seed_seconds']:.0f} s",
            flush=True,
        )
        if not (args.skip_list or args.metering_only):
            report["load_list"] = loadavg()
            report["lists"] = measure_lists(args, world, names, envs, var_dir)
            use_database(names["large"])
            for size in names:
                r = report["lists"]["results"][size]
                c = report["lists"]["counts"][size]
                print(
                    f"    {size:>5}: API p50 {percentile(r['api'], 0.5):.1f} ms p95 "
                    f"{percentile(r['api'], 0.95):.1f} ms ({c[0]} queries, {c[1]} rows); page "
                    f"p50 {percentile(r['page'], 0.5):.1f} ms p95 "
                    f"{percentile(r['page'], 0.95):.1f} ms ({c[2]} queries, {c[3]} rows)",
                    flush=True,
                )
        report["cycles"] = {} if args.metering_only else in_process_cycles(profile)
        c = report["cycles"]
        if c:
            print(
                f"    heartbeat {c['heartbeat']:.2f} s (first, opening connections: "
                f"{c['heartbeat_cold']:.1f} s) {c['heartbeat_counts']}\n"
                f"    reconciler {c['reconcile']:.2f} s (first {c['reconcile_first']:.2f} s) "
                f"{c['reconcile_counts']}\n"
                f"    DRS run {c['drs']:.2f} s (of which the pool read {c['drs_states']:.2f} s) "
                f"{c['drs_run']}",
                flush=True,
            )
        report["metering"] = metering_cycles(args, envs["large"], var_dir)
        report["load_end"] = loadavg()
    finally:
        connections.close_all()
        delete_private_queue(celery_app, QUEUE)
        for k in range(args.shards):
            delete_private_queue(celery_app, f"{QUEUE}.{k}")
        if not args.keep_db:
            for name in names.values():
                drop_database(args.pg, name)
    if profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(30)
    section = document(args, report)
    print("\n".join(section))
    if not args.no_doc:
        write_doc(HEADING, section)


def document(args: argparse.Namespace, r: dict[str, Any]) -> list[str]:
    c, m = r["cycles"], r["metering"]
    cycles = m["cycles"]
    memory = m["memory"]
    peaks = sorted((peak for peak, _rss in memory.values()), reverse=True)
    rt = m["task_runtimes"]
    lines = [
        HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({cpu_model()}), "
        f"Python {platform.python_version()}, PostgreSQL; load average {r['load_start']:.2f} at "
        f"the start, {r['load_end']:.2f} at the end (the machine is shared with other runs). "
        f"{args.hosts:,} test-driver hosts, {args.vms:,} VMs ({m['expected']:,} running) over "
        f"{TENANTS} tenants, seeded as `bench/scale.py`'s docstring says; "
        f"{args.workers} Celery worker processes (prefork).",
        "",
        "| cycle | seconds | goal | load before |",
        "|---|---:|---|---:|",
    ]
    for i, cy in enumerate(cycles, 1):
        lines.append(
            f"| metering, cycle {i} ({cy['tasks']:,} hosts, {m['expected']:,} samples) | "
            f"{cy['seconds']:.1f} | <= 60 s | {cy['load']:.2f} |"
        )
    med = statistics.median(rt) if rt else float("nan")
    if c:
        lines += [
            f"| heartbeat (first, opening {args.hosts:,} connections: {c['heartbeat_cold']:.1f} "
            f"s) | {c['heartbeat']:.2f} | | {c['load_heartbeat']:.2f} |",
            f"| reconciler (first: {c['reconcile_first']:.2f} s) | {c['reconcile']:.2f} | | "
            f"{c['load_reconcile']:.2f} |",
            f"| DRS run, default threshold scaled to the pool ({c['drs_run']['moves']} moves, "
            f"imbalance "
            f"{c['drs_run']['imbalance']:.4f} -> {c['drs_run']['expected']:.4f}; pool read "
            f"{c['drs_states']:.2f} s) | {c['drs']:.2f} | | {c['load_drs']:.2f} |",
        ]
    lines += [
        "",
        f"Metering task run time (worker log): median {med:.2f} s, p95 "
        f"{percentile(rt, 0.95) if rt else float('nan'):.2f} s over {len(rt):,} tasks of "
        f"{m['hosts_per_task']} hosts. Worker peak RSS (VmHWM): "
        f"{', '.join(f'{p} MiB' for p in peaks)} (main process and pool children); this "
        f"process, which ran the heartbeat and reconciler on every host: peak "
        f"{c['bench_rss'][0] if c else '-'} MiB.",
    ]
    if "lists" in r:
        lists = r["lists"]
        lines += [
            "",
            f"VM list, {args.requests} requests per endpoint and size from {args.clients} "
            "clients, the sizes alternating in 10 rounds, each size its own database and "
            f"gunicorn (2 workers x 2 threads); load average {r['load_list']:.2f} before. API "
            f"`{API_PATH}` as a member of all {TENANTS} tenants (token), page `{PAGE_PATH}` as "
            "finance (every tenant; a session past the two-factor step).",
            "",
            "| VMs | endpoint | p50 ms | p95 ms | queries | rows |",
            "|---:|---|---:|---:|---:|---:|",
        ]
        ratios = []
        for kind, qi, label in (("api", 0, "API"), ("page", 2, "page")):
            for size, n in (("small", args.small), ("large", args.vms)):
                lat = lists["results"][size][kind]
                cnt = lists["counts"][size]
                lines.append(
                    f"| {n:,} | {label} | {percentile(lat, 0.5):.1f} | "
                    f"{percentile(lat, 0.95):.1f} | {cnt[qi]} | {cnt[qi + 1]} |"
                )
            ratio = percentile(lists["results"]["large"][kind], 0.95) / percentile(
                lists["results"]["small"][kind], 0.95
            )
            ratios.append(f"{label} p95 ratio {ratio:.2f}")
        lines += ["", "; ".join(ratios) + " (goal <= 1.5)."]
    return lines


if __name__ == "__main__":
    main()
