"""VM lifecycle states, the transitions between them, and other compute enumerations."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def label(choices: type[models.TextChoices], value: str) -> str:
    """What `get_FOO_display()` answers, without its cost: Django hashes every (lazy,
    translated) label of the field at each call, which made the step names most of a VM list's
    time; the table is built once per language."""
    return _labels(choices, get_language()).get(value, value)


def labels(choices: type[models.TextChoices]) -> dict[str, str]:
    """Every label of `choices` in the current language, by value (for a page of rows: one
    lookup of the language, not one per row)."""
    return _labels(choices, get_language())


@lru_cache(maxsize=256)
def _labels(choices: type[models.TextChoices], _language: str | None) -> dict[str, str]:
    return {value: str(text) for value, text in choices.choices}


class VMKind(models.TextChoices):
    """What runs: a virtual machine (its own kernel) or a system container (the host's)."""

    VM = "vm", _("Virtual machine")
    CONTAINER = "container", _("Container")


class VMState(models.TextChoices):
    """What Nuage asked for and where the request stands (not what libvirt says)."""

    PENDING_APPROVAL = "pending_approval", _("Pending approval")
    REJECTED = "rejected", _("Rejected")
    PROVISIONING = "provisioning", _("Provisioning")
    RUNNING = "running", _("Running")
    STOPPING = "stopping", _("Stopping")
    STOPPED = "stopped", _("Stopped")
    STARTING = "starting", _("Starting")
    REBOOTING = "rebooting", _("Rebooting")
    DELETING = "deleting", _("Deleting")
    DELETED = "deleted", _("Deleted")
    MIGRATING = "migrating", _("Migrating")
    RECOVERING = "recovering", _("Restarting on another host")
    ERROR = "error", _("Error")
    RESIZING = "resizing", _("Resizing")
    RESIZE_PENDING = "resize_pending", _("Resize waiting for approval")


# Colours the UI uses for state badges.
STATE_COLOURS: dict[str, str] = {
    VMState.PENDING_APPROVAL: "amber",
    VMState.REJECTED: "grey",
    VMState.PROVISIONING: "blue",
    VMState.RUNNING: "green",
    VMState.STOPPING: "blue",
    VMState.STOPPED: "grey",
    VMState.STARTING: "blue",
    VMState.REBOOTING: "blue",
    VMState.DELETING: "blue",
    VMState.DELETED: "grey",
    VMState.MIGRATING: "blue",
    VMState.RECOVERING: "amber",
    VMState.ERROR: "red",
    VMState.RESIZING: "blue",
    VMState.RESIZE_PENDING: "amber",
}

TRANSITIONAL_STATES = frozenset(
    {
        VMState.PROVISIONING,
        VMState.STOPPING,
        VMState.STARTING,
        VMState.REBOOTING,
        VMState.DELETING,
        VMState.MIGRATING,
        VMState.RECOVERING,
        VMState.RESIZING,
    }
)

# States in which a VM holds a host's capacity and a libvirt domain may exist.
PLACED_STATES = frozenset(
    {
        VMState.PROVISIONING,
        VMState.RUNNING,
        VMState.STOPPING,
        VMState.STOPPED,
        VMState.STARTING,
        VMState.REBOOTING,
        VMState.DELETING,
        VMState.MIGRATING,
        VMState.RECOVERING,
        VMState.ERROR,
        VMState.RESIZING,
        VMState.RESIZE_PENDING,
    }
)

# States a host failure interrupts: the guest was (about to be) running there.
LIVE_STATES = frozenset(
    {
        VMState.PROVISIONING,
        VMState.RUNNING,
        VMState.STOPPING,
        VMState.STARTING,
        VMState.REBOOTING,
        VMState.MIGRATING,
        VMState.RECOVERING,
    }
)


class Transition(models.TextChoices):
    """Named transitions; the table below is the only place they are declared."""

    APPROVE = "approve", _("Approve")
    REJECT = "reject", _("Reject")
    PROVISIONED = "provisioned", _("Provisioned")
    STOP = "stop", _("Stop")
    STOPPED = "stopped", _("Stopped")
    START = "start", _("Start")
    STARTED = "started", _("Started")
    REBOOT = "reboot", _("Reboot")
    REBOOTED = "rebooted", _("Rebooted")
    DELETE = "delete", _("Delete")
    DELETED = "deleted", _("Deleted")
    MIGRATE = "migrate", _("Migrate")
    MIGRATED = "migrated", _("Migrated")
    # A migration that fails leaves the guest running where it was: back to running, not error.
    MIGRATION_ABORTED = "migration_aborted", _("Migration aborted")
    # High availability: a host that stops answering, and one that comes back.
    HOST_LOST = "host_lost", _("Lose host")
    HA_RESTART = "ha_restart", _("Restart on another host")
    RECOVERED = "recovered", _("Recovered")
    HOST_BACK_STOPPED = "host_back_stopped", _("Host back, VM powered off")
    HOST_BACK_RUNNING = "host_back_running", _("Host back, VM running")
    # The reconciler found no domain for a VM that should have one.
    DOMAIN_VANISHED = "domain_vanished", _("Lose domain")
    # The reconciler found a running container's domain shut off: its init ended or was killed.
    DOMAIN_STOPPED = "domain_stopped", _("Stop by itself")
    # An admin adopts a domain Nuage did not know (an orphan) as a VM.
    ADOPT_RUNNING = "adopt_running", _("Adopt running")
    ADOPT_STOPPED = "adopt_stopped", _("Adopt stopped")
    FAIL = "fail", _("Fail")
    # Reverting to a snapshot leaves the guest as it was when the snapshot was taken: running
    # (taken with its memory) or shut off (disk only).
    SNAPSHOT_REVERTED_RUNNING = "snapshot_reverted_running", _("Revert to a running snapshot")
    SNAPSHOT_REVERTED_STOPPED = "snapshot_reverted_stopped", _("Revert to a stopped snapshot")
    # A stopped VM changes flavor; a failed resize goes back to stopped at its old flavor.
    RESIZE = "resize", _("Resize")
    RESIZED = "resized", _("Resized")
    RESIZE_ABORTED = "resize_aborted", _("Resize aborted")
    # A resize that needs another host, in an environment whose policy wants an approver.
    RESIZE_REQUEST = "resize_request", _("Request a resize")
    RESIZE_APPROVE = "resize_approve", _("Approve the resize")
    RESIZE_REJECT = "resize_reject", _("Reject the resize")
    RESIZE_WITHDRAW = "resize_withdraw", _("Withdraw the resize")


S = VMState
TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    Transition.APPROVE: (frozenset({S.PENDING_APPROVAL}), S.PROVISIONING),
    Transition.REJECT: (frozenset({S.PENDING_APPROVAL}), S.REJECTED),
    Transition.PROVISIONED: (frozenset({S.PROVISIONING}), S.RUNNING),
    Transition.STOP: (frozenset({S.RUNNING}), S.STOPPING),
    Transition.STOPPED: (frozenset({S.STOPPING}), S.STOPPED),
    Transition.START: (frozenset({S.STOPPED}), S.STARTING),
    Transition.STARTED: (frozenset({S.STARTING}), S.RUNNING),
    Transition.REBOOT: (frozenset({S.RUNNING}), S.REBOOTING),
    Transition.REBOOTED: (frozenset({S.REBOOTING}), S.RUNNING),
    Transition.DELETE: (
        frozenset({S.PENDING_APPROVAL, S.REJECTED, S.RUNNING, S.STOPPED, S.ERROR}),
        S.DELETING,
    ),
    Transition.DELETED: (frozenset({S.DELETING}), S.DELETED),
    Transition.MIGRATE: (frozenset({S.RUNNING}), S.MIGRATING),
    Transition.MIGRATED: (frozenset({S.MIGRATING}), S.RUNNING),
    Transition.MIGRATION_ABORTED: (frozenset({S.MIGRATING}), S.RUNNING),
    Transition.HOST_LOST: (LIVE_STATES, S.ERROR),
    Transition.HA_RESTART: (LIVE_STATES, S.RECOVERING),
    Transition.RECOVERED: (frozenset({S.RECOVERING}), S.RUNNING),
    Transition.HOST_BACK_STOPPED: (frozenset({S.ERROR}), S.STOPPED),
    Transition.HOST_BACK_RUNNING: (frozenset({S.ERROR}), S.RUNNING),
    Transition.DOMAIN_VANISHED: (frozenset({S.RUNNING, S.STOPPED}), S.ERROR),
    Transition.DOMAIN_STOPPED: (frozenset({S.RUNNING}), S.STOPPED),
    Transition.ADOPT_RUNNING: (frozenset({S.PENDING_APPROVAL}), S.RUNNING),
    Transition.ADOPT_STOPPED: (frozenset({S.PENDING_APPROVAL}), S.STOPPED),
    Transition.FAIL: (TRANSITIONAL_STATES, S.ERROR),
    Transition.SNAPSHOT_REVERTED_RUNNING: (frozenset({S.STOPPED}), S.RUNNING),
    Transition.SNAPSHOT_REVERTED_STOPPED: (frozenset({S.RUNNING}), S.STOPPED),
    Transition.RESIZE: (frozenset({S.STOPPED}), S.RESIZING),
    Transition.RESIZED: (frozenset({S.RESIZING}), S.STOPPED),
    Transition.RESIZE_ABORTED: (frozenset({S.RESIZING}), S.STOPPED),
    Transition.RESIZE_REQUEST: (frozenset({S.STOPPED}), S.RESIZE_PENDING),
    Transition.RESIZE_APPROVE: (frozenset({S.RESIZE_PENDING}), S.RESIZING),
    Transition.RESIZE_REJECT: (frozenset({S.RESIZE_PENDING}), S.STOPPED),
    Transition.RESIZE_WITHDRAW: (frozenset({S.RESIZE_PENDING}), S.STOPPED),
}
del S

