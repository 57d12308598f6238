"""CSV export benchmark: 100,000 and 1,000,000 usage rows through the real streaming response.

Run: .venv/bin/python bench/export_csv.py [--small 100000] [--large 1000000]

It needs PostgreSQL (scratch database nuage_bench_export, recreated on each run and dropped at
the end). Every VM runs all October 2025 under two price lists (one change mid-month) with a
flavor price, so it gives 8 usage lines (vCPU, RAM, flavor and disk, twice). One tenant holds
--small/8 VMs, a second the rest, so that the first tenant's October is --small rows and all
tenants' is --large. Each export runs in a fresh process: GET /api/v1/usage/?format=csv through
Django's test client (a finance user), the streamed body read chunk by chunk and thrown away;
the process reports the seconds and its peak resident memory (VmHWM, its high-water mark)
against its resident memory just before the request.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DEFAULT_PG,
    cpu_model,
    drop_database,
    login_verified,
    recreate_database,
    write_doc,
)
from bench.invoices import build_ledger, price_lists, setup_django  # noqa: E402

DB_NAME = "nuage_bench_export"
HEADING = "## CSV export (bench/export_csv.py)"
LINES_PER_VM = 8


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--small", type=int, default=100_000, help="rows of the first export")
    p.add_argument("--large", type=int, default=1_000_000, help="rows of the second export")
    p.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    p.add_argument("--pg", default=DEFAULT_PG, help="PostgreSQL server URL without a database")
    p.add_argument("--measure", help=argparse.SUPPRESS)  # child: tenant slug or "all"
    return p.parse_args()


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """This process's high-water resident set (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent at fork, so a child of the big process that built the ledger would report
    the parent's peak."""
    with open("/proc/self/status") as status:
        line = next(x for x in status if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def measure(tenant: str) -> None:
    """In a fresh process: one export, its time, bytes, rows and memory, as a JSON line."""
    from django.test import Client

    from portal.models import User

    client = Client()
    login_verified(client, User.objects.get(username="bench-finance"))
    params = {"start": "2025-10-01", "end": "2025-11-01", "format": "csv"}
    if tenant != "all":
        params["tenant"] = tenant
    before = rss_mib()
    t = time.perf_counter()
    response = client.get("/api/v1/usage/", params)
    size = newlines = chunks = 0
    last = b""
    for chunk in response.streaming_content:  # type: ignore[attr-defined]
        size += len(chunk)
        newlines += chunk.count(b"\n")
        chunks += 1
        last = chunk
    seconds = time.perf_counter() - t
    peak = peak_rss_mib()
    total = last.rstrip(b"\r\n").rsplit(b"\n", 1)[-1].decode().rsplit(",", 1)[-1]
    print(
        json.dumps(
            {
                "rows": newlines - 2,
                "bytes": size,
                "chunks": chunks,
                "seconds": seconds,
                "rss_before_mib": before,
                "peak_rss_mib": peak,
                "streaming": type(response).__name__,
                "total": total,
            }
        )
    )


def main() -> None:
    args = parse_args()
    if args.measure:
        setup_django(args.pg, DB_NAME)
        measure(args.measure)
        return
    recreate_database(args.pg, DB_NAME)
    try:
        setup_django(args.pg, DB_NAME)
        from django.core.management import call_command
        from django.db import connection, connections

        from portal.choices import PlatformRole
        from portal.models import Tenant, User

        call_command("migrate", verbosity=0)
        t = time.perf_counter()
        small_vms = args.small // LINES_PER_VM
        large_vms = args.large // LINES_PER_VM
        build_ledger(
            tenants=2, vms=0, cycles=0, prefix="x", sizes=[small_vms, large_vms - small_vms]
        )
        price_lists(flavor_price=True)
        User.objects.create(username="bench-finance", platform_role=PlatformRole.FINANCE)
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
        setup_s = time.perf_counter() - t
        small_slug = Tenant.objects.order_by("pk").first().slug  # type: ignore[union-attr]
        connections.close_all()
        load = os.getloadavg()[0]
        results = {}
        for label, who in (("small", small_slug), ("large", "all")):
            out = subprocess.run(
                [sys.executable, __file__, "--measure", who, "--pg", args.pg],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            results[label] = json.loads(out.strip().splitlines()[-1])
            r = results[label]
            print(
                f"{r['rows']:,} rows ({r['streaming']}): {r['seconds']:.1f} s, "
                f"{r['bytes'] / 2**20:.0f} MiB in {r['chunks']:,} chunks, "
                f"RSS {r['rss_before_mib']:.0f} MiB before, peak {r['peak_rss_mib']:.0f} MiB; "
                f"total {r['total']}"
            )
        print(f"(ledger built in {setup_s:.0f} s)")
        if not args.no_doc:
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            rows = [
                f"| {r['rows']:,} | {r['seconds']:.1f} | {r['rows'] / r['seconds']:,.0f} | "
                f"{r['bytes'] / 2**20:.0f} | {r['rss_before_mib']:.0f} | "
                f"{r['peak_rss_mib']:.0f} | {r['peak_rss_mib'] - r['rss_before_mib']:.0f} |"
                for r in (results["small"], results["large"])
            ]
            small, large = results["small"], results["large"]
            write_doc(
                HEADING,
                [
                    HEADING,
                    "",
                    f"Run {stamp} on {os.cpu_count()} cores ({cpu_model()}), Python "
                    f"{platform.python_version()}, PostgreSQL, load average {load:.2f} before "
                    f"the run. GET /api/v1/usage/?format=csv for October 2025 (one tenant, then "
                    f"all tenants) as a finance user, through Django's test client; each VM "
                    f"gives {LINES_PER_VM} rows (vCPU, RAM, flavor and disk under two price "
                    "lists). Each export runs in a fresh process; memory is the process's "
                    "resident set (peak: VmHWM, the high-water mark).",
                    "",
                    "| rows | seconds | rows/s | CSV MiB | RSS before MiB | peak RSS MiB | "
                    "growth MiB |",
                    "|---:|---:|---:|---:|---:|---:|---:|",
                    *rows,
                    "",
                    f"**Peak memory {large['peak_rss_mib']:.0f} MiB for "
                    f"{large['rows']:,} rows against {small['peak_rss_mib']:.0f} MiB for "
                    f"{small['rows']:,}** (goal <= 150 MB and flat). The response is a "
                    "StreamingHttpResponse: the ledger is read through a server-side cursor "
                    "ordered by tenant and VM, each VM's lines are computed when its events "
                    "have been read, and the CSV leaves in chunks of about 64 KiB; nothing "
                    "holds more than one VM's events and one chunk. Time grows linearly with "
                    "the rows.",
                ],
            )
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(args.pg, DB_NAME)


if __name__ == "__main__":
    main()
