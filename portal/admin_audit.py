"""Writes made in the Django admin are audited like the services' own writes."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.forms import BaseModelForm
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from portal.audit import audit_record, changed_fields, snapshot
from portal.models import Tenant, User

SECRET_FIELDS = frozenset({"password", "secret", "secret_hash"})


def _fields(obj: models.Model) -> list[str]:
    return [
        f.attname
        for f in obj._meta.concrete_fields
        if f.attname not in SECRET_FIELDS and not f.primary_key
    ]


def _stored(obj: models.Model) -> dict[str, Any]:
    """The row as the database has it (the form has already changed the instance)."""
    row = type(obj)._default_manager.filter(pk=obj.pk).first() if obj.pk else None
    return snapshot(row, _fields(row)) if row is not None else {}


def _record(request: HttpRequest, obj: models.Model, verb: str, before: dict[str, Any]) -> None:
    after = snapshot(obj, _fields(obj)) if verb != "delete" else dict.fromkeys(before)
    changes = changed_fields(before, after)
    if verb == "update" and not changes:
        return
    tenant = obj if isinstance(obj, Tenant) else getattr(obj, "tenant", None)
    audit_record(
        actor=request.user if isinstance(request.user, User) else None,
        action=f"{obj._meta.model_name}.{verb}.admin",
        obj=obj,
        tenant=tenant if isinstance(tenant, Tenant) else None,
        changes=changes,
        remote_addr=request.META.get("REMOTE_ADDR"),
    )


class AuditedModelAdmin(admin.ModelAdmin):
    """Each save and delete in the admin, inlines included, writes its audit entry."""

    def save_model(self, request: HttpRequest, obj: Any, form: BaseModelForm, change: bool) -> None:
        before = _stored(obj) if change else {}
        super().save_model(request, obj, form, change)
        _record(request, obj, "update" if change else "create", before)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        _record(request, obj, "delete", snapshot(obj, _fields(obj)))
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet[Any]) -> None:
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(
        self,
        request: HttpRequest,
        form: BaseModelForm,
        formset: BaseInlineFormSet,
        change: bool,
    ) -> None:
        befores = {f.instance.pk: _stored(f.instance) for f in formset.forms if f.instance.pk}
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            _record(request, obj, "delete", snapshot(obj, _fields(obj)))
            obj.delete()
        for obj in instances:
            created = obj.pk is None
            obj.save()
            _record(request, obj, "create" if created else "update", befores.get(obj.pk, {}))
        formset.save_m2m()
