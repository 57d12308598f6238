"""Simulated provisioning benchmark: VM requests through the API, a Celery worker on Redis and
libvirt test-driver hosts; prints VMs per minute and the time spent in each stage.

Run: .venv/bin/python bench/provision_sim.py [--vms 500] [--clients 4] [--concurrency 4]

It needs PostgreSQL (scratch database nuage_bench_sim, dropped and recreated on each run) and
Redis (a private queue, deleted at the end). Stage times come from the database timestamps
(VM created_at, Operation created_at/finished_at, OperationStep started_at/finished_at) and from
the API call durations measured here.
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
    p.add_argument("--concurrency", type=int, default=4, help="worker threads (threads pool)")
    p.add_argument("--hosts", type=int, default=4, help="simulated hosts")
    p.add_argument("--host-cpus", type=int, default=128)
    p.add_argument("--host-memory-mib", type=int, default=256 * 1024)
    p.add_argument(
        "--approval",
        action="store_true",
        help="request in 'production' and approve each VM through the API (default: "
        "'development', which is approved automatically)",
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
    share = math.ceil(args.vms * disk_gib / args.hosts * 1.1)
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


def submit(args: argparse.Namespace, world: dict[str, Any]) -> tuple[list[float], float]:
    """Send the requests from `clients` threads; return each VM's API time and the wall time."""
    from django.db import connections

    durations: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []
    names = [f"bench-{i:04d}" for i in range(args.vms)]
    chunks = [names[i :: args.clients] for i in range(args.clients)]
    clients = [(world["requester"](), world["approver"]()) for _ in chunks]

    def run(chunk: list[str], requester: Any, approver: Any) -> None:
        try:
            for name in chunk:
                t0 = time.perf_counter()
                resp = requester.post(
                    "/api/v1/vms/", {**world["payload"], "name": name}, format="json"
                )
                if resp.status_code != 201:
                    errors.append(f"POST /api/v1/vms/ {resp.status_code}: {resp.content[:200]!r}")
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

    threads = [
        threading.Thread(target=run, args=(c, *cl)) for c, cl in zip(chunks, clients, strict=True)
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} API calls failed; first: {errors[0]}")
    return durations, wall


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


