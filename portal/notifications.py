"""The names services called before the event outbox, kept as thin wrappers over it.

New code calls `portal.events.emit` (and the delivery modules under `portal.delivery`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal import events
from portal.delivery.webhooks import SIGNATURE_HEADER, TEST_EVENT, deliver, redeliver_stale, sign
from portal.models import Tenant

if TYPE_CHECKING:
    from compute.models import VirtualMachine

__all__ = [
    "SIGNATURE_HEADER",
    "TEST_EVENT",
    "deliver",
    "emit",
    "emit_tenant",
    "redeliver_stale",
    "sign",
]


def emit(event: str, *, vm: VirtualMachine) -> None:
    """A VM event (texts in compute/messages.py), delivered once the transaction commits."""
    events.emit(event, tenant=vm.tenant, payload={"vm_id": vm.pk})


def emit_tenant(event: str, *, tenant: Tenant, data: dict[str, Any]) -> None:
    """A tenant event carrying its own JSON-ready data (`budget.threshold`)."""
    events.emit(event, tenant=tenant, payload=data)
