"""Measured use: raw samples of every running VM and their hourly and daily rollups.

Nothing here feeds the usage ledger or a bill: a host that cannot be sampled leaves a gap in
these tables and changes no charge. The tables were created by billing (its migration
0004_samples) and keep their names: the models moved to this app without moving any row.
"""

from __future__ import annotations

from django.db import models

from compute.models import Host, VirtualMachine
from portal.models import Tenant
from portal.scoping import TenantScopedQuerySet


class MeterSample(models.Model):
    """One running VM's counters at one collection cycle of its host, with the use since the
    VM's previous sample. Written in bulk (COPY on PostgreSQL) and pruned once rolled up."""

    # No database foreign keys: checking two of them per row would cost the bulk insert more
    # than the insert itself, and the collector writes only ids it has just read. Rows of a
    # removed VM or host go with it (the ORM cascades) or with pruning.
    vm = models.ForeignKey(
        VirtualMachine, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    at = models.DateTimeField()
    # Counters as libvirt reports them (cumulative since the domain started).
    cpu_time_ns = models.BigIntegerField()
    disk_read_bytes = models.BigIntegerField()
    disk_write_bytes = models.BigIntegerField()
    net_rx_bytes = models.BigIntegerField()
    net_tx_bytes = models.BigIntegerField()
    vcpus = models.PositiveIntegerField()
    memory_mib = models.PositiveIntegerField()
    memory_used_mib = models.PositiveIntegerField()
    # Since the previous sample of the VM: seconds elapsed, CPU used in vCPU-equivalents (1.0 is
    # one vCPU busy all the time) and bytes moved. Empty on a VM's first sample and after its
    # counters restarted (a reboot of the QEMU process, a move to another host).
    interval_seconds = models.FloatField(null=True)
    cpu_used_vcpus = models.FloatField(null=True)
    disk_read_delta = models.BigIntegerField(default=0)
    disk_write_delta = models.BigIntegerField(default=0)
    net_rx_delta = models.BigIntegerField(default=0)
    net_tx_delta = models.BigIntegerField(default=0)

    class Meta:
        db_table = "billing_metersample"  # created by billing (0004_samples), moved as it is
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["vm", "at"], name="meter_sample_unique_vm_at")
        ]
        indexes = [
            models.Index(fields=["at"], name="meter_sample_at"),
            models.Index(fields=["host", "at"], name="meter_sample_host_at"),
        ]

    def __str__(self) -> str:
        return f"{self.vm_id} @ {self.at:%Y-%m-%d %H:%M:%S}"


class MeterRollup(models.Model):
    """One VM's measured use over one bucket (an hour or a day, UTC)."""

    vm = models.ForeignKey(VirtualMachine, on_delete=models.CASCADE, related_name="+")
    # The host of the bucket's last sample (a VM that moved has its bucket on its new host).
    host = models.ForeignKey(Host, null=True, on_delete=models.SET_NULL, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    bucket = models.DateTimeField()
    cpu_avg_vcpus = models.FloatField(null=True)
    cpu_max_vcpus = models.FloatField(null=True)
    memory_avg_mib = models.PositiveIntegerField()
    disk_read_bytes = models.BigIntegerField()
    disk_write_bytes = models.BigIntegerField()
    net_rx_bytes = models.BigIntegerField()
    net_tx_bytes = models.BigIntegerField()
    samples = models.PositiveIntegerField()

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["bucket", "vm"]

    def __str__(self) -> str:
        return f"{self.vm_id} {self.bucket:%Y-%m-%d %H:%M}"


class MeterHourly(MeterRollup):
    class Meta(MeterRollup.Meta):
        db_table = "billing_meterhourly"
        constraints = [
            models.UniqueConstraint(fields=["vm", "bucket"], name="meter_hourly_unique_vm_bucket")
        ]
        indexes = [
            models.Index(fields=["bucket"], name="meter_hourly_bucket"),
            models.Index(fields=["tenant", "bucket"], name="meter_hourly_tenant_bucket"),
            models.Index(fields=["host", "bucket"], name="meter_hourly_host_bucket"),
        ]


class MeterDaily(MeterRollup):
    class Meta(MeterRollup.Meta):
        db_table = "billing_meterdaily"
        constraints = [
            models.UniqueConstraint(fields=["vm", "bucket"], name="meter_daily_unique_vm_bucket")
        ]
        indexes = [
            models.Index(fields=["bucket"], name="meter_daily_bucket"),
            models.Index(fields=["tenant", "bucket"], name="meter_daily_tenant_bucket"),
            models.Index(fields=["host", "bucket"], name="meter_daily_host_bucket"),
        ]
