"""App config for compute."""

from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from compute import messages
        from portal import events

        events.register(messages.VM_EVENTS, messages.render)
