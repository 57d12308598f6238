"""Simulated provisioning benchmark: VM requests through the API, a Celery worker on Redis and
libvirt test-driver hosts; prints VMs per minute and the time spent in each stage.

Run: .venv/bin/python bench/provision_sim.py [--vms 500] [--clients 4] [--api-procs 2]
     [--pool prefork] [--concurrency 2]

It needs PostgreSQL (scratch database nuage_bench_sim, dropped and recreated on each run) and
Redis (a private queue, deleted at the end). Stage times come from the database timestamps
(VM created_at, Operation created_at/finished_at, OperationStep started_at/finished_at) and from
the API call durations measured here. The CPU each part of the stack used during the run (API
client processes, the worker's processes, the PostgreSQL backends of the bench's database,
Redis) is read from /proc, so that the report says where the machine's two cores went.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    DEFAULT_BROKER,
    DEFAULT_PG,
    DOC,
    celery_worker,
    cpu_model,
    delete_private_queue,
    drop_database,
    print_worker_log_tail,
    recreate_database,
    stack_env,
    wait_until,
    write_doc,
)

DB_NAME = "nuage_bench_sim"
HEADING = "## Simulated provisioning (bench/provision_sim.py)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=500, help="VM requests to send (default 500)")
    p.add_argument("--clients", type=int, default=4, help="concurrent API clients (threads)")
    p.add_argument(
        "--api-procs",
        type=int,
        default=2,
        help="processes the API clients are spread over (each its own interpreter, as "
        "gunicorn workers would be; 1: all threads in the bench's process)",
    )
    p.add_argument(
        "--pool",
        default="prefork",
        choices=["prefork", "threads", "solo"],
        help="Celery worker pool",
    )
    p.add_argument("--concurrency", type=int, default=2, help="worker processes or threads")
    p.add_argument("--hosts", type=int, default=4, help="simulated hosts")
    p.add_argument("--host-cpus", type=int, default=128)
    p.add_argument("--host-memory-mib", type=int, default=256 * 1024)
    p.add_argument(
        "--approval",
        action="store_true",
        help="request in 'production' and approve each VM through the API (default: "
        "'development', which is approved automatically)",
    )
    p.add_argument(
        "--profile",
        type=int,
        default=100,
        help="VMs provisioned one at a time after the run to show where the time goes (0: none)",
    )
    p.add_argument(
        "--latency",
        type=int,
        default=20,
        help="VMs requested one after the other after the run, to time the Celery hop (0: none)",
    )
    p.add_argument(
        "--conn-max-age",
        type=int,
        default=60,
        help="seconds the API keeps a PostgreSQL connection open (Django's CONN_MAX_AGE, "
        "through DATABASE_URL; default 60, as a deployment sets it); 0: one per request",
    )
    p.add_argument("--timeout", type=float, default=1200, help="seconds to wait for the VMs")
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    p.add_argument(
        "--pg",
        default=DEFAULT_PG,
        help="PostgreSQL server URL without a database name (env NUAGE_BENCH_PG)",
    )
    p.add_argument(
        "--broker",
        default=DEFAULT_BROKER,
        help="Redis broker URL (env NUAGE_BENCH_BROKER)",
    )
    return p.parse_args()


# --- scratch database and worker -----------------------------------------------------------


# --- the run -------------------------------------------------------------------------------


def disk_ratio(args: argparse.Namespace, uri: str, disk_gib: int) -> str:
    """The disk overcommit that gives every host room for its share of the run's disks.

    The test driver sizes every storage pool at 100 GiB whatever the node file says, so 4
    hosts hold only 400 disks of 1 GiB at ratio 1 (qcow2 overlays are thin: overcommitting
    them is what a real pool of such disks does too). A 10% margin covers uneven spreading.
    """
    from compute import hypervisor

    pool_gib = hypervisor.pool_capacity_gib(uri, "nuage")
    share = math.ceil((args.vms + args.profile + args.latency) * disk_gib / args.hosts * 1.1)
    return f"{min(64.0, max(1.0, math.ceil(share / pool_gib * 100) / 100)):.2f}"


def setup_world(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Users, tenant, flavor, image (services) and hosts (through the API, as an admin would)."""
    from rest_framework.test import APIClient

    from compute import services as compute_services
    from compute.hypervisor.simulated import write_test_node
    from portal import services as portal_services
    from portal.choices import PlatformRole, Role
    from portal.models import User

    password = secrets.token_urlsafe(12)
    admin = User.objects.create_user(
        "bench-admin", password=password, platform_role=PlatformRole.ADMIN
    )
    requester = User.objects.create_user("bench-alice", password=password)
    approver = User.objects.create_user("bench-bob", password=password)
    tenant = portal_services.tenant_create(created_by=admin, name="Bench", slug="bench")
    portal_services.membership_create(
        created_by=admin, tenant=tenant, user=requester, role=Role.MEMBER
    )
    portal_services.membership_create(
        created_by=admin, tenant=tenant, user=approver, role=Role.APPROVER
    )
    flavor = compute_services.flavor_create(
        created_by=admin, name="bench-tiny", vcpus=1, ram_mib=128, disk_gib=1
    )
    image = compute_services.image_create(
        created_by=admin,
        name="bench-kernel",
        kind="kernel",
        kernel_path="/var/lib/libvirt/nuage-images/vmlinuz",  # the test driver never reads it
    )
    env_name = "production" if args.approval else "development"
    environment = tenant.environments.get(name=env_name)
    from quotas.services import quota_update

    quota_update(  # room for every VM of the run: this bench measures provisioning
        updated_by=admin,
        quota=environment.quota,
        limits={"vcpus": 10**6, "ram_mib": 10**9, "disk_gib": 10**8, "vms": 10**6},
    )

    def token_client(username: str) -> APIClient:
        client = APIClient()
        resp = client.post(
            "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
        )
        assert resp.status_code == 200, resp.content
        client.credentials(HTTP_AUTHORIZATION=f"Token {resp.json()['token']}")
        return client

    # Platform roles log in with a two-factor code: the admin's token is made directly.
    admin_client = APIClient()
    admin_token = portal_services.token_create(user=admin, name="bench")[1]
    admin_client.credentials(HTTP_AUTHORIZATION=f"Token {admin_token}")
    for i in range(1, args.hosts + 1):
        uri = write_test_node(
            tmp / "hosts" / f"sim-{i}.xml", cpus=args.host_cpus, memory_mib=args.host_memory_mib
        )
        host = {"name": f"sim-{i}", "uri": uri, "enabled": True}
        host["disk_ratio"] = disk_ratio(args, uri, flavor.disk_gib)
        resp = admin_client.post("/api/v1/hosts/", host, format="json")
        assert resp.status_code == 201, resp.content
    return {
        "tenant": tenant,
        "payload": {"environment": environment.id, "flavor": flavor.id, "image": image.id},
        "requester": lambda: token_client("bench-alice"),
        "approver": lambda: token_client("bench-bob"),
    }


