"""Placement through the service: filters and ratios on host rows, claims and their release,
and many concurrent placements on hundreds of simulated hosts (PostgreSQL, one connection per
thread) that never overcommit a host."""

from __future__ import annotations

import random
import threading
from collections import defaultdict

import pytest
from django.db import connection, transaction
from django.utils import timezone

from compute import hypervisor, services
from compute.choices import PLACED_STATES, VMState
from compute.models import Host, VirtualMachine
from compute.scheduler import choose_host
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory, HostFactory, ImageFactory


def pending_vm(env, flavor, *, group: str = "", name: str | None = None) -> VirtualMachine:
    vm = VirtualMachine.objects.create(
        tenant=env.tenant,
        environment=env,
        owner=env.tenant.memberships.first().user,
        name=name or f"vm-{VirtualMachine.objects.count()}",
        flavor=flavor,
        image=ImageFactory(),
        state=VMState.PROVISIONING,
        anti_affinity_group=group,
    )
    return VirtualMachine.objects.select_related("flavor", "environment", "tenant").get(pk=vm.pk)


@pytest.mark.django_db
def test_placement_honours_the_hosts_cpu_ratio(world: TenantWorld):
    host = HostFactory(cpus=2, cpu_ratio=2, memory_mib=65536)
    four = FlavorFactory(vcpus=2, ram_mib=512)
    placed = [services.placement_claim(vm=pending_vm(world.development, four)) for _ in range(2)]
    assert placed == [host, host]  # 4 vCPUs on 2 CPUs at ratio 2
    with pytest.raises(hypervisor.HypervisorError, match="1 without enough vCPUs"):
        services.placement_claim(vm=pending_vm(world.development, four))


@pytest.mark.django_db
def test_production_hosts_take_no_development_vms(world: TenantWorld):
    prod_host = HostFactory(tags=["env:production"], memory_mib=65536)
    shared = HostFactory(memory_mib=1024)
    flavor = FlavorFactory(ram_mib=512)
    # The production host has more free memory, but development VMs may not go there.
    assert services.placement_claim(vm=pending_vm(world.development, flavor)) == shared
    assert services.placement_claim(vm=pending_vm(world.production, flavor)) == prod_host
    with pytest.raises(hypervisor.HypervisorError, match="1 reserved for other environments"):
        services.placement_claim(vm=pending_vm(world.development, FlavorFactory(ram_mib=1024)))


@pytest.mark.django_db
def test_anti_affinity_group_members_never_share_a_host(world, other_world):
    hosts = {HostFactory(), HostFactory()}
    flavor = FlavorFactory()
    first = services.placement_claim(vm=pending_vm(world.development, flavor, group="db"))
    second = services.placement_claim(vm=pending_vm(world.development, flavor, group="db"))
    assert {first, second} == hosts
    with pytest.raises(hypervisor.HypervisorError, match="2 already running a VM of the same"):
        services.placement_claim(vm=pending_vm(world.development, flavor, group="db"))
    # The group name is the tenant's own: another tenant's "db" group is unrelated.
    assert services.placement_claim(vm=pending_vm(other_world.development, flavor, group="db"))
    # And VMs without a group are not constrained.
    assert services.placement_claim(vm=pending_vm(world.development, flavor))


@pytest.mark.django_db
def test_disabled_and_down_hosts_are_skipped_and_named_in_the_error(world):
    HostFactory(enabled=False)
    HostFactory(reachable=False)
    with pytest.raises(hypervisor.HypervisorError) as exc:
        services.placement_claim(vm=pending_vm(world.development, FlavorFactory()))
    assert "Hosts: 1 disabled, 1 down." in str(exc.value)


@pytest.mark.django_db
def test_pack_mode_fills_one_host_before_the_next(world, settings):
    settings.NUAGE = {**settings.NUAGE, "PLACEMENT_MODE": "pack"}
    a, _b = HostFactory(), HostFactory()
    flavor = FlavorFactory()
    placed = [services.placement_claim(vm=pending_vm(world.development, flavor)) for _ in range(3)]
    assert placed == [a, a, a]


def test_deleting_a_vm_gives_its_capacity_back(world, tmp_path, image, run_on_commit):
    from tests.conftest import make_sim_host

    make_sim_host(tmp_path, cpus=2, memory_mib=1024)
    big = FlavorFactory(vcpus=1, ram_mib=1024, disk_gib=1)

    def request(name: str) -> VirtualMachine:
        vm = services.vm_request_create(
            requested_by=world.member,
            environment=world.development,
            flavor=big,
            image=image,
            name=name,
        )
        vm.refresh_from_db()
        return vm

    first = request("first")
    assert first.state == VMState.RUNNING
    assert request("second").state == VMState.ERROR
    services.vm_action(vm=first, action="delete", requested_by=world.member)
    first.refresh_from_db()
    assert first.state == VMState.DELETED
    assert request("third").state == VMState.RUNNING


