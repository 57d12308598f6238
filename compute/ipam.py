"""Networks, grants and the addresses Nuage hands out on them (IPAM): every write, and the
allocation of a VM's port (address, MAC, forwarded host port) under the network's row lock.

Allocation runs inside the VM request's transaction: an error later in the request (quota,
a full pool) rolls the port back with it, and nothing stays reserved. Lock order, after the
VM row: Network row (this module) → Allocation → Quota rows (quotas.services).
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils.translation import gettext as _

from compute.choices import NetworkKind
from compute.models import Host, Network, NetworkGrant, NetworkInterface, VirtualMachine
from portal.audit import audit_record, changed_fields, created_fields, snapshot
from portal.errors import ConflictError
from portal.models import Environment, Tenant, User
from portal.permissions import require_platform_admin

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# QEMU/KVM's locally administered prefix; the other three bytes are random.
MAC_PREFIX = "52:54:00"
MAX_DNS_SERVERS = 4
NETWORK_FIELDS = (
    "name",
    "kind",
    "bridge",
    "subnet",
    "gateway",
    "dns_servers",
    "pool_start",
    "pool_end",
)
# Fields that decide which addresses exist: fixed once a NIC holds one.
_ADDRESSING = ("kind", "subnet", "pool_start", "pool_end")


# --- validation ---------------------------------------------------------------------------------


def _address(value: object, field: str, errors: dict[str, str]) -> IPAddress | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if "%" in text:  # an IPv6 zone (fe80::1%eth0) means nothing beyond one host
            raise ValueError(text)
        return ipaddress.ip_address(text)
    except ValueError:
        errors[field] = _("'%(value)s' is not an IP address.") % {"value": value}
        return None


def network_clean(fields: dict[str, Any], *, instance: Network | None = None) -> dict[str, Any]:
    """The network's fields checked together and normalised; a ValidationError naming each
    field that is wrong (subnet, gateway and pool inside it, pool order, overlaps)."""
    errors: dict[str, str] = {}
    data = {name: fields.get(name) for name in NETWORK_FIELDS}
    kind = data["kind"]
    data["bridge"] = (data["bridge"] or "").strip()
    data["subnet"] = (data["subnet"] or "").strip()
    dns = data["dns_servers"] or []
    if isinstance(dns, str):
        dns = [d for d in dns.replace(",", " ").split() if d]
    if kind not in NetworkKind.values:
        errors["kind"] = _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(NetworkKind.values)}
    if kind == NetworkKind.BRIDGE:
        if not data["bridge"]:
            errors["bridge"] = _("Name the host bridge the NICs join, for example br0.")
        elif not all(c.isalnum() or c in "-_." for c in data["bridge"]):
            errors["bridge"] = _("A bridge name is 1-15 letters, digits and - _ . only.")
    elif data["bridge"]:
        errors["bridge"] = _("Only bridge networks name a host bridge.")
    if kind == NetworkKind.USER:
        # QEMU gives every guest the same address behind its own NAT: nothing to manage.
        for name in ("subnet", "gateway", "pool_start", "pool_end"):
            if data[name]:
                errors[name] = _(
                    "A user network has no %(field)s: guests are reached through a forwarded "
                    "host port."
                ) % {"field": name.replace("_", " ")}
        data.update(subnet="", gateway=None, pool_start=None, pool_end=None)
    elif kind in NetworkKind.values:
        _clean_addressing(data, errors, instance)
    addresses = []
    if not isinstance(dns, list) or len(dns) > MAX_DNS_SERVERS:
        errors["dns_servers"] = _("Give at most %(n)s DNS servers.") % {"n": MAX_DNS_SERVERS}
    else:
        for server in dns:
            parsed = _address(server, "dns_servers", errors)
            if parsed is not None:
                addresses.append(str(parsed))
    data["dns_servers"] = addresses
    if errors:
        raise ValidationError(errors)
    return data


def _clean_addressing(
    data: dict[str, Any], errors: dict[str, str], instance: Network | None
) -> None:
    subnet: IPNetwork | None = None
    if not data["subnet"]:
        errors["subnet"] = _("Give the subnet in CIDR form, for example 10.20.0.0/24.")
    else:
        try:
            if "/" not in data["subnet"] or "%" in data["subnet"]:
                raise ValueError(data["subnet"])
            subnet = ipaddress.ip_network(data["subnet"], strict=True)
        except ValueError:
            errors["subnet"] = _(
                "'%(value)s' is not a subnet in CIDR form (for example 10.20.0.0/24; the host "
                "bits must be zero)."
            ) % {"value": data["subnet"]}
    gateway = _address(data["gateway"], "gateway", errors)
    start = _address(data["pool_start"], "pool_start", errors)
    end = _address(data["pool_end"], "pool_end", errors)
    if data["kind"] != NetworkKind.ISOLATED and gateway is None and "gateway" not in errors:
        errors["gateway"] = _("Give the gateway's address in the subnet.")
    for name, value in (("pool_start", start), ("pool_end", end)):
        if value is None and name not in errors:
            errors[name] = _("Give the first and last address Nuage may hand out.")
    if subnet is None:
        return
    data["subnet"] = str(subnet)
    usable = _usable(subnet)
    if gateway is not None:
        if gateway not in subnet:
            errors["gateway"] = _("The gateway %(ip)s is outside %(subnet)s.") % {
                "ip": gateway,
                "subnet": subnet,
            }
        data["gateway"] = str(gateway)
    for name, value in (("pool_start", start), ("pool_end", end)):
        if value is None:
            continue
        if value not in subnet:
            errors[name] = _("%(ip)s is outside %(subnet)s.") % {"ip": value, "subnet": subnet}
        elif not int(usable[0]) <= int(value) <= int(usable[1]):
            errors[name] = _("%(ip)s is the subnet's network or broadcast address.") % {"ip": value}
        data[name] = str(value)
    if start is not None and end is not None and "pool_start" not in errors:
        if int(start) > int(end):
            errors["pool_end"] = _("The pool ends before it starts: %(start)s > %(end)s.") % {
                "start": start,
                "end": end,
            }
    others = Network.objects.exclude(subnet="")
    if instance is not None:
        others = others.exclude(pk=instance.pk)
    for other in others:
        other_subnet = ipaddress.ip_network(other.subnet)
        if other_subnet.version == subnet.version and other_subnet.overlaps(subnet):
            errors["subnet"] = _("%(subnet)s overlaps %(other)s of network %(name)s.") % {
                "subnet": subnet,
                "other": other_subnet,
                "name": other.name,
            }
            break


def _usable(subnet: IPNetwork) -> tuple[IPAddress, IPAddress]:
    """The first and last host address (an IPv4 /31 or /32 has no network/broadcast pair)."""
    if subnet.version == 4 and subnet.prefixlen < 31:
        return subnet.network_address + 1, subnet.broadcast_address - 1
    return subnet.network_address, subnet.broadcast_address


def _lock_networks_table() -> None:
    """Serialise network writes, so that two overlapping subnets cannot both pass the check."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('nuage.network.write'))")