def ms(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    mean, p50 = statistics.fmean(ordered), statistics.median(ordered)
    return (f"{mean * 1000:,.0f}", f"{p50 * 1000:,.0f}", f"{p95 * 1000:,.0f}")


def report(
    args: argparse.Namespace, tenant: Any, api: list[float], api_wall: float, load: float
) -> list[str]:
    """The section of docs/benchmarks.md for this run, as markdown lines."""
    from compute.choices import OperationKind, OperationStatus, VMState
    from compute.models import Operation, VirtualMachine

    failed = VirtualMachine.objects.filter(tenant=tenant, state=VMState.ERROR)
    ops = (
        Operation.objects.filter(vm__tenant=tenant, kind=OperationKind.PROVISION)
        .select_related("vm")
        .prefetch_related("steps")
    )
    stage: dict[str, list[float]] = {
        k: [] for k in ("approval", "first", "hops", "done", "placement", "libvirt", "e2e")
    }
    per_step: dict[str, list[float]] = {}
    first_created, last_finished = None, None
    for op in ops:
        if op.status != OperationStatus.SUCCEEDED:
            continue
        steps = sorted(op.steps.all(), key=lambda s: s.position)
        secs = lambda a, b: (b - a).total_seconds()  # noqa: E731
        stage["approval"].append(secs(op.vm.created_at, op.created_at))
        stage["first"].append(secs(op.created_at, steps[0].started_at))
        stage["hops"].append(
            sum(secs(a.finished_at, b.started_at) for a, b in zip(steps, steps[1:], strict=False))
        )
        stage["done"].append(secs(steps[-1].finished_at, op.finished_at))
        stage["placement"].append(secs(steps[0].started_at, steps[0].finished_at))
        stage["libvirt"].append(sum(secs(s.started_at, s.finished_at) for s in steps[1:]))
        stage["e2e"].append(secs(op.vm.created_at, op.finished_at))
        for s in steps:
            per_step.setdefault(s.name, []).append(secs(s.started_at, s.finished_at))
        first_created = min(filter(None, (first_created, op.vm.created_at)))
        last_finished = max(filter(None, (last_finished, op.finished_at)))

    n_ok = len(stage["e2e"])
    span = (last_finished - first_created).total_seconds() if n_ok else float("nan")
    queue = [
        a + b + c for a, b, c in zip(stage["first"], stage["hops"], stage["done"], strict=True)
    ]
    mean = lambda xs: statistics.fmean(xs) if xs else 0.0  # noqa: E731
    # API time per VM is the client's; the rest are per-VM means from the DB timestamps.
    summary = {
        "API": mean(api),
        "queue wait": mean(queue),
        "worker": mean(stage["placement"]),
        "libvirt": mean(stage["libvirt"]),
    }
    total = sum(summary.values()) or 1.0
    tasks = n_ok * (len(per_step) + 1)  # one task per step, and one that finishes the operation

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    flow = (
        "in production, each approved through the API"
        if args.approval
        else "in development, approved automatically"
    )
    out = [
        HEADING,
        "",
        f"Run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {os.cpu_count()} cores "
        f"({cpu}), Python {platform.python_version()}, load average {load:.2f} before the run. "
        f"{args.vms} VM requests {flow}, from {args.clients} API client threads (DRF "
        f"APIClient, token auth) -> Celery worker on Redis (threads pool x{args.concurrency}) "
        f"-> {args.hosts} simulated hosts (libvirt test driver, {args.host_cpus} CPUs and "
        f"{args.host_memory_mib // 1024} GiB each); PostgreSQL. "
        f"{n_ok} running, {failed.count()} in error.",
        "",
        f"**{n_ok / span * 60:,.0f} VMs per minute** end to end ({n_ok} VMs in {span:.1f} s "
        f"from the first request to the last VM running; the worker ran {tasks:,} tasks, "
        f"{tasks / span:,.0f} per second). The API alone took {len(api) / api_wall * 60:,.0f} "
        f"requests per minute ({api_wall:.1f} s for all of them, with the worker busy "
        "on the same 2 cores).",
        "",
        "| stage (per VM)                | mean ms | p50 ms | p95 ms | share |",
        "|-------------------------------|--------:|-------:|-------:|------:|",
    ]
    if failed.exists():
        out.insert(4, f"First error: {failed.first().error_message}")

    def row(label: str, values: list[float], share: float | None = None) -> None:
        m, p50, p95 = ms(values)
        pct = f"{share * 100:.0f}%" if share is not None else ""
        out.append(f"| {label:<29} | {m:>7} | {p50:>6} | {p95:>6} | {pct:>5} |")

    api_label = "API (POST + approve)" if args.approval else "API (POST /api/v1/vms/)"
    row(api_label, api, summary["API"] / total)
    if args.approval:
        row("  of which approval wait", stage["approval"])
    row("queue wait (5 hops)", queue, summary["queue wait"] / total)
    row("  commit -> first step", stage["first"])
    row("  between steps (3 hops)", stage["hops"])
    row("  last step -> running", stage["done"])
    row("worker (placement step)", stage["placement"], summary["worker"] / total)
    row("libvirt (3 steps)", stage["libvirt"], summary["libvirt"] / total)
    for name in ("creating_disk", "defining", "starting"):
        row(f"  {name}", per_step.get(name, []))
    row("end to end (created->running)", stage["e2e"])
    work = summary["worker"] + summary["libvirt"]
    out += [
        "",
        f"The work proper (placement and the three libvirt steps) takes {work * 1000:,.0f} ms "
        "per VM; almost all the rest of the end-to-end time is queue wait, because the "
        f"requests arrive faster than one worker drains their {len(per_step) + 1} tasks each "
        "(every task is a Celery round trip through Redis plus two short transactions). The "
        "rate is the worker's task rate; more worker threads (`--concurrency`) or workers "
        "raise it until PostgreSQL or the cores saturate.",
        "",
        "How the stages are measured: *API* is the client-side duration of each request. The "
        "others come from the database: *queue wait* is the time between one step finishing "
        "(or the operation being created, in the request's transaction) and the next step "
        "starting, i.e. Redis, the worker picking the task up and the first transaction of "
        "`operation_advance`; the last hop also includes the final state transition. *worker* "
        "is the placement step (`scheduled`: host rows locked, free memory summed). *libvirt* "
        "is the three steps that call the driver (each also reloads and locks the operation). "
        "Shares are of the sum of the four means.",
    ]
    return out


def main() -> int:
    args = parse_args()
    # WhiteNoise warns when collectstatic has not run; the API does not serve static files.
    warnings.filterwarnings("ignore", message="No directory at")
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="nuage-bench-sim-"))
    queue = f"nuage-bench-{uuid.uuid4().hex[:8]}"
    env = stack_env(pg=args.pg, db_name=DB_NAME, broker=args.broker, queue=queue, var_dir=tmp)
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
                pool="threads",
                concurrency=args.concurrency,
                log=tmp / "worker.log",
            ):
                print(f"==> {args.vms} requests from {args.clients} API clients")
                api, api_wall = submit(args, world)
                print(f"    sent in {api_wall:.1f} s; waiting for the worker")
                wait_settled(world["tenant"], args.vms, args.timeout)
            section = report(args, world["tenant"], api, api_wall, load_before)
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
