"""The quotas app: limits per tenant and environment, reservations, increase requests."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = _("Quotas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compute import ports
        from portal import events
        from quotas import messages, signals  # noqa: F401  (signals connects the receivers)
        from quotas.services import (
            quota_charge,
            quota_release,
            quota_reserve,
            quota_resize,
            quota_snapshot_give,
            quota_snapshot_take,
            quota_volume_give,
            quota_volume_take,
        )

        events.register(messages.QUOTA_EVENTS, messages.render, webhook=False)
        # compute's services take and give back quota through compute.ports, so that compute
        # never imports quotas (which is built on it).
        ports.plug_quotas(reserve=quota_reserve, charge=quota_charge, release=quota_release)
        ports.plug_volume_quotas(take=quota_volume_take, give=quota_volume_give)
        ports.plug_snapshot_quotas(take=quota_snapshot_take, give=quota_snapshot_give)
        ports.plug_quota_resize(resize=quota_resize)
