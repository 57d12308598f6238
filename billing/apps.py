"""App config for billing."""

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing"

    def ready(self) -> None:
        from billing import messages
        from billing.ledger import (
            snapshot_usage_record,
            usage_record_transition,
            volume_usage_record,
        )
        from billing.services import budget_refusal
        from compute import ports
        from portal import events

        events.register(messages.BUDGET_EVENTS, messages.render)
        # compute's services record usage and ask about budgets through compute.ports, so that
        # compute never imports billing (which is built on it).
        ports.plug_billing(usage_recorder=usage_record_transition, budget_guard=budget_refusal)
        ports.plug_volume_billing(usage_recorder=volume_usage_record)
        ports.plug_snapshot_billing(usage_recorder=snapshot_usage_record)
