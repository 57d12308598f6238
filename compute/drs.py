"""Load balancing of the host pool (DRS) as a pure function: measured loads in, live moves out.

No ORM, no clock and no libvirt here: `compute.balancing` builds the states from the database
and the metering samples, records what this module recommends and starts the migrations.

The imbalance of the pool is, as in vSphere DRS, the spread of the hosts' normalised loads: the
population standard deviation of measured CPU use / physical CPUs, and of measured memory use /
physical memory, over the hosts that can take part (enabled, outside maintenance, up, measured),
weighted `cpu_weight` and `1 - cpu_weight`. A perfectly even pool scores 0.

`recommend` is greedy: it repeatedly takes the single live migration (one VM from one of the
most loaded hosts to any host that may take it) that lowers the imbalance most, applies it to
its copy of the states, and stops when the best move gains less than `threshold` or after
`max_moves`. The gain of one move falls as 1/n with the pool's size n, so a fixed threshold
would find nothing in a large pool however uneven it is: with `reference_hosts`, the
threshold is the gain asked of a pool of that many hosts, and a larger pool asks
`threshold * reference_hosts / n` (`effective_threshold`). A move is only ever considered if
`compute.scheduler.reject_reason` accepts the target for that VM, with the allocation moves
already recommended taken into account, so a recommendation never breaks an overcommit ratio,
an environment tag, a required tag or an
anti-affinity group. Each VM moves at most once per run (no ping-pong).

Cost per move: (VMs on the `source_hosts` most loaded hosts) x (hosts), each candidate O(1):
the sums and sums of squares of the loads are kept, so a move's effect on both standard
deviations is computed without another pass over the hosts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace

from compute.scheduler import HostState, PlacementRequest, reject_reason


@dataclass(frozen=True, slots=True)
class HostLoadState:
    """One host: what placement knows of it (`capacity`) and what metering measured on it."""

    capacity: HostState
    # Measured over the window: CPU busy in units of one physical CPU, memory in use.
    cpu_used: float = 0.0
    mem_used_mib: float = 0.0
    # False when the window holds no sample of the host: its load is unknown, so it is
    # neither counted in the imbalance nor given or relieved of VMs.
    measured: bool = True

    @property
    def id(self) -> int:
        return self.capacity.id

    @property
    def balanced(self) -> bool:
        """Whether the host takes part: enabled (and outside maintenance), up, measured."""
        h = self.capacity
        return h.enabled and h.up and self.measured and h.cpus > 0 and h.ram_mib > 0


@dataclass(frozen=True, slots=True)
class VmLoadState:
    id: int
    host_id: int
    # The allocation (the flavor): what the move claims on the target.
    vcpus: int
    ram_mib: int
    disk_gib: int
    # Measured over the window.
    cpu_used: float = 0.0
    mem_used_mib: float = 0.0
    environment: str = ""
    required_tags: frozenset[str] = frozenset()
    # The anti-affinity group qualified by its tenant ("<tenant id>:<group>"), or "".
    anti_affinity: str = ""
    # False for a VM that is not running, has an operation in flight or was not measured.
    movable: bool = True


@dataclass(frozen=True, slots=True)
class Recommendation:
    vm_id: int
    source_id: int
    target_id: int
    # The pool's imbalance before this move and after it (the moves before it applied).
    imbalance_before: float
    imbalance_after: float
    # The VM's measured load, which the move takes from the source to the target.
    cpu_used: float
    mem_used_mib: float

    @property
    def gain(self) -> float:
        return self.imbalance_before - self.imbalance_after


# A move target as the inner loop reads it: id, CPU and memory load, CPUs, memory, capacity.
_Target = tuple[int, float, float, int, int, HostState]


@dataclass
class _Pool:
    """The mutable working copy: normalised loads and their running sums."""

    cpu_weight: float
    hosts: dict[int, HostLoadState]
    cpu: dict[int, float] = field(default_factory=dict)
    mem: dict[int, float] = field(default_factory=dict)
    n: int = 0
    s_cpu: float = 0.0
    q_cpu: float = 0.0
    s_mem: float = 0.0
    q_mem: float = 0.0

    def recount(self) -> None:
        """Recompute the sums from scratch (after each move, so float error cannot build up)."""
        self.cpu = {i: h.cpu_used / h.capacity.cpus for i, h in self.hosts.items()}
        self.mem = {i: h.mem_used_mib / h.capacity.ram_mib for i, h in self.hosts.items()}
        self.n = len(self.hosts)
        self.s_cpu, self.q_cpu = sum(self.cpu.values()), sum(v * v for v in self.cpu.values())
        self.s_mem, self.q_mem = sum(self.mem.values()), sum(v * v for v in self.mem.values())

    def score(self, s_cpu: float, q_cpu: float, s_mem: float, q_mem: float) -> float:
        if not self.n:
            return 0.0
        w = self.cpu_weight
        return w * _std(s_cpu, q_cpu, self.n) + (1 - w) * _std(s_mem, q_mem, self.n)

    def imbalance(self) -> float:
        return self.score(self.s_cpu, self.q_cpu, self.s_mem, self.q_mem)

    def targets(self) -> list[_Target]:
        """Every host as a move target, least loaded first (so good moves are found early)."""
        order = sorted(self.hosts, key=lambda i: (self.pressure(i), i))
        return [
            (i, self.cpu[i], self.mem[i], h.capacity.cpus, h.capacity.ram_mib, h.capacity)
            for i in order
            for h in (self.hosts[i],)
        ]

    def best_target(
        self,
        vm: VmLoadState,
        source: int,
        request: PlacementRequest,
        targets: list[_Target],
        bound: float,
    ) -> tuple[float, int] | None:
        """The target that brings the imbalance lowest, if below `bound`, and that imbalance.

        The inner loop of the whole search: the source's part of the new sums is computed once,
        each target's part in a few float operations; the scheduler's filters run only for a
        target that would beat the best move found so far.
        """
        src = self.hosts[source].capacity
        c_src, m_src = self.cpu[source], self.mem[source]
        c_left = c_src - vm.cpu_used / src.cpus
        m_left = m_src - vm.mem_used_mib / src.ram_mib
        c_left = c_left if c_left > 0.0 else 0.0
        m_left = m_left if m_left > 0.0 else 0.0
        s_c = self.s_cpu - c_src + c_left
        q_c = self.q_cpu - c_src * c_src + c_left * c_left
        s_m = self.s_mem - m_src + m_left
        q_m = self.q_mem - m_src * m_src + m_left * m_left
        n, w, sqrt = self.n, self.cpu_weight, math.sqrt
        load_c, load_m = vm.cpu_used, vm.mem_used_mib
        best: tuple[float, int] | None = None
        for target, c, m, cpus, ram, capacity in targets:
            if target == source:
                continue
            dc, dm = load_c / cpus, load_m / ram
            mean_c, mean_m = (s_c + dc) / n, (s_m + dm) / n
            var_c = (q_c + (2 * c + dc) * dc) / n - mean_c * mean_c
            var_m = (q_m + (2 * m + dm) * dm) / n - mean_m * mean_m
            after = w * sqrt(var_c if var_c > 0.0 else 0.0) + (1 - w) * sqrt(
                var_m if var_m > 0.0 else 0.0
            )
            if after >= bound or reject_reason(capacity, request) is not None:
                continue
            bound, best = after, (after, target)
        return best

    def pressure(self, host_id: int) -> float:
        """How far above the mean the host is in its more loaded resource, weighted as in the
        score: a host far above in CPU but below in memory still gives VMs away."""
        w = self.cpu_weight
        return max(
            w * (self.cpu[host_id] - self.s_cpu / self.n),
            (1 - w) * (self.mem[host_id] - self.s_mem / self.n),
        )

    def apply(self, vm: VmLoadState, source: int, target: int) -> None:
        src, dst = self.hosts[source], self.hosts[target]
        self.hosts[source] = replace(
            src,
            capacity=_release(src.capacity, vm),
            cpu_used=max(0.0, src.cpu_used - vm.cpu_used),
            mem_used_mib=max(0.0, src.mem_used_mib - vm.mem_used_mib),
        )
        self.hosts[target] = replace(
            dst,
            capacity=dst.capacity.with_claim(_request(vm, frozenset())),
            cpu_used=dst.cpu_used + vm.cpu_used,
            mem_used_mib=dst.mem_used_mib + vm.mem_used_mib,
        )
        self.recount()


def _std(total: float, squares: float, n: int) -> float:
    mean = total / n
    return math.sqrt(max(0.0, squares / n - mean * mean))


def _request(vm: VmLoadState, avoid: frozenset[int]) -> PlacementRequest:
    return PlacementRequest(
        vcpus=vm.vcpus,
        ram_mib=vm.ram_mib,
        disk_gib=vm.disk_gib,
        environment=vm.environment,
        required_tags=vm.required_tags,
        avoid_host_ids=avoid,
    )


def _release(host: HostState, vm: VmLoadState) -> HostState:
    return replace(
        host,
        used_vcpus=host.used_vcpus - vm.vcpus,
        used_ram_mib=host.used_ram_mib - vm.ram_mib,
        used_disk_gib=host.used_disk_gib - vm.disk_gib,
    )


def imbalance(hosts: list[HostLoadState], *, cpu_weight: float = 0.5) -> float:
    """The pool's imbalance: weighted standard deviations of normalised CPU and memory load."""
    pool = _Pool(cpu_weight=cpu_weight, hosts={h.id: h for h in hosts if h.balanced})
    pool.recount()
    return pool.imbalance()


