"""Daily cost benchmark: a tenant's month split into local days, in one replay of the ledger
(`billing.rating.python.usage_lines_split`, what /costs/ does) against one computation per day (31
calls of `usage_lines`), and the month's own lines for scale; checks both give the same lines.

Run: .venv/bin/python bench/cost_days.py [--vms 300] [--events 40] [--no-doc]

No database: the ledger is built in memory (the page reads it in one query), so this measures
the computation the page adds for its chart.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import write_doc  # noqa: E402
from billing.choices import UsageKind  # noqa: E402
from billing.periods import day_bounds, month_bounds  # noqa: E402
from billing.rating.python import LedgerEvent, Prices, usage_lines, usage_lines_split  # noqa: E402

HEADING = "## Daily cost split (bench/cost_days.py)"
ZONE = ZoneInfo("Europe/Paris")
ROUNDS = 3


def ledger(
    vms: int, per_vm: int, start: datetime, end: datetime, seed: int = 7
) -> list[LedgerEvent]:
    rng = random.Random(seed)
    span = int((end - start).total_seconds())
    events: list[LedgerEvent] = []
    for vm in range(1, vms + 1):
        times = sorted(start + timedelta(seconds=rng.randint(-86_400, span)) for _ in range(per_vm))
        running = False
        for n, at in enumerate(times):
            if n == 0:
                kind = UsageKind.CREATED
            elif n % 9 == 0:
                kind = UsageKind.RESIZED
            else:
                kind = UsageKind.STOPPED if running else UsageKind.STARTED
                running = not running
            events.append(
                LedgerEvent(
                    key=f"{vm}-{n}", vm_id=vm, tenant_id=1, environment_id=1 + vm % 3,
                    kind=kind, at=at, vcpus=rng.choice([1, 2, 4, 8]),
                    ram_mib=rng.choice([1024, 2048, 8192]), disk_gib=rng.choice([10, 40]),
                    flavor_id=1, seq=n,
                )
            )  # fmt: skip
    return events


def best(fn: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=300)
    parser.add_argument("--events", type=int, default=40, help="events per VM")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args()

    start, end = month_bounds(ZONE, 2025, 3)  # 31 days, one of them 23 hours (DST)
    prices = [
        Prices(1, "EUR", datetime(2025, 1, 1, tzinfo=UTC), None,
               Decimal("0.031"), Decimal("0.0043"), Decimal("0.011")),
        Prices(2, "EUR", datetime(2025, 3, 16, 9, 30, tzinfo=UTC), None,
               Decimal("0.035"), Decimal("0.0045"), Decimal("0.012")),
    ]  # fmt: skip
    events = ledger(args.vms, args.events, start, end)
    days = [date(2025, 3, d) for d in range(1, 32)]
    bounds = [day_bounds(ZONE, d)[0] for d in days] + [end]

    month_s, month = best(lambda: usage_lines(events, prices, start=start, end=end))
    split_s, split = best(lambda: usage_lines_split(events, prices, bounds=bounds))
    daily_s, daily = best(
        lambda: [
            usage_lines(events, prices, start=bounds[i], end=bounds[i + 1])
            for i in range(len(days))
        ]
    )
    assert split == daily, "the split differs from one computation per day"
    assert isinstance(month, list) and isinstance(split, list)
    day_lines = sum(len(d) for d in split)

    load = os.getloadavg()[0]
    now = datetime.now(UTC)
    section = [
        HEADING,
        "",
        f"Run {now:%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores ({platform.machine()}), "
        f"Python {platform.python_version()}, load average {load:.2f} before the run. "
        f"{args.vms} VMs, {len(events):,} ledger events in March 2025 (Europe/Paris, 31 local "
        f"days, one of 23 h), a price change mid-month; best of {ROUNDS}.",
        "",
        "| computation | lines | seconds |",
        "|---|---:|---:|",
        f"| the month's lines (`usage_lines`, once) | {len(month):,} | {month_s:.3f} |",
        f"| 31 days in one replay (`usage_lines_split`) | {day_lines:,} | {split_s:.3f} |",
        f"| 31 days, one `usage_lines` call each | {day_lines:,} | {daily_s:.3f} |",
        "",
        f"The one-pass split gives **the same lines** as one computation per day, "
        f"**{daily_s / split_s:.1f}x faster**. /costs/ computes the month and the split from one "
        "read of the ledger.",
    ]
    print("\n".join(section))
    if not args.no_doc:
        write_doc(HEADING, section)


if __name__ == "__main__":
    main()
