"""Placement through the service, on PostgreSQL: what one decision costs with the host rows
locked, the allocations summed and the claim written (`services.placement_claim`), at the
simulated-provisioning bench's size and at a large pool; prints ms per decision, queries per
decision and the SQL time in them.

Run: .venv/bin/python bench/placement_service.py [--decisions 200] [--no-doc]

It needs PostgreSQL (scratch database nuage_bench_place, dropped and recreated on each run).
No libvirt: placement only reads and writes rows. bench/placement.py measures the scheduler's
pure decision alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import subprocess
import sys
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402
    DEFAULT_PG,
    DOC,
    cpu_model,
    drop_database,
    recreate_database,
    stack_env,
    write_doc,
)

DB_NAME = "nuage_bench_place"
HEADING = "## Placement through the service (bench/placement_service.py)"
# (hosts, VMs already placed): the provisioning bench's pool, then a large one.
SIZES = ((4, 500), (1_000, 10_000))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--decisions", type=int, default=200, help="placements timed per size")
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL without a database")
    return p.parse_args()


def world() -> dict[str, Any]:
    from compute.models import Flavor, Image
    from portal import services as portal_services
    from portal.choices import PlatformRole
    from portal.models import User

    admin = User.objects.create_user(
        "bench-admin", password=secrets.token_urlsafe(12), platform_role=PlatformRole.ADMIN
    )
    tenant = portal_services.tenant_create(created_by=admin, name="Bench", slug="bench")
    return {
        "admin": admin,
        "tenant": tenant,
        "environment": tenant.environments.get(name="development"),
        "flavor": Flavor.objects.create(name="bench-tiny", vcpus=1, ram_mib=128, disk_gib=1),
        "image": Image.objects.create(name="bench-kernel", kind="kernel", kernel_path="/vmlinuz"),
    }


def fill(w: dict[str, Any], hosts: int, vms: int) -> None:
    """`hosts` host rows (nothing behind them) and `vms` running VMs spread over them."""
    from compute.choices import VMState
    from compute.models import Host, VirtualMachine

    VirtualMachine.objects.unscoped().all().delete()
    Host.objects.all().delete()
    rows = Host.objects.bulk_create(
        Host(
            name=f"h-{i}",
            uri=f"test:///nonexistent-{i}.xml",
            cpus=128,
            memory_mib=512 * 1024,
            disk_gib=100_000,
            reachable=True,
        )
        for i in range(hosts)
    )
    VirtualMachine.objects.bulk_create(
        (
            VirtualMachine(
                tenant=w["tenant"],
                environment=w["environment"],
                owner=w["admin"],
                name=f"vm-{i}",
                flavor=w["flavor"],
                image=w["image"],
                host=rows[i % hosts],
                state=VMState.RUNNING,
            )
            for i in range(vms)
        ),
        batch_size=2_000,
    )


def measure(w: dict[str, Any], decisions: int) -> dict[str, float]:
    from django.db import connection

    from compute import services
    from compute.choices import VMState
    from compute.models import VirtualMachine

    pending = [
        VirtualMachine.objects.create(
            tenant=w["tenant"],
            environment=w["environment"],
            owner=w["admin"],
            name=f"new-{i}",
            flavor=w["flavor"],
            image=w["image"],
            state=VMState.PROVISIONING,
        )
        for i in range(decisions)
    ]
    vms = list(
        VirtualMachine.objects.unscoped()
        .select_related("flavor", "environment", "tenant")
        .filter(pk__in=[vm.pk for vm in pending])
        .order_by("pk")
    )
    sql = [0.0]
    queries = [0]

    def timed(execute: Any, sql_text: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            sql[0] += time.perf_counter() - t0
            queries[0] += 1

    with connection.execute_wrapper(timed):
        started = time.perf_counter()
        for vm in vms:
            services.placement_claim(vm=vm)
        total = time.perf_counter() - started
    return {
        "ms": total / decisions * 1000,
        "sql_ms": sql[0] / decisions * 1000,
        "queries": queries[0] / decisions,
    }


def main() -> int:
    args = parse_args()
    warnings.filterwarnings("ignore", message="No directory at")
    load_before = os.getloadavg()
    env = stack_env(
        pg=args.pg, db_name=DB_NAME, broker="memory://", queue="unused", var_dir=Path("/tmp")
    )
    recreate_database(args.pg, DB_NAME)
    try:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
            cwd=REPO,
            env=env,
            check=True,
        )
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connections

        w = world()
        results = []
        for hosts, vms in SIZES:
            print(f"==> {hosts:,} hosts, {vms:,} VMs placed; {args.decisions} decisions")
            fill(w, hosts, vms)
            results.append((hosts, vms, measure(w, args.decisions)))
        connections.close_all()
    finally:
        drop_database(args.pg, DB_NAME)
    load_after = os.getloadavg()
    lines = [
        HEADING,
        "",
        f"Run {datetime.now().astimezone():%Y-%m-%d %H:%M %Z} on {os.cpu_count()} cores "
        f"({cpu_model()}), Python {platform.python_version()}; machine load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after (other sessions share the "
        f"machine). {args.decisions} placements one after the other through "
        "`services.placement_claim` (host rows locked, allocations summed, scheduler, claim "
        "written), each on a pool of that many host rows with that many running VMs.",
        "",
        "| hosts | VMs placed | ms per decision | SQL ms | queries |",
        "|------:|-----------:|----------------:|-------:|--------:|",
    ]
    for hosts, vms, r in results:
        lines.append(
            f"| {hosts:,} | {vms:,} | {r['ms']:.1f} | {r['sql_ms']:.1f} | {r['queries']:.1f} |"
        )
    print("\n" + "\n".join(lines))
    if not args.no_doc:
        write_doc(HEADING, lines)
        print(f"\n(written to {DOC.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
