"""Hosts, flavors and images: registering, updating and refreshing what VMs run on."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import DomainType, ImageKind, VMKind
from compute.models import FLAVOR_LIMIT_FIELDS, Flavor, Host, Image, is_lxc_uri
from compute.services.networks import networks_ensure_on_host
from portal.audit import audit_record, changed_fields, created_fields, snapshot
from portal.models import User
from portal.permissions import require_platform_admin


def _refresh_capacity(host: Host) -> None:
    try:
        info = hypervisor.host_info(host.uri)
    except hypervisor.HypervisorError as exc:
        host.reachable, host.last_error = False, str(exc)
        return
    host.cpus, host.memory_mib = info.cpus, info.memory_mib
    host.reachable, host.last_error, host.last_seen_at = True, "", timezone.now()
    try:
        host.disk_gib = hypervisor.pool_capacity_gib(host.uri, host.storage_pool)
    except hypervisor.HostUnreachable as exc:
        host.reachable, host.last_error = False, str(exc)
    except hypervisor.HypervisorError as exc:
        # Up, but with no pool to put disks in: placement finds no disk room on it.
        host.disk_gib, host.last_error = 0, str(exc)


def _clean_tags(tags: object) -> object:
    """Lowercased, deduplicated and sorted; the model's validator judges the words."""
    if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
        return tags
    return sorted({t.strip().lower() for t in tags if t.strip()})


HOST_SETTINGS = ("cpu_ratio", "ram_ratio", "disk_ratio", "tags")


def host_register(
    *,
    registered_by: User,
    name: str,
    uri: str,
    storage_pool: str = "nuage",
    domain_type: str | None = None,
    enabled: bool = True,
    peer_uri: str = "",
    cpu_ratio: Decimal | float | None = None,
    ram_ratio: Decimal | float | None = None,
    disk_ratio: Decimal | float | None = None,
    tags: list[str] | None = None,
    remote_addr: str | None = None,
) -> Host:
    """Add a host: its capacity is read from libvirt first, then the row and its audit entry are
    written in one transaction (none is open while libvirt answers).

    An `lxc://` URI is a host for system containers (domain type lxc, found from the URI when
    not given); its libvirtd must have the LXC driver, checked here.
    """
    require_platform_admin(registered_by)
    if domain_type is None:
        domain_type = DomainType.LXC if is_lxc_uri(uri) else DomainType.QEMU
    host = Host(
        name=name,
        uri=uri,
        peer_uri=peer_uri,
        storage_pool=storage_pool,
        domain_type=domain_type,
        enabled=enabled,
        cpu_ratio=cpu_ratio,
        ram_ratio=ram_ratio,
        disk_ratio=disk_ratio,
        tags=_clean_tags(tags or []),
    )
    host.full_clean(exclude=["cpus", "memory_mib", "disk_gib"])
    _check_driver(host)
    _refresh_capacity(host)
    if not host.reachable:
        raise ValidationError({"uri": host.last_error})
    if host.last_error:
        raise ValidationError({"storage_pool": host.last_error})
    with transaction.atomic():
        host.save()
        audit_record(
            actor=registered_by,
            action="host.register",
            obj=host,
            changes={
                "uri": uri,
                "cpus": host.cpus,
                "memory_mib": host.memory_mib,
                "disk_gib": host.disk_gib,
                **{k: _audit_value(getattr(host, k)) for k in HOST_SETTINGS},
            },
            remote_addr=remote_addr,
        )
    # After the commit, with none open: the host gets Nuage's nat and isolated networks (each
    # outcome is shown on its network; a failure does not undo the registration).
    networks_ensure_on_host(host=host)
    return host


