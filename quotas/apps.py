"""The quotas app: limits per tenant and environment, reservations, increase requests."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = _("Quotas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from compute import ports
        from quotas import signals  # noqa: F401  (connects the receivers)
        from quotas.services import quota_charge, quota_release, quota_reserve

        # compute's services take and give back quota through compute.ports, so that compute
        # never imports quotas (which is built on it).
        ports.plug_quotas(reserve=quota_reserve, charge=quota_charge, release=quota_release)
