"""/metrics scrape time at size: 100 VMs on 10 hosts, then 50,000 VMs on 2,000 hosts (with
their operations, metering samples and webhook deliveries), in one scratch database.

Run: .venv/bin/python bench/metrics_scrape.py [--hosts 2000] [--vms 50000] [--scrapes 20]

Each scrape goes through Django's test client in this process (the view, the collector's
queries, the text format), from an allowed address; the time per source comes from the scrape's
own `nuage_scrape_source_seconds`. The broker source reads the Redis list lengths.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (  # noqa: E402
    DEFAULT_BROKER,
    DEFAULT_PG,
    cpu_model,
    drop_database,
    percentile,
    recreate_database,
    stack_env,
    write_doc,
)

DB_NAME = "nuage_bench_metrics"
HEADING = "## /metrics scrape at 50,000 VMs (bench/metrics_scrape.py)"
STEPS = ["scheduled", "creating_disk", "preparing_seed", "defining", "starting"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=2000)
    p.add_argument("--vms", type=int, default=50_000)
    p.add_argument("--scrapes", type=int, default=20)
    p.add_argument("--no-doc", action="store_true")
    p.add_argument("--keep-db", action="store_true")
    p.add_argument("--pg", default=DEFAULT_PG)
    return p.parse_args()


def build(hosts: int, vms: int, *, start_host: int = 0, start_vm: int = 0) -> None:
    """Add `hosts` hosts and `vms` VMs spread over them, each VM with a finished provisioning
    (1 in 50 still in flight), two metering samples, and one webhook delivery per 10 VMs."""
    from compute.choices import OperationKind, OperationStatus, StepStatus, VMState
    from compute.models import Flavor, Host, Image, Operation, OperationStep, VirtualMachine
    from metering.models import MeterSample
    from portal import services as portal_services
    from portal.models import Tenant, User, Webhook, WebhookDelivery

    admin = User.objects.filter(username="bench-admin").first() or portal_services.user_create(
        created_by=None, username="bench-admin", password=None, platform_role="admin"
    )
    tenant = Tenant.objects.filter(slug="bench").first() or portal_services.tenant_create(
        created_by=admin, name="Bench", slug="bench"
    )
    env = tenant.environments.order_by("pk").first()
    flavor, _ = Flavor.objects.get_or_create(
        name="f1", defaults={"vcpus": 1, "ram_mib": 512, "disk_gib": 1}
    )
    image, _ = Image.objects.get_or_create(
        name="bench", defaults={"kind": "kernel", "kernel_path": "/k"}
    )
    hook, _ = Webhook.objects.get_or_create(
        tenant=tenant, url="https://hooks.example.com/n", defaults={"secret": "s" * 32}
    )
    now = datetime.now(UTC)
    host_rows = [
        Host(
            name=f"h{n:05d}",
            uri=f"test:///bench-{n}",
            cpus=64,
            memory_mib=262144,
            reachable=n % 97 != 0,
            maintenance=n % 89 == 0,
            enabled=n % 101 != 0,
        )
        for n in range(start_host, start_host + hosts)
    ]
    Host.objects.bulk_create(host_rows, batch_size=2000)
    host_list = list(Host.objects.filter(name__in=[h.name for h in host_rows]))
    states = [VMState.RUNNING] * 7 + [VMState.STOPPED, VMState.ERROR, VMState.PENDING_APPROVAL]
    vm_rows = [
        VirtualMachine(
            tenant=tenant,
            environment=env,
            owner=admin,
            name=f"vm-{n}",
            flavor=flavor,
            image=image,
            host=host_list[n % len(host_list)],
            state=VMState.PROVISIONING if n % 50 == 0 else states[n % len(states)],
        )
        for n in range(start_vm, start_vm + vms)
    ]
    VirtualMachine.objects.bulk_create(vm_rows, batch_size=5000)
    created = list(
        VirtualMachine.objects.filter(name__in=[v.name for v in vm_rows]).values_list(
            "pk", "host_id", "state"
        )
    )
    ops = [
        Operation(
            vm_id=pk,
            kind=OperationKind.PROVISION,
            status=OperationStatus.RUNNING
            if state == VMState.PROVISIONING
            else OperationStatus.SUCCEEDED,
        )
        for pk, _host, state in created
    ]
    Operation.objects.bulk_create(ops, batch_size=5000)
    steps = []
    for i, op in enumerate(ops):
        active = op.status == OperationStatus.RUNNING
        for position, name in enumerate(STEPS):
            done = not active or position < i % len(STEPS)
            steps.append(
                OperationStep(
                    operation_id=op.pk,
                    position=position,
                    name=name,
                    status=StepStatus.DONE if done else StepStatus.PENDING,
                )
            )
    OperationStep.objects.bulk_create(steps, batch_size=10000)
    samples = [
        MeterSample(
            vm_id=pk,
            host_id=host_id,
            at=now - timedelta(seconds=60 * k + (pk % 60)),
            cpu_time_ns=k,
            disk_read_bytes=0,
            disk_write_bytes=0,
            net_rx_bytes=0,
            net_tx_bytes=0,
            vcpus=1,
            memory_mib=512,
            memory_used_mib=100,
        )
        for pk, host_id, state in created
        if state == VMState.RUNNING
        for k in (1, 2)
    ]
    MeterSample.objects.bulk_create(samples, batch_size=10000)
    statuses = list(WebhookDelivery.Status.values)
    WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                webhook=hook,
                event="vm.running",
                event_id=uuid.uuid4(),
                body="{}",
                status=statuses[n % len(statuses)],
            )
            for n in range(len(created) // 10)
        ],
        batch_size=5000,
    )
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")


def scrape(client: Any, n: int) -> tuple[list[float], dict[str, float], int]:
    """n scrapes: their times (s), the mean time per source, the size of the answer."""
    times: list[float] = []
    sources: dict[str, list[float]] = {}
    size = 0
    for _ in range(n):
        started = time.perf_counter()
        response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        text = response.content.decode()
        size = len(text)
        for name, value in re.findall(
            r'^nuage_scrape_source_seconds\{source="(\w+)"\} (\S+)$', text, re.M
        ):
            sources.setdefault(name, []).append(float(value))
        errors = re.findall(r'^nuage_scrape_errors\{source="(\w+)"\} 1\.0$', text, re.M)
        assert not errors, f"sources failed: {errors}"
    return times, {k: statistics.mean(v) for k, v in sources.items()}, size


def main() -> None:
    args = parse_args()
    var_dir = Path("/tmp/nuage-bench-metrics")
    var_dir.mkdir(exist_ok=True)
    env = stack_env(
        pg=args.pg, db_name=DB_NAME, broker=DEFAULT_BROKER, queue="nuage", var_dir=var_dir
    )
    env["NUAGE_METRICS_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    recreate_database(args.pg, DB_NAME)
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.test import Client

    client = Client()
    results = []
    try:
        for hosts, vms, start_host, start_vm in (
            (10, 100, 0, 0),
            (args.hosts - 10, args.vms - 100, 10, 100),
        ):
            started = time.perf_counter()
            build(hosts, vms, start_host=start_host, start_vm=start_vm)
            built = time.perf_counter() - started
            scrape(client, 2)  # warm the connection and the plans
            times, sources, size = scrape(client, args.scrapes)
            total_vms, total_hosts = start_vm + vms, start_host + hosts
            results.append((total_hosts, total_vms, times, sources, size))
            median, p95 = statistics.median(times) * 1000, percentile(times, 0.95) * 1000
            print(
                f"{total_hosts} hosts, {total_vms} VMs (built in {built:.0f} s): scrape median "
                f"{median:.1f} ms, p95 {p95:.1f} ms, {size} bytes; per source (ms): "
                + ", ".join(f"{k} {v * 1000:.1f}" for k, v in sources.items())
            )
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep_db:
            drop_database(args.pg, DB_NAME)
    if args.no_doc:
        return
    small, large = results[0], results[-1]
    section = [
        HEADING,
        "",
        f"`.venv/bin/python bench/metrics_scrape.py` on {cpu_model()} ({os.cpu_count()} cores), "
        f"{datetime.now(UTC):%Y-%m-%d}: {args.scrapes} scrapes at each size through Django's "
        "test client, from an allowed address (view, collector queries, text format).",
        "",
        "| hosts | VMs | scrape median | p95 | answer |",
        "|------:|----:|--------------:|----:|-------:|",
    ]
    for hosts, vms, times, _sources, size in (small, large):
        section.append(
            f"| {hosts:,} | {vms:,} | {statistics.median(times) * 1000:.1f} ms "
            f"| {percentile(times, 0.95) * 1000:.1f} ms | {size:,} B |"
        )
    section += [
        "",
        "Mean time per source at the large size: "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in large[3].items())
        + ".",
    ]
    write_doc(HEADING, section)


if __name__ == "__main__":
    main()
