"""The VM lifecycle through services, on libvirt's test driver."""

from __future__ import annotations

import libvirt
import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from compute import hypervisor, services
from compute.choices import OperationStatus, RuntimeState, StepStatus, VMState
from compute.models import Host, VirtualMachine
from portal.errors import ConflictError
from tests.conftest import TenantWorld
from tests.factories import FlavorFactory, ImageFactory

pytestmark = pytest.mark.django_db


def request_vm(world: TenantWorld, flavor, image, *, env=None, name="web-1", user=None):
    return services.vm_request_create(
        requested_by=user or world.member,
        environment=env or world.development,
        flavor=flavor,
        image=image,
        name=name,
    )


def domains_on(host: Host) -> list[str]:
    return sorted(hypervisor.domain_runtime_states(host.uri))


def volumes_on(host: Host) -> list[str]:
    conn = libvirt.open(host.uri) if False else None  # noqa: F841 - the cached one is shared below
    from compute.hypervisor.connection import get_connection

    pool = get_connection(host.uri).storagePoolLookupByName(host.storage_pool)
    pool.refresh()
    return sorted(pool.listVolumes())


def test_development_request_is_approved_and_runs(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.host == sim_host
    assert vm.runtime_state == RuntimeState.RUNNING
    assert hypervisor.domain_runtime_state(sim_host.uri, str(vm.uuid)) == "running"
    op = vm.operations.get()
    assert op.status == OperationStatus.SUCCEEDED
    assert [s.name for s in op.steps.all()] == [
        "scheduled",
        "creating_disk",
        "preparing_seed",
        "defining",
        "starting",
    ]
    assert {s.status for s in op.steps.all()} == {StepStatus.DONE}
    assert volumes_on(sim_host) == sorted([vm.volume_name, vm.seed_volume_name])


def test_production_request_waits_for_an_approver(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image, env=world.production)
    assert vm.state == VMState.PENDING_APPROVAL
    assert domains_on(sim_host) == []
    services.vm_approve(vm=vm, approved_by=world.approver)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert vm.approved_by == world.approver


def test_nobody_approves_their_own_request(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image, env=world.production, user=world.approver)
    with pytest.raises(ValidationError, match="own request"):
        services.vm_approve(vm=vm, approved_by=world.approver)
    vm.refresh_from_db()
    assert vm.state == VMState.PENDING_APPROVAL


def test_member_cannot_approve(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image, env=world.production)
    with pytest.raises(PermissionDenied):
        services.vm_approve(vm=vm, approved_by=world.other_member)


def test_approving_twice_is_a_conflict(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image, env=world.production)
    services.vm_approve(vm=vm, approved_by=world.approver)
    with pytest.raises(ConflictError, match="running"):
        services.vm_approve(vm=VirtualMachine.objects.get(pk=vm.pk), approved_by=world.tenant_admin)
    assert VirtualMachine.objects.get(pk=vm.pk).operations.count() == 1


def test_rejection_needs_a_reason_and_blocks_approval(
    world, sim_host, flavor, image, run_on_commit
):
    vm = request_vm(world, flavor, image, env=world.production)
    with pytest.raises(ValidationError, match="reason"):
        services.vm_reject(vm=vm, rejected_by=world.approver, reason="  ")
    services.vm_reject(vm=vm, rejected_by=world.approver, reason="Use the shared cluster")
    vm.refresh_from_db()
    assert (vm.state, vm.rejection_reason) == (VMState.REJECTED, "Use the shared cluster")
    with pytest.raises(ConflictError, match="rejected"):
        services.vm_approve(vm=vm, approved_by=world.tenant_admin)
    assert domains_on(sim_host) == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "cannot be blank"),
        ("x" * 64, "at most 63"),
        ("Web_1", "lowercase"),
        ("-web", "lowercase"),
    ],
)
def test_bad_vm_names_are_refused(world, sim_host, flavor, image, name, message):
    with pytest.raises(ValidationError) as exc:
        request_vm(world, flavor, image, name=name)
    assert message in " ".join(exc.value.message_dict["name"])
    assert not VirtualMachine.objects.exists()


