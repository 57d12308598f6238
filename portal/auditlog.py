"""Reading the audit log: one filter set and one CSV writer for the API and the page."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone

from portal.models import AuditEntry

CSV_COLUMNS = [
    "created_at",
    "actor",
    "remote_addr",
    "tenant",
    "action",
    "object_type",
    "object_id",
    "object",
    "changes",
]


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC (any offset accepted, the database gets UTC)."""

    def filter(self, qs: Any, value: Any) -> Any:
        if value is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class AuditFilter(django_filters.FilterSet):
    user = django_filters.CharFilter(field_name="actor_username", label="user (username)")
    tenant = django_filters.CharFilter(field_name="tenant_slug", label="tenant (slug)")
    action = django_filters.CharFilter(
        field_name="action", lookup_expr="startswith", label="action (or its start: vm.)"
    )
    object_type = django_filters.CharFilter(label="object type (e.g. compute.virtualmachine)")
    object_id = django_filters.CharFilter()
    since = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")
    request_id = django_filters.CharFilter(label="request id (X-Request-ID)")

    class Meta:
        model = AuditEntry
        fields = [
            "user",
            "tenant",
            "action",
            "object_type",
            "object_id",
            "since",
            "until",
            "request_id",
        ]


# A cell starting with one of these is a formula to a spreadsheet: a leading quote defuses it.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


class _Echo:
    """A file-like object whose write returns the line: csv.writer into a generator."""

    def write(self, value: str) -> str:
        return value


def _rows(entries: QuerySet[AuditEntry]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in entries.iterator(chunk_size=2000):
        row = [
            e.created_at.isoformat(),
            e.actor_username or "system",
            e.remote_addr or "",
            e.tenant_slug,
            e.action,
            e.object_type,
            e.object_id,
            e.object_repr,
            json.dumps(e.changes, sort_keys=True, ensure_ascii=False),
        ]
        yield writer.writerow([_cell(value) for value in row])


def csv_response(entries: QuerySet[AuditEntry]) -> StreamingHttpResponse:
    """Streamed, so that memory stays flat however long the log is."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response = StreamingHttpResponse(_rows(entries), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="nuage-audit-{stamp}.csv"'
    return response
