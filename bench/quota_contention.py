"""Quota contention benchmark: many concurrent VM requests against one small quota.

Run: .venv/bin/python bench/quota_contention.py [--requests 1000] [--quota 100] [--threads 32]

It needs PostgreSQL (scratch database nuage_bench_quota, dropped and recreated on each run and
dropped at the end). Each request is `compute.services.vm_request_create` in its own thread
connection, in an environment that needs approval (so nothing is dispatched to a worker). The
same requests run twice in the same process: with quota checks on (against a VM limit of
--quota) and off (NUAGE["QUOTA_ENFORCE"] = False, in a second tenant), and the rates compared.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

REPO = Path(__file__).resolve().parents[1]
DB_NAME = "nuage_bench_quota"
DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Quota contention (bench/quota_contention.py)"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--quota", type=int, default=100, help="VM limit of the environment")
    p.add_argument("--threads", type=int, default=32, help="concurrent connections")
    p.add_argument("--rounds", type=int, default=2, help="on/off pairs; the best of each counts")
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    p.add_argument(
        "--pg",
        default=os.environ.get("NUAGE_BENCH_PG", "postgres://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database name (env NUAGE_BENCH_PG)",
    )
    return p.parse_args()


def admin_sql(server: str, sql: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def setup_django(server: str) -> None:
    sys.path.insert(0, str(REPO))
    os.environ["DATABASE_URL"] = f"{server}/{DB_NAME}"
    os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret-0123456789abcdefghij")
    os.environ["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_world(name: str, quota: int) -> dict[str, Any]:
    from compute.models import Flavor, Host, Image
    from portal import services as portal_services
    from portal.choices import PlatformRole, Role
    from quotas.models import Quota

    admin = portal_services.user_create(
        created_by=None,
        username=f"{name}-admin",
        password="x" * 12,
        platform_role=PlatformRole.ADMIN,
    )
    member = portal_services.user_create(created_by=None, username=f"{name}-m", password="x" * 12)
    tenant = portal_services.tenant_create(created_by=admin, name=name, slug=name)
    portal_services.membership_create(
        created_by=admin, tenant=tenant, user=member, role=Role.MEMBER
    )
    env = tenant.environments.get(name="production")
    Quota.objects.filter(environment=env).update(
        vms_limit=quota, vcpus_limit=10**6, ram_mib_limit=10**9, disk_gib_limit=10**8
    )
    Host.objects.get_or_create(
        name="bench-host",
        uri="test:///bench",
        defaults={"cpus": 64, "memory_mib": 262144, "reachable": True},
    )
    flavor, _ = Flavor.objects.get_or_create(name="b1", vcpus=1, ram_mib=512, disk_gib=1)
    image, _ = Image.objects.get_or_create(name="bench", kind="kernel", kernel_path="/k")
    return {"member": member, "env": env, "flavor": flavor, "image": image}


def run(world: dict[str, Any], n: int, threads: int, tag: str) -> dict[str, Any]:
    from django.core.exceptions import ValidationError
    from django.db import connections

    from compute.services import vm_request_create

    barrier = threading.Barrier(threads)

    def one(i: int) -> str:
        try:
            if i < threads:
                barrier.wait(timeout=60)
            vm_request_create(
                requested_by=world["member"],
                environment=world["env"],
                flavor=world["flavor"],
                image=world["image"],
                name=f"{tag}-{i}",
            )
            return "accepted"
        except ValidationError as exc:
            return "refused" if "flavor" in exc.message_dict else f"other: {exc.message_dict}"
        finally:
            connections.close_all()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(one, range(n)))
    wall = time.perf_counter() - start
    others = [r for r in results if r.startswith("other")]
    if others:
        raise SystemExit(f"unexpected errors: {others[:3]}")
    return {
        "accepted": results.count("accepted"),
        "refused": results.count("refused"),
        "wall": wall,
        "rate": n / wall,
    }


def update_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"{re.escape(HEADING)}\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section.rstrip("\n") + "\n", text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    DOC.write_text(text)


def main() -> None:
    args = parse_args()
    admin_sql(args.pg, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin_sql(args.pg, f"CREATE DATABASE {DB_NAME}")
    try:
        setup_django(args.pg)
        from django.conf import settings

        from quotas.models import Quota
        from quotas.services import quota_drift_check

        load = os.getloadavg()[0]
        on_runs, off_runs = [], []
        overruns = 0
        drift = 0
        for rnd in range(args.rounds):
            for enforce in (True, False):
                settings.NUAGE["QUOTA_ENFORCE"] = enforce
                world = build_world(f"b{rnd}{'on' if enforce else 'off'}", args.quota)
                result = run(world, args.requests, args.threads, f"r{rnd}")
                if enforce:
                    quota = Quota.objects.get(environment=world["env"])
                    result["counted_vms"] = quota.vms_reserved
                    overruns += max(0, result["accepted"] - args.quota)
                    overruns += max(0, quota.vms_reserved - quota.vms_limit)
                    on_runs.append(result)
                else:
                    off_runs.append(result)
                print(
                    f"round {rnd + 1} quota {'on ' if enforce else 'off'}: "
                    f"{result['accepted']} accepted, {result['refused']} refused, "
                    f"{result['rate']:.0f} requests/s"
                )
        settings.NUAGE["QUOTA_ENFORCE"] = True
        # The off runs made VMs without allocations: only the enforced tenants must agree.
        import logging

        logging.getLogger("quotas.services").setLevel(logging.CRITICAL)  # the off tenants' drift
        drift = len([d for d in quota_drift_check() if "on" in d.tenant])
        on = max(on_runs, key=lambda r: r["rate"])
        off = max(off_runs, key=lambda r: r["rate"])
        cost = off["rate"] / on["rate"]
        print(
            f"\naccepted {on['accepted']}, refused {on['refused']}, overruns {overruns} (goal 0), "
            f"drift {drift}\nquota on: {on['rate']:.0f} requests/s; quota off: "
            f"{off['rate']:.0f} requests/s; cost {cost:.2f}x (goal <= 1.3x)"
        )
        if not args.no_doc:
            now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            cpu = platform.processor() or platform.machine()
            update_doc(
                f"{HEADING}\n\n"
                f"Run {now} on {os.cpu_count()} cores ({cpu}), Python "
                f"{platform.python_version()}, PostgreSQL, load average {load:.2f} before the "
                f"run. {args.requests} VM requests (`vm_request_create`, environment needing "
                f"approval) from {args.threads} threads, each with its own connection, against "
                f"a VM limit of {args.quota}; best of {args.rounds} rounds each.\n\n"
                f"| | accepted | refused | overruns | requests/s |\n"
                f"|---|---:|---:|---:|---:|\n"
                f"| quota checks on | {on['accepted']} | {on['refused']} | {overruns} | "
                f"{on['rate']:.0f} |\n"
                f"| quota checks off | {off['accepted']} | {off['refused']} | - | "
                f"{off['rate']:.0f} |\n\n"
                f"**Overruns: {overruns}** (goal 0); counters against a recount: {drift} "
                f"differences. **The guard costs {cost:.2f}x** (goal <= 1.3x): one conditional "
                f"UPDATE on the environment's quota row and one INSERT of the VM's allocation "
                f"per request. The refused requests do all the other work of a request and roll "
                f"back at the end, so both runs do the same work but the commits.\n"
            )
    finally:
        from django.db import connections

        connections.close_all()
        admin_sql(args.pg, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


if __name__ == "__main__":
    main()
