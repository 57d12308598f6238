"""Writing audit entries; called by every service inside its transaction."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from portal import requestid
from portal.bulk import copy_insert, insert_linked
from portal.models import AuditEntry, Tenant, User


def _plain(value: Any) -> Any:
    """A JSON-friendly form of a field value (model instances by their primary key)."""
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The given fields' current values, for `changed_fields` after the write."""
    return {name: _plain(getattr(obj, name)) for name in fields}


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value differs."""
    return {
        name: [before.get(name), after.get(name)]
        for name in after
        if before.get(name) != after.get(name)
    }


def created_fields(obj: models.Model, fields: Iterable[str]) -> dict[str, list[Any]]:
    """A creation as changes from nothing: {field: [None, value]}."""
    return {name: [None, value] for name, value in snapshot(obj, fields).items()}


def audit_entry(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    tenant: Tenant | None = None,
    changes: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    """One entry, not yet saved: `audit_record` saves one, `audit_record_many` many at once."""
    who = actor if actor is not None and actor.pk else None
    return AuditEntry(
        actor=who,
        actor_username=who.username if who else "",
        tenant=tenant,
        tenant_slug=tenant.slug if tenant else "",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        changes=_plain(changes or {}),
        remote_addr=remote_addr or None,
        request_id=requestid.current(),
    )


def audit_record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model,
    tenant: Tenant | None = None,
    changes: dict[str, Any] | None = None,
    remote_addr: str | None = None,
) -> AuditEntry:
    """Record one write; `actor` None is Nuage itself (the worker, the reconciler)."""
    entry = audit_entry(
        actor=actor,
        action=action,
        obj=obj,
        tenant=tenant,
        changes=changes,
        remote_addr=remote_addr,
    )
    insert_linked((entry, {}))  # prepared, its statement written once (portal/bulk.py)
    return entry


def audit_record_many(entries: Iterable[AuditEntry]) -> None:
    """Record entries made by `audit_entry` with one COPY (a batch job's thousand writes)."""
    copy_insert(AuditEntry, list(entries))
