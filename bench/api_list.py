"""VM list benchmark: the API and the HTML page, 100 per page, filtered and sorted, with 100 and
with 20,000 VMs in the database across 50 tenants, in the same run.

Run: .venv/bin/python bench/api_list.py [--requests 200] [--clients 4]

It needs PostgreSQL (scratch databases nuage_bench_list_small and _large, recreated on each run
and dropped at the end: the large one is a copy of the small one, grown). Each is served by its
own gunicorn (2 workers x 2 threads, as a small production box would), 4 client threads issue
keep-alive GETs, and the two sizes alternate in 10 rounds so that other load on the machine falls
on both alike; latency is measured per request in the clients.

Who asks: pages must hold the same 100 rows at both sizes, or the comparison measures rows
rendered, not data size. So the API is read by a user who is a member of all 50 tenants (scoped
through memberships, the member path) and the page by a finance user (all tenants in the header).
Both filter on state=running and sort by name. Query counts are taken in-process with Django's
test client for one request of each kind at each size.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
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
    login_verified,
    percentile,
    recreate_database,
    session_cookie,
    stack_env,
    start_server,
    use_database,
    write_doc,
)

DB_NAME = "nuage_bench_list"
HEADING = "## VM list at 100 and 20,000 VMs (bench/api_list.py)"
TENANTS = 50
API_PATH = "/api/v1/vms/?state=running&ordering=name&limit=100"
PAGE_PATH = "/?state=running&sort=name"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=200, help="per endpoint and size")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--large", type=int, default=20_000)
    p.add_argument("--small", type=int, default=100)
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--keep-db", action="store_true", help="leave the scratch database to study")
    p.add_argument("--pg", default=DEFAULT_PG)
    return p.parse_args()


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_world() -> dict[str, Any]:
    from compute.models import Flavor, Host, Image
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
        Flavor.objects.create(name=f"f{v}", vcpus=v, ram_mib=512 * v, disk_gib=v) for v in (1, 2, 4)
    ]
    image = Image.objects.create(name="bench", kind="kernel", kernel_path="/k")
    host = Host.objects.create(name="bench-host", uri="test:///bench", cpus=64, memory_mib=262144)
    _, secret = portal_services.token_create(user=ops, name="bench")
    return {
        "admin": admin,
        "finance": finance,
        "ops": ops,
        "tenants": tenants,
        "flavors": flavors,
        "image": image,
        "host": host,
        "token": secret,
    }


def add_vms(world: dict[str, Any], start: int, stop: int) -> None:
    """VMs start..stop-1, round-robin over the tenants; at the small size all run, later ones
    are 80 % running so that the filter has work to do."""
    from compute.choices import VMState
    from compute.models import VirtualMachine

    rng = random.Random(start)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    envs = {t.pk: list(t.environments.all()) for t in world["tenants"]}
    batch = []
    for n in range(start, stop):
        tenant = world["tenants"][n % TENANTS]
        running = n < 100 or rng.random() < 0.8
        batch.append(
            VirtualMachine(
                tenant=tenant,
                environment=envs[tenant.pk][n % 3],
                owner=world["ops"],
                name=f"vm-{rng.randrange(10**6):06d}-{n}",
                flavor=world["flavors"][n % 3],
                image=world["image"],
                host=world["host"],
                state=VMState.RUNNING if running else VMState.STOPPED,
                created_at=base + timedelta(seconds=n * 37),
            )
        )
    VirtualMachine.objects.bulk_create(batch, batch_size=2000)
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")  # as autovacuum would have by then


def query_counts(world: dict[str, Any]) -> tuple[int, int, int, int]:
    """(queries, rows) for one API request and one page request, in-process."""
    import re

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME="127.0.0.1")
    with CaptureQueriesContext(connection) as api_q:
        api = client.get(API_PATH, HTTP_AUTHORIZATION=f"Token {world['token']}")
    login_verified(client, world["finance"])
    with CaptureQueriesContext(connection) as page_q:
        page = client.get(PAGE_PATH)
    assert api.status_code == 200 and page.status_code == 200, (api.status_code, page.status_code)
    api_rows = len(api.json()["results"])
    page_rows = len(re.findall(r'<tr data-vm="', page.content.decode()))
    return len(api_q.captured_queries), api_rows, len(page_q.captured_queries), page_rows


def main() -> None:
    args = parse_args()
    var_dir = REPO / "var" / "bench-list"
    var_dir.mkdir(parents=True, exist_ok=True)
    names = {args.small: f"{DB_NAME}_small", args.large: f"{DB_NAME}_large"}
    envs = {}
    for size, name in names.items():
        envs[size] = stack_env(
            pg=args.pg, db_name=name, broker="memory://", queue="bench-list", var_dir=var_dir
        )
        envs[size].update(
            {"SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "AXES_ENABLED": "0"}
        )
    # One secret for both servers: the session's auth hash is signed with it.
    envs[args.large]["SECRET_KEY"] = envs[args.small]["SECRET_KEY"]
    for name in names.values():
        drop_database(args.pg, name)
    recreate_database(args.pg, names[args.small])
    servers: list[subprocess.Popen[bytes]] = []
    try:
        # The small database is built, then copied and grown: both hold the same users, token
        # and session, so one set of credentials reads both.
        setup_django(envs[args.small])
        world = build_world()
        add_vms(world, 0, args.small)
        api_headers = {"Authorization": f"Token {world['token']}"}
        page_headers = {"Cookie": session_cookie(world["finance"])}
        use_database(names[args.small])
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {names[args.large]} TEMPLATE {names[args.small]}")
        use_database(names[args.large])
        add_vms(world, args.small, args.large)
        counts = {}
        for size, name in names.items():
            use_database(name)
            query_counts(world)  # the first use of the token records it; count the next ones
            counts[size] = query_counts(world)
        use_database(names[args.small])
        ports = {}
        for size in names:
            server, ports[size] = start_server(envs[size], var_dir / f"gunicorn-{size}.log")
            servers.append(server)
        kinds = (("api", API_PATH, api_headers), ("page", PAGE_PATH, page_headers))
        for size in names:
            for _kind, path, headers in kinds:
                load(ports[size], path, headers, requests=20, clients=args.clients)  # warm up
        # Sizes alternate in short rounds, so that whatever else the machine does falls on both.
        results: dict[int, dict[str, Any]] = {
            size: {"counts": counts[size], "api": [], "page": []} for size in names
        }
        rounds = 10
        for _ in range(rounds):
            for kind, path, headers in kinds:
                for size in names:
                    results[size][kind] += load(
                        ports[size], path, headers, requests=args.requests // rounds,
                        clients=args.clients,
                    )  # fmt: skip
        for size in names:
            r, c = results[size], counts[size]
            print(
                f"{size:>6} VMs  API p50 {percentile(r['api'], 0.5):6.1f} ms p95 "
                f"{percentile(r['api'], 0.95):6.1f} ms ({c[0]} queries, {c[1]} rows)   "
                f"page p50 {percentile(r['page'], 0.5):6.1f} ms p95 "
                f"{percentile(r['page'], 0.95):6.1f} ms ({c[2]} queries, {c[3]} rows)",
                flush=True,
            )
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            for name in names.values():
                drop_database(args.pg, name)

    small, large = results[args.small], results[args.large]
    lines = [HEADING, ""]
    lines.append(
        f"{datetime.now(UTC):%Y-%m-%d}, {cpu_model()}, {os.cpu_count()} CPUs; PostgreSQL; "
        f"gunicorn 2 workers x 2 threads; {args.clients} concurrent clients, "
        f"{args.requests} requests per endpoint and size, the sizes alternating in 10 rounds "
        f"(one database and one server each). API: `{API_PATH}` as a member of all "
        f"{TENANTS} tenants (token); page: `{PAGE_PATH}` as finance (all tenants)."
    )
    lines += [
        "",
        "| VMs in the database | endpoint | p50 ms | p95 ms | SQL queries | rows |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    verdict = []
    for kind, qi in (("api", 0), ("page", 2)):
        for size, r in ((args.small, small), (args.large, large)):
            lat = r[kind]
            lines.append(
                f"| {size:,} | {'API' if kind == 'api' else 'HTML page'} | "
                f"{percentile(lat, 0.5):.1f} | {percentile(lat, 0.95):.1f} | "
                f"{r['counts'][qi]} | {r['counts'][qi + 1]} |"
            )
        ratio = percentile(large[kind], 0.95) / percentile(small[kind], 0.95)
        same_queries = large["counts"][qi] == small["counts"][qi]
        verdict.append(
            f"{'API' if kind == 'api' else 'page'}: p95 ratio {ratio:.2f} (goal <= 1.5), "
            f"queries {'constant' if same_queries else 'NOT constant'}"
        )
    lines += ["", "; ".join(verdict) + "."]
    print("\n".join(lines[-1:]))
    if not args.no_doc:
        write_doc(HEADING, lines)


if __name__ == "__main__":
    main()
