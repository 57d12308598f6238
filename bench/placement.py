"""Placement benchmark: 10,000 VMs of mixed flavors on 1,000 simulated hosts, one at a time,
through the pure scheduler (compute/scheduler.py) with the host states updated after each
decision as the service would; prints the seconds per decision as the fleet fills and, in pack
mode, the hosts used against a first-fit-decreasing packing of the same VMs.

Run: .venv/bin/python bench/placement.py [--vms 10000] [--hosts 1000] [--no-doc]

No database and no libvirt: this measures the decision itself (filters and weigher over every
host). The service adds one locked read of the host rows and one summing query per decision.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from compute.scheduler import HostState, Mode, PlacementRequest, choose_host  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"
HEADING = "## Placement (bench/placement.py)"
INTRO = (
    "# Benchmarks\n\n"
    "Figures from the scripts in `bench/` (`make bench`); each rewrites its section.\n"
)
CHECKPOINTS = (100, 1_000, 10_000)
WINDOW = 100  # decisions averaged just before each checkpoint

# (name, vcpus, RAM MiB, disk GiB, weight): a mix of small and large VMs.
FLAVORS = (
    ("tiny", 1, 1024, 10, 30),
    ("small", 2, 4096, 20, 30),
    ("medium", 4, 8192, 40, 20),
    ("large", 8, 16384, 80, 12),
    ("xlarge", 16, 32768, 160, 6),
    ("mem", 8, 65536, 100, 2),
)
HOST = {"cpus": 48, "ram_mib": 256 * 1024, "disk_gib": 4000, "cpu_ratio": 4.0}


@dataclass
class Run:
    mode: Mode
    total_s: float
    at: dict[int, tuple[float, float]]  # placed -> (cumulative seconds, mean s per decision)
    placed: int
    refused: int
    hosts_used: int


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--vms", type=int, default=10_000)
    p.add_argument("--hosts", type=int, default=1_000)
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--no-doc", action="store_true", help=f"do not update {DOC.name}")
    return p.parse_args()


def requests_for(n: int, seed: int) -> list[PlacementRequest]:
    rng = random.Random(seed)
    picks = rng.choices(FLAVORS, weights=[f[4] for f in FLAVORS], k=n)
    return [PlacementRequest(vcpus=v, ram_mib=r, disk_gib=d) for _, v, r, d, _ in picks]


def fleet(n: int) -> list[HostState]:
    return [HostState(id=i + 1, **HOST) for i in range(n)]  # type: ignore[arg-type]


def place_all(mode: Mode, requests: list[PlacementRequest], n_hosts: int) -> Run:
    hosts = fleet(n_hosts)
    index = {h.id: i for i, h in enumerate(hosts)}
    at: dict[int, tuple[float, float]] = {}
    refused = 0
    window_start = 0.0
    started = time.perf_counter()
    for n, request in enumerate(requests, start=1):
        if n % WINDOW == 1 or WINDOW == 1:
            window_start = time.perf_counter()
        placement = choose_host(request, hosts, mode=mode)
        if placement.host_id is None:
            refused += 1
        else:
            i = index[placement.host_id]
            hosts[i] = hosts[i].with_claim(request)  # the incremental update of one host
        if n in CHECKPOINTS:
            now = time.perf_counter()
            at[n] = (now - started, (now - window_start) / WINDOW)
    total = time.perf_counter() - started
    used = sum(1 for h in hosts if h.used_ram_mib)
    return Run(mode, total, at, len(requests) - refused, refused, used)


def ffd_hosts(requests: list[PlacementRequest]) -> int:
    """First-fit decreasing over identical hosts (largest memory first): the offline bound."""
    template = fleet(1)[0]
    bins: list[list[int]] = []  # [vcpus, ram, disk] used
    limits = (template.vcpu_limit, template.ram_limit_mib, template.disk_limit_gib)
    for r in sorted(requests, key=lambda r: (r.ram_mib, r.vcpus, r.disk_gib), reverse=True):
        for b in bins:
            if (
                b[0] + r.vcpus <= limits[0]
                and b[1] + r.ram_mib <= limits[1]
                and b[2] + r.disk_gib <= limits[2]
            ):
                b[0] += r.vcpus
                b[1] += r.ram_mib
                b[2] += r.disk_gib
                break
        else:
            bins.append([r.vcpus, r.ram_mib, r.disk_gib])
    return len(bins)


def machine() -> str:
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"Python {platform.python_version()}, load average {load:.2f} before the run"
    )


def report(args: argparse.Namespace, runs: list[Run], ffd: int, when: str, where: str) -> str:
    lines = [
        HEADING,
        "",
        f"Run {when} on {where}. {args.vms:,} VMs of {len(FLAVORS)} flavors (1-16 vCPU, "
        f"1-64 GiB RAM, 10-160 GiB disk; small ones most frequent) placed one at a time on "
        f"{args.hosts:,} simulated hosts ({HOST['cpus']} CPUs at ratio {HOST['cpu_ratio']}, "
        f"{HOST['ram_mib'] // 1024} GiB RAM, {HOST['disk_gib']:,} GiB disk) through "
        "`compute.scheduler.choose_host`, each host state updated after its claim.",
        "",
        "| mode | VMs placed | seconds so far | ms per decision (last 100) |",
        "|------|-----------:|---------------:|---------------------------:|",
    ]
    for run in runs:
        for n in CHECKPOINTS:
            if n in run.at:
                total, per = run.at[n]
                lines.append(f"| {run.mode} | {n:,} | {total:.2f} | {per * 1000:.2f} |")
    lines.append("")
    for run in runs:
        lines.append(
            f"- **{run.mode}**: {run.total_s:.1f} s in all, {run.total_s / args.vms * 1000:.2f} ms "
            f"per decision; {run.placed:,} placed, {run.refused:,} refused; "
            f"{run.hosts_used:,} hosts used."
        )
    pack = next(r for r in runs if r.mode == "pack")
    excess = (pack.hosts_used - ffd) / ffd * 100
    lines += [
        "",
        f"Pack mode used **{pack.hosts_used} hosts against {ffd} for first-fit decreasing** "
        f"({excess:+.1f}%; goal within 5%). First-fit decreasing sees all the VMs at once and "
        "sorts them largest first; the scheduler sees them in arrival order and puts each on "
        "the fullest host it fits (best fit on memory).",
        "",
        "The cost of a decision is one pass over the hosts, so it depends on the number of "
        "hosts and not on the number of VMs already placed: the per-decision times at 100, "
        "1,000 and 10,000 VMs stay flat. In the service a decision also reads the locked host "
        "rows and sums the placed VMs' flavors in PostgreSQL.",
    ]
    return "\n".join(lines) + "\n"


def write_doc(section: str) -> None:
    text = DOC.read_text() if DOC.exists() else INTRO
    lines = text.split("\n")
    if HEADING in lines:
        start = lines.index(HEADING)
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        lines[start:end] = section.rstrip("\n").split("\n") + [""]
    else:
        lines += ["", *section.rstrip("\n").split("\n")]
    DOC.write_text("\n".join(lines).rstrip("\n") + "\n")


def main() -> None:
    args = parse_args()
    where = machine()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    requests = requests_for(args.vms, args.seed)
    runs = [place_all(mode, requests, args.hosts) for mode in ("spread", "pack")]
    ffd = ffd_hosts(requests)
    section = report(args, runs, ffd, when, where)
    print(section)
    if not args.no_doc:
        write_doc(section)
        print(f"(written to {DOC.relative_to(REPO)})")


if __name__ == "__main__":
    main()
