"""Every new environment gets its quota row, with the platform defaults of the moment."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from portal.models import Environment


@receiver(post_save, sender=Environment, dispatch_uid="quotas.environment_quota")
def environment_quota(
    sender: type[Environment], instance: Environment, created: bool, **kw: Any
) -> None:
    if created and not kw.get("raw"):
        from quotas.services import quota_ensure

        quota_ensure(environment=instance)
