"""Nat and isolated networks on the hosts: Nuage defines its libvirt network on every host.

The libvirt calls run with no transaction open (a host may take seconds to answer); each host's
outcome is then written to the network's `host_status` in a short transaction of its own, so the
networks page shows which hosts have it and why one does not.
"""

from __future__ import annotations

import ipaddress
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import NetworkKind
from compute.models import Host, Network, NetworkInterface, VirtualMachine

logger = logging.getLogger(__name__)

_NUAGE_KINDS = (NetworkKind.NAT, NetworkKind.ISOLATED)


def network_spec(network: Network) -> hypervisor.NetworkSpec:
    """What Nuage defines on a host for a nat or isolated network: its bridge, and the gateway
    with the subnet's prefix as the host's address on it (none for an isolated network without
    a gateway). No DHCP: guests get their static address from cloud-init."""
    gateway = str(network.gateway or "")
    prefix = ipaddress.ip_network(network.subnet).prefixlen if gateway else None
    return hypervisor.NetworkSpec(
        name=network.libvirt_name,
        kind=network.kind,  # type: ignore[arg-type]
        bridge=network.libvirt_bridge,
        gateway=gateway,
        prefix=prefix,
    )


def _record(network_id: int, host: Host, *, ok: bool, detail: str) -> None:
    with transaction.atomic():
        network = Network.objects.select_for_update().filter(pk=network_id).first()
        if network is None:  # deleted meanwhile: its removal task follows
            return
        status = dict(network.host_status)
        status[host.name] = {"ok": ok, "detail": detail, "at": timezone.now().isoformat()}
        network.host_status = status
        network.save(update_fields=["host_status"])


def network_host_ensure(*, network: Network, host: Host, replaces: str = "") -> str:
    """Make sure `host` has the network's libvirt network, defined, autostarted and running.

    Idempotent. `replaces`: the libvirt network Nuage defined for it before a change of its
    name or gateway (no NIC was on it: network_update refuses otherwise), removed first.
    Records the outcome on the network; raises HypervisorError with the reason when the host
    refuses (or cannot be reached)."""
    if network.kind not in _NUAGE_KINDS:
        return _("Nothing to define: %(kind)s networks are not libvirt networks.") % {
            "kind": network.kind
        }
    try:
        if replaces:
            if not replaces.startswith("nuage-"):
                raise ValueError(f"not a Nuage network: {replaces!r}")
            hypervisor.remove_network(host.uri, replaces)
        created = hypervisor.ensure_network(host.uri, network_spec(network))
    except hypervisor.HypervisorError as exc:
        detail = _("Network %(net)s could not be set up on host %(host)s: %(reason)s") % {
            "net": network.libvirt_name,
            "host": host.name,
            "reason": exc,
        }
        _record(network.pk, host, ok=False, detail=str(exc))
        raise hypervisor.HypervisorError(detail) from exc
    detail = _("Defined and started.") if created else _("Present and running.")
    _record(network.pk, host, ok=True, detail=detail)
    return detail


def networks_ensure_on_host(*, host: Host) -> dict[str, str]:
    """Every nat and isolated network on `host` (a host registered or refreshed): the outcome by
    network name. A failure is recorded on that network and does not stop the others."""
    outcome = {}
    for network in Network.objects.filter(kind__in=_NUAGE_KINDS).order_by("pk"):
        try:
            outcome[network.name] = network_host_ensure(network=network, host=host)
        except hypervisor.HypervisorError as exc:
            logger.warning("%s", exc)
            outcome[network.name] = str(exc)
    return outcome


def vm_networks_ensure(*, vm: VirtualMachine) -> list[str]:
    """Before defining the VM's domain: its host has the nat and isolated networks its NICs
    join (a host added after the network was created gets them here). Raises with the reason."""
    assert vm.host is not None
    ids = (
        NetworkInterface.objects.unscoped()
        .filter(vm_id=vm.pk, network__kind__in=_NUAGE_KINDS)
        .values("network_id")
    )
    names = []
    for network in Network.objects.filter(pk__in=ids).order_by("pk"):
        network_host_ensure(network=network, host=vm.host)
        names.append(network.libvirt_name)
    return names


def network_host_remove(*, libvirt_name: str, host: Host) -> bool:
    """Stop and undefine a deleted network's libvirt network on `host`; False if it had none.

    Only Nuage's own names (nuage-…) are ever removed, and only once no Nuage network of that
    name exists any more (network_delete refuses while a NIC is on it)."""
    if not libvirt_name.startswith("nuage-"):
        raise ValueError(f"not a Nuage network: {libvirt_name!r}")
    if any(n.libvirt_name == libvirt_name for n in Network.objects.filter(kind__in=_NUAGE_KINDS)):
        return False  # re-created under the same name meanwhile: keep it
    return hypervisor.remove_network(host.uri, libvirt_name)
