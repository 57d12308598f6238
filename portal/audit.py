"""Writing audit entries; called by every service inside its transaction."""

from __future__ import annotations

from typing import Any

from django.db import models

from portal.models import AuditEntry, Tenant, User


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    tenant: Tenant | None = None,
    changes: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        tenant=tenant,
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=changes or {},
        remote_addr=remote_addr,
    )