def normalised_loads(host: HostLoadState) -> tuple[float, float]:
    """(CPU, memory) load of one host as fractions of its physical size (0 when unknown)."""
    h = host.capacity
    cpu = host.cpu_used / h.cpus if h.cpus else 0.0
    mem = host.mem_used_mib / h.ram_mib if h.ram_mib else 0.0
    return cpu, mem


# The pool size the DRS setting's threshold is stated for (`effective_threshold`).
REFERENCE_HOSTS = 10


def effective_threshold(threshold: float, hosts: int, reference_hosts: int | None) -> float:
    """The least gain a move must bring in a pool of `hosts` hosts.

    Moving a load d from a host x above the mean to one y below changes the variance by
    2d(d - (x - y)) / n: the gain of the same move, in the same unevenness, falls as 1/n. The
    threshold holds as is up to `reference_hosts` hosts and is scaled by reference / n above,
    so that an uneven pool of 2,000 hosts gets moves as one of 10 does, while an even pool
    (no move lowers its spread) still gets none. None: `threshold` is an absolute gain.
    """
    if reference_hosts is None or hosts <= reference_hosts:
        return threshold
    return threshold * reference_hosts / hosts


def recommend(
    hosts: list[HostLoadState],
    vms: list[VmLoadState],
    *,
    max_moves: int,
    threshold: float,
    cpu_weight: float = 0.5,
    source_hosts: int = 8,
    reference_hosts: int | None = None,
) -> list[Recommendation]:
    """The moves, in order, that bring the imbalance down most; each gains at least `threshold`
    (scaled to the pool's size with `reference_hosts`: `effective_threshold`).

    `hosts` carry the allocation placement counts (including VMs already migrating to them);
    `vms` are the VMs placed on those hosts, movable or not (the unmovable ones still count for
    anti-affinity). Only the `source_hosts` hosts furthest above the mean give VMs away.
    """
    if not 0.0 <= cpu_weight <= 1.0:
        raise ValueError("cpu_weight is a fraction between 0 and 1.")
    pool = _Pool(cpu_weight=cpu_weight, hosts={h.id: h for h in hosts if h.balanced})
    pool.recount()
    if pool.n < 2 or max_moves <= 0:
        return []
    # Hosts of each anti-affinity group, with how many of its VMs each holds.
    groups: dict[str, Counter[int]] = {}
    for vm in vms:
        if vm.anti_affinity:
            groups.setdefault(vm.anti_affinity, Counter())[vm.host_id] += 1
    by_host: dict[int, list[VmLoadState]] = {}
    for vm in vms:
        if vm.movable and vm.host_id in pool.hosts and (vm.cpu_used > 0 or vm.mem_used_mib > 0):
            by_host.setdefault(vm.host_id, []).append(vm)
    for members in by_host.values():
        members.sort(key=lambda v: v.id)
    moved: set[int] = set()
    minimum = max(effective_threshold(threshold, pool.n, reference_hosts), 1e-9)
    result: list[Recommendation] = []
    while len(result) < max_moves:
        before = pool.imbalance()
        sources = sorted(
            (i for i in pool.hosts if by_host.get(i) and pool.pressure(i) > 0),
            key=lambda i: (-pool.pressure(i), i),
        )[:source_hosts]
        targets = pool.targets()
        best: tuple[float, VmLoadState, int, int] | None = None
        for source in sources:
            for vm in by_host[source]:
                if vm.id in moved:
                    continue
                avoid: frozenset[int] = frozenset()
                if vm.anti_affinity:
                    counts = groups[vm.anti_affinity]
                    # The VM's own membership does not keep it off a host: only the others'.
                    avoid = frozenset(
                        h for h, n in counts.items() if n - (1 if h == source else 0) > 0
                    )
                bound = best[0] if best is not None else before - minimum
                found = pool.best_target(vm, source, _request(vm, avoid), targets, bound)
                if found is not None:
                    best = (found[0], vm, source, found[1])
        if best is None:
            break
        after, vm, source, target = best
        pool.apply(vm, source, target)
        if vm.anti_affinity:
            groups[vm.anti_affinity][source] -= 1
            groups[vm.anti_affinity][target] += 1
        by_host[source].remove(vm)
        moved.add(vm.id)
        result.append(
            Recommendation(
                vm_id=vm.id,
                source_id=source,
                target_id=target,
                imbalance_before=before,
                imbalance_after=pool.imbalance(),
                cpu_used=vm.cpu_used,
                mem_used_mib=vm.mem_used_mib,
            )
        )
    return result
