"""A VM's life as its users drive it: requests, approval and rejection, start/stop/reboot/delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from compute import hypervisor, messages
from compute.choices import (
    USER_ACTIONS,
    DomainType,
    ImageKind,
    OperationKind,
    OperationStatus,
    Transition,
    VMKind,
    VMState,
)
from compute.ipam import nics_release, vm_network_attach
from compute.models import Flavor, Host, Image, Network, Operation, VirtualMachine
from compute.ports import budget_refusal, quota_release, quota_reserve
from compute.selectors import can_operate
from compute.services._common import _operation_begin, _transition
from compute.services.leases import lease_new
from compute.services.resize import vm_resize_approve, vm_resize_reject
from portal import events
from portal.audit import audit_entry, audit_record
from portal.errors import ConflictError
from portal.models import AuditEntry, Environment, KeyPair, User
from portal.permissions import Perm, perm_condition, require_perm
from portal.services import keypair_authorized_keys


def _approval_policy(environment: Environment) -> str:
    if not environment.requires_approval:
        return "auto"
    return "auto below size"


def _host_can_ever_fit(flavor: Flavor, *, kind: str = VMKind.VM) -> bool:
    hosts = Host.objects.filter(
        enabled=True, cpus__gte=flavor.vcpus, memory_mib__gte=flavor.ram_mib
    )
    if kind == VMKind.CONTAINER:
        return hosts.filter(domain_type=DomainType.LXC).exists()
    return hosts.exclude(domain_type=DomainType.LXC).exists()


def _container_request_errors(
    *, kind: str, flavor: Flavor, image: Image, network: Network | None, keys: bool
) -> dict[str, str]:
    """What does not go with the request's kind (a VM's flavor for a container...)."""
    errors: dict[str, str] = {}
    container = kind == VMKind.CONTAINER
    if flavor.kind != kind:
        errors["flavor"] = (
            _("A container needs a container flavor.")
            if container
            else _("A container flavor is for containers: request kind container.")
        )
    if (image.kind == ImageKind.ROOTFS) != container:
        errors["image"] = (
            _("A container runs a rootfs image.")
            if container
            else _("A rootfs image is for containers: request kind container.")
        )
    if container and network is not None:
        errors["network"] = _("Containers get no network interface (a loopback of their own).")
    if container and keys:
        errors["key_pairs"] = _(
            "Containers take no SSH keys: use their console from the container's page."
        )
    return errors


@transaction.atomic
def vm_request_create(
    *,
    requested_by: User,
    environment: Environment,
    flavor: Flavor,
    image: Image,
    name: str,
    ssh_public_key: str = "",
    anti_affinity_group: str = "",
    key_pairs: list[KeyPair] | None = None,
    network: Network | None = None,
    kind: str | None = None,
    justification: str = "",
    remote_addr: str | None = None,
) -> VirtualMachine:
    """A VM or a system container (`kind`, by default the flavor's) requested in an
    environment: the same approval policy, quotas and billing for both."""
    tenant = environment.tenant
    require_perm(requested_by, tenant, Perm.VM_REQUEST)
    kind = kind or flavor.kind
    errors: dict[str, str] = {}
    if kind not in VMKind.values:
        errors["kind"] = _("Request a vm or a container.")
    else:
        errors.update(
            _container_request_errors(
                kind=kind,
                flavor=flavor,
                image=image,
                network=network,
                keys=bool(ssh_public_key.strip() or key_pairs),
            )
        )
    justification = justification.strip()
    if environment.justification_required and not justification:
        errors["justification"] = _(
            "%(env)s asks every request to say why it is needed: write it for the approvers."
        ) % {"env": environment.name}
    authorized_keys: list[str] = []
    try:
        authorized_keys = keypair_authorized_keys(
            owner=requested_by, key_pairs=list(key_pairs or []), pasted=ssh_public_key
        )
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
    if not (flavor.is_public or requested_by.is_platform_admin):
        errors["flavor"] = _("Unknown flavor.")
    elif "flavor" not in errors and not _host_can_ever_fit(flavor, kind=kind):
        errors["flavor"] = _("No host can fit this flavor (%(vcpus)s vCPU, %(ram)s MiB RAM).") % {
            "vcpus": flavor.vcpus,
            "ram": flavor.ram_mib,
        }
    if not (image.is_public or requested_by.is_platform_admin):
        errors["image"] = _("Unknown image.")
    elif "flavor" not in errors and (short := image.flavor_shortfall(flavor)):
        errors["flavor"] = short
    vm = VirtualMachine(
        kind=kind if kind in VMKind.values else VMKind.VM,
        tenant=tenant,
        environment=environment,
        owner=requested_by,
        name=name,
        flavor=flavor,
        image=image,
        ssh_public_key=ssh_public_key.strip(),
        authorized_keys=authorized_keys,
        anti_affinity_group=anti_affinity_group.strip(),
        justification=justification,
        **lease_new(environment, now=timezone.now()),
    )
    try:
        vm.clean_fields(exclude=["tenant", "environment", "owner", "flavor", "image"])
    except ValidationError as exc:
        errors.update({field: " ".join(msgs) for field, msgs in exc.message_dict.items()})
    if (
        "name" not in errors
        and VirtualMachine.objects.unscoped()
        .filter(tenant=tenant, name=name)
        .exclude(state=VMState.DELETED)
        .exists()
    ):
        errors["name"] = _("A VM named '%(name)s' already exists in this tenant.") % {"name": name}
    over_budget = budget_refusal(tenant=tenant)
    if over_budget:
        errors["budget"] = over_budget
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            vm.save()
    except IntegrityError as exc:  # a concurrent request took the name between check and insert
        raise ValidationError(
            {"name": _("A VM named '%(name)s' already exists in this tenant.") % {"name": name}}
        ) from exc
    entries = [
        audit_entry(
            actor=requested_by,
            action="vm.request",
            obj=vm,
            tenant=tenant,
            remote_addr=remote_addr,
            changes={
                "kind": vm.kind,
                "environment": environment.name,
                "flavor": flavor.name,
                "image": image.name,
                **({"justification": justification} if justification else {}),
            },
        )
    ]
    if not environment.needs_approval(vcpus=flavor.vcpus, ram_mib=flavor.ram_mib):
        _transition(vm, Transition.APPROVE)
        entries.append(
            audit_entry(
                actor=None,
                action="vm.auto_approve",
                obj=vm,
                tenant=tenant,
                changes={"environment": environment.name, "policy": _approval_policy(environment)},
            )
        )
        # A VM made just now has no export nor snapshot operation to wait for.
        _operation_begin(vm, requested_by=requested_by, new_vm=True)
    else:
        events.emit("vm.pending_approval", tenant=vm.tenant, payload=messages.vm_payload(vm))
    AuditEntry.objects.bulk_create(entries)  # one INSERT, in this transaction
    # Its address (or forwarded port): a full pool refuses the request, nothing kept.
    if not vm.is_container:
        vm_network_attach(vm=vm, network=network)
    # Last, so that the quota row's lock is held for the shortest time before the commit.
    quota_reserve(vm=vm)
    return vm


@transaction.atomic
def vm_approve(
    *, vm: VirtualMachine, approved_by: User, remote_addr: str | None = None
) -> Operation:
    """Approve a pending request: two statements. The transition's conditional UPDATE also
    checks the approver's role in the VM's tenant (`perm_condition`: no membership read before
    it); then the event, the provisioning operation, its steps and the audit entry in one
    INSERT. The role is read only to say why an approval was refused."""
    if vm.state == VMState.RESIZE_PENDING:
        return vm_resize_approve(vm=vm, approved_by=approved_by, remote_addr=remote_addr)
    if vm.owner_id == approved_by.id:
        require_perm(approved_by, vm.tenant, Perm.VM_APPROVE)  # not an approver: that first
        raise ValidationError({"approved_by": _("Nobody may approve their own request.")})
    # Its lease (under the environment's policy) starts now, not when it was asked for.
    try:
        _transition(
            vm,
            Transition.APPROVE,
            condition=perm_condition(approved_by, Perm.VM_APPROVE),
            approved_by=approved_by,
            **lease_new(vm.environment, now=timezone.now()),
        )
    except ConflictError:
        require_perm(approved_by, vm.tenant, Perm.VM_APPROVE)  # the role, if that failed
        raise
    # The event before the operation: on commit its delivery is published first, so that the
    # requester hears "approved" before "running" even when the worker is quicker than the
    # mail. Out of pending approval, the VM was never provisioned (no export, no snapshot
    # operation to wait for).
    return _operation_begin(
        vm,
        requested_by=approved_by,
        new_vm=True,
        events=[events.event_new("vm.approved", tenant=vm.tenant, payload=messages.vm_payload(vm))],
        audit=[
            audit_entry(
                actor=approved_by,
                action="vm.approve",
                obj=vm,
                tenant=vm.tenant,
                remote_addr=remote_addr,
            )
        ],
    )


@transaction.atomic
def vm_reject(
    *, vm: VirtualMachine, rejected_by: User, reason: str, remote_addr: str | None = None
) -> VirtualMachine:
    if vm.state == VMState.RESIZE_PENDING:
        return vm_resize_reject(
            vm=vm, rejected_by=rejected_by, reason=reason, remote_addr=remote_addr
        )
    require_perm(rejected_by, vm.tenant, Perm.VM_APPROVE)
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give the requester a reason for the rejection.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("Keep the reason under 2,000 characters.")})
    _transition(vm, Transition.REJECT, rejection_reason=reason, approved_by=rejected_by)
    events.emit("vm.rejected", tenant=vm.tenant, payload=messages.vm_payload(vm))
    quota_release(vm=vm)
    nics_release(vm=vm)
    audit_record(
        actor=rejected_by,
        action="vm.reject",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
        changes={"reason": reason},
    )
    return vm


@transaction.atomic
def vm_action(
    *, vm: VirtualMachine, action: str, requested_by: User, remote_addr: str | None = None
) -> Operation | None:
    """Start, stop, reboot or delete a VM. Returns the operation the worker will run."""
    if action not in USER_ACTIONS:
        raise ValidationError({"action": _("Unknown action.")})
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    if action == "delete" and vm.state in (VMState.PENDING_APPROVAL, VMState.REJECTED):
        # Nothing exists on a host yet: withdrawing the request is immediate.
        _transition(vm, Transition.DELETE)
        _transition(vm, Transition.DELETED, deleted_at=timezone.now())
        quota_release(vm=vm)
        nics_release(vm=vm)
        audit_record(
            actor=requested_by,
            action="vm.delete",
            obj=vm,
            tenant=vm.tenant,
            remote_addr=remote_addr,
        )
        return None
    _transition(vm, USER_ACTIONS[action], error_message="")
    audit_record(
        actor=requested_by, action=f"vm.{action}", obj=vm, tenant=vm.tenant, remote_addr=remote_addr
    )
    return _operation_begin(vm, requested_by=requested_by)


@transaction.atomic
def vm_force_off(
    *, vm: VirtualMachine, requested_by: User, remote_addr: str | None = None
) -> Operation:
    """Power a VM off without waiting for its guest: a running VM is stopped with no grace
    time; a VM already stopping (its guest given NUAGE_STOP_GRACE_SECONDS) is powered off now
    instead of at the end of the wait. Returns the stop operation."""
    if not can_operate(requested_by, vm):
        require_perm(requested_by, vm.tenant, Perm.VM_OPERATE_ANY)
    stopping = (
        Operation.objects.unscoped()
        .select_for_update()
        .filter(
            vm_id=vm.pk,
            kind=OperationKind.STOP,
            status__in=(OperationStatus.PENDING, OperationStatus.RUNNING),
        )
        .first()
    )
    if stopping is not None:
        if not stopping.forced:
            stopping.forced = True
            stopping.save(update_fields=["forced"])
            host_id = vm.host_id

            def power_off() -> None:
                from compute.tasks import vm_power_off  # tasks import services, not the reverse

                vm_power_off.delay(vm.pk, host_id)

            transaction.on_commit(power_off)
        op = stopping
    elif vm.state == VMState.RUNNING:
        _transition(vm, Transition.STOP, error_message="")
        op = _operation_begin(vm, requested_by=requested_by, forced=True)
    else:
        raise ConflictError(
            _("Only a running or stopping VM can be forced off; this one is %(state)s.")
            % {"state": str(VMState(vm.state).label).lower()},
            state=vm.state,
        )
    audit_record(
        actor=requested_by,
        action="vm.force_off",
        obj=vm,
        tenant=vm.tenant,
        remote_addr=remote_addr,
    )
    return op


def vm_power_off_now(*, vm_id: int, host_id: int | None) -> bool:
    """The force-off's libvirt side (a task, outside any transaction): the domain powered off
    on the host it was stopping on, if it still runs there. True if it was running."""
    vm = VirtualMachine.objects.unscoped().select_related("host").filter(pk=vm_id).first()
    if vm is None or vm.host is None or vm.host_id != host_id or vm.state != VMState.STOPPING:
        return False
    return not hypervisor.ensure_domain_stopped(vm.host.uri, str(vm.uuid), grace_seconds=0)


@dataclass(frozen=True)
class Decision:
    """What became of one request of a bulk decision."""

    vm_id: int
    name: str
    ok: bool
    detail: str


def vm_decide_many(
    *,
    vms: Sequence[VirtualMachine],
    decided_by: User,
    approve: bool,
    reason: str = "",
    remote_addr: str | None = None,
) -> list[Decision]:
    """Approve or reject several requests, each in its own transaction and with every rule of
    vm_approve / vm_reject (four eyes: nobody decides their own request; the role in the VM's
    tenant; a request decided meanwhile is refused): one refusal does not stop the others, and
    each request says what became of it."""
    if not approve and not reason.strip():
        raise ValidationError({"reason": _("Give the requester a reason for the rejection.")})
    results = []
    for vm in vms:
        try:
            if approve:
                vm_approve(vm=vm, approved_by=decided_by, remote_addr=remote_addr)
                detail = _("approved; provisioning starts.")
            else:
                vm_reject(vm=vm, rejected_by=decided_by, reason=reason, remote_addr=remote_addr)
                detail = _("rejected.")
        except ValidationError as exc:
            results.append(Decision(vm.pk, vm.name, False, " ".join(exc.messages)))
        except (PermissionDenied, ConflictError) as exc:
            results.append(Decision(vm.pk, vm.name, False, str(exc)))
        else:
            results.append(Decision(vm.pk, vm.name, True, str(detail)))
    return results