# What a user can ask for, and the transition each request starts.
USER_ACTIONS: dict[str, str] = {
    "start": Transition.START,
    "stop": Transition.STOP,
    "reboot": Transition.REBOOT,
    "delete": Transition.DELETE,
}


class RuntimeState(models.TextChoices):
    """What libvirt last reported for the domain."""

    UNKNOWN = "unknown", _("Unknown")
    NO_DOMAIN = "no_domain", _("No domain")
    RUNNING = "running", _("Running")
    BLOCKED = "blocked", _("Blocked")
    PAUSED = "paused", _("Paused")
    SHUTDOWN = "shutdown", _("Shutting down")
    SHUTOFF = "shutoff", _("Shut off")
    CRASHED = "crashed", _("Crashed")
    PMSUSPENDED = "pmsuspended", _("Suspended")


# What libvirt reports once an operation that ends in this transition has succeeded.
RUNTIME_AFTER: dict[str, str] = {
    Transition.PROVISIONED: RuntimeState.RUNNING,
    Transition.STARTED: RuntimeState.RUNNING,
    Transition.REBOOTED: RuntimeState.RUNNING,
    Transition.STOPPED: RuntimeState.SHUTOFF,
    Transition.DELETED: RuntimeState.NO_DOMAIN,
    Transition.MIGRATED: RuntimeState.RUNNING,
    Transition.RECOVERED: RuntimeState.RUNNING,
    Transition.RESIZED: RuntimeState.SHUTOFF,
    Transition.DOMAIN_STOPPED: RuntimeState.SHUTOFF,
}


