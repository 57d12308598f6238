"""The only package that talks to libvirt: connections, domain XML, and the driver calls."""

from compute.hypervisor.driver import (
    DomainSpec,
    HostInfo,
    domain_list,
    domain_runtime_state,
    domain_runtime_states,
    ensure_domain_defined,
    ensure_domain_running,
    ensure_domain_stopped,
    ensure_volume,
    host_alive,
    host_info,
    migrate_domain,
    pool_capacity_gib,
    reboot_domain,
    remove_domain,
    remove_volume,
)
from compute.hypervisor.errors import HostUnreachable, HypervisorError

__all__ = [
    "DomainSpec",
    "HostInfo",
    "HostUnreachable",
    "HypervisorError",
    "domain_list",
    "domain_runtime_state",
    "domain_runtime_states",
    "ensure_domain_defined",
    "ensure_domain_running",
    "ensure_domain_stopped",
    "ensure_volume",
    "host_alive",
    "host_info",
    "migrate_domain",
    "pool_capacity_gib",
    "reboot_domain",
    "remove_domain",
    "remove_volume",
]