def test_duplicate_name_in_tenant_is_refused_until_deleted(
    world, sim_host, flavor, image, run_on_commit
):
    vm = request_vm(world, flavor, image)
    with pytest.raises(ValidationError, match="already exists"):
        request_vm(world, flavor, image)
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    assert request_vm(world, flavor, image).name == "web-1"


def test_flavor_no_host_can_fit_is_refused(world, sim_host, image):
    huge = FlavorFactory(vcpus=64, ram_mib=1024 * 1024)
    with pytest.raises(ValidationError) as exc:
        request_vm(world, huge, image)
    assert "No host can fit" in exc.value.message_dict["flavor"][0]


def test_stop_start_reboot_delete(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image)
    uuid = str(vm.uuid)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.STOPPED
    assert hypervisor.domain_runtime_state(sim_host.uri, uuid) == "shutoff"
    services.vm_action(vm=vm, action="start", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    services.vm_action(vm=vm, action="reboot", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED
    assert domains_on(sim_host) == []
    assert volumes_on(sim_host) == []


def test_only_owner_or_tenant_admin_operates_a_vm(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image)
    with pytest.raises(PermissionDenied):
        services.vm_action(vm=vm, action="stop", requested_by=world.other_member)
    with pytest.raises(PermissionDenied):
        services.vm_action(vm=vm, action="stop", requested_by=world.finance)
    services.vm_action(vm=vm, action="stop", requested_by=world.tenant_admin)
    assert VirtualMachine.objects.get(pk=vm.pk).state == VMState.STOPPED


def test_stopping_a_stopped_vm_is_a_conflict(world, sim_host, flavor, image, run_on_commit):
    vm = request_vm(world, flavor, image)
    services.vm_action(vm=vm, action="stop", requested_by=world.member)
    with pytest.raises(ConflictError, match="stopped"):
        services.vm_action(
            vm=VirtualMachine.objects.get(pk=vm.pk), action="stop", requested_by=world.member
        )


def test_missing_base_volume_fails_visibly_and_leaves_nothing(
    world, sim_host, flavor, run_on_commit
):
    disk_image = ImageFactory(kind="disk", base_volume="debian-12.qcow2", kernel_path="")
    vm = request_vm(world, flavor, disk_image)
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "base volume 'debian-12.qcow2' is missing" in vm.error_message
    assert vm.host is None
    assert domains_on(sim_host) == [] and volumes_on(sim_host) == []
    failed = vm.operations.get().steps.get(status=StepStatus.FAILED)
    assert failed.name == "creating_disk"


def test_libvirt_error_while_defining_removes_the_disk(
    world, sim_host, flavor, image, run_on_commit
):
    # Another domain already holds the name the VM's domain would get: defineXML refuses it.
    vm = VirtualMachine(tenant=world.tenant, name="web-1")
    from compute.hypervisor.connection import get_connection
    from compute.hypervisor.xml import DomainSpec, domain_xml

    conn = get_connection(sim_host.uri)
    real = request_vm.__wrapped__ if hasattr(request_vm, "__wrapped__") else None  # noqa: F841
    original_uuid_hex = None  # noqa: F841
    squatter = None

    def squat(vm_obj):
        nonlocal squatter
        squatter = conn.defineXML(
            domain_xml(
                DomainSpec(
                    name=vm_obj.domain_name,
                    uuid="11111111-2222-3333-4444-555555555555",
                    title="x",
                    vcpus=1,
                    memory_mib=64,
                    disk_path="/nuage-pool/other.qcow2",
                )
            )
        )

    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    squat(vm)
    services.vm_approve(vm=vm, approved_by=world.approver)
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "already" in vm.error_message
    assert volumes_on(sim_host) == []
    assert domains_on(sim_host) == ["11111111-2222-3333-4444-555555555555"]  # untouched


def test_unreachable_host_puts_vm_in_error_with_reason(
    world, db, flavor, image, run_on_commit, tmp_path
):
    Host.objects.create(
        name="gone",
        uri=f"test://{tmp_path}/missing.xml",
        cpus=8,
        memory_mib=16384,
        disk_gib=100,
        reachable=True,
    )
    vm = request_vm(world, flavor, image)
    vm.refresh_from_db()
    assert vm.state == VMState.ERROR
    assert "Cannot reach the host" in vm.error_message


def test_no_capacity_left_puts_vm_in_error(world, tmp_path, image, run_on_commit):
    from tests.conftest import make_sim_host

    make_sim_host(tmp_path, cpus=2, memory_mib=1024)
    big = FlavorFactory(vcpus=1, ram_mib=1024)
    request_vm(world, big, image, name="first")
    second = request_vm(world, big, image, name="second")
    second.refresh_from_db()
    assert second.state == VMState.ERROR
    assert "(1 vCPU, 1024 MiB RAM, 1 GiB disk)" in second.error_message
    assert "1 without enough memory" in second.error_message


def test_placement_picks_the_host_with_most_free_memory(world, tmp_path, image, run_on_commit):
    from tests.conftest import make_sim_host

    small = make_sim_host(tmp_path, memory_mib=4096)
    big = make_sim_host(tmp_path, memory_mib=8192)
    flavor = FlavorFactory(ram_mib=3072)
    placed = [request_vm(world, flavor, image, name=f"vm-{i}") for i in range(3)]
    hosts = [VirtualMachine.objects.get(pk=vm.pk).host for vm in placed]
    assert hosts == [big, big, small]  # free after each: 5120/4096, 2048/4096, 2048/1024


def test_rerunning_a_step_adopts_what_the_first_run_made(world, sim_host, flavor, image):
    """A redelivered message after a crash finds the volume and domain and goes on."""
    from django.test.utils import CaptureQueriesContext  # noqa: F401

    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.production,
        flavor=flavor,
        image=image,
        name="web-1",
    )
    op = services.vm_approve(vm=vm, approved_by=world.approver)  # not dispatched: no commit
    for _ in range(4):
        services.operation_advance(operation_id=op.id)  # scheduled, disk, seed, define
    # The "crash": the define step's effects exist, and the same steps run again.
    from compute.models import OperationStep

    OperationStep.objects.filter(operation=op).update(status=StepStatus.PENDING)
    while services.operation_advance(operation_id=op.id):
        pass
    services.operation_advance(operation_id=op.id)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    assert domains_on(sim_host) == [str(vm.uuid)]
    assert volumes_on(sim_host) == sorted([vm.volume_name, vm.seed_volume_name])


def test_provisioned_vm_boots_with_a_seed_holding_its_key_and_identity(
    world, sim_host, flavor, image, run_on_commit
):
    import io

    import pycdlib
    import yaml
    from lxml import etree

    from compute.hypervisor.connection import get_connection
    from compute.services.seed import seed_iso

    key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBm7kH2VfYyH6n0AAAAAAAAAAAAAAAAAAAAAAAAAAAAA a@b"
    vm = services.vm_request_create(
        requested_by=world.member,
        environment=world.development,
        flavor=flavor,
        image=image,
        name="web-1",
        ssh_public_key=key,
    )
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING
    step = vm.operations.get().steps.get(name="preparing_seed")
    assert vm.seed_volume_name in step.detail
    dom = get_connection(sim_host.uri).lookupByUUIDString(str(vm.uuid))
    (cdrom,) = etree.fromstring(dom.XMLDesc(0)).iterfind("devices/disk[@device='cdrom']")
    assert cdrom.find("source").get("file").endswith(vm.seed_volume_name)

    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(seed_iso(vm)))
    try:

        def read(name: str) -> dict:
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, rr_path=f"/{name}")
            return yaml.safe_load(out.getvalue())

        assert read("meta-data") == {"instance-id": str(vm.uuid), "local-hostname": "web-1"}
        assert read("user-data") == {"ssh_authorized_keys": [key]}
    finally:
        iso.close()

    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    assert volumes_on(sim_host) == []