def _check_name(name: str, instance: Network | None) -> None:
    taken = Network.objects.filter(name=name)
    if instance is not None:
        taken = taken.exclude(pk=instance.pk)
    if taken.exists():
        raise ValidationError({"name": _("A network named '%(name)s' exists.") % {"name": name}})


def _on_hosts_after_commit(
    network: Network, *, remove: bool = False, replaces: str = "", name: str = ""
) -> None:
    """Once committed: a task per host defines (or removes) the network's libvirt network.

    `replaces`: the libvirt network it had before a change (its name or gateway), removed first.
    `name`: for a removal, that libvirt network's name (default: the network's own)."""
    from compute.tasks import network_ensure, network_remove  # tasks import this module

    network_id, name = network.pk, name or network.libvirt_name
    for host_id in Host.objects.order_by("pk").values_list("pk", flat=True):
        if remove:
            transaction.on_commit(functools.partial(network_remove.delay, name, host_id))
        elif network.defined_by_nuage:
            transaction.on_commit(
                functools.partial(network_ensure.delay, network_id, host_id, replaces=replaces)
            )


# --- networks and grants ------------------------------------------------------------------------


@transaction.atomic
def network_create(*, created_by: User, remote_addr: str | None = None, **fields: Any) -> Network:
    require_platform_admin(created_by)
    _lock_networks_table()
    data = network_clean(fields)
    network = Network(**data)
    try:
        network.full_clean(exclude=["gateway", "pool_start", "pool_end", "dns_servers"])
    except ValidationError as exc:
        raise ValidationError({f: " ".join(m) for f, m in exc.message_dict.items()}) from exc
    _check_name(network.name, None)
    network.save()
    _on_hosts_after_commit(network)
    audit_record(
        actor=created_by,
        action="network.create",
        obj=network,
        changes=created_fields(network, NETWORK_FIELDS),
        remote_addr=remote_addr,
    )
    return network