def submit(args: argparse.Namespace, world: dict[str, Any]) -> tuple[list[float], float, float]:
    """Send the requests from `clients` threads spread over `api_procs` processes (forked from
    this one, each its own interpreter as a gunicorn worker would be); return each VM's API
    time, the wall time and the CPU seconds the client processes used (the API's own work:
    DRF's test client runs the whole request in the caller)."""
    import multiprocessing

    from django.db import connections

    names = [f"bench-{i:04d}" for i in range(args.vms)]
    chunks = [names[i :: args.clients] for i in range(args.clients)]
    clients = [(world["requester"](), world["approver"]()) for _ in chunks]
    procs = max(1, min(args.api_procs, args.clients))
    groups = [list(range(args.clients))[i::procs] for i in range(procs)]

    def run_group(indices: list[int]) -> tuple[list[float], list[str], float]:
        durations: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        cpu0 = time.process_time()

        def run(chunk: list[str], requester: Any, approver: Any) -> None:
            try:
                for name in chunk:
                    t0 = time.perf_counter()
                    resp = requester.post(
                        "/api/v1/vms/", {**world["payload"], "name": name}, format="json"
                    )
                    if resp.status_code != 201:
                        errors.append(
                            f"POST /api/v1/vms/ {resp.status_code}: {resp.content[:200]!r}"
                        )
                        continue
                    if args.approval:
                        vm_id = resp.json()["id"]
                        resp = approver.post(f"/api/v1/vms/{vm_id}/approve/")
                        if resp.status_code != 202:
                            errors.append(f"approve {resp.status_code}: {resp.content[:200]!r}")
                            continue
                    with lock:
                        durations.append(time.perf_counter() - t0)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(chunks[i], *clients[i])) for i in indices]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return durations, errors, time.process_time() - cpu0

    durations: list[float] = []
    errors: list[str] = []
    cpu = 0.0
    t0 = time.perf_counter()
    if procs == 1:
        durations, errors, cpu = run_group(groups[0])
    else:
        ctx = multiprocessing.get_context("fork")
        results = ctx.Queue()
        connections.close_all()  # each child opens its own

        def child(indices: list[int]) -> None:
            results.put(run_group(indices))

        children = [ctx.Process(target=child, args=(g,)) for g in groups]
        for c in children:
            c.start()
        for _ in children:
            d, e, c_cpu = results.get()
            durations += d
            errors += e
            cpu += c_cpu
        for c in children:
            c.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} API calls failed; first: {errors[0]}")
    return durations, wall, cpu