class OperationKind(models.TextChoices):
    PROVISION = "provision", _("Provision")
    START = "start", _("Start")
    STOP = "stop", _("Stop")
    REBOOT = "reboot", _("Reboot")
    DELETE = "delete", _("Delete")
    MIGRATE = "migrate", _("Live migration")
    RECOVER = "recover", _("Restart after host failure")
    SNAPSHOT_CREATE = "snapshot_create", _("Snapshot")
    SNAPSHOT_REVERT = "snapshot_revert", _("Revert to snapshot")
    SNAPSHOT_DELETE = "snapshot_delete", _("Delete snapshot")
    RESIZE = "resize", _("Resize")
    RESIZE_MOVE = "resize_move", _("Resize on another host")


class OperationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class StepStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Step(models.TextChoices):
    """Progress steps shown to the user, in the order each operation runs them."""

    SCHEDULED = "scheduled", _("Scheduled")
    CREATING_DISK = "creating_disk", _("Creating disk")
    PREPARING_SEED = "preparing_seed", _("Writing cloud-init seed")
    DEFINING = "defining", _("Defining")
    STARTING = "starting", _("Starting")
    STOPPING = "stopping", _("Stopping")
    REBOOTING = "rebooting", _("Rebooting")
    REMOVING_DOMAIN = "removing_domain", _("Removing domain")
    REMOVING_DISK = "removing_disk", _("Removing disk")
    PREPARING_TARGET = "preparing_target", _("Preparing target host")
    MIGRATING = "migrating", _("Migrating memory and disk")
    CLEANING_SOURCE = "cleaning_source", _("Removing source disk")
    APPLYING_LIMITS = "applying_limits", _("Applying resource limits")
    TAKING_SNAPSHOT = "taking_snapshot", _("Taking snapshot")
    REVERTING_SNAPSHOT = "reverting_snapshot", _("Reverting to snapshot")
    DELETING_SNAPSHOT = "deleting_snapshot", _("Deleting snapshot")
    GROWING_DISK = "growing_disk", _("Growing disk")
    REDEFINING = "redefining", _("Applying the new size")
    PREPARING_MOVE = "preparing_move", _("Preparing the new host")
    MOVING = "moving", _("Copying the disk to the new host")
    PREPARING_ROOTFS = "preparing_rootfs", _("Copying the root file system")
    REMOVING_ROOTFS = "removing_rootfs", _("Removing the root file system")


