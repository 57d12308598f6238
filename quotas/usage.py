"""Quota figures shaped for the bars of the UI (no database access beyond the given rows)."""

from __future__ import annotations

from dataclasses import dataclass

from quotas.choices import RESOURCES, Resource
from quotas.models import Quota


@dataclass(frozen=True)
class Bar:
    resource: str
    label: str
    limit: int
    used: int
    reserved: int
    left: int
    used_pct: float
    reserved_pct: float
    over: bool


def bars(quota: Quota) -> list[Bar]:
    result = []
    for r in RESOURCES:
        limit, used, reserved = quota.limit(r), quota.used(r), quota.reserved(r)
        scale = max(limit, used + reserved, 1)
        result.append(
            Bar(
                resource=r,
                label=str(Resource(r).label),
                limit=limit,
                used=used,
                reserved=reserved,
                left=quota.left(r),
                used_pct=round(100 * used / scale, 1),
                reserved_pct=round(100 * reserved / scale, 1),
                over=used + reserved > limit,
            )
        )
    return result
