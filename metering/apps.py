"""App config for metering."""

from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Metering"

    def ready(self) -> None:
        # Placement, DRS and the capacity page read measured loads through compute's port, so
        # that compute never imports this app (which is built on compute).
        from compute import loads
        from metering import selectors

        loads.set_load_source(selectors)

        from metering import gauges
        from portal import metrics

        metrics.register_source("metering", gauges.metering_source)
