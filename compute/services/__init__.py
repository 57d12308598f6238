"""Every write to VMs, hosts, flavors and images, one module per capability.

`from compute import services; services.vm_approve(...)` is how the rest of Nuage calls them;
this module re-exports each public name (and the few private ones tests reach for).
"""

from compute.hypervisor import HypervisorError
from compute.selectors import can_operate, host_maintenance_status  # reads, kept for callers
from compute.services._common import _dispatch, _operation_begin, _transition
from compute.services.ha import heartbeat
from compute.services.inventory import (
    HOST_SETTINGS,
    flavor_create,
    flavor_update,
    host_refresh,
    host_register,
    host_update,
    image_create,
)
from compute.services.leases import leases_run, vm_lease_ask, vm_lease_extend
from compute.services.lifecycle import (
    Decision,
    vm_action,
    vm_approve,
    vm_decide_many,
    vm_force_off,
    vm_power_off_now,
    vm_reject,
    vm_request_create,
)
from compute.services.maintenance import (
    EvacuationMove,
    host_evacuate,
    host_evacuation_plan,
    host_set_maintenance,
    rolling_maintenance_advance,
    rolling_maintenance_cancel,
    rolling_maintenance_continue,
    rolling_maintenance_start,
)
from compute.services.migration import vm_migrate
from compute.services.operations import operation_advance, operation_fail
from compute.services.orphans import host_orphan_adopt, host_orphan_destroy
from compute.services.placement import (
    _host_states,
    _placement_choose,
    _placement_request,
    placement_claim,
)
from compute.services.reconcile import reconcile
from compute.services.resize import (
    vm_resize,
    vm_resize_approve,
    vm_resize_reject,
    vm_resize_withdraw,
)
from compute.services.snapshots import (
    can_operate_snapshots,
    snapshot_create,
    snapshot_delete,
    snapshot_revert,
    snapshot_schedule_remove,
    snapshot_schedule_set,
    snapshot_schedules_run,
)
from compute.services.steps import OPERATION_STEP_RUNNERS, STEP_RUNNERS, _domain_spec
from compute.services.volumes import (
    can_operate_volume,
    volume_advance,
    volume_attach,
    volume_create,
    volume_delete,
    volume_detach,
    volume_resize,
    volumes_reconcile,
)

__all__ = [
    "Decision",
    "vm_decide_many",
    "HOST_SETTINGS",
    "HypervisorError",
    "OPERATION_STEP_RUNNERS",
    "STEP_RUNNERS",
    "_dispatch",
    "_domain_spec",
    "_host_states",
    "_operation_begin",
    "_placement_choose",
    "_placement_request",
    "_transition",
    "can_operate",
    "flavor_create",
    "flavor_update",
    "heartbeat",
    "EvacuationMove",
    "host_evacuate",
    "host_evacuation_plan",
    "host_maintenance_status",
    "host_orphan_adopt",
    "host_orphan_destroy",
    "host_refresh",
    "host_register",
    "host_set_maintenance",
    "host_update",
    "image_create",
    "operation_advance",
    "operation_fail",
    "placement_claim",
    "reconcile",
    "rolling_maintenance_advance",
    "rolling_maintenance_cancel",
    "rolling_maintenance_continue",
    "rolling_maintenance_start",
    "vm_action",
    "leases_run",
    "vm_lease_ask",
    "vm_lease_extend",
    "vm_force_off",
    "vm_power_off_now",
    "vm_approve",
    "vm_migrate",
    "vm_reject",
    "vm_request_create",
    "vm_resize",
    "vm_resize_approve",
    "vm_resize_reject",
    "vm_resize_withdraw",
    "can_operate_volume",
    "volume_advance",
    "volume_attach",
    "volume_create",
    "volume_delete",
    "volume_detach",
    "volume_resize",
    "volumes_reconcile",
    "can_operate_snapshots",
    "snapshot_create",
    "snapshot_delete",
    "snapshot_revert",
    "snapshot_schedule_remove",
    "snapshot_schedule_set",
    "snapshot_schedules_run",
]