class CpuMeter:
    """CPU seconds used by groups of processes while the run lasts, sampled from /proc.

    The worker group is the Celery worker and its pool children; the PostgreSQL group the
    backends serving the bench's database (found in pg_stat_activity: with connections kept,
    they live for the whole run; a backend that came and went between two samples is missed);
    Redis the whole server (other sessions may use it too, lightly).
    """

    def __init__(self, pg: str, db_name: str, worker_pid: int) -> None:
        self.pg, self.db_name, self.worker_pid = pg, db_name, worker_pid
        self.first: dict[tuple[str, int], float] = {}
        self.last: dict[tuple[str, int], float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.tick = os.sysconf("SC_CLK_TCK")

    def cpu(self, pid: int) -> float | None:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def pids(self, conn: Any) -> dict[str, list[int]]:
        tree = {self.worker_pid}
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(stat[1])
                except OSError:
                    continue
        grew = True
        while grew:
            grew = False
            for pid, ppid in parents.items():
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    grew = True
        backends = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.db_name],
            )
        ]
        redis = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit()
            and (p / "comm").exists()
            and (p / "comm").read_text(errors="replace").strip() == "redis-server"
        ]
        return {"worker": sorted(tree), "postgresql": backends, "redis": redis}

    def sample(self, conn: Any) -> None:
        for group, pids in self.pids(conn).items():
            for pid in pids:
                value = self.cpu(pid)
                if value is None:
                    continue
                self.first.setdefault((group, pid), value)
                self.last[(group, pid)] = value

    def loop(self) -> None:
        import psycopg

        with psycopg.connect(f"{self.pg}/{self.db_name}", autocommit=True) as conn:
            while True:
                self.sample(conn)
                if self.stop.wait(0.5):
                    self.sample(conn)
                    return

    def __enter__(self) -> CpuMeter:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {"worker": 0.0, "postgresql": 0.0, "redis": 0.0}
        for key, value in self.last.items():
            out[key[0]] += value - self.first[key]
        return out


def wait_settled(tenant: Any, n: int, timeout: float) -> None:
    from compute.choices import VMState
    from compute.models import VirtualMachine

    qs = VirtualMachine.objects.filter(tenant=tenant, state__in=[VMState.RUNNING, VMState.ERROR])
    last = [-1]

    def done() -> bool:
        count = qs.count()
        if count // 50 != last[0] // 50:
            print(f"  {count}/{n} settled", flush=True)
        last[0] = count
        return count >= n

    wait_until(done, timeout=timeout, what=f"{n} VMs to be running")


def latency_run(world: dict[str, Any], n: int, timeout: float) -> dict[str, list[float]]:
    """`n` more VMs, each requested once the previous one runs: with the worker idle, the
    first hop (commit -> first step) is Celery's own cost for one task."""
    from compute.choices import OperationKind, VMState
    from compute.models import Operation, VirtualMachine

    client = world["requester"]()
    hop: list[float] = []
    e2e: list[float] = []
    for i in range(n):
        resp = client.post(
            "/api/v1/vms/", {**world["payload"], "name": f"lat-{i:04d}"}, format="json"
        )
        assert resp.status_code == 201, resp.content
        vm_id = resp.json()["id"]
        wait_until(
            lambda vm_id=vm_id: VirtualMachine.objects.filter(
                pk=vm_id, state__in=[VMState.RUNNING, VMState.ERROR]
            ).exists(),
            timeout=timeout,
            what=f"VM lat-{i:04d}",
            interval=0.01,
        )
        op = (
            Operation.objects.select_related("vm")
            .prefetch_related("steps")
            .get(vm_id=vm_id, kind=OperationKind.PROVISION)
        )
        first = min(s.started_at for s in op.steps.all())
        hop.append((first - op.created_at).total_seconds())
        e2e.append((op.finished_at - op.vm.created_at).total_seconds())
    return {"hop": hop, "e2e": e2e}


