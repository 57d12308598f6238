"""App config for the portal (tenants, users, memberships, audit)."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # logs, metrics and requestid connect Celery signals when imported.
        from portal import dbtime, gauges, logs, metrics, prepared, requestid  # noqa: F401

        dbtime.install()
        prepared.install()

        metrics.register_source("broker", gauges.broker_source)
        metrics.register_source("webhooks", gauges.webhooks_source)

        from django.contrib.auth.signals import user_logged_in

        from portal import events, messages, security, twofactor

        events.register(messages.POLICY_EVENTS, messages.render, webhook=False)
        user_logged_in.connect(security.session_started, dispatch_uid="nuage-session-started")
        user_logged_in.connect(twofactor.on_login, dispatch_uid="nuage-two-factor-login")
