"""What the read paths cost in SQL queries: the same with 3 VMs as with 60, and within bounds.

bench/api_latency.py measures their latency at 50 and 20,000 VMs; these pin the query counts
that make it flat.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from billing.choices import UsageKind
from billing.models import FlavorPrice, PriceList, UsageEvent
from billing.selectors import billing_currency
from compute.choices import OperationKind, OperationStatus, Step, StepStatus, VMState
from compute.models import Network, NetworkInterface, Operation, OperationStep
from tests.factories import HostFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db

_macs = itertools.count(1)

# The goal: at most 8 queries for every page and call, whatever the data. The shared part of a
# page is 4 (session, user, memberships, the navigation's counters); the VM page reads the VM
# with what its cards list in one query, its month's cost in one and its measured use in one;
# the costs page its month, budget, alerts and names in one (portal/jsonrows.py).
LIMITS = {
    # The page's rows, then its names, ports and latest operations (compute.selectors.
    # vm_page_details); a token adds its own read, a full page its COUNT.
    "api_list": 4,
    "api_vm": 4,
    "vm_page": 8,
    "list_page": 8,
    "approvals": 8,
    "costs": 8,
}


def grow(world, n: int, *, host, network) -> list:
    """n VMs in the world's tenant as the pages show them: 8 in 10 running with their
    provisioning operation (3 steps), an address and this month's ledger; 1 stopped; 1 pending
    approval (owned by the member, so that the approver has it to decide); the first 3 are one
    of each."""
    now = timezone.now()
    vms = []
    for i in range(n):
        state = [VMState.RUNNING, VMState.PENDING_APPROVAL, VMState.STOPPED, *[VMState.RUNNING] * 7]
        state = state[i % 10]
        placed = state != VMState.PENDING_APPROVAL
        vm = VirtualMachineFactory(
            environment=world.development,
            owner=world.member,
            state=state,
            host=host if placed else None,
        )
        vms.append(vm)
        if not placed:
            continue
        op = Operation.objects.create(
            vm=vm, kind=OperationKind.PROVISION, status=OperationStatus.SUCCEEDED
        )
        for position, name in enumerate([Step.SCHEDULED, Step.DEFINING, Step.STARTING]):
            OperationStep.objects.create(
                operation=op, position=position, name=name, status=StepStatus.DONE
            )
        m = next(_macs)
        NetworkInterface.objects.create(
            vm=vm,
            network=network,
            mac=f"52:54:00:00:{m >> 8:02x}:{m & 255:02x}",
            ip=f"10.0.{m >> 8}.{m & 255}",
        )
        for kind in (UsageKind.CREATED, UsageKind.STARTED):
            UsageEvent.objects.create(
                key=f"t-{vm.pk}-{kind}", vm=vm, tenant=vm.tenant, environment=vm.environment,
                kind=kind, at=now - timedelta(hours=1), vcpus=vm.flavor.vcpus,
                ram_mib=vm.flavor.ram_mib, disk_gib=vm.flavor.disk_gib, flavor=vm.flavor,
            )  # fmt: skip
    return vms


def counts(world, client, api, vm) -> dict[str, int]:
    paths = {
        "api_list": (api, "/api/v1/vms/?limit=100"),
        "api_vm": (api, f"/api/v1/vms/{vm.pk}/"),
        "vm_page": (client, f"/vms/{vm.pk}/"),
        "list_page": (client, "/"),
        "approvals": (client, "/approvals/"),
        "costs": (client, "/costs/"),
    }
    found = {}
    for key, (via, path) in paths.items():
        with CaptureQueriesContext(connection) as ctx:
            assert via.get(path).status_code == 200, path
        found[key] = len(ctx.captured_queries)
    return found


def test_pages_and_calls_cost_the_same_queries_at_3_and_60_vms(world, other_world, client, api):
    host = HostFactory()
    network = Network.objects.create(name="net", kind="bridge", bridge="br0")
    first = grow(world, 3, host=host, network=network)[0]
    # A price list in effect, with a flavor's price (read with it, not by a query of its own).
    prices = PriceList.objects.create(
        name="now", currency=billing_currency(), effective_from=timezone.now() - timedelta(days=40),
        vcpu_hour=Decimal("0.01"), ram_gib_hour=Decimal("0.005"), disk_gib_hour=Decimal("0.0001"),
    )  # fmt: skip
    FlavorPrice.objects.create(price_list=prices, flavor=first.flavor, per_hour=Decimal("0.02"))
    client.force_login(world.approver)
    api.force_authenticate(world.approver)
    small = counts(world, client, api, first)
    grow(world, 30, host=host, network=network)
    grow(other_world, 30, host=host, network=network)
    large = counts(world, client, api, first)
    assert large == small
    assert {k: v for k, v in large.items() if v > LIMITS[k]} == {}, large


def test_the_live_progress_partial_costs_three_queries(world, client, settings):
    # Sessions read from the (shared) cache, as in production with Redis.
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
    host = HostFactory()
    network = Network.objects.create(name="net", kind="bridge", bridge="br0")
    vm = grow(world, 1, host=host, network=network)[0]
    client.force_login(world.member)
    path = f"/vms/{vm.pk}/progress/"
    with CaptureQueriesContext(connection) as ctx:
        page = client.get(path)
    assert len(ctx.captured_queries) <= 3, [q["sql"][:120] for q in ctx.captured_queries]
    html = page.content.decode()
    # What the region shows: the state, the operation and each of its steps, the actions.
    assert 'data-state="running"' in html
    assert 'data-operation-status="succeeded"' in html
    assert [s for s in ("scheduled", "defining", "starting") if f'data-step="{s}"' in html] == [
        "scheduled",
        "defining",
        "starting",
    ]
    assert 'data-action="stop"' in html
    # An approver of another tenant's VM sees neither it nor its progress.
    grow(world, 0, host=host, network=network)
    client.force_login(world.finance)
    assert client.get(path).status_code == 200  # finance reads every tenant's VMs
    assert 'data-action="stop"' not in client.get(path).content.decode()  # and operates none


def _declared(world, vm) -> tuple[object, dict]:
    """The VM's serializer and what DRF's generic machinery gives of its declared fields."""
    from rest_framework import serializers

    from compute import selectors
    from compute.api.serializers import OperationSerializer, VirtualMachineSerializer

    found = selectors.vm_list_with_operation(fetched_by=world.member).get(pk=vm.pk)
    ser = VirtualMachineSerializer(found)
    generic = serializers.ModelSerializer.to_representation(ser, found)
    op = found.operations_latest_first[0] if found.operations_latest_first else None
    generic["operation"] = OperationSerializer(op).data if op else None
    return ser, generic


def test_vm_rows_built_directly_are_what_the_declared_fields_give(world):
    host = HostFactory()
    network = Network.objects.create(name="net", kind="user")
    running, pending = grow(world, 2, host=host, network=network)
    NetworkInterface.objects.create(
        vm=running, network=network, mac="52:54:00:aa:00:01", host_port=22001
    )
    running.authorized_keys = ["ssh-ed25519 AAAA one", "ssh-ed25519 AAAA two"]
    running.anti_affinity_group = "web"
    running.save()
    for vm in (running, pending):
        ser, generic = _declared(world, vm)
        assert ser.data == generic
    assert ser.data["operation"] is None  # the pending one has none yet


def test_the_api_list_gives_each_vm_as_the_vm_call_does(world, api):
    host = HostFactory()
    network = Network.objects.create(name="net", kind="user")
    vms = grow(world, 4, host=host, network=network)
    NetworkInterface.objects.create(
        vm=vms[0], network=network, mac="52:54:00:aa:00:02", host_port=22002
    )
    vms[0].authorized_keys = ["ssh-ed25519 AAAA one"]
    vms[0].save()
    api.force_authenticate(world.member)
    listed = api.get("/api/v1/vms/?limit=2&offset=1&ordering=name").json()
    assert listed["count"] == 4
    names = sorted(vm.name for vm in vms)[1:3]
    assert [row["name"] for row in listed["results"]] == names
    for row in listed["results"]:
        assert row == api.get(f"/api/v1/vms/{row['id']}/").json()
    everything = api.get("/api/v1/vms/").json()["results"]
    assert {row["id"]: row for row in everything} == {
        vm.pk: api.get(f"/api/v1/vms/{vm.pk}/").json() for vm in vms
    }


def test_the_portable_statements_give_what_postgresqls_give(world):
    """vm_page_details writes its statements for PostgreSQL (LATERAL) and for the others (the
    demo's SQLite): both are run here, on PostgreSQL, and must agree row for row."""
    from compute import selectors

    host = HostFactory()
    network = Network.objects.create(name="net", kind="bridge", bridge="br0")
    vms = grow(world, 12, host=host, network=network)
    ids = [vm.pk for vm in vms]
    ids_sql = ", ".join(["%s"] * len(ids))
    for statements in (
        selectors._NAMES_SQL,
        selectors._PORTS_SQL,
        selectors._LATEST_OPERATIONS_SQL,
    ):
        found = []
        for sql, params in ((statements["postgresql"], [ids]), (statements[""], ids)):
            with connection.cursor() as cursor:
                cursor.execute(sql.format(ids=ids_sql), params)
                found.append(sorted(cursor.fetchall(), key=lambda r: [str(v) for v in r]))
        assert found[0] == found[1]
        assert found[0]


def test_a_short_page_is_counted_without_a_count_query(world, api):
    host = HostFactory()
    network = Network.objects.create(name="net", kind="bridge", bridge="br0")
    grow(world, 5, host=host, network=network)
    api.force_authenticate(world.approver)

    def page(query: str) -> tuple[dict, list[str]]:
        with CaptureQueriesContext(connection) as ctx:
            answer = api.get(f"/api/v1/vms/?{query}")
        assert answer.status_code == 200
        return answer.json(), [q["sql"] for q in ctx.captured_queries]

    for query, count, rows, counted in [
        ("limit=10", 5, 5, False),
        ("limit=3&offset=3", 5, 2, False),
        ("limit=3", 5, 3, True),  # a full page: the rest is counted
        ("limit=5", 5, 5, True),
        ("limit=3&offset=5", 5, 0, True),  # empty past the first: counted
        ("limit=3&offset=9", 5, 0, True),
    ]:
        body, sql = page(query)
        assert (body["count"], len(body["results"])) == (count, rows), query
        assert any("COUNT(" in q for q in sql) is counted, query
    body, _sql = page("limit=2&offset=2")
    assert body["next"].endswith("limit=2&offset=4") and body["previous"].endswith("limit=2")
    assert page("limit=2&offset=4")[0]["next"] is None


def test_the_api_json_of_a_vm_is_what_drf_renders_of_its_declared_fields(world, api):
    import json

    from rest_framework.renderers import JSONRenderer

    host = HostFactory()
    network = Network.objects.create(name="net", kind="user")
    running, pending = grow(world, 2, host=host, network=network)
    step = OperationStep.objects.filter(operation__vm=running).first()
    step.started_at = timezone.now().replace(microsecond=120)  # microseconds, as often
    step.finished_at = step.started_at.replace(microsecond=0)  # none, as DRF leaves them out
    step.save()
    api.force_authenticate(world.member)
    for vm in (running, pending):
        _ser, generic = _declared(world, vm)
        answer = api.get(f"/api/v1/vms/{vm.pk}/")
        assert answer.content == JSONRenderer().render(generic)
    assert json.loads(answer.content)["created_at"].endswith("Z")


def test_the_api_list_is_what_drf_renders_of_the_declared_fields_whatever_the_vm_holds(world, api):
    """The list's rows are built from plain values (vm_rows): each must be, byte for byte and
    key for key, what DRF renders of the serializer's declared fields, whatever the VM holds:
    escapes, timestamps with and without microseconds, ports with and without a command, an
    operation without steps, keys that are not text, in both languages."""
    import json

    from rest_framework.renderers import JSONRenderer

    host = HostFactory(name="hôte-1")
    network = Network.objects.create(name="net", kind="user")
    running, pending, stopped, other = grow(world, 4, host=host, network=network)
    # Ports: a forwarded one with an address (the port wins), one with neither (no command);
    # the VM's command is its first port's that has one.
    NetworkInterface.objects.create(vm=stopped, network=network, mac="52:54:00:bb:00:01")
    NetworkInterface.objects.create(
        vm=running, network=network, mac="52:54:00:bb:00:02", ip="10.9.0.2", host_port=22005
    )
    NetworkInterface.objects.create(
        vm=pending, network=network, mac="52:54:00:bb:00:03", host_port=22006
    )
    now = timezone.now()
    running.name = 'ünï "q" \\ \n\u2028'
    running.justification = "tab\there \x01 <b>&</b> 東京"
    running.error_message = "💥"
    running.authorized_keys = ["ssh-ed25519 AAAA one", 42, "ssh-ed25519 AAAA two"]
    running.lease_set_at = now.replace(microsecond=7)
    running.expires_at = (now + timedelta(days=3)).replace(microsecond=0)
    running.anti_affinity_group = "web"
    running.save()
    step = OperationStep.objects.filter(operation__vm=running).order_by("position").first()
    step.started_at = now.replace(microsecond=120)
    step.finished_at = now.replace(microsecond=0)
    step.detail = "line one\nline two"
    step.save()
    op = Operation.objects.get(vm=running)
    op.finished_at = now.replace(microsecond=999999)
    op.error_message = "partial"
    op.save()
    # A newer operation without steps is the latest of `other`.
    Operation.objects.create(vm=other, kind=OperationKind.STOP, status=OperationStatus.RUNNING)
    api.force_authenticate(world.member)
    for language in ("en", "fr"):
        try:
            answer = api.get("/api/v1/vms/?limit=100", HTTP_ACCEPT_LANGUAGE=language)
        finally:
            translation.deactivate()  # the request's language stays active in this thread
        assert answer.status_code == 200
        rows = json.loads(answer.content)["results"]
        assert len(rows) == 4
        for row in rows:
            vm = next(vm for vm in (running, pending, stopped, other) if vm.pk == row["id"])
            with translation.override(language):
                _ser, generic = _declared(world, vm)
                assert JSONRenderer().render(row) == JSONRenderer().render(generic), vm.name
    by_id = {row["id"]: row for row in rows}
    assert by_id[running.pk]["authorized_keys"][1] == "42"
    first, forwarded = NetworkInterface.objects.filter(vm=running).order_by("id")
    assert by_id[running.pk]["ssh_command"] == f"ssh root@{first.ip}"
    assert by_id[running.pk]["addresses"][1]["ssh_command"] == "ssh -p 22005 root@127.0.0.1"
    assert by_id[pending.pk]["ssh_command"] == "ssh -p 22006 root@127.0.0.1"
    assert by_id[other.pk]["operation"]["steps"] == []
    assert by_id[running.pk]["operation"]["steps"][0]["display_name"]  # translated, never null
