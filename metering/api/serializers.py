"""Serializers of measured use: a VM's figures over three windows beside its allocation."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class UseSerializer(serializers.Serializer[Any]):
    cpu_avg_vcpus = serializers.FloatField(
        allow_null=True, help_text="Mean CPU use in vCPUs (1.0: one vCPU busy all the time)."
    )
    cpu_max_vcpus = serializers.FloatField(allow_null=True)
    memory_avg_mib = serializers.IntegerField(
        allow_null=True, help_text="Mean memory the guest used, in MiB."
    )
    disk_read_bytes = serializers.IntegerField()
    disk_write_bytes = serializers.IntegerField()
    net_rx_bytes = serializers.IntegerField()
    net_tx_bytes = serializers.IntegerField()
    samples = serializers.IntegerField()


class AllocationSerializer(serializers.Serializer[Any]):
    vcpus = serializers.IntegerField(source="flavor.vcpus")
    ram_mib = serializers.IntegerField(source="flavor.ram_mib")
    disk_gib = serializers.IntegerField(source="flavor.disk_gib")


class HourlyCpuSerializer(serializers.Serializer[Any]):
    hour = serializers.DateTimeField()
    cpu_avg_vcpus = serializers.FloatField(allow_null=True)


class VmMetricsSerializer(serializers.Serializer[Any]):
    vm = serializers.IntegerField(source="vm.pk")
    allocation = AllocationSerializer(source="vm")
    last_hour = UseSerializer()
    last_day = UseSerializer()
    last_30_days = UseSerializer()
    hourly_cpu = HourlyCpuSerializer(many=True, help_text="The last 24 hours, oldest first.")
    measured_hours = serializers.FloatField()
    idle = serializers.BooleanField(
        help_text="Under 5% of its vCPUs and half its memory over the last 24 hours."
    )
    suggested_flavor = serializers.IntegerField(
        source="suggested_flavor.pk",
        allow_null=True,
        help_text="A smaller flavor that holds the VM's use, when it sat idle.",
    )
    suggested_flavor_name = serializers.CharField(source="suggested_flavor.name", allow_null=True)
