"""App config for compute."""

from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        from django.conf import settings

        from compute.hypervisor import connection

        connection.CALL_TIMEOUT_SECONDS = float(settings.NUAGE["LIBVIRT_CALL_TIMEOUT"])
        connection.CONNECT_TIMEOUT_SECONDS = float(settings.NUAGE["LIBVIRT_CONNECT_TIMEOUT"])

        from compute import messages
        from portal import events

        events.register(messages.VM_EVENTS, messages.render)

        from compute import gauges
        from portal import health, metrics

        metrics.register_source("vms", gauges.vms_source)
        metrics.register_source("operations", gauges.operations_source)
        metrics.register_source("hosts", gauges.hosts_source)
        health.register_summary("hosts", gauges.hosts_summary)

        from compute import selectors
        from portal import context_processors

        context_processors.plug_pending_approvals(
            lambda user: selectors.approval_pending_count_sql(fetched_by=user)
        )

        from portal.signals import lease_policy_changed

        lease_policy_changed.connect(_lease_policy_changed, dispatch_uid="compute-leases")


def _lease_policy_changed(sender: object, environment_id: int, **_kwargs: object) -> None:
    from compute.tasks import leases_run

    leases_run.delay()