OPERATION_STEPS: dict[str, list[str]] = {
    OperationKind.PROVISION: [
        Step.SCHEDULED,
        Step.CREATING_DISK,
        Step.PREPARING_SEED,
        Step.DEFINING,
        Step.STARTING,
    ],
    OperationKind.START: [Step.STARTING],
    OperationKind.STOP: [Step.STOPPING],
    OperationKind.REBOOT: [Step.REBOOTING],
    OperationKind.DELETE: [Step.REMOVING_DOMAIN, Step.REMOVING_DISK],
    # The guest arrives without its memory hard limit (as after any start): set again last,
    # once the move is complete (a refusal there leaves nothing half-done behind).
    OperationKind.MIGRATE: [
        Step.PREPARING_TARGET,
        Step.MIGRATING,
        Step.CLEANING_SOURCE,
        Step.APPLYING_LIMITS,
    ],
    OperationKind.RECOVER: [Step.DEFINING, Step.STARTING],
    OperationKind.SNAPSHOT_CREATE: [Step.TAKING_SNAPSHOT],
    OperationKind.SNAPSHOT_REVERT: [Step.REVERTING_SNAPSHOT],
    OperationKind.SNAPSHOT_DELETE: [Step.DELETING_SNAPSHOT],
    OperationKind.RESIZE: [Step.GROWING_DISK, Step.REDEFINING],
    # The VM's host cannot take the new size: the stopped VM moves first (its disk copied).
    OperationKind.RESIZE_MOVE: [
        Step.PREPARING_MOVE,
        Step.MOVING,
        Step.GROWING_DISK,
        Step.REDEFINING,
        Step.CLEANING_SOURCE,
    ],
}

