"""Reads of quotas and quota requests, scoped to the tenants the requesting user may see."""

from __future__ import annotations

from django.db.models import QuerySet

from portal.models import User
from quotas.models import Quota, QuotaRequest


def quota_list(*, fetched_by: User) -> QuerySet[Quota]:
    return (
        Quota.objects.visible_to(fetched_by)
        .select_related("tenant", "environment")
        .order_by("tenant__name", "environment_id")
    )


def quota_request_list(*, fetched_by: User) -> QuerySet[QuotaRequest]:
    return QuotaRequest.objects.visible_to(fetched_by).select_related(
        "tenant", "environment", "requested_by", "decided_by"
    )