def _check_driver(host: Host) -> None:
    """400 unless the host's URI and domain type agree and an LXC host has the LXC driver."""
    lxc_uri = is_lxc_uri(host.uri)
    if host.runs_containers and not (lxc_uri or host.uri.startswith("test:")):
        raise ValidationError(
            {"domain_type": _("An LXC host has an lxc:// URI, as in lxc:/// or lxc+ssh://host/.")}
        )
    if lxc_uri and not host.runs_containers:
        raise ValidationError(
            {"domain_type": _("An lxc:// URI is a host for system containers: domain type lxc.")}
        )
    if not lxc_uri:
        return
    try:
        driver = hypervisor.host_driver(host.uri)
    except hypervisor.HypervisorError as exc:
        if "no connection driver" not in str(exc):
            raise ValidationError({"uri": str(exc)}) from exc  # unreachable, refused...
        raise ValidationError(
            {
                "uri": _(
                    "The host at %(uri)s has no LXC driver (install libvirt-daemon-driver-lxc "
                    "there and restart libvirtd): %(error)s"
                )
                % {"uri": host.uri, "error": exc}
            }
        ) from exc
    if driver != "LXC":
        raise ValidationError(
            {
                "uri": _("The host at %(uri)s answers with the %(driver)s driver, not LXC.")
                % {"uri": host.uri, "driver": driver}
            }
        )


def _audit_value(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def host_update(
    *, updated_by: User, host: Host, remote_addr: str | None = None, **fields: Any
) -> Host:
    require_platform_admin(updated_by)
    allowed = {"name", "peer_uri", "enabled", "storage_pool", "domain_type", *HOST_SETTINGS}
    unknown = set(fields) - allowed
    if unknown:
        raise ValidationError({f: _("This field cannot be changed.") for f in unknown})
    if "tags" in fields:
        fields["tags"] = _clean_tags(fields["tags"])
    before = snapshot(host, fields)
    changes = {k: v for k, v in fields.items() if getattr(host, k) != v}
    for key, value in changes.items():
        setattr(host, key, value)
    host.full_clean()
    if "domain_type" in changes:
        _check_driver(host)
    if "storage_pool" in changes:
        _refresh_capacity(host)
        if host.reachable and host.last_error:
            raise ValidationError({"storage_pool": host.last_error})
    with transaction.atomic():  # after libvirt answered (a new pool's size)
        host.save()
        audit_record(
            actor=updated_by,
            action="host.update",
            obj=host,
            changes=changed_fields(before, snapshot(host, fields)),
            remote_addr=remote_addr,
        )
    return host


def host_refresh(*, host: Host) -> Host:
    """Re-read capacity and reachability from libvirt (periodic; no user involved), then write
    them in one statement."""
    _refresh_capacity(host)
    host.save(
        update_fields=["cpus", "memory_mib", "disk_gib", "reachable", "last_error", "last_seen_at"]
    )
    if host.reachable:
        networks_ensure_on_host(host=host)
    return host


@transaction.atomic
def flavor_create(
    *,
    created_by: User,
    name: str,
    vcpus: int,
    ram_mib: int,
    disk_gib: int,
    is_public: bool = True,
    kind: str = VMKind.VM,
    remote_addr: str | None = None,
    **limits: int | None,
) -> Flavor:
    """A new flavor; `limits` are the optional resource limits (FLAVOR_LIMIT_FIELDS). A
    container flavor (`kind`) must fit on at least one LXC host's memory."""
    require_platform_admin(created_by)
    unknown = sorted(set(limits) - set(FLAVOR_LIMIT_FIELDS))
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in unknown})
    flavor = Flavor(
        name=name,
        vcpus=vcpus,
        ram_mib=ram_mib,
        disk_gib=disk_gib,
        is_public=is_public,
        kind=kind,
        **limits,
    )
    flavor.full_clean()
    if kind == VMKind.CONTAINER:
        _container_flavor_fits(flavor)
    flavor.save()
    audit_record(
        actor=created_by,
        action="flavor.create",
        obj=flavor,
        changes=created_fields(
            flavor,
            ["name", "kind", "vcpus", "ram_mib", "disk_gib", "is_public", *FLAVOR_LIMIT_FIELDS],
        ),
        remote_addr=remote_addr,
    )
    return flavor