# A container's operations where they differ from a VM's: no disk volume and no cloud-init
# seed, but its own copy of the rootfs image (its reboot is a stop then a start: REBOOTING).
CONTAINER_OPERATION_STEPS: dict[str, list[str]] = {
    OperationKind.PROVISION: [
        Step.SCHEDULED,
        Step.PREPARING_ROOTFS,
        Step.DEFINING,
        Step.STARTING,
    ],
    OperationKind.DELETE: [Step.REMOVING_DOMAIN, Step.REMOVING_ROOTFS],
}


def operation_steps(kind: str, vm_kind: str = VMKind.VM) -> list[str]:
    """The steps an operation of `kind` runs, for a VM or a container."""
    if vm_kind == VMKind.CONTAINER and kind in CONTAINER_OPERATION_STEPS:
        return CONTAINER_OPERATION_STEPS[kind]
    return OPERATION_STEPS[kind]


# Which operation a transition into a transitional state starts, and how it ends.
OPERATION_FOR_STATE: dict[str, tuple[str, str]] = {
    VMState.PROVISIONING: (OperationKind.PROVISION, Transition.PROVISIONED),
    VMState.STARTING: (OperationKind.START, Transition.STARTED),
    VMState.STOPPING: (OperationKind.STOP, Transition.STOPPED),
    VMState.REBOOTING: (OperationKind.REBOOT, Transition.REBOOTED),
    VMState.DELETING: (OperationKind.DELETE, Transition.DELETED),
    VMState.MIGRATING: (OperationKind.MIGRATE, Transition.MIGRATED),
    VMState.RECOVERING: (OperationKind.RECOVER, Transition.RECOVERED),
    VMState.RESIZING: (OperationKind.RESIZE, Transition.RESIZED),
}


class ImageKind(models.TextChoices):
    DISK = "disk", _("Disk image (qcow2 base volume)")
    KERNEL = "kernel", _("Direct kernel boot (kernel + initrd)")
    ROOTFS = "rootfs", _("Root file system (system containers)")


class DomainType(models.TextChoices):
    QEMU = "qemu", _("QEMU (TCG emulation)")
    KVM = "kvm", _("KVM")
    LXC = "lxc", _("LXC (system containers)")


class DrsMode(models.TextChoices):
    """What the load balancer does with its recommendations."""

    OFF = "off", _("Off")
    MANUAL = "manual", _("Manual: recommend, an admin applies")
    AUTOMATIC = "automatic", _("Automatic: apply up to the limit each cycle")


class RecommendationStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPLIED = "applied", _("Applied")
    DISMISSED = "dismissed", _("Dismissed")
    # The VM moved, stopped or went away, a host changed, or a newer run replaced it.
    STALE = "stale", _("Stale")


class NetworkKind(models.TextChoices):
    """How a network's NICs reach the world (libvirt interface types)."""

    # A host bridge on the datacentre's LAN: guests are on the LAN, addresses from its subnet.
    BRIDGE = "bridge", _("Bridge to a host LAN")
    # A libvirt network with NAT to the host's uplink.
    NAT = "nat", _("NAT (libvirt network)")
    # A libvirt network with no way out: guests see each other only.
    ISOLATED = "isolated", _("Isolated (libvirt network)")
    # QEMU user-mode networking: no address to manage; SSH through a forwarded host port.
    USER = "user", _("User mode (port forward)")


class HostStatus(models.TextChoices):
    """A host as placement, DRS, maintenance and the UI see it (`compute.models.host_status`)."""

    UP = "up", _("up")
    MAINTENANCE = "maintenance", _("maintenance")
    UNREACHABLE = "unreachable", _("unreachable")
    DOWN = "down", _("down")
    DISABLED = "disabled", _("disabled")


