"""App config for billing."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import messages
        from portal import events

        events.register(messages.BUDGET_EVENTS, messages.render)