PROFILE_PHASES = (
    "API (POST /api/v1/vms/)",
    "claim and step records",
    "scheduled (placement)",
    "creating_disk",
    "preparing_seed",
    "defining",
    "starting",
)


def profile_phases(world: dict[str, Any], n: int) -> dict[str, Any]:
    """Where one VM's time goes without Celery or concurrency: `n` more VMs requested through
    the API and provisioned here by `services.operation_advance` (as the task calls it), one
    at a time, with each phase's wall time and the time and number of its SQL queries.

    Run after the worker has stopped, so nothing else competes but the machine's other load.
    Its messages go to the bench's private queue, which nobody reads any more.
    """
    from collections import Counter, defaultdict
    from contextlib import contextmanager

    from django.conf import settings
    from django.db import connection

    from compute import services
    from compute.choices import OperationKind, VMState
    from compute.models import Operation, VirtualMachine
    from compute.services import steps as steps_module

    phase = ["bench"]
    wall: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    db: dict[str, float] = defaultdict(float)
    queries: Counter[str] = Counter()

    def timed_sql(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db[phase[0]] += time.perf_counter() - t0
            queries[phase[0]] += 1

    @contextmanager
    def in_phase(name: str) -> Any:
        outer, phase[0] = phase[0], name
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            wall[name] += time.perf_counter() - t0
            cpu[name] += time.thread_time() - c0
            phase[0] = outer

    runners = dict(steps_module.STEP_RUNNERS)

    def wrap(name: str, fn: Any) -> Any:
        label = "scheduled (placement)" if name == "scheduled" else name

        def run(vm: Any) -> str:
            with in_phase(label):
                return str(fn(vm))

        return run

    for name, fn in runners.items():
        steps_module.STEP_RUNNERS[name] = wrap(name, fn)
    client = world["requester"]()
    batch = int(settings.NUAGE["STEP_BATCH"])
    tasks = 0
    try:
        with connection.execute_wrapper(timed_sql):
            for i in range(n):
                with in_phase("API (POST /api/v1/vms/)"):
                    resp = client.post(
                        "/api/v1/vms/", {**world["payload"], "name": f"prof-{i:04d}"}, format="json"
                    )
                assert resp.status_code == 201, resp.content
                op = Operation.objects.get(vm_id=resp.json()["id"], kind=OperationKind.PROVISION)
                # Outside the step runners, operation_advance is the claim and the step records.
                phase[0] = "claim and step records"
                t0, c0 = time.perf_counter(), time.thread_time()
                more = True
                while more:
                    tasks += 1
                    more = services.operation_advance(
                        operation_id=op.id,
                        max_steps=batch,
                        budget_seconds=float(settings.NUAGE["STEP_BATCH_SECONDS"]),
                    )
                wall["advance"] += time.perf_counter() - t0
                cpu["advance"] += time.thread_time() - c0
                phase[0] = "bench"
    finally:
        steps_module.STEP_RUNNERS.update(runners)
    step_names = [p for p in PROFILE_PHASES[2:]]
    wall["claim and step records"] = wall.pop("advance") - sum(wall[p] for p in step_names)
    cpu["claim and step records"] = cpu.pop("advance") - sum(cpu[p] for p in step_names)
    running = VirtualMachine.objects.filter(name__startswith="prof-", state=VMState.RUNNING)
    return {
        "n": n,
        "running": running.count(),
        "tasks": tasks,
        "wall": dict(wall),
        "cpu": dict(cpu),
        "db": dict(db),
        "queries": dict(queries),
    }


def ms(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    mean, p50 = statistics.fmean(ordered), statistics.median(ordered)
    return (f"{mean * 1000:,.0f}", f"{p50 * 1000:,.0f}", f"{p95 * 1000:,.0f}")


def load_now() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def report(
    args: argparse.Namespace,
    tenant: Any,
    api: list[float],
    api_wall: float,
    loads: dict[str, str],
    tasks: int,
    profile: dict[str, Any] | None,
    latency: dict[str, list[float]] | None = None,
    cpu: dict[str, float] | None = None,
) -> list[str]:
    """The section of docs/benchmarks.md for this run, as markdown lines."""
    from django.conf import settings

    from compute.choices import OperationKind, OperationStatus, VMState
    from compute.models import Operation, VirtualMachine

    failed = VirtualMachine.objects.filter(tenant=tenant, state=VMState.ERROR)
    ops = (
        Operation.objects.filter(vm__tenant=tenant, kind=OperationKind.PROVISION)
        .filter(vm__name__startswith="bench-")
        .select_related("vm")
        .prefetch_related("steps")
    )
    stage: dict[str, list[float]] = {k: [] for k in ("first", "hops", "done", "e2e")}
    per_step: dict[str, list[float]] = {}
    first_created, last_finished = None, None
    for op in ops:
        if op.status != OperationStatus.SUCCEEDED:
            continue
        steps = sorted(op.steps.all(), key=lambda s: s.position)
        secs = lambda a, b: (b - a).total_seconds()  # noqa: E731
        stage["first"].append(secs(op.created_at, steps[0].started_at))
        stage["hops"].append(
            sum(secs(a.finished_at, b.started_at) for a, b in zip(steps, steps[1:], strict=False))
        )
        stage["done"].append(secs(steps[-1].finished_at, op.finished_at))
        stage["e2e"].append(secs(op.vm.created_at, op.finished_at))
        for s in steps:
            per_step.setdefault(s.name, []).append(secs(s.started_at, s.finished_at))
        first_created = min(filter(None, (first_created, op.vm.created_at)))
        last_finished = max(filter(None, (last_finished, op.finished_at)))

    n_ok = len(stage["e2e"])
    span = (last_finished - first_created).total_seconds() if n_ok else float("nan")
    batch = int(settings.NUAGE["STEP_BATCH"])
    flow = (
        "in production, each approved through the API"
        if args.approval
        else "in development, approved automatically"
    )
    out = [
        HEADING,
        "",
        f"Run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {os.cpu_count()} cores "
        f"({cpu_model()}), Python {platform.python_version()}; machine load average "
        f"{loads['before']} before the run, {loads['after']} at its end (other sessions share "
        f"the machine). {args.vms} VM requests {flow}, from {args.clients} API client threads "
        f"in {args.api_procs} processes (DRF APIClient, token auth; the API's PostgreSQL "
        f"connections kept {args.conn_max_age} s) -> Celery worker on Redis ({args.pool} pool "
        f"x{args.concurrency}, up to {batch} steps per task, connections kept) -> "
        f"{args.hosts} simulated hosts "
        f"(libvirt test driver, {args.host_cpus} CPUs and {args.host_memory_mib // 1024} GiB "
        f"each, a 100 GiB pool at the disk overcommit the run needs); PostgreSQL. "
        f"{n_ok} running, {failed.count()} in error.",
        "",
        f"**{n_ok / span * 60:,.0f} VMs per minute** end to end ({n_ok} VMs in {span:.1f} s "
        f"from the first request to the last VM running; the worker ran {tasks:,} "
        f"`operation_advance` tasks, {tasks / max(n_ok, 1):.2f} per VM). The API alone took "
        f"{len(api) / api_wall * 60:,.0f} requests per minute ({api_wall:.1f} s for all of "
        "them, with the worker busy on the same 2 cores).",
        "",
    ]
    if failed.exists():
        out += [f"First error: {failed.first().error_message}", ""]
    out += [
        "Per VM, from the database timestamps of this run (wall time, everything concurrent):",
        "",
        "| stage (per VM)                | mean ms | p50 ms | p95 ms |",
        "|-------------------------------|--------:|-------:|-------:|",
    ]

    def row(label: str, values: list[float]) -> None:
        m, p50, p95 = ms(values)
        out.append(f"| {label:<29} | {m:>7} | {p50:>6} | {p95:>6} |")

    row("API (POST /api/v1/vms/)", api)
    row("commit -> first step (queue)", stage["first"])
    for name, values in per_step.items():
        row(f"  {name}", values)
    row("between steps (4 gaps)", stage["hops"])
    row("last step -> running", stage["done"])
    row("end to end (created->running)", stage["e2e"])
    out += [
        "",
        "*commit -> first step* is the Celery hop: Redis, the worker taking the message, its "
        "claim and the transaction that marks the first step running. With the steps batched, "
        "*between steps* is the transaction that records one step done and the next running, "
        "in the same task (a Celery hop per step when `NUAGE_STEP_BATCH=1`); the operation ends "
        "in the transaction of its last step. Under a backlog most of the end-to-end time is "
        "the wait for the first step: requests arrive faster than the worker drains them.",
    ]
    if cpu:
        out += cpu_lines(cpu, n_ok, args)
    if latency:
        hop, e2e = ms(latency["hop"]), ms(latency["e2e"])
        out += [
            "",
            f"With the worker idle ({len(latency['hop'])} more VMs, each requested once the "
            f"previous one runs), the Celery hop (commit -> first step: Redis, the worker "
            f"taking the message, the claim and the first transaction) takes {hop[0]} ms "
            f"(p50 {hop[1]}, p95 {hop[2]}) and a VM is running {e2e[0]} ms (p50 {e2e[1]}) "
            "after its request was written.",
        ]
    if profile:
        out += profile_lines(profile, n_ok / span * 60 if n_ok else 0.0)
    return out


def cpu_lines(cpu: dict[str, float], n: int, args: argparse.Namespace) -> list[str]:
    """Where the cores went during the run: CPU per VM of each part of the stack."""
    parts = [
        (f"API ({args.api_procs} client processes: DRF, Django, the service)", cpu["api"]),
        (f"Celery worker ({args.pool} x{args.concurrency}, with its pool)", cpu["worker"]),
        ("PostgreSQL (the backends of the bench's database)", cpu["postgresql"]),
        ("Redis (the whole server)", cpu["redis"]),
    ]
    total = sum(v for _label, v in parts)
    cores = os.cpu_count() or 1
    out = [
        "",
        f"Where the cores went during the run ({cpu['wall']:.1f} s from the first request to "
        f"the last VM running; {cores} cores give {cores * cpu['wall']:.0f} CPU-seconds in that "
        "time, shared with the other sessions' load), read from /proc:",
        "",
        "| part of the stack | CPU s | CPU ms per VM | share |",
        "|---|---:|---:|---:|",
    ]
    for label, value in parts:
        out.append(
            f"| {label} | {value:.1f} | {value / max(n, 1) * 1000:.1f} | "
            f"{value / total * 100 if total else 0:.0f}% |"
        )
    per_vm = total / max(n, 1)
    out += [
        f"| total | {total:.1f} | {per_vm * 1000:.1f} | 100% |",
        "",
        f"At {per_vm * 1000:.0f} ms of CPU per VM, {cores} idle cores would allow at most "
        f"{cores * 60 / per_vm if per_vm else 0:,.0f} VMs per minute; 1,200 per minute needs at "
        f"most {cores * 60 / 1200 * 1000:.0f} ms per VM with nothing else running.",
    ]
    return out


def profile_lines(profile: dict[str, Any], measured_rate: float) -> list[str]:
    n = profile["n"]
    wall, cpu, db, queries = profile["wall"], profile["cpu"], profile["db"], profile["queries"]
    out = [
        "",
        f"Where one VM's time goes, without Celery or concurrency: {n} more VMs requested "
        f"through the API and provisioned one at a time in the bench's process by "
        f"`services.operation_advance` as the task calls it ({profile['tasks'] / n:.2f} calls "
        f"per VM; {profile['running']} running). *CPU* is this process's Python (the thread's "
        "CPU time); *SQL* the time in PostgreSQL queries, round trips included; the rest of the "
        "wall time is libvirt's test driver and waiting for the cores.",
        "",
        "| phase (per VM)                | wall ms | CPU ms | SQL ms | queries |",
        "|-------------------------------|--------:|-------:|-------:|--------:|",
    ]
    total = {"wall": 0.0, "cpu": 0.0, "db": 0.0, "q": 0}
    for name in PROFILE_PHASES:
        w, c, d, q = (
            wall.get(name, 0.0),
            cpu.get(name, 0.0),
            db.get(name, 0.0),
            queries.get(name, 0),
        )
        total["wall"] += w
        total["cpu"] += c
        total["db"] += d
        total["q"] += q
        out.append(
            f"| {name:<29} | {w / n * 1000:>7.1f} | {c / n * 1000:>6.1f} | "
            f"{d / n * 1000:>6.1f} | {q / n:>7.1f} |"
        )
    out.append(
        f"| {'total':<29} | {total['wall'] / n * 1000:>7.1f} | {total['cpu'] / n * 1000:>6.1f} | "
        f"{total['db'] / n * 1000:>6.1f} | {total['q'] / n:>7.1f} |"
    )
    api = wall.get(PROFILE_PHASES[0], 0.0) / n
    worker = (total["wall"] / n) - api
    serial = 60 / max(api, worker) if max(api, worker) else 0.0
    out += [
        "",
        f"Without concurrency, one VM costs {api * 1000:.0f} ms of wall time in the API and "
        f"{worker * 1000:.0f} ms in the worker ({serial:,.0f} VMs per minute if the slower of "
        "the two had a core of its own and nothing waited); the wall time is mostly waiting: "
        "for PostgreSQL's answers (the SQL column, round trips and its own CPU on the same "
        f"cores) and for a core. The run measured {measured_rate:,.0f}; the CPU table above "
        "says where the cores went during it.",
    ]
    return out


def main() -> int:
    args = parse_args()
    # WhiteNoise warns when collectstatic has not run; the API does not serve static files.
    warnings.filterwarnings("ignore", message="No directory at")
    tmp = Path(tempfile.mkdtemp(prefix="nuage-bench-sim-"))
    queue = f"nuage-bench-{uuid.uuid4().hex[:8]}"
    env = stack_env(pg=args.pg, db_name=DB_NAME, broker=args.broker, queue=queue, var_dir=tmp)
    if args.conn_max_age:
        env["DATABASE_URL"] += f"?conn_max_age={args.conn_max_age}"
    print(f"==> scratch database {DB_NAME}, queue {queue}, files in {tmp}")
    recreate_database(args.pg, DB_NAME)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        os.environ.update(env)
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.db import connections

        from portal.celery import app as celery_app

        try:
            world = setup_world(args, tmp)
            with celery_worker(
                env,
                queue=queue,
                pool=args.pool,
                concurrency=args.concurrency,
                log=tmp / "worker.log",
            ) as worker_pid:
                print(
                    f"==> {args.vms} requests from {args.clients} API clients in "
                    f"{args.api_procs} processes; worker {args.pool} x{args.concurrency}"
                )
                load_before = load_now()
                with CpuMeter(args.pg, DB_NAME, worker_pid) as meter:
                    t_run = time.perf_counter()
                    api, api_wall, api_cpu = submit(args, world)
                    print(f"    sent in {api_wall:.1f} s; waiting for the worker")
                    wait_settled(world["tenant"], args.vms, args.timeout)
                    run_wall = time.perf_counter() - t_run
                loads = {"before": load_before, "after": load_now()}
                cpu = {"api": api_cpu, **meter.seconds(), "wall": run_wall}
                print(f"    CPU seconds: {cpu}")
                # Each task logs a "received" and a "succeeded" line.
                log = (tmp / "worker.log").read_text(errors="replace")
                tasks = log.count("Task compute.operation_advance[") // 2
                latency = None
                if args.latency:
                    print(f"==> latency: {args.latency} VMs one after the other")
                    latency = latency_run(world, args.latency, args.timeout)
            profile = None
            if args.profile:
                print(f"==> profile: {args.profile} more VMs, one at a time, no Celery")
                profile = profile_phases(world, args.profile)
            section = report(
                args, world["tenant"], api, api_wall, loads, tasks, profile, latency, cpu
            )
            print("\n" + "\n".join(section))
            if not args.no_doc:
                write_doc(HEADING, section)
                print(f"\n(written to {DOC.relative_to(REPO)})")
        except BaseException:
            print_worker_log_tail(tmp)
            raise
        finally:
            delete_private_queue(celery_app, queue)
            connections.close_all()
    finally:
        drop_database(args.pg, DB_NAME)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