# Colours the UI uses for host status badges.
HOST_STATUS_COLOURS: dict[str, str] = {
    HostStatus.UP: "green",
    HostStatus.MAINTENANCE: "amber",
    HostStatus.UNREACHABLE: "red",
    HostStatus.DOWN: "red",
    HostStatus.DISABLED: "amber",
}


class ConsoleKind(models.TextChoices):
    """The two ways into a running VM from the browser."""

    SERIAL = "serial", _("Serial console")
    VNC = "vnc", _("Graphical console")


class VolumeState(models.TextChoices):
    """Where a data volume stands (what Nuage asked for; the host's pool holds the disk)."""

    # Its storage is being created in the pool of the host of the VM it is being attached to.
    CREATING = "creating", _("Creating")
    AVAILABLE = "available", _("Available")
    ATTACHING = "attaching", _("Attaching")
    IN_USE = "in_use", _("In use")
    DETACHING = "detaching", _("Detaching")
    RESIZING = "resizing", _("Resizing")
    DELETING = "deleting", _("Deleting")
    ERROR = "error", _("Error")
    DELETED = "deleted", _("Deleted")


VOLUME_STATE_COLOURS: dict[str, str] = {
    VolumeState.CREATING: "blue",
    VolumeState.AVAILABLE: "grey",
    VolumeState.ATTACHING: "blue",
    VolumeState.IN_USE: "green",
    VolumeState.DETACHING: "blue",
    VolumeState.RESIZING: "blue",
    VolumeState.DELETING: "blue",
    VolumeState.ERROR: "red",
    VolumeState.DELETED: "grey",
}

# A worker has hypervisor work to do for a volume in these states (`volume_advance`); the
# reconciler re-dispatches one that overstays its deadline, then sends it to error.
VOLUME_TRANSITIONAL_STATES = frozenset(
    {
        VolumeState.CREATING,
        VolumeState.ATTACHING,
        VolumeState.DETACHING,
        VolumeState.RESIZING,
        VolumeState.DELETING,
    }
)


class VolumeTransition(models.TextChoices):
    """Named volume transitions; the table below is the only place they are declared."""

    ATTACH_NEW = "attach_new", _("Attach (create its storage first)")
    CREATED = "created", _("Created")
    ATTACH = "attach", _("Attach")
    ATTACHED = "attached", _("Attached")
    DETACH = "detach", _("Detach")
    DETACHED = "detached", _("Detached")
    RESIZE = "resize", _("Resize")
    RESIZED_AVAILABLE = "resized_available", _("Resized")
    RESIZED_IN_USE = "resized_in_use", _("Resized")
    DELETE = "delete", _("Delete")
    DELETED = "deleted", _("Deleted")
    # Its VM was deleted: a kept volume is free again, the others go with the VM.
    VM_DELETED_KEEP = "vm_deleted_keep", _("Released by its deleted VM")
    VM_DELETED_DROP = "vm_deleted_drop", _("Deleted with its VM")
    FAIL = "fail", _("Fail")


