"""Placement as a pure function: a request and the hosts' states in, one host (or why none) out.

No ORM and no libvirt here: `compute.services` builds the host states from locked rows and
writes the claim; `bench/placement.py` and the tests call `choose_host` directly.

Filters, in the order a host is checked (a rejected host is counted under the first it fails):

1. enabled: an operator disabled the host.
2. up: the host answered libvirt at its last check (`Host.reachable`).
3. tags: a host tag `env:<name>` reserves the host for VMs of the environments it names (a host
   tagged `env:production` takes only production VMs; one without any `env:` tag takes every
   environment), and every tag the request requires must be on the host.
4. anti-affinity: the host already runs a VM of the request's anti-affinity group (same tenant,
   same group name).
5. capacity, per resource: allocated + requested <= floor(physical x overcommit ratio), and a VM
   never has more vCPUs than the host has physical CPUs.

Weighers: "spread" picks the host with the most memory left after the claim (ties: most vCPUs
left, then the first host given); "pack" picks the one with the least memory left (ties: least
vCPUs left, then the first host). One pass over the hosts per decision: O(hosts).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

Mode = Literal["spread", "pack"]
MODES: tuple[Mode, ...] = ("spread", "pack")
ENV_TAG_PREFIX = "env:"


class Reason(StrEnum):
    DISABLED = "disabled"
    DOWN = "down"
    TAGS = "tags"
    ANTI_AFFINITY = "anti_affinity"
    CPU = "cpu"
    RAM = "ram"
    DISK = "disk"


_NO_TAGS: frozenset[str] = frozenset()


def capacity_limit(physical: int, ratio: float) -> int:
    """What a host may hand out of a resource: floor(physical x ratio), robust to float noise."""
    return math.floor(physical * ratio + 1e-9)


@dataclass(frozen=True, slots=True)
class HostState:
    id: int
    cpus: int
    ram_mib: int
    disk_gib: int
    cpu_ratio: float = 1.0
    ram_ratio: float = 1.0
    disk_ratio: float = 1.0
    used_vcpus: int = 0
    used_ram_mib: int = 0
    used_disk_gib: int = 0
    enabled: bool = True
    up: bool = True
    tags: frozenset[str] = frozenset()
    # Derived once here rather than at every decision.
    vcpu_limit: int = field(init=False)
    ram_limit_mib: int = field(init=False)
    disk_limit_gib: int = field(init=False)
    env_tags: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vcpu_limit", capacity_limit(self.cpus, self.cpu_ratio))
        object.__setattr__(self, "ram_limit_mib", capacity_limit(self.ram_mib, self.ram_ratio))
        object.__setattr__(self, "disk_limit_gib", capacity_limit(self.disk_gib, self.disk_ratio))
        object.__setattr__(
            self,
            "env_tags",
            frozenset(t[len(ENV_TAG_PREFIX) :] for t in self.tags if t.startswith(ENV_TAG_PREFIX))
            if self.tags
            else _NO_TAGS,
        )

    @property
    def free_vcpus(self) -> int:
        return self.vcpu_limit - self.used_vcpus

    @property
    def free_ram_mib(self) -> int:
        return self.ram_limit_mib - self.used_ram_mib

    @property
    def free_disk_gib(self) -> int:
        return self.disk_limit_gib - self.used_disk_gib

    def with_claim(self, request: PlacementRequest) -> HostState:
        """The same host after placing the request on it."""
        return replace(
            self,
            used_vcpus=self.used_vcpus + request.vcpus,
            used_ram_mib=self.used_ram_mib + request.ram_mib,
            used_disk_gib=self.used_disk_gib + request.disk_gib,
        )


@dataclass(frozen=True, slots=True)
class PlacementRequest:
    vcpus: int
    ram_mib: int
    disk_gib: int
    environment: str = ""
    required_tags: frozenset[str] = frozenset()
    # Hosts that already run a VM of the request's anti-affinity group.
    avoid_host_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Placement:
    host_id: int | None
    rejected: dict[Reason, int]
    hosts_considered: int

    @property
    def ok(self) -> bool:
        return self.host_id is not None


def reject_reason(host: HostState, request: PlacementRequest) -> Reason | None:
    """The first filter the host fails for this request, or None if it can take it."""
    if not host.enabled:
        return Reason.DISABLED
    if not host.up:
        return Reason.DOWN
    if host.env_tags and request.environment not in host.env_tags:
        return Reason.TAGS
    if request.required_tags and not request.required_tags <= host.tags:
        return Reason.TAGS
    if host.id in request.avoid_host_ids:
        return Reason.ANTI_AFFINITY
    if request.vcpus > host.cpus or host.used_vcpus + request.vcpus > host.vcpu_limit:
        return Reason.CPU
    if host.used_ram_mib + request.ram_mib > host.ram_limit_mib:
        return Reason.RAM
    if host.used_disk_gib + request.disk_gib > host.disk_limit_gib:
        return Reason.DISK
    return None


def choose_host(
    request: PlacementRequest, hosts: list[HostState], *, mode: Mode = "spread"
) -> Placement:
    """The host the request goes to under `mode`, or the count of hosts each filter rejected."""
    if mode not in MODES:
        raise ValueError(f"Unknown placement mode {mode!r}; use one of {MODES}.")
    pack = mode == "pack"
    rejected: Counter[Reason] = Counter()
    best: HostState | None = None
    best_key: tuple[int, int] = (0, 0)
    for host in hosts:
        reason = reject_reason(host, request)
        if reason is not None:
            rejected[reason] += 1
            continue
        key = (host.free_ram_mib, host.free_vcpus)
        if best is None or (key < best_key if pack else key > best_key):
            best, best_key = host, key
    return Placement(
        host_id=best.id if best else None, rejected=dict(rejected), hosts_considered=len(hosts)
    )


def _reason_phrase(reason: Reason, n: int) -> str:
    phrases = {
        Reason.DISABLED: ngettext("%(n)s disabled", "%(n)s disabled", n),
        Reason.DOWN: ngettext("%(n)s down", "%(n)s down", n),
        Reason.TAGS: ngettext(
            "%(n)s reserved for other environments or missing a required tag",
            "%(n)s reserved for other environments or missing a required tag",
            n,
        ),
        Reason.ANTI_AFFINITY: ngettext(
            "%(n)s already running a VM of the same anti-affinity group",
            "%(n)s already running a VM of the same anti-affinity group",
            n,
        ),
        Reason.CPU: ngettext("%(n)s without enough vCPUs", "%(n)s without enough vCPUs", n),
        Reason.RAM: ngettext("%(n)s without enough memory", "%(n)s without enough memory", n),
        Reason.DISK: ngettext("%(n)s without enough disk", "%(n)s without enough disk", n),
    }
    return phrases[reason] % {"n": n}


def describe_refusal(host_name: str, reason: Reason) -> str:
    """Why one chosen host cannot take the VM (an admin's migration target)."""
    why = {
        Reason.DISABLED: _("it is disabled or in maintenance"),
        Reason.DOWN: _("it is down"),
        Reason.TAGS: _("it is reserved for other environments or lacks a required tag"),
        Reason.ANTI_AFFINITY: _("it already runs a VM of the same anti-affinity group"),
        Reason.CPU: _("it does not have room for the vCPUs"),
        Reason.RAM: _("it does not have room for the memory"),
        Reason.DISK: _("it does not have room for the disk"),
    }[reason]
    return _("Host %(host)s cannot take this VM: %(why)s.") % {"host": host_name, "why": why}


def describe_no_host(request: PlacementRequest, placement: Placement) -> str:
    """A message for the VM's owner: what was asked and why each host said no."""
    asked = _("%(vcpus)s vCPU, %(ram)s MiB RAM, %(disk)s GiB disk") % {
        "vcpus": request.vcpus,
        "ram": request.ram_mib,
        "disk": request.disk_gib,
    }
    if not placement.hosts_considered:
        return _("No host can take this VM (%(asked)s): no host is registered.") % {"asked": asked}
    parts = [_reason_phrase(r, placement.rejected[r]) for r in Reason if r in placement.rejected]
    return _("No host can take this VM (%(asked)s) right now. Hosts: %(reasons)s.") % {
        "asked": asked,
        "reasons": ", ".join(parts),
    }
