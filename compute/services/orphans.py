"""Domains on a host that Nuage does not know: destroy them or adopt them as a tenant's VMs."""

from __future__ import annotations

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from compute import hypervisor
from compute.choices import RuntimeState, Transition, VMState
from compute.models import Flavor, Host, Image, VirtualMachine
from compute.services._common import _transition
from portal.audit import audit_record
from portal.models import Environment, User
from portal.permissions import ROLE_PERMS, Perm, require_platform_admin, tenant_role


def _orphan(host: Host, uuid: str) -> dict[str, str]:
    """The orphan as libvirt shows it now; a ValidationError if it is not (or no longer) one."""
    live = {u: (name, state) for u, name, state in hypervisor.domain_list(host.uri)}
    known = (
        VirtualMachine.objects.unscoped().filter(uuid=uuid).exclude(state=VMState.DELETED).exists()
    )
    if uuid not in live or known:
        raise ValidationError(
            {"uuid": _("No unknown domain with this UUID on %(host)s.") % {"host": host.name}}
        )
    name, state = live[uuid]
    return {"uuid": uuid, "name": name, "state": state}


def host_orphan_destroy(
    *, host: Host, uuid: str, requested_by: User, remote_addr: str | None = None
) -> None:
    """Power off and undefine a domain Nuage does not know (its disks are left alone)."""
    require_platform_admin(requested_by)
    orphan = _orphan(host, uuid)
    hypervisor.remove_domain(host.uri, uuid)
    with transaction.atomic():
        Host.objects.filter(pk=host.pk).update(
            orphan_domains=[o for o in host.orphan_domains if o.get("uuid") != uuid]
        )
        audit_record(
            actor=requested_by,
            action="host.orphan.destroy",
            obj=host,
            changes={"domain": orphan},
            remote_addr=remote_addr,
        )


def host_orphan_adopt(
    *,
    host: Host,
    uuid: str,
    requested_by: User,
    environment: Environment,
    owner: User,
    flavor: Flavor,
    image: Image,
    name: str,
    remote_addr: str | None = None,
) -> VirtualMachine:
    """Make a domain Nuage does not know one of a tenant's VMs, running or stopped as it is.

    libvirt is asked first; the VM, its state and the audit entry are written afterwards in one
    transaction (the VM's unique UUID refuses a second adoption of the same domain meanwhile).
    """
    require_platform_admin(requested_by)
    orphan = _orphan(host, uuid)
    with transaction.atomic():
        return _adopt(
            host=host,
            uuid=uuid,
            orphan=orphan,
            requested_by=requested_by,
            environment=environment,
            owner=owner,
            flavor=flavor,
            image=image,
            name=name,
            remote_addr=remote_addr,
        )


def _adopt(
    *,
    host: Host,
    uuid: str,
    orphan: dict[str, str],
    requested_by: User,
    environment: Environment,
    owner: User,
    flavor: Flavor,
    image: Image,
    name: str,
    remote_addr: str | None,
) -> VirtualMachine:
    if VirtualMachine.objects.unscoped().filter(uuid=uuid).exists():
        raise ValidationError(
            {"uuid": _("This domain is what is left of a deleted VM: destroy it instead.")}
        )
    role = tenant_role(owner, environment.tenant)
    if Perm.VM_REQUEST not in ROLE_PERMS.get(role or "", frozenset()):
        raise ValidationError({"owner": _("The owner must be a member of the tenant.")})
    vm = VirtualMachine(
        uuid=UUID(uuid),  # as a VM read back has it (its domain name is made of it)
        tenant=environment.tenant,
        environment=environment,
        owner=owner,
        flavor=flavor,
        image=image,
        name=name,
        host=host,
        approved_by=requested_by,
    )
    vm.full_clean(exclude=["uuid"])
    try:
        with transaction.atomic():
            vm.save()
    except IntegrityError as exc:  # adopted by someone else since libvirt was asked
        raise ValidationError(
            {"uuid": _("No unknown domain with this UUID on %(host)s.") % {"host": host.name}}
        ) from exc
    running = orphan["state"] == RuntimeState.RUNNING
    _transition(
        vm,
        Transition.ADOPT_RUNNING if running else Transition.ADOPT_STOPPED,
        runtime_state=orphan["state"],
    )
    Host.objects.filter(pk=host.pk).update(
        orphan_domains=[o for o in host.orphan_domains if o.get("uuid") != uuid]
    )
    audit_record(
        actor=requested_by,
        action="vm.adopt",
        obj=vm,
        tenant=vm.tenant,
        changes={"domain": orphan, "host": host.name},
        remote_addr=remote_addr,
    )
    return vm