_V = VolumeState
VOLUME_TRANSITIONS: dict[str, tuple[frozenset[str], str]] = {
    VolumeTransition.ATTACH_NEW: (frozenset({_V.AVAILABLE}), _V.CREATING),
    VolumeTransition.CREATED: (frozenset({_V.CREATING}), _V.ATTACHING),
    VolumeTransition.ATTACH: (frozenset({_V.AVAILABLE}), _V.ATTACHING),
    VolumeTransition.ATTACHED: (frozenset({_V.ATTACHING}), _V.IN_USE),
    # From error too: detaching again is how a failed attachment is retried or undone.
    VolumeTransition.DETACH: (frozenset({_V.IN_USE, _V.ERROR}), _V.DETACHING),
    VolumeTransition.DETACHED: (frozenset({_V.DETACHING}), _V.AVAILABLE),
    VolumeTransition.RESIZE: (frozenset({_V.AVAILABLE, _V.IN_USE}), _V.RESIZING),
    VolumeTransition.RESIZED_AVAILABLE: (frozenset({_V.RESIZING}), _V.AVAILABLE),
    VolumeTransition.RESIZED_IN_USE: (frozenset({_V.RESIZING}), _V.IN_USE),
    VolumeTransition.DELETE: (frozenset({_V.AVAILABLE, _V.ERROR}), _V.DELETING),
    VolumeTransition.DELETED: (frozenset({_V.DELETING}), _V.DELETED),
    VolumeTransition.VM_DELETED_KEEP: (
        frozenset({_V.IN_USE, _V.ERROR, _V.ATTACHING, _V.DETACHING, _V.CREATING, _V.RESIZING}),
        _V.AVAILABLE,
    ),
    VolumeTransition.VM_DELETED_DROP: (
        frozenset({_V.IN_USE, _V.ERROR, _V.ATTACHING, _V.DETACHING, _V.CREATING, _V.RESIZING}),
        _V.DELETED,
    ),
    VolumeTransition.FAIL: (VOLUME_TRANSITIONAL_STATES, _V.ERROR),
}
del _V

# Device names a VM's data volumes take, in order (vda is the root disk).
VOLUME_TARGET_DEVS: tuple[str, ...] = tuple(f"vd{c}" for c in "bcdefghijklmnopqrstuvwxyz")


class SnapshotState(models.TextChoices):
    """Where a VM snapshot stands (the snapshot itself lives inside the VM's qcow2 disk)."""

    CREATING = "creating", _("Creating")
    READY = "ready", _("Ready")
    REVERTING = "reverting", _("Reverting")
    DELETING = "deleting", _("Deleting")
    ERROR = "error", _("Error")
    DELETED = "deleted", _("Deleted")


SNAPSHOT_STATE_COLOURS: dict[str, str] = {
    SnapshotState.CREATING: "blue",
    SnapshotState.READY: "green",
    SnapshotState.REVERTING: "blue",
    SnapshotState.DELETING: "blue",
    SnapshotState.ERROR: "red",
    SnapshotState.DELETED: "grey",
}

# Operations on a VM's snapshots: the VM keeps its state (running or stopped) while they run,
# and no other operation may start on it meanwhile (one active operation per VM).
SNAPSHOT_OPERATION_KINDS = frozenset(
    {OperationKind.SNAPSHOT_CREATE, OperationKind.SNAPSHOT_REVERT, OperationKind.SNAPSHOT_DELETE}
)


class SnapshotFrequency(models.TextChoices):
    DAILY = "daily", _("Daily")
    WEEKLY = "weekly", _("Weekly")


# How long after a scheduled snapshot the next is due.
SNAPSHOT_SCHEDULE_PERIODS: dict[str, timedelta] = {
    SnapshotFrequency.DAILY: timedelta(days=1),
    SnapshotFrequency.WEEKLY: timedelta(days=7),
}


class ExportStatus(models.TextChoices):
    """Where an OVA export of a stopped VM stands."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Exporting")
    READY = "ready", _("Ready to download")
    FAILED = "failed", _("Failed")
    EXPIRED = "expired", _("Expired")


EXPORT_ACTIVE_STATES = frozenset({ExportStatus.PENDING, ExportStatus.RUNNING})


class ImportStatus(models.TextChoices):
    """Where an OVA import (an uploaded OVA becoming an image) stands."""

    QUEUED = "queued", _("Queued")
    CONVERTING = "converting", _("Converting the disk")
    DISTRIBUTING = "distributing", _("Copying to the hosts")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


# A worker is on it (its heartbeat says whether it still is).
IMPORT_RUNNING_STATES = frozenset({ImportStatus.CONVERTING, ImportStatus.DISTRIBUTING})
IMPORT_ACTIVE_STATES = frozenset({ImportStatus.QUEUED, *IMPORT_RUNNING_STATES})
