"""Load balancing benchmark: `compute.drs.recommend` on pools of 100 to 1,000 simulated hosts
with random measured loads (a tenth of the hosts running hot); prints the seconds per run and
per recommended move and how far the moves bring the imbalance down, and compares the default
search (VMs of the 8 most loaded hosts) with a search over every host.

Run: .venv/bin/python bench/drs.py [--hosts 100,500,1000,2000] [--moves 10] [--no-doc]

The threshold is DRS's default setting (0.01), scaled to the pool's size as the periodic run
scales it (`compute.drs.effective_threshold`); the table also shows how many moves the same
threshold taken as an absolute gain would have found.

No database and no libvirt: this measures the decision. The service adds one read of the hosts
and the placed VMs and one grouped query of the metering samples per run.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import write_doc  # noqa: E402
from compute.drs import (  # noqa: E402
    REFERENCE_HOSTS,
    HostLoadState,
    VmLoadState,
    effective_threshold,
    imbalance,
    recommend,
)
from compute.scheduler import HostState, PlacementRequest, reject_reason  # noqa: E402

HEADING = "## Load balancing (bench/drs.py)"
# (vcpus, RAM MiB, disk GiB): the flavors VMs are drawn from.
FLAVORS = ((1, 2048, 20), (2, 4096, 40), (4, 8192, 80), (8, 16384, 160))
SIZES = ((16, 65536), (32, 131072), (48, 262144))  # (CPUs, RAM MiB) of hosts


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", default="100,500,1000,2000", help="pool sizes, comma-separated")
    p.add_argument("--moves", type=int, default=10, help="max_moves per run")
    p.add_argument("--threshold", type=float, default=0.01, help="DRS's setting (default 0.01)")
    p.add_argument("--seed", type=int, default=6)
    p.add_argument("--no-doc", action="store_true", help="do not update docs/benchmarks.md")
    return p.parse_args()


def pool(n_hosts: int, seed: int) -> tuple[list[HostLoadState], list[VmLoadState]]:
    """Hosts filled with VMs up to their ratios (CPU 4.0, RAM 1.0), some tagged for
    production, a few in maintenance; VMs' use is random, 2-3 times higher on hot hosts."""
    rng = random.Random(seed)
    hosts: list[HostLoadState] = []
    vms: list[VmLoadState] = []
    for i in range(n_hosts):
        cpus, ram = rng.choice(SIZES)
        tags = frozenset({"env:production"}) if i % 6 == 0 else frozenset()
        state = HostState(
            id=i, cpus=cpus, ram_mib=ram, disk_gib=4000, cpu_ratio=4.0, tags=tags,
            enabled=i % 50 != 7,
        )  # fmt: skip
        hot = rng.random() < 0.1
        cpu_used = mem_used = 0.0
        for _ in range(rng.randint(2, 14)):
            vcpus, ram_mib, disk = rng.choice(FLAVORS)
            env = "production" if tags else rng.choice(["development", "production"])
            request = PlacementRequest(vcpus, ram_mib, disk, environment=env)
            if reject_reason(state, request) is not None:
                break
            state = state.with_claim(request)
            busy = rng.random() * (2.5 if hot else 1.0)
            vm = VmLoadState(
                id=len(vms), host_id=i, vcpus=vcpus, ram_mib=ram_mib, disk_gib=disk,
                cpu_used=min(vcpus, vcpus * 0.5 * busy), mem_used_mib=ram_mib * min(1.0, busy),
                environment=env, anti_affinity=rng.choice(["", "", "", "1:web", "2:db"]),
            )  # fmt: skip
            vms.append(vm)
            cpu_used += vm.cpu_used
            mem_used += vm.mem_used_mib
        hosts.append(HostLoadState(capacity=state, cpu_used=cpu_used, mem_used_mib=mem_used))
    return hosts, vms


def timed(
    hosts: list[HostLoadState],
    vms: list[VmLoadState],
    args: argparse.Namespace,
    sources: int,
    reference: int | None = REFERENCE_HOSTS,
) -> tuple[float, int, float]:
    started = time.perf_counter()
    moves = recommend(
        hosts,
        vms,
        max_moves=args.moves,
        threshold=args.threshold,
        source_hosts=sources,
        reference_hosts=reference,
    )
    seconds = time.perf_counter() - started
    after = moves[-1].imbalance_after if moves else imbalance(hosts)
    return seconds, len(moves), after


def main() -> None:
    args = parse_args()
    sizes = [int(n) for n in args.hosts.split(",")]
    load = os.getloadavg()[0]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    for n in sizes:
        hosts, vms = pool(n, args.seed)
        before = imbalance(hosts)
        seconds, moves, after = timed(hosts, vms, args, 8)
        absolute = timed(hosts, vms, args, 8, reference=None)[1]
        rows.append((n, len(vms), before, seconds, moves, after, absolute))
        print(
            f"{n} hosts: {seconds:.2f} s, {moves} moves, {before:.4f} -> {after:.4f} "
            f"({absolute} moves with the threshold absolute)"
        )
    compare_n = min(sizes)
    hosts, vms = pool(compare_n, args.seed)
    full = timed(hosts, vms, args, compare_n)
    default = next(r for r in rows if r[0] == compare_n)[:6]
    lines = [
        HEADING,
        "",
        f"Run {when} on {os.cpu_count()} cores ({platform.machine()}), Python "
        f"{platform.python_version()}, load average {load:.2f} before the run. Random pools "
        f"(seed {args.seed}): hosts of 16-48 CPUs and 64-256 GiB, CPU ratio 4.0, a sixth "
        "reserved for production, one in fifty in maintenance; VMs of 1-8 vCPUs drawn until "
        "the host is full or 2-14 are placed, a quarter in anti-affinity groups; measured use "
        "random, 2.5 times higher on a tenth of the hosts. `compute.drs.recommend` with "
        f"max_moves={args.moves}, threshold={args.threshold} scaled to the pool's size "
        f"(x {REFERENCE_HOSTS} / hosts above {REFERENCE_HOSTS} hosts, as DRS runs it), sources: "
        "the 8 most loaded hosts. *Absolute*: the moves the same threshold would find taken as "
        "an absolute gain (before the threshold scaled).",
        "",
        "| hosts | VMs | threshold | imbalance before | after the moves | moves | seconds per run "
        "| ms per move | moves, absolute |",
        "|------:|----:|----------:|-----------------:|----------------:|------:|"
        "----------------:|------------:|----------------:|",
    ]
    for n, n_vms, before, seconds, moves, after, absolute in rows:
        per_move = seconds / moves * 1000 if moves else 0.0
        applied = effective_threshold(args.threshold, n, REFERENCE_HOSTS)
        lines.append(
            f"| {n:,} | {n_vms:,} | {applied:.6f} | {before:.4f} | {after:.4f} | {moves} "
            f"| {seconds:.2f} | {per_move:.0f} | {absolute} |"
        )
    lines += [
        "",
        f"Searching every host as a source instead of the 8 most loaded ({compare_n} hosts): "
        f"imbalance {full[2]:.4f} after {full[1]} moves in {full[0]:.2f} s, against "
        f"{default[5]:.4f} after {default[4]} moves in {default[3]:.2f} s. Each move considers "
        "every VM of the source hosts against every host as target; the scheduler's filters "
        "run only for a target that would beat the best move found so far, so the cost grows "
        "with sources x VMs per host x hosts.",
    ]
    print("\n".join(lines))
    if not args.no_doc:
        write_doc(HEADING, lines)


if __name__ == "__main__":
    main()
