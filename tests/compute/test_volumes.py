"""Data volumes through services, on libvirt's test driver: create, attach, detach, grow,
delete, with the VM's deletion, the quota, the ledger and the reconciler."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from billing.models import VolumeUsageEvent
from compute import hypervisor, selectors, services
from compute.choices import VMState, VolumeState
from compute.hypervisor.connection import get_connection
from compute.models import Host, Volume
from portal.errors import ConflictError
from quotas import services as quota_services
from quotas.models import Quota
from tests.conftest import TenantWorld, make_sim_host
from tests.factories import FlavorFactory, VirtualMachineFactory

pytestmark = pytest.mark.django_db


def running_vm(world: TenantWorld, flavor, image, *, name="web-1", user=None):
    vm = services.vm_request_create(
        requested_by=user or world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name=name,
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    return vm


def new_volume(world: TenantWorld, *, name="data-1", size_gib=5, **kwargs) -> Volume:
    return services.volume_create(
        created_by=kwargs.pop("user", world.member),
        environment=world.development,
        name=name,
        size_gib=size_gib,
        **kwargs,
    )


def pool_volumes(host: Host) -> dict[str, int]:
    pool = get_connection(host.uri).storagePoolLookupByName(host.storage_pool)
    pool.refresh()
    return {name: pool.storageVolLookupByName(name).info()[1] for name in pool.listVolumes()}


def disk_used(world: TenantWorld) -> int:
    return Quota.objects.unscoped().get(environment=world.development).disk_gib_used


def ledger(volume: Volume) -> list[tuple[str, int]]:
    return list(
        VolumeUsageEvent.objects.unscoped()
        .filter(volume=volume)
        .order_by("at", "id")
        .values_list("kind", "size_gib")
    )


def test_a_new_volume_holds_its_quota_and_is_charged_from_creation(world, sim_host):
    before = disk_used(world)
    volume = new_volume(world, size_gib=7)
    volume.refresh_from_db()
    assert (volume.state, volume.host, volume.vm) == (VolumeState.AVAILABLE, None, None)
    assert disk_used(world) == before + 7
    assert ledger(volume) == [("created", 7)]
    assert quota_services.quota_drift_check() == []


def test_over_quota_is_refused_and_nothing_is_written(world, sim_host):
    Quota.objects.unscoped().filter(environment=world.development).update(disk_gib_limit=10)
    new_volume(world, name="fits", size_gib=6)
    with pytest.raises(ValidationError) as exc:
        new_volume(world, name="too-big", size_gib=5)
    assert "Quota exceeded for Disk (GiB)" in " ".join(exc.value.message_dict["size_gib"])
    assert list(Volume.objects.unscoped().values_list("name", flat=True)) == ["fits"]
    assert disk_used(world) == 6
    assert VolumeUsageEvent.objects.unscoped().count() == 1


@pytest.mark.parametrize(
    ("name", "size", "field"), [("Bad_Name", 1, "name"), ("ok", 0, "size_gib"), ("", 1, "name")]
)
def test_bad_input_is_a_field_error(world, sim_host, name, size, field):
    with pytest.raises(ValidationError) as exc:
        new_volume(world, name=name, size_gib=size)
    assert field in exc.value.message_dict
    assert not Volume.objects.unscoped().exists()


def test_attach_to_a_running_vm_places_and_plugs_it(world, sim_host, flavor, image, run_on_commit):
    vm = running_vm(world, flavor, image)
    first = new_volume(world, name="data-1", size_gib=2)
    second = new_volume(world, name="data-2", size_gib=3)
    services.volume_attach(volume=first, vm=vm, requested_by=world.member)
    services.volume_attach(volume=second, vm=vm, requested_by=world.member)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.state, first.host, first.vm, first.target_dev) == (
        VolumeState.IN_USE,
        sim_host,
        vm,
        "vdb",
    )
    assert (second.state, second.target_dev) == (VolumeState.IN_USE, "vdc")
    sizes = pool_volumes(sim_host)
    assert sizes[first.volume_name] == 2 * 2**30
    assert sizes[second.volume_name] == 3 * 2**30
    disks = hypervisor.domain_disks(sim_host.uri, str(vm.uuid), live=False)
    assert disks["vdb"].endswith(first.volume_name)
    assert disks["vdc"].endswith(second.volume_name)
    assert [d.target_dev for d in selectors.vm_export_disks(vm=vm)] == ["vda", "vdb", "vdc"]
    assert [d.volume for d in selectors.vm_export_disks(vm=vm)] == [
        vm.volume_name,
        first.volume_name,
        second.volume_name,
    ]


def test_attached_twice_is_a_conflict(world, sim_host, flavor, image, run_on_commit):
    vm = running_vm(world, flavor, image)
    other = running_vm(world, flavor, image, name="web-2")
    volume = new_volume(world)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    with pytest.raises(ConflictError, match="already attached"):
        services.volume_attach(volume=volume, vm=other, requested_by=world.member)
    volume.refresh_from_db()
    assert volume.vm == vm


def test_a_vm_of_another_tenant_is_refused(world, other_world, sim_host, flavor, image):
    theirs = VirtualMachineFactory(
        environment=other_world.development, owner=other_world.member, state=VMState.RUNNING
    )
    volume = new_volume(world)
    with pytest.raises((ValidationError, PermissionDenied)):
        services.volume_attach(volume=volume, vm=theirs, requested_by=world.member)
    # Even a platform admin, who sees both, cannot cross tenants.
    with pytest.raises(ValidationError, match="of its tenant"):
        services.volume_attach(volume=volume, vm=theirs, requested_by=world.platform_admin)
    volume.refresh_from_db()
    assert (volume.state, volume.vm) == (VolumeState.AVAILABLE, None)


def test_a_volume_stays_on_its_host(world, sim_host, tmp_path, flavor, image, run_on_commit):
    vm = running_vm(world, flavor, image)
    volume = new_volume(world)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    services.volume_detach(volume=volume, requested_by=world.member)
    elsewhere = make_sim_host(tmp_path)
    Host.objects.filter(pk=sim_host.pk).update(enabled=False)
    far = running_vm(world, flavor, image, name="far-1")
    assert far.host == elsewhere
    with pytest.raises(ValidationError) as exc:
        services.volume_attach(volume=volume, vm=far, requested_by=world.member)
    assert f"lives on host {sim_host.name}" in exc.value.message_dict["vm"][0]
    volume.refresh_from_db()
    assert (volume.state, volume.host) == (VolumeState.AVAILABLE, sim_host)


def test_a_vm_in_transition_takes_no_volume(world, sim_host, flavor, image):
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.PROVISIONING
    )
    volume = new_volume(world)
    with pytest.raises(ConflictError, match="running or stopped"):
        services.volume_attach(volume=volume, vm=vm, requested_by=world.member)


def test_cold_attach_to_a_stopped_vm_and_detach(world, sim_host, flavor, image, run_on_commit):
    vm = running_vm(world, flavor, image)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    volume = new_volume(world)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    volume.refresh_from_db()
    assert volume.state == VolumeState.IN_USE
    assert "vdb" in hypervisor.domain_disks(sim_host.uri, str(vm.uuid))
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    services.volume_detach(volume=volume, requested_by=world.member)
    volume.refresh_from_db()
    assert (volume.state, volume.vm, volume.target_dev) == (VolumeState.AVAILABLE, None, "")
    assert "vdb" not in hypervisor.domain_disks(sim_host.uri, str(vm.uuid), live=False)
    # Its storage stays on the host, with its data, for the next attachment.
    assert volume.volume_name in pool_volumes(sim_host)


def test_grow_never_shrink(world, sim_host, flavor, image, run_on_commit):
    vm = running_vm(world, flavor, image)
    volume = new_volume(world, size_gib=2)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    used = disk_used(world)
    for size in (1, 2):
        with pytest.raises(ValidationError, match="only grows"):
            services.volume_resize(volume=volume, size_gib=size, requested_by=world.member)
    services.volume_resize(volume=volume, size_gib=4, requested_by=world.member)
    volume.refresh_from_db()
    assert (volume.state, volume.size_gib, volume.resize_to_gib) == (VolumeState.IN_USE, 4, None)
    assert pool_volumes(sim_host)[volume.volume_name] == 4 * 2**30
    assert disk_used(world) == used + 2
    assert ledger(volume) == [("created", 2), ("resized", 4)]
    assert quota_services.quota_drift_check() == []


def test_growing_an_unplaced_volume_is_immediate(world, sim_host):
    volume = new_volume(world, size_gib=2)
    services.volume_resize(volume=volume, size_gib=3, requested_by=world.member)
    volume.refresh_from_db()
    assert (volume.state, volume.size_gib) == (VolumeState.AVAILABLE, 3)
    assert ledger(volume) == [("created", 2), ("resized", 3)]


def test_delete_needs_a_detached_volume_and_gives_everything_back(
    world, sim_host, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    used = disk_used(world)
    volume = new_volume(world, size_gib=3)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    with pytest.raises(ConflictError, match="detach it first"):
        services.volume_delete(volume=volume, requested_by=world.member)
    services.volume_detach(volume=volume, requested_by=world.member)
    volume.refresh_from_db()
    services.volume_delete(volume=volume, requested_by=world.member)
    volume.refresh_from_db()
    assert volume.state == VolumeState.DELETED
    assert volume.volume_name not in pool_volumes(sim_host)
    assert disk_used(world) == used
    assert [kind for kind, _size in ledger(volume)] == ["created", "deleted"]
    assert quota_services.quota_drift_check() == []
    # Its name is free again.
    new_volume(world, name=volume.name)


def test_only_the_owner_or_a_tenant_admin_operates_a_volume(world, sim_host):
    volume = new_volume(world)
    with pytest.raises(PermissionDenied):
        services.volume_delete(volume=volume, requested_by=world.other_member)
    services.volume_delete(volume=volume, requested_by=world.tenant_admin)


def test_deleting_the_vm_detaches_kept_volumes_and_deletes_the_others(
    world, sim_host, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    kept = new_volume(world, name="kept", size_gib=2, keep_after_vm_deletion=True)
    dropped = new_volume(world, name="dropped", size_gib=3, vm=vm)
    services.volume_attach(volume=kept, vm=vm, requested_by=world.member)
    used = disk_used(world)
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    vm.refresh_from_db()
    kept.refresh_from_db()
    dropped.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert (kept.state, kept.vm, kept.target_dev, kept.host) == (
        VolumeState.AVAILABLE,
        None,
        "",
        sim_host,
    )
    assert dropped.state == VolumeState.DELETED
    assert set(pool_volumes(sim_host)) == {kept.volume_name}
    assert disk_used(world) == used - vm.flavor.disk_gib - 3
    assert [kind for kind, _size in ledger(dropped)] == ["created", "deleted"]
    assert quota_services.quota_drift_check() == []


def test_a_failed_attachment_goes_to_error_and_can_be_undone(
    world, sim_host, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    # The domain disappears behind Nuage's back: the attachment cannot happen.
    hypervisor.remove_domain(sim_host.uri, str(vm.uuid))
    volume = new_volume(world)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)
    volume.refresh_from_db()
    assert volume.state == VolumeState.ERROR
    assert "no longer exists" in volume.error_message
    services.volume_detach(volume=volume, requested_by=world.member)
    volume.refresh_from_db()
    assert (volume.state, volume.vm) == (VolumeState.AVAILABLE, None)


def test_the_reconciler_redispatches_then_fails_a_stuck_volume(world, sim_host, settings):
    vm = VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.RUNNING, host=sim_host
    )
    volume = new_volume(world)
    services.volume_attach(volume=volume, vm=vm, requested_by=world.member)  # never dispatched
    volume.refresh_from_db()
    assert volume.state == VolumeState.CREATING
    late = timezone.now() + timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
    for _attempt in range(settings.NUAGE["MAX_ATTEMPTS"]):
        assert services.volumes_reconcile(now=late)["volumes_redispatched"] == 1
        late += timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 1)
    assert services.volumes_reconcile(now=late)["volumes_failed"] == 1
    volume.refresh_from_db()
    assert volume.state == VolumeState.ERROR
    assert "no progress" in volume.error_message


def test_a_redelivered_task_goes_on_where_the_first_stopped(
    world, sim_host, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    volume = new_volume(world)
    # As the attachment's commit left it, with its worker killed before it recorded anything
    # but after it made the storage.
    Volume.objects.unscoped().filter(pk=volume.pk).update(
        state=VolumeState.CREATING, host=sim_host, vm=vm, target_dev="vdb"
    )
    hypervisor.ensure_volume(
        sim_host.uri,
        pool=sim_host.storage_pool,
        name=volume.volume_name,
        capacity_gib=volume.size_gib,
        backing_volume=None,
    )
    while services.volume_advance(volume_id=volume.pk):
        pass
    volume.refresh_from_db()
    assert volume.state == VolumeState.IN_USE
    assert services.volume_advance(volume_id=volume.pk) is False  # nothing left to do


def test_a_vm_live_migrates_with_its_attached_volumes_and_back(
    world, sim_host, tmp_path, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    other = make_sim_host(tmp_path)
    first = new_volume(world, name="data-1", size_gib=2, vm=vm)
    second = new_volume(world, name="data-2", size_gib=3, vm=vm)
    for there, away in ((other, sim_host), (sim_host, other)):
        services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=there)
        vm.refresh_from_db()
        assert (vm.state, vm.host) == (VMState.RUNNING, there)
        for volume, gib, dev in ((first, 2, "vdb"), (second, 3, "vdc")):
            volume.refresh_from_db()
            assert (volume.state, volume.host, volume.vm) == (VolumeState.IN_USE, there, vm)
            assert pool_volumes(there)[volume.volume_name] == gib * 2**30
            assert volume.volume_name not in pool_volumes(away)
            disks = hypervisor.domain_disks(there.uri, str(vm.uuid), live=False)
            assert disks[dev].endswith(volume.volume_name)
    # Operated where it now is: detached, it stays on that host, free for its VMs.
    services.volume_detach(volume=first, requested_by=world.member)
    first.refresh_from_db()
    assert (first.state, first.host, first.vm) == (VolumeState.AVAILABLE, sim_host, None)


def test_a_vm_whose_volume_is_busy_is_not_migrated(
    world, sim_host, tmp_path, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    other = make_sim_host(tmp_path)
    volume = new_volume(world, vm=vm)
    Volume.objects.filter(pk=volume.pk).update(state=VolumeState.RESIZING, resize_to_gib=9)
    with pytest.raises(ConflictError, match="volume data-1 is resizing"):
        services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=other)
    vm.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, sim_host)
    assert volume.volume_name not in pool_volumes(other)


def test_a_failed_migration_leaves_the_volumes_where_they_were(
    world, sim_host, tmp_path, flavor, image, run_on_commit, monkeypatch
):
    vm = running_vm(world, flavor, image)
    other = make_sim_host(tmp_path)
    volume = new_volume(world, vm=vm)

    def refuse(*_args, **_kwargs):
        raise hypervisor.HypervisorError("the target hung up")

    monkeypatch.setattr(hypervisor, "migrate_domain", refuse)
    services.vm_migrate(vm=vm, requested_by=world.platform_admin, target=other)
    vm.refresh_from_db()
    volume.refresh_from_db()
    assert (vm.state, vm.host) == (VMState.RUNNING, sim_host)
    assert (volume.state, volume.host) == (VolumeState.IN_USE, sim_host)
    assert volume.volume_name in pool_volumes(sim_host)
    assert pool_volumes(other) == {}  # the copies made for it are gone


def test_a_resized_vm_keeps_its_volumes_in_its_definition(
    world, sim_host, flavor, image, run_on_commit
):
    vm = running_vm(world, flavor, image)
    volume = new_volume(world, vm=vm)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    bigger = FlavorFactory(name="bigger", vcpus=2, ram_mib=1024, disk_gib=2)
    op = services.vm_resize(vm=vm, flavor=bigger, requested_by=world.member)
    op.refresh_from_db()
    assert op.status == "succeeded", op.error_message
    disks = hypervisor.domain_disks(sim_host.uri, str(vm.uuid), live=False)
    assert disks["vdb"].endswith(volume.volume_name)


def test_a_vm_with_volumes_is_not_moved_for_a_resize(world, tmp_path, image, run_on_commit):
    first = make_sim_host(tmp_path, cpus=2, memory_mib=8192, cpu_ratio=1)
    small = FlavorFactory(name="one-cpu", vcpus=1, ram_mib=512, disk_gib=1)
    vm = running_vm(world, small, image)
    new_volume(world, vm=vm)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=small,
        image=image,
        name="web-2",
    )
    make_sim_host(tmp_path, cpus=8, memory_mib=4096)
    double = FlavorFactory(name="double", vcpus=2, ram_mib=1024, disk_gib=3)
    with pytest.raises(ConflictError, match="data volumes keep it there"):
        services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor, vm.host) == (VMState.STOPPED, small, first)
    # Nor when its environment wants an approver for that move: it is refused at once.
    world.development.requires_approval = True
    world.development.save()
    with pytest.raises(ConflictError, match="data volumes keep it there"):
        services.vm_resize(vm=vm, flavor=double, requested_by=world.member)
    vm.refresh_from_db()
    assert (vm.state, vm.flavor) == (VMState.STOPPED, small)
