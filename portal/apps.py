"""App config for the portal (tenants, users, memberships, audit)."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        from portal import events, messages

        events.register(messages.POLICY_EVENTS, messages.render, webhook=False)