@transaction.atomic
def network_update(
    *, updated_by: User, network: Network, remote_addr: str | None = None, **fields: Any
) -> Network:
    """Change a network; what decides its addresses stays fixed while a NIC holds one."""
    require_platform_admin(updated_by)
    _lock_networks_table()
    network = Network.objects.select_for_update().get(pk=network.pk)
    unknown = set(fields) - set(NETWORK_FIELDS)
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    before = snapshot(network, NETWORK_FIELDS)
    merged = {**before, **fields}
    data = network_clean(merged, instance=network)
    # What the hosts' libvirt network is made of (nat and isolated networks).
    on_hosts = [
        f for f in ("name", *_ADDRESSING, "gateway") if str(data[f] or "") != str(before[f] or "")
    ]
    was_on_hosts, old_libvirt_name = network.defined_by_nuage, network.libvirt_name
    if network.interfaces.exists():
        fixed = [f for f in _ADDRESSING if str(data[f] or "") != str(before[f] or "")]
        if was_on_hosts:  # the VMs' domains join the host's network by name, at its gateway
            fixed += [f for f in ("name", "gateway") if f in on_hosts]
        if fixed:
            raise ValidationError(
                {
                    f: _("VMs hold addresses on this network: delete them before changing it.")
                    for f in fixed
                }
            )
    for key, value in data.items():
        setattr(network, key, value)
    network.full_clean(exclude=["gateway", "pool_start", "pool_end", "dns_servers"])
    _check_name(network.name, network)
    network.save()
    if on_hosts and network.defined_by_nuage:
        _on_hosts_after_commit(network, replaces=old_libvirt_name if was_on_hosts else "")
    elif on_hosts and was_on_hosts:
        _on_hosts_after_commit(network, remove=True, name=old_libvirt_name)
    audit_record(
        actor=updated_by,
        action="network.update",
        obj=network,
        changes=changed_fields(before, snapshot(network, NETWORK_FIELDS)),
        remote_addr=remote_addr,
    )
    return network


@transaction.atomic
def network_delete(*, network: Network, deleted_by: User, remote_addr: str | None = None) -> None:
    require_platform_admin(deleted_by)
    network = Network.objects.select_for_update().get(pk=network.pk)
    held = network.interfaces.count()
    if held:
        raise ConflictError(
            _("%(n)s VM interfaces are on %(name)s: delete those VMs first.")
            % {"n": held, "name": network.name}
        )
    audit_record(
        actor=deleted_by,
        action="network.delete",
        obj=network,
        changes=snapshot(network, NETWORK_FIELDS),
        remote_addr=remote_addr,
    )
    if network.defined_by_nuage:
        _on_hosts_after_commit(network, remove=True)
    network.delete()


@transaction.atomic
def network_grant_create(
    *,
    created_by: User,
    network: Network,
    tenant: Tenant,
    environment: Environment | None = None,
    remote_addr: str | None = None,
) -> NetworkGrant:
    """Let `tenant` (only its `environment` when given) attach VMs to `network`."""
    require_platform_admin(created_by)
    if environment is not None and environment.tenant_id != tenant.pk:
        raise ValidationError(
            {"environment": _("Choose an environment of %(tenant)s.") % {"tenant": tenant.name}}
        )
    exists = NetworkGrant.objects.unscoped().filter(
        network=network, tenant=tenant, environment=environment
    )
    if exists.exists():
        raise ValidationError({"network": _("This grant exists already.")})
    try:
        with transaction.atomic():
            grant = NetworkGrant.objects.create(
                network=network, tenant=tenant, environment=environment
            )
    except IntegrityError as exc:
        raise ValidationError({"network": _("This grant exists already.")}) from exc
    audit_record(
        actor=created_by,
        action="network.grant",
        obj=grant,
        tenant=tenant,
        changes={"network": network.name, "environment": environment.name if environment else ""},
        remote_addr=remote_addr,
    )
    return grant


@transaction.atomic
def network_grant_delete(
    *, grant: NetworkGrant, deleted_by: User, remote_addr: str | None = None
) -> None:
    """Withdraw a grant; VMs already on the network keep their ports until deleted."""
    require_platform_admin(deleted_by)
    audit_record(
        actor=deleted_by,
        action="network.revoke",
        obj=grant,
        tenant=grant.tenant,
        changes={
            "network": grant.network.name,
            "environment": grant.environment.name if grant.environment else "",
        },
        remote_addr=remote_addr,
    )
    grant.delete()


def networks_granted(*, environment: Environment) -> QuerySet[Network]:
    """The networks VMs of `environment` may join, the environment's own grants first."""
    grants = (
        NetworkGrant.objects.unscoped()
        .filter(tenant_id=environment.tenant_id)
        .filter(Q(environment__isnull=True) | Q(environment_id=environment.pk))
    )
    return Network.objects.filter(pk__in=grants.values("network_id")).order_by("pk")


def network_default(*, environment: Environment) -> Network | None:
    """The environment's first granted network: a grant for the environment itself before one
    for the whole tenant, older grants first."""
    grant = (
        NetworkGrant.objects.unscoped()
        .filter(tenant_id=environment.tenant_id)
        .filter(Q(environment__isnull=True) | Q(environment_id=environment.pk))
        .select_related("network")
        .order_by(F("environment_id").asc(nulls_last=True), "id")
        .first()
    )
    return grant.network if grant else None


# --- a VM's ports -------------------------------------------------------------------------------


