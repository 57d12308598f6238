"""Measured loads as placement, DRS and the capacity page read them: a port that the metering
app fills at startup (`MeteringConfig.ready`), so that compute never imports metering, which is
built on compute. With no source set, nothing has been measured: every load is unknown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class HostLoad:
    """What a host's running VMs used on average over a window: CPU in vCPU-equivalents (1.0 is
    one host CPU busy all the time), memory the guests use, and how many samples say so."""

    cpu_used_vcpus: float
    mem_used_mib: int
    samples: int


@dataclass(frozen=True)
class VmLoad:
    cpu_used_vcpus: float
    mem_used_mib: int


class LoadSource(Protocol):
    def host_loads(self, since: datetime) -> dict[int, HostLoad]: ...

    def vm_loads(self, since: datetime) -> dict[int, VmLoad]: ...


_source: LoadSource | None = None


def set_load_source(source: LoadSource | None) -> None:
    global _source  # one source per process, set once at startup
    _source = source


def host_loads(since: datetime) -> dict[int, HostLoad]:
    """Each measured host's load since `since` (empty when nothing measures)."""
    return {} if _source is None else _source.host_loads(since)


def vm_loads(since: datetime) -> dict[int, VmLoad]:
    """Each measured VM's mean use since `since` (empty when nothing measures)."""
    return {} if _source is None else _source.vm_loads(since)
