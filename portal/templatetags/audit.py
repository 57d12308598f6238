"""{{ entry.action|action_label }}: an audit action in words (portal/audit_labels.py)."""

from __future__ import annotations

from django import template
from django.apps import apps
from django.utils.text import capfirst

from portal.audit_labels import action_label

register = template.Library()
register.filter("action_label", action_label)


@register.filter
def object_kind(object_type: str) -> str:
    """ "compute.virtualmachine" -> "Virtual machine" (the model's name in the page's language)."""
    try:
        model = apps.get_model(object_type)
    except (LookupError, ValueError):
        return object_type
    return str(capfirst(model._meta.verbose_name))
