"""Read-path latency benchmark: p50 and p95 of the VM API (list and one VM), the VM page, its live
progress partial, the VM list page, the approvals page and /costs/, at 50 and at 20,000 VMs in
the database, with the SQL queries of each and a profile of each saying where the time goes.

Run: .venv/bin/python bench/api_latency.py [--requests 400] [--clients 4] [--workers 2]

It needs PostgreSQL (scratch databases nuage_bench_latency_small and _large, recreated on each
run and dropped at the end: the large one is a copy of the small one, grown). Each size is served
by its own gunicorn (--workers sync workers, one thread each, as WebVirtCloud was measured), 4
client threads send keep-alive GETs, and the sizes alternate in 10 rounds so that other load on
the machine falls on both alike; latency is measured per request in the clients, and the CPU
time that the gunicorn processes, the database's PostgreSQL backends and the clients spend
meanwhile, per request (what the p50 is made of on a saturated 2-core machine).

Who asks, and what they see: one tenant, `main`, holds the same 50 VMs at both sizes (40 running,
5 stopped, 5 waiting for approval; each placed one with its provisioning operation of 5 steps, a
network address and its month's ledger events); the 19,950 other VMs (with the same history)
belong to 49 other tenants. The reader is an approver of `main` (a token for the API, a session
for the pages), so every page shows the same rows at both sizes and the comparison measures data
size, not rows rendered. Query counts and the profiles (cProfile of one request of each, after a
warm-up, in this process with Django's test client) are taken at both sizes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DEFAULT_PG,
    REPO,
    cpu_model,
    drop_database,
    load,
    loadavg,
    percentile,
    postgres_cpu_ms,
    recreate_database,
    server_cpu_ms,
    session_cookie,
    stack_env,
    start_server,
    use_database,
    write_doc,
)

DB_NAME = "nuage_bench_latency"
HEADING = "## Read paths at 50 and 20,000 VMs (bench/api_latency.py)"
MAIN_VMS = 50
OTHER_TENANTS = 49
# Goals of issue 17.
API_LIST_P50_GOAL_MS = 20.0
MAX_QUERIES = 8
MAX_PROGRESS_QUERIES = 3
P95_RATIO_GOAL = 1.3


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=400, help="per endpoint and size")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    p.add_argument("--large", type=int, default=20_000, help="VMs in the large database")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--top", type=int, default=8, help="profile lines per endpoint")
    p.add_argument("--only", default="", help="comma-separated endpoint keys to measure")
    p.add_argument("--profile-only", action="store_true", help="counts and profiles, no server")
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--keep-db", action="store_true", help="leave the scratch databases to study")
    p.add_argument("--pg", default=DEFAULT_PG)
    p.add_argument("--redis", default="redis://127.0.0.1:6379/13", help="Django's cache")
    return p.parse_args()


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


# --- seeding ---------------------------------------------------------------------------------


def build_world() -> dict[str, Any]:
    from compute.models import Flavor, Host, Image, Network
    from portal import services as portal_services
    from portal.choices import PlatformRole, Role

    admin = portal_services.user_create(
        created_by=None, username="bench-admin", password=None, platform_role=PlatformRole.ADMIN
    )
    reader = portal_services.user_create(created_by=None, username="bench-reader", password=None)
    dev = portal_services.user_create(created_by=None, username="bench-dev", password=None)
    main = portal_services.tenant_create(created_by=admin, name="Main", slug="main")
    portal_services.membership_create(created_by=None, tenant=main, user=reader, role=Role.APPROVER)
    portal_services.membership_create(created_by=None, tenant=main, user=dev, role=Role.MEMBER)
    flavors = [
        Flavor.objects.create(name=f"f{v}", vcpus=v, ram_mib=512 * v, disk_gib=v) for v in (1, 2, 4)
    ]
    image = Image.objects.create(name="bench", kind="kernel", kernel_path="/k")
    host = Host.objects.create(name="bench-host", uri="test:///bench", cpus=512, memory_mib=2**21)
    network = Network.objects.create(
        name="bench-net", kind="bridge", bridge="br0", subnet="10.0.0.0/8", gateway="10.0.0.1"
    )
    _, secret = portal_services.token_create(user=reader, name="bench")
    return {
        "admin": admin,
        "reader": reader,
        "dev": dev,
        "main": main,
        "flavors": flavors,
        "image": image,
        "host": host,
        "network": network,
        "token": secret,
    }


def add_tenants(world: dict[str, Any], count: int) -> list[Any]:
    from portal import services as portal_services

    return [
        portal_services.tenant_create(created_by=world["admin"], name=f"T{i:02d}", slug=f"t{i:02d}")
        for i in range(count)
    ]


def add_vms(world: dict[str, Any], tenants: list[Any], start: int, stop: int) -> None:
    """VMs start..stop-1 round-robin over `tenants`: 8 in 10 running, 1 stopped, 1 pending
    approval; each placed one with a finished provisioning operation (5 steps), an address and
    this month's ledger events (created, started; stopped for the stopped ones)."""
    from billing.choices import UsageKind
    from billing.models import UsageEvent
    from compute.choices import OperationKind, OperationStatus, Step, StepStatus, VMState
    from compute.models import NetworkInterface, Operation, OperationStep, VirtualMachine

    rng = random.Random(start)
    now = datetime.now(UTC)
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    envs = {t.pk: list(t.environments.all()) for t in tenants}
    vms = []
    for n in range(start, stop):
        tenant = tenants[n % len(tenants)]
        kind = n % 10
        state = (
            VMState.PENDING_APPROVAL
            if kind == 9
            else VMState.STOPPED
            if kind == 8
            else VMState.RUNNING
        )
        placed = state != VMState.PENDING_APPROVAL
        vms.append(
            VirtualMachine(
                tenant=tenant,
                environment=envs[tenant.pk][n % 3],
                owner=world["dev"],
                name=f"vm-{rng.randrange(10**6):06d}-{n}",
                flavor=world["flavors"][n % 3],
                image=world["image"],
                host=world["host"] if placed else None,
                state=state,
                runtime_state="running" if state == VMState.RUNNING else "unknown",
            )
        )
    vms = VirtualMachine.objects.bulk_create(vms, batch_size=2000)
    placed_vms = [vm for vm in vms if vm.host_id]
    created = month + timedelta(minutes=5)
    ops = Operation.objects.bulk_create(
        [
            Operation(vm=vm, kind=OperationKind.PROVISION, status=OperationStatus.SUCCEEDED)
            for vm in placed_vms
        ],
        batch_size=2000,
    )
    steps = [Step.SCHEDULED, Step.CREATING_DISK, Step.PREPARING_SEED, Step.DEFINING, Step.STARTING]
    OperationStep.objects.bulk_create(
        [
            OperationStep(
                operation=op, position=i, name=name, status=StepStatus.DONE,
                started_at=created, finished_at=created + timedelta(seconds=1),
            )
            for op in ops
            for i, name in enumerate(steps)
        ],
        batch_size=5000,
    )  # fmt: skip
    NetworkInterface.objects.unscoped().bulk_create(
        [
            NetworkInterface(
                vm=vm, network=world["network"], mac=f"52:54:{vm.pk >> 24 & 255:02x}:"
                f"{vm.pk >> 16 & 255:02x}:{vm.pk >> 8 & 255:02x}:{vm.pk & 255:02x}",
                ip=f"10.{vm.pk >> 16 & 255}.{vm.pk >> 8 & 255}.{vm.pk & 255}",
            )
            for vm in placed_vms
        ],
        batch_size=2000,
    )  # fmt: skip
    events = []
    for vm in placed_vms:
        flavor = world["flavors"][[f.pk for f in world["flavors"]].index(vm.flavor_id)]
        facts = [(UsageKind.CREATED, created), (UsageKind.STARTED, created)]
        if vm.state == VMState.STOPPED:
            facts.append((UsageKind.STOPPED, created + timedelta(hours=3)))
        for kind, at in facts:
            events.append(
                UsageEvent(
                    key=f"bench-{vm.pk}-{kind}", vm=vm, tenant_id=vm.tenant_id,
                    environment_id=vm.environment_id, kind=kind, at=at, vcpus=flavor.vcpus,
                    ram_mib=flavor.ram_mib, disk_gib=flavor.disk_gib, flavor=flavor,
                )
            )  # fmt: skip
    # A transaction per 500 events: the ledger's trigger takes a lock per VM it touches.
    for i in range(0, len(events), 500):
        UsageEvent.objects.bulk_create(events[i : i + 500])
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # as autovacuum would have by then


