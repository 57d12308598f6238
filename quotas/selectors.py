"""Reads of quotas and quota requests, scoped to the tenants the requesting user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import User
from portal.selectors import sees_all_tenants, tenant_ids_of
from quotas.models import Quota, QuotaRequest


def quota_list(*, fetched_by: User) -> QuerySet[Quota]:
    qs = Quota.objects.select_related("tenant", "environment").order_by(
        "tenant__name", "environment_id"
    )
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(tenant_id__in=tenant_ids_of(fetched_by))


def quota_request_list(*, fetched_by: User) -> QuerySet[QuotaRequest]:
    qs = QuotaRequest.objects.select_related("tenant", "environment", "requested_by", "decided_by")
    if sees_all_tenants(fetched_by):
        return qs
    return qs.filter(tenant_id__in=tenant_ids_of(fetched_by))