def test_a_failed_provisioning_releases_its_claim(world, tmp_path, image, run_on_commit):
    from tests.conftest import make_sim_host

    host = make_sim_host(tmp_path, cpus=2, memory_mib=1024)
    big = FlavorFactory(vcpus=1, ram_mib=1024, disk_gib=1)
    broken = ImageFactory(kind="disk", base_volume="missing.qcow2", kernel_path="")
    failed = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=big,
        image=broken,
        name="broken",
    )
    failed.refresh_from_db()
    assert failed.state == VMState.ERROR and failed.host is None
    ok = services.vm_request_create(
        requested_by=world.member, environment=world.development, flavor=big, image=image, name="ok"
    )
    ok.refresh_from_db()
    assert (ok.state, ok.host) == (VMState.RUNNING, host)


# --- hundreds of hosts, concurrent placements ----------------------------------------------


THREADS = 16


def _place_all(vm_ids: list[int], results: dict[int, int | None]) -> None:
    """One worker thread: its own database connection, one placement per transaction."""
    try:
        for vm_id in vm_ids:
            with transaction.atomic():
                vm = VirtualMachine.objects.select_related("flavor", "environment").get(pk=vm_id)
                try:
                    results[vm_id] = services.placement_claim(vm=vm).pk
                except hypervisor.HypervisorError:
                    results[vm_id] = None
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_concurrent_placements_on_300_hosts_respect_every_filter_and_ratio(
    world: TenantWorld, other_world: TenantWorld
):
    assert connection.vendor == "postgresql"  # row locks are what this test is about
    rng = random.Random(6)
    Host.objects.bulk_create(
        Host(
            name=f"sim-{i}",
            uri=f"test:///sim-{i}.xml",
            cpus=rng.choice([4, 8, 16]),
            memory_mib=rng.choice([4096, 8192, 16384]),
            disk_gib=rng.choice([50, 100, 200]),
            cpu_ratio=rng.choice([None, 1, 2]),
            ram_ratio=rng.choice([None, 1, "1.5"]),
            disk_ratio=rng.choice([None, 1, 3]),
            enabled=i % 17 != 0,
            reachable=i % 23 != 0,
            tags=["env:production"] if i % 5 == 0 else (["ssd"] if i % 3 == 0 else []),
        )
        for i in range(300)
    )
    flavors = [
        FlavorFactory(vcpus=v, ram_mib=r, disk_gib=d)
        for v, r, d in ((1, 512, 10), (2, 2048, 20), (4, 4096, 40), (8, 8192, 80))
    ]
    image = ImageFactory()
    envs = [world.development, world.production, other_world.development]
    vms = VirtualMachine.objects.bulk_create(
        VirtualMachine(
            tenant=(env := rng.choice(envs)).tenant,
            environment=env,
            owner=world.member,
            name=f"vm-{i}",
            flavor=rng.choice(flavors),
            image=image,
            state=VMState.PROVISIONING,
            anti_affinity_group=rng.choice(["", "", "", "web", "db"]),
        )
        for i in range(900)
    )
    vm_ids = [vm.pk for vm in vms]
    results: dict[int, int | None] = {}
    threads = [
        threading.Thread(target=_place_all, args=(vm_ids[i::THREADS], results))
        for i in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == len(vm_ids)

    by_id = {h.pk: h for h in Host.objects.all()}
    placed = list(
        VirtualMachine.objects.filter(host__isnull=False, state__in=PLACED_STATES).select_related(
            "flavor", "environment"
        )
    )
    assert {vm.pk: vm.host_id for vm in placed} == {
        pk: host for pk, host in results.items() if host is not None
    }
    failed = [pk for pk, host in results.items() if host is None]

    used: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for vm in placed:
        host = by_id[vm.host_id]
        assert host.enabled and host.reachable
        if "env:production" in host.tags:
            assert vm.environment.name == "production"
        u = used[host.pk]
        u[0] += vm.flavor.vcpus
        u[1] += vm.flavor.ram_mib
        u[2] += vm.flavor.disk_gib
        assert vm.flavor.vcpus <= host.cpus
        if vm.anti_affinity_group:
            groups[(vm.tenant_id, vm.anti_affinity_group)].append(host.pk)
    at_a_limit = 0
    for host_id, (vcpus, ram, disk) in used.items():
        host = by_id[host_id]
        limits = (
            int(host.cpus * host.effective_ratio("cpu")),
            int(host.memory_mib * host.effective_ratio("ram")),
            int(host.disk_gib * host.effective_ratio("disk")),
        )
        assert vcpus <= limits[0] and ram <= limits[1] and disk <= limits[2], host.name
        smallest = flavors[0]
        at_a_limit += (
            limits[0] - vcpus < smallest.vcpus
            or limits[1] - ram < smallest.ram_mib
            or limits[2] - disk < smallest.disk_gib
        )
    assert placed and failed, "the fleet must fill up for the ratios to be tested"
    assert at_a_limit, "no host was filled to a ratio: the test proves nothing"
    for members in groups.values():
        assert len(members) == len(set(members)), "anti-affinity group shares a host"

    # No false refusals: every VM refused then is refused by the final (fuller) fleet too.
    states = services._host_states(Host.objects.order_by("pk"))
    for vm in VirtualMachine.objects.filter(pk__in=failed).select_related("flavor", "environment"):
        request = services._placement_request(vm)
        assert choose_host(request, states).host_id is None, vm.name


def test_requester_picks_an_anti_affinity_group_through_the_api(
    world, flavor, image, tmp_path, run_on_commit
):
    from rest_framework.test import APIClient

    from tests.conftest import make_sim_host

    make_sim_host(tmp_path)
    make_sim_host(tmp_path)
    client = APIClient()
    client.force_authenticate(world.member)

    def ask(name: str, group: str) -> dict:
        answer = client.post(
            "/api/v1/vms/",
            {
                "name": name,
                "environment": world.development.pk,
                "flavor": flavor.pk,
                "image": image.pk,
                "anti_affinity_group": group,
            },
            format="json",
        )
        assert answer.status_code == 201, answer.content
        return client.get(f"/api/v1/vms/{answer.json()['id']}/").json()

    first, second = ask("db-1", "db"), ask("db-2", "db")
    assert first["host"] != second["host"]
    third = ask("db-3", "db")  # two hosts, both taken by the group
    assert third["state"] == "error" and "anti-affinity" in third["error_message"]
    bad = client.post(
        "/api/v1/vms/",
        {
            "name": "x",
            "environment": world.development.pk,
            "flavor": flavor.pk,
            "image": image.pk,
            "anti_affinity_group": "Not Valid!",
        },
        format="json",
    )
    assert bad.status_code == 400 and "anti_affinity_group" in bad.json()


@pytest.mark.django_db
@pytest.mark.parametrize("container", [False, True])
@pytest.mark.parametrize("excluding", [False, True])
@pytest.mark.parametrize("shared", [False, True])
def test_the_written_out_candidates_are_the_orms_rows_locked(
    container: bool, excluding: bool, shared: bool, django_assert_num_queries
):
    from compute.services.placement import _candidates, _candidates_orm

    assert connection.vendor == "postgresql"  # the written-out statement is PostgreSQL's
    hosts = [
        HostFactory(
            domain_type=kind,
            shared_storage=share,
            storage_pool=pool,
            tags=tags,
            cpu_ratio=ratio,
            down_since=None if i % 2 else timezone.now(),
        )
        for i, (kind, share, pool, tags, ratio) in enumerate(
            [
                ("qemu", True, "shared", ["ssd"], None),
                ("lxc", True, "shared", [], "1.5"),
                ("qemu", False, "shared", ["env:production"], 2),
                ("lxc", False, "nuage", ["ssd"], None),
                ("qemu", True, "other", [], None),
                ("lxc", True, "shared", ["gpu"], 3),
                ("qemu", True, "shared", [], None),
            ]
        )
    ]
    excluded = hosts[1] if container else hosts[0]  # else a candidate to each question
    exclude_id = excluded.pk if excluding else None
    pool = "shared" if shared else None

    def rows(found: list[Host]) -> list[dict[str, object]]:
        return [
            {f.attname: getattr(h, f.attname) for f in Host._meta.concrete_fields} for h in found
        ]

    expected = rows(list(_candidates_orm(container, exclude_id, pool)))
    assert expected, "the hosts must give each question an answer"
    with transaction.atomic(), django_assert_num_queries(1) as ctx:
        found = rows(_candidates(container=container, exclude_id=exclude_id, shared_pool=pool))
    assert found == expected
    assert ctx.captured_queries[0]["sql"].rstrip().endswith("FOR UPDATE")
