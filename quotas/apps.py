"""The quotas app: limits per tenant and environment, reservations, increase requests."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = _("Quotas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from portal import events
        from quotas import messages, signals  # noqa: F401  (signals connects the receivers)

        events.register(messages.QUOTA_EVENTS, messages.render, webhook=False)