def _lowest_free(network: Network, taken: set[str]) -> str | None:
    assert network.pool_start and network.pool_end
    start = int(ipaddress.ip_address(network.pool_start))
    end = int(ipaddress.ip_address(network.pool_end))
    version = ipaddress.ip_address(network.pool_start).version
    skip = set(taken)
    if network.gateway:
        skip.add(str(ipaddress.ip_address(network.gateway)))
    for n in range(start, end + 1):
        candidate = str(ipaddress.ip_address(n) if version == 4 else ipaddress.IPv6Address(n))
        if candidate not in skip:
            return candidate
    return None


def _random_mac() -> str:
    return MAC_PREFIX + "".join(f":{b:02x}" for b in secrets.token_bytes(3))


def _lock_user_ports() -> None:
    """Host ports are unique across all user networks: one allocator at a time takes them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('nuage.user_net_ports'))")


def _free_port() -> int | None:
    first, last = settings.NUAGE["USER_NET_PORTS"]
    taken = set(
        NetworkInterface.objects.unscoped()
        .filter(host_port__isnull=False)
        .values_list("host_port", flat=True)
    )
    return next((p for p in range(first, last + 1) if p not in taken), None)


@transaction.atomic
def nics_allocate(*, vm: VirtualMachine, network: Network) -> NetworkInterface:
    """Give `vm` a port on `network`: the pool's lowest free address (never the gateway), a
    random 52:54:00 MAC and, on user networks, a free forwarded host port.

    Takes the network's row lock, so concurrent requests get distinct addresses; a full pool or
    port range is a ValidationError on `network` and nothing is reserved.
    """
    network = Network.objects.select_for_update().get(pk=network.pk)
    ip: str | None = None
    port: int | None = None
    if network.kind == NetworkKind.USER:
        _lock_user_ports()
        port = _free_port()
        if port is None:
            first, last = settings.NUAGE["USER_NET_PORTS"]
            raise ValidationError(
                {
                    "network": _(
                        "Network %(name)s is full: all forwarded ports %(first)s-%(last)s are "
                        "in use."
                    )
                    % {"name": network.name, "first": first, "last": last}
                }
            )
    else:
        taken = {
            str(ipaddress.ip_address(a))
            for a in network.interfaces.exclude(ip__isnull=True).values_list("ip", flat=True)
            if a
        }
        ip = _lowest_free(network, taken)
        if ip is None:
            raise ValidationError(
                {
                    "network": _(
                        "Network %(name)s has no free address left (pool %(start)s-%(end)s). "
                        "Choose another network or ask an admin to widen the pool."
                    )
                    % {"name": network.name, "start": network.pool_start, "end": network.pool_end}
                }
            )
    for _attempt in range(16):
        mac = _random_mac()
        try:
            with transaction.atomic():
                nic = NetworkInterface.objects.create(
                    vm=vm, network=network, mac=mac, ip=ip, host_port=port
                )
        except IntegrityError:
            # Address and port are chosen under locks; only a random MAC can clash: draw again.
            if not NetworkInterface.objects.unscoped().filter(mac=mac).exists():
                raise
            continue
        # Who held an address when is what an abuse report asks: it goes to the audit log.
        audit_record(
            actor=None, action="vm.nic.allocate", obj=vm, tenant=vm.tenant, changes=_nic_facts(nic)
        )
        return nic
    raise ValidationError({"network": _("Could not draw a free MAC address; try again.")})


def _nic_facts(nic: NetworkInterface) -> dict[str, Any]:
    return {
        "network": nic.network.name,
        "ip": nic.ip,
        "mac": nic.mac,
        "host_port": nic.host_port,
    }


def nics_release(*, vm: VirtualMachine) -> int:
    """Give back the VM's ports (delete, a rejection, a failed provisioning). Idempotent."""
    nics = list(NetworkInterface.objects.unscoped().filter(vm_id=vm.pk).select_related("network"))
    for nic in nics:
        audit_record(
            actor=None, action="vm.nic.release", obj=vm, tenant=vm.tenant, changes=_nic_facts(nic)
        )
    NetworkInterface.objects.unscoped().filter(pk__in=[n.pk for n in nics]).delete()
    return len(nics)


def vm_network_attach(
    *, vm: VirtualMachine, network: Network | None = None
) -> NetworkInterface | None:
    """At request time: the VM's port on `network`, which must be granted to its environment,
    or on the environment's default network; no port where no network is granted."""
    environment = vm.environment
    if network is None:
        network = network_default(environment=environment)
        if network is None:
            return None
    elif not networks_granted(environment=environment).filter(pk=network.pk).exists():
        raise ValidationError(
            {
                "network": _("Network %(name)s is not available to %(env)s.")
                % {"name": network.name, "env": environment.name}
            }
        )
    return nics_allocate(vm=vm, network=network)