# --- what is measured ------------------------------------------------------------------------


def endpoints(world: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key, label, path, credentials) of each endpoint; credentials: "token" or "session"."""
    from compute.choices import VMState
    from compute.models import VirtualMachine

    vm = (
        VirtualMachine.objects.unscoped()
        .filter(tenant=world["main"], state=VMState.RUNNING)
        .order_by("id")
        .first()
    )
    assert vm is not None
    return [
        ("api_list", "API `/api/v1/vms/?limit=100`", "/api/v1/vms/?limit=100", "token"),
        ("api_vm", "API `/api/v1/vms/{id}/`", f"/api/v1/vms/{vm.pk}/", "token"),
        ("vm_page", "VM page `/vms/{id}/`", f"/vms/{vm.pk}/", "session"),
        ("progress", "its live progress partial", f"/vms/{vm.pk}/progress/", "session"),
        ("list_page", "VM list page `/`", "/", "session"),
        ("approvals", "approvals page `/approvals/`", "/approvals/", "session"),
        ("costs", "costs page `/costs/`", "/costs/", "session"),
    ]


def headers_for(world: dict[str, Any], credentials: str) -> dict[str, str]:
    if credentials == "token":
        return {"Authorization": f"Token {world['token']}"}
    return {"Cookie": world["cookie"]}


def in_process(
    world: dict[str, Any], points: list[tuple[str, str, str, str]], *, top: int
) -> dict[str, dict[str, Any]]:
    """Per endpoint: SQL queries of one request and a profile of another (Django test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    out: dict[str, dict[str, Any]] = {}
    for key, _label, path, credentials in points:
        extra = {f"HTTP_{k.upper()}": v for k, v in headers_for(world, credentials).items()}
        client = Client(SERVER_NAME="127.0.0.1", **extra)
        for _ in range(2):  # warm up: the token's first use is recorded, templates compiled
            assert client.get(path).status_code == 200, path
        # Django empties the log when a request starts: start from empty so the count is right.
        connection.queries_log.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        sql = [q["sql"] for q in queries.captured_queries]  # read now: the next request resets it
        # CPU time of this process per request (its SQL's time in PostgreSQL excluded): what
        # other load on the machine does not inflate, unlike the latencies.
        cpu = []
        for _ in range(20):
            started = time.thread_time()
            client.get(path)
            cpu.append((time.thread_time() - started) * 1000)
        profile = cProfile.Profile()
        profile.enable()
        client.get(path)
        profile.disable()
        out[key] = {
            "queries": len(sql),
            "cpu_ms": percentile(cpu, 0.5),
            "sql": sql,
            "bytes": len(response.content),
            "profile": profile_summary(profile, top=top),
        }
    return out


# Where a request's time goes, in big pieces: cumulative time of these library functions.
_PIECES = (
    ("SQL (round trips included)", "django/db/backends/utils.py", "_execute"),
    ("templates", "django/template/backends/django.py", "render"),
    ("DRF serializers", "rest_framework/serializers.py", "data"),
    ("ORM querysets (their SQL included)", "django/db/models/query.py", "__iter__"),
)


def profile_summary(profile: cProfile.Profile, *, top: int) -> list[str]:
    """The big pieces (SQL, templates, serializers, ORM) and the `top` heaviest functions of
    Nuage's own code by cumulative time (what wraps the whole request left out), as text."""
    stats = pstats.Stats(profile, stream=io.StringIO())
    entries = stats.stats.items()  # type: ignore[attr-defined]
    total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
    lines = [f"total {total * 1000:.1f} ms under cProfile (which slows small calls most)"]
    pieces = []
    for what, path, name in _PIECES:
        # The outermost call of the piece: its cumulative time, not its recursive calls'.
        cum = max(
            (
                c
                for (f, _l, n), (_cc, _nc, _tt, c, _callers) in entries
                if n == name and f.endswith(path)
            ),
            default=0.0,
        )
        if what.startswith("SQL"):
            cum = sum(
                c
                for (f, _l, n), (_cc, _nc, _tt, c, _cl) in entries
                if n == name and f.endswith(path)
            )
        pieces.append(f"{what} {cum * 1000:.1f} ms")
    lines.append("; ".join(pieces))
    rows = []
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in entries:
        if not filename.startswith(str(REPO)) or "site-packages" in filename:
            continue
        if cumtime > 0.97 * total:
            continue
        if name == "__call__" or "/bench/" in filename:  # middleware: wraps the view
            continue
        rows.append((cumtime, tottime, calls, f"{_short(filename)}:{line}({name})"))
    rows.sort(reverse=True)
    for cumtime, tottime, calls, where in rows[:top]:
        lines.append(
            f"{cumtime * 1000:7.1f} ms cum {tottime * 1000:6.1f} ms own {calls:6d} calls  {where}"
        )
    return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", str(REPO) + "/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --- main ------------------------------------------------------------------------------------


def main() -> None:  # noqa: PLR0915
    args = parse_args()
    var_dir = REPO / "var" / "bench-latency"
    var_dir.mkdir(parents=True, exist_ok=True)
    small, large = MAIN_VMS, args.large
    names = {small: f"{DB_NAME}_small", large: f"{DB_NAME}_large"}
    envs = {}
    for size, name in names.items():
        envs[size] = stack_env(
            pg=args.pg, db_name=name, broker="memory://", queue="bench-latency", var_dir=var_dir
        )
        envs[size].update(
            {
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "AXES_ENABLED": "0",
                # Django's cache on Redis, as in production (docker-compose): sessions are
                # then read from it (cached_db). A database number of its own.
                "REDIS_URL": args.redis,
            }
        )
    # One secret for both servers: the session's auth hash is signed with it.
    envs[large]["SECRET_KEY"] = envs[small]["SECRET_KEY"]
    for name in names.values():
        drop_database(args.pg, name)
    recreate_database(args.pg, names[small])
    servers: list[subprocess.Popen[bytes]] = []
    results: dict[int, dict[str, list[float]]] = {}
    measured: dict[int, dict[str, dict[str, Any]]] = {}
    spent: dict[int, dict[str, list[float]]] = {}
    loads: list[str] = []
    try:
        setup_django(envs[small])
        world = build_world()
        add_vms(world, [world["main"]], 0, MAIN_VMS)
        world["cookie"] = session_cookie(world["reader"])
        points = endpoints(world)
        if args.only:
            wanted = set(args.only.split(","))
            points = [p for p in points if p[0] in wanted]
        use_database(names[small])
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {names[large]} TEMPLATE {names[small]}")
        use_database(names[large])
        others = add_tenants(world, OTHER_TENANTS)
        add_vms(world, others, MAIN_VMS, large)
        for size, name in names.items():
            use_database(name)
            measured[size] = in_process(world, points, top=args.top)
        for key, label, _path, _cred in points:
            print(f"--- {label}: where the time goes at {large:,} VMs ---")
            m_small, m_large = measured[small][key], measured[large][key]
            print(
                f"  {m_small['queries']} queries at {small}, {m_large['queries']} at {large:,}; "
                f"CPU per request {m_small['cpu_ms']:.1f} / {m_large['cpu_ms']:.1f} ms"
            )
            for line in measured[large][key]["profile"]:
                print("  " + line)
        if args.profile_only:
            return
        use_database(names[small])
        ports = {}
        for size in names:
            server, ports[size] = start_server(
                envs[size], var_dir / f"gunicorn-{size}.log", workers=args.workers, threads=1
            )
            servers.append(server)
        for size in names:
            for _key, _label, path, cred in points:
                load(ports[size], path, headers_for(world, cred), requests=20, clients=args.clients)
        results = {size: {p[0]: [] for p in points} for size in names}
        # CPU ms spent under load, per process kind: gunicorn (master and workers), the
        # PostgreSQL backends of that size's database, and this process (the clients).
        spent = {size: {p[0]: [0.0, 0.0, 0.0] for p in points} for size in names}
        by_size = dict(zip(names, servers, strict=True))
        loads.append(loadavg())
        for _ in range(args.rounds):
            for key, _label, path, cred in points:
                for size in names:
                    before = (
                        server_cpu_ms(by_size[size].pid), postgres_cpu_ms(names[size]),
                        time.process_time() * 1000,
                    )  # fmt: skip
                    results[size][key] += load(
                        ports[size], path, headers_for(world, cred),
                        requests=args.requests // args.rounds, clients=args.clients,
                    )  # fmt: skip
                    after = (
                        server_cpu_ms(by_size[size].pid), postgres_cpu_ms(names[size]),
                        time.process_time() * 1000,
                    )  # fmt: skip
                    for i in range(3):
                        spent[size][key][i] += after[i] - before[i]
        loads.append(loadavg())
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            for name in names.values():
                drop_database(args.pg, name)

    lines = [HEADING, ""]
    lines.append(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()}, {os.cpu_count()} CPUs (shared); "
        f"PostgreSQL; gunicorn {args.workers} sync workers (1 thread each), persistent database "
        f"connections (`NUAGE_DB_CONN_MAX_AGE`); {args.clients} concurrent keep-alive clients, "
        f"{args.requests} requests per endpoint and size, the sizes alternating in {args.rounds} "
        f"rounds. `cat /proc/loadavg` before and after: {loads[0]} / {loads[-1]}. The same "
        f"{MAIN_VMS} VMs of one tenant are read at both sizes (an approver of it: token for the "
        f"API, session for the pages); the other VMs belong to {OTHER_TENANTS} other tenants. "
        "CPU ms per request in-process: this process's CPU time for one request (median of 20, "
        "Django's test client, PostgreSQL's own time excluded). CPU ms per request under load, "
        f"at {small} VMs: what the gunicorn processes, the PostgreSQL backends of that "
        "database and the client threads spent during the timed requests, divided by their "
        "number; other load on the machine barely changes these. With 4 clients on 2 sync "
        "workers and 2 cores the machine is saturated: an idle machine's p50 is about "
        "4 clients x (their sum) / 2 cores."
    )
    lines += [
        "",
        f"| endpoint | p50 ms at {small} | p95 ms at {small} | p50 ms at {large:,} | "
        f"p95 ms at {large:,} | p95 ratio | SQL queries ({small} / {large:,}) | "
        f"CPU ms per request in-process ({small} / {large:,}) | "
        f"CPU ms per request under load at {small}: gunicorn / PostgreSQL / clients |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdict = []
    for key, label, _path, _cred in points:
        s, g = results[small][key], results[large][key]
        ratio = percentile(g, 0.95) / percentile(s, 0.95)
        qs, ql = measured[small][key]["queries"], measured[large][key]["queries"]
        web, sql, clients = (ms / len(s) for ms in spent[small][key])
        lines.append(
            f"| {label} | {percentile(s, 0.5):.1f} | {percentile(s, 0.95):.1f} | "
            f"{percentile(g, 0.5):.1f} | {percentile(g, 0.95):.1f} | {ratio:.2f} | {qs} / {ql} | "
            f"{measured[small][key]['cpu_ms']:.1f} / {measured[large][key]['cpu_ms']:.1f} | "
            f"{web:.1f} / {sql:.1f} / {clients:.1f} |"
        )
        limit = MAX_PROGRESS_QUERIES if key == "progress" else MAX_QUERIES
        if ratio > P95_RATIO_GOAL:
            verdict.append(f"{key}: p95 ratio {ratio:.2f} > {P95_RATIO_GOAL}")
        if max(qs, ql) > limit or qs != ql:
            verdict.append(f"{key}: {qs}/{ql} queries (goal <= {limit}, constant)")
    if "api_list" in results[small]:
        p50 = percentile(results[small]["api_list"], 0.5)
        if p50 > API_LIST_P50_GOAL_MS:
            verdict.append(f"API list p50 {p50:.1f} ms at {small} VMs > {API_LIST_P50_GOAL_MS} ms")
    lines += [
        "",
        "What keeps these flat and short (issue 17): persistent database connections with a "
        "health check (`NUAGE_DB_CONN_MAX_AGE`, 60 s; a web process opened one per request "
        "before); sessions read from Redis (`cached_db`) where the cache is shared; the user's "
        "memberships read once per request (the navigation, the current tenant and every "
        "permission check share them: the approvals page asked for the role once per pending "
        "VM); the API's VM rows (the list and one VM alike) built directly from plain values "
        "rather than through DRF's per-field machinery, with state and step labels from a "
        "table per language (Django's `get_FOO_display` hashes every translated label of the "
        "field at each call: it was most of the API list's time); the page's rows read "
        "without joins, then their relations' names, ports and latest operation with its "
        "steps in three statements written out, each one index probe a VM (LATERAL ... "
        "LIMIT 1: PostgreSQL spent 3-5 ms planning the six-table join, and hashed the whole "
        "operation table for the latest operations); a page that is not full counts itself "
        "(no COUNT); timestamps parsed in C (`portal/dbtime.py`: Django's loader parsed "
        "each in Python, some 600 a page); the API token and its user read by a statement "
        "written out (the ORM's building of it cost five times the query); those four "
        "statements prepared, planned once per connection (`portal/prepared.py`); the "
        "live progress partial reads the VM, the user's role and the latest operation's id in "
        "one query (the member's tenants as an array, `visible_to(by_id=True)`: PostgreSQL "
        "planned the membership join into every join order of the VM's six relations, 5-8 "
        "ms, more as the tables grew), the steps in a second, and no navigation; the API's "
        "JSON encoded in C (`portal/api/renderers.py`, orjson: DRF's bytes exactly; the "
        "standard encoder called back into Python for every timestamp, UUID and lazy "
        "string, 15 % of a list's CPU) and its timestamps left to it; the VM routes "
        "matched first (Django copies every route tried before the match into the request); "
        "the connection's health check without a round trip while the "
        "server has sent nothing (`portal/db/postgresql`: Django's `SELECT 1` before each "
        "request's first query was 5 % of an API call); the API throttle's window kept by one "
        "Redis script (one round trip where DRF read then wrote the history). The VM page's "
        "cards and the costs page read their rows with the page's in a few statements "
        "written out (`portal/jsonrows.py`).",
        "",
        "Goals (issue 17): API list p50 <= 20 ms at 50 VMs, every page <= 8 queries (the "
        "progress partial <= 3) and the same at both sizes, p95 at 20,000 / at 50 <= 1.3: "
        + ("all met." if not verdict else "missed: " + "; ".join(verdict) + "."),
        "",
        f"Where the time goes at {large:,} VMs (cProfile of one request in-process, heaviest "
        "functions by cumulative time, wrappers left out):",
        "",
        "```",
    ]
    for key, label, _path, _cred in points:
        lines.append(f"{key} ({label.split(' `')[0]}, {measured[large][key]['queries']} queries):")
        lines += ["  " + line for line in measured[large][key]["profile"]]
    lines.append("```")
    print("\n".join(lines[2:]))
    if not args.no_doc:
        write_doc(HEADING, lines)


if __name__ == "__main__":
    main()
