"""Entering maintenance asks for confirmation and shows which VMs will move, and where."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from compute import services
from compute.choices import OperationKind, OperationStatus, VMState
from compute.models import Host, Operation
from tests.conftest import make_sim_host
from tests.factories import FlavorFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def pool(world, image, tmp_path, settings):
    """sim-a (8 GiB) runs five VMs; sim-b has 2 GiB free, sim-c 1.25 GiB."""
    settings.NUAGE = {**settings.NUAGE, "RAM_RATIO": 1.0, "PLACEMENT_MODE": "spread"}
    a = make_sim_host(tmp_path, memory_mib=8192)
    b = make_sim_host(tmp_path, memory_mib=2048)
    c = make_sim_host(tmp_path, memory_mib=1280)
    small = FlavorFactory(name="s", vcpus=1, ram_mib=512, disk_gib=1)
    big = FlavorFactory(name="big", vcpus=1, ram_mib=4096, disk_gib=1)

    def on_a(name, flavor, state=VMState.RUNNING):
        return VirtualMachineFactory(
            environment=world.development, owner=world.member, flavor=flavor, image=image,
            name=name, host=a, state=state,
        )  # fmt: skip

    vms = [on_a(f"web-{i}", small) for i in range(3)]
    huge = on_a("huge", big)
    busy = on_a("busy", small)
    Operation.objects.create(vm=busy, kind=OperationKind.REBOOT, status=OperationStatus.RUNNING)
    on_a("off", small, state=VMState.STOPPED)  # stopped VMs stay: not in the plan
    return a, b, c, vms, huge, busy


def test_the_plan_places_each_vm_in_turn_counting_the_previous_ones(world, pool):
    a, b, c, vms, huge, busy = pool
    plan = services.host_evacuation_plan(host=a, requested_by=world.platform_admin)
    got = {m.vm.name: (m.target.name if m.target else m.blocked) for m in plan}
    # web-0 and web-1 fill sim-b down to 1 GiB free, so web-2 goes to sim-c (1.25 GiB).
    assert got == {
        "web-0": b.name,
        "web-1": b.name,
        "web-2": c.name,
        "huge": "no_room",
        "busy": "busy",
    }
    # Nothing was written or moved.
    assert not Operation.objects.filter(kind=OperationKind.MIGRATE).exists()
    assert not Host.objects.get(pk=a.pk).maintenance


def test_only_platform_admins_see_the_plan(world, pool, client):
    a = pool[0]
    with pytest.raises(PermissionDenied):
        services.host_evacuation_plan(host=a, requested_by=world.tenant_admin)
    client.force_login(world.tenant_admin)
    assert client.get(f"/hosts/{a.pk}/maintenance/").status_code == 404


def test_the_confirmation_page_lists_the_moves_and_changes_nothing(world, pool, client):
    a, b, c, *_ = pool
    client.force_login(world.platform_admin)
    hosts = client.get("/hosts/").content.decode()
    assert f'href="/hosts/{a.pk}/maintenance/" data-action="enter-maintenance"' in hosts

    page = client.get(f"/hosts/{a.pk}/maintenance/").content.decode()
    assert f"Put {a.name} in maintenance?" in page
    assert f'data-vm="web-0" data-target="{b.name}"' in page
    assert f'data-vm="web-2" data-target="{c.name}"' in page
    assert 'data-vm="huge" data-blocked="no_room"' in page
    assert 'data-vm="busy" data-blocked="busy"' in page
    assert 'data-vm="off"' not in page
    assert "3 VMs will move now." in page and "2 VMs cannot move yet" in page
    assert 'data-action="confirm-maintenance"' in page
    assert not Host.objects.get(pk=a.pk).maintenance


def test_an_empty_host_says_nothing_will_move(world, client, tmp_path):
    host = make_sim_host(tmp_path)
    client.force_login(world.platform_admin)
    page = client.get(f"/hosts/{host.pk}/maintenance/").content.decode()
    assert "nothing will move" in page


def test_the_plan_through_the_api(world, pool, api):
    a, b, c, *_ = pool
    api.force_authenticate(world.platform_admin)
    answer = api.get(f"/api/v1/hosts/{a.pk}/evacuation-plan/")
    assert answer.status_code == 200
    rows = {r["vm_name"]: (r["target"], r["blocked"]) for r in answer.json()}
    assert rows["web-0"] == (b.name, "") and rows["web-2"] == (c.name, "")
    assert rows["huge"] == (None, "no_room") and rows["busy"] == (None, "busy")
    assert not Host.objects.get(pk=a.pk).maintenance
    api.force_authenticate(world.tenant_admin)
    assert api.get(f"/api/v1/hosts/{a.pk}/evacuation-plan/").status_code == 404


def test_attached_volumes_move_with_their_vm_and_a_busy_one_waits(world, pool):
    from compute.choices import VolumeState
    from compute.models import Volume

    a, b, c, vms, huge, busy = pool

    def volume(vm, name, state):
        return Volume.objects.create(
            tenant=vm.tenant, environment=vm.environment, owner=vm.owner, name=name,
            size_gib=1, host=a, vm=vm, state=state, target_dev="vdb",
        )  # fmt: skip

    volume(vms[0], "data-0", VolumeState.IN_USE)
    volume(vms[1], "data-1", VolumeState.RESIZING)
    plan = services.host_evacuation_plan(host=a, requested_by=world.platform_admin)
    got = {m.vm.name: (m.target.name if m.target else m.blocked) for m in plan}
    assert got["web-0"] == b.name  # its attached volume goes along
    assert got["web-1"] == "volumes"  # after the volume's change