def _container_flavor_fits(flavor: Flavor) -> None:
    """400 when no LXC host has the memory (or the CPUs) a container of this flavor asks."""
    hosts = Host.objects.filter(enabled=True, domain_type=DomainType.LXC)
    if not hosts.exists():
        return  # flavors may be made before the hosts; requests check again
    if not hosts.filter(memory_mib__gte=flavor.ram_mib).exists():
        biggest = max(hosts.values_list("memory_mib", flat=True))
        raise ValidationError(
            {
                "ram_mib": _("No LXC host has %(ram)s MiB of memory (the largest has %(max)s MiB).")
                % {"ram": flavor.ram_mib, "max": biggest}
            }
        )
    if not hosts.filter(cpus__gte=flavor.vcpus).exists():
        raise ValidationError({"vcpus": _("No LXC host has %(n)s CPUs.") % {"n": flavor.vcpus}})


FLAVOR_SETTINGS = ("name", "vcpus", "ram_mib", "disk_gib", "is_public", *FLAVOR_LIMIT_FIELDS)


@transaction.atomic
def flavor_update(
    *, flavor: Flavor, updated_by: User, remote_addr: str | None = None, **values: Any
) -> Flavor:
    """Change a flavor (platform admins). VMs already running keep their domain as it was
    defined; new VMs, and VMs resized to this flavor, get the new figures and limits."""
    require_platform_admin(updated_by)
    unknown = sorted(set(values) - set(FLAVOR_SETTINGS))
    if unknown:
        raise ValidationError({name: _("Unknown field.") for name in unknown})
    flavor = Flavor.objects.select_for_update().get(pk=flavor.pk)
    changes = {
        name: [getattr(flavor, name), value]
        for name, value in values.items()
        if getattr(flavor, name) != value
    }
    for name, value in values.items():
        setattr(flavor, name, value)
    flavor.full_clean()
    if changes:
        flavor.save(update_fields=list(changes))
        audit_record(
            actor=updated_by,
            action="flavor.update",
            obj=flavor,
            changes=changes,
            remote_addr=remote_addr,
        )
    return flavor


@transaction.atomic
def image_create(
    *,
    created_by: User,
    name: str,
    kind: str,
    base_volume: str = "",
    kernel_path: str = "",
    initrd_path: str = "",
    cmdline: str = "console=ttyS0",
    rootfs_path: str = "",
    is_public: bool = True,
    remote_addr: str | None = None,
) -> Image:
    """A new image. A rootfs image (system containers) is a directory or a tarball holding a
    root file system, checked here on this machine (where the worker copies it from)."""
    require_platform_admin(created_by)
    image = Image(
        name=name,
        kind=kind,
        base_volume=base_volume,
        kernel_path=kernel_path,
        initrd_path=initrd_path,
        cmdline=cmdline,
        rootfs_path=rootfs_path,
        is_public=is_public,
    )
    if kind == "disk" and not base_volume:
        raise ValidationError({"base_volume": _("A disk image needs its base volume's name.")})
    if kind == "kernel" and not kernel_path:
        raise ValidationError({"kernel_path": _("A kernel image needs the kernel's path.")})
    if kind == ImageKind.ROOTFS:
        if not rootfs_path:
            raise ValidationError(
                {"rootfs_path": _("A rootfs image needs the path of its directory or tarball.")}
            )
        problem = hypervisor.rootfs_problem(rootfs_path)
        if problem:
            raise ValidationError({"rootfs_path": problem})
    elif rootfs_path:
        raise ValidationError({"rootfs_path": _("Only a rootfs image has a rootfs path.")})
    image.full_clean()
    image.save()
    audit_record(
        actor=created_by,
        action="image.create",
        obj=image,
        changes=created_fields(
            image,
            [
                "name",
                "kind",
                "base_volume",
                "kernel_path",
                "initrd_path",
                "rootfs_path",
                "is_public",
            ],
        ),
        remote_addr=remote_addr,
    )
    return image
