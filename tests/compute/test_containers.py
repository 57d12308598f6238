"""System containers beside VMs, on libvirt's test driver: requests, placement, lifecycle, API."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from lxml import etree

from compute import hypervisor, services
from compute.busyboxroot import build_busybox_rootfs
from compute.choices import ImageKind, OperationStatus, VMKind, VMState
from compute.hypervisor.connection import get_connection
from compute.models import Flavor, Host, Image, VirtualMachine
from portal.audit import AuditEntry
from tests.conftest import TenantWorld, make_sim_host
from tests.factories import FlavorFactory, ImageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def container_root(settings, tmp_path: Path) -> Path:
    root = tmp_path / "containers"
    settings.NUAGE = {**settings.NUAGE, "CONTAINER_ROOT": str(root)}
    return root


@pytest.fixture
def lxc_host(db: None, tmp_path: Path, container_root: Path) -> Host:
    """A simulated LXC host (libvirt's test driver takes LXC domain XML as it is)."""
    return make_sim_host(tmp_path, cpus=4, memory_mib=4096, domain_type="lxc")


@pytest.fixture
def rootfs_image(db: None, tmp_path: Path) -> Image:
    path = build_busybox_rootfs(tmp_path / "busybox-rootfs")
    return ImageFactory(
        name="busybox", kind=ImageKind.ROOTFS, kernel_path="", rootfs_path=str(path)
    )


@pytest.fixture
def container_flavor(db: None) -> Flavor:
    return FlavorFactory(
        name="c-small", kind=VMKind.CONTAINER, vcpus=1, ram_mib=64, disk_gib=1, cpu_cap_percent=50
    )


def _request(world: TenantWorld, flavor: Flavor, image: Image, **kw: object) -> VirtualMachine:
    values: dict[str, object] = {
        "requested_by": world.member,
        "environment": world.development,
        "flavor": flavor,
        "image": image,
        "name": "box-1",
    }
    values.update(kw)
    return services.vm_request_create(**values)  # type: ignore[arg-type]


def _domain_xml(host: Host, vm: VirtualMachine) -> etree._Element:
    dom = get_connection(host.uri).lookupByUUIDString(str(vm.uuid))
    return etree.fromstring(dom.XMLDesc(0))


def test_container_runs_on_the_lxc_host_on_its_own_rootfs_copy(
    world, sim_host, lxc_host, container_flavor, rootfs_image, flavor, image, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    box.refresh_from_db()
    assert box.kind == VMKind.CONTAINER
    assert box.state == VMState.RUNNING
    assert box.host == lxc_host
    op = box.operations.get()
    assert [s.name for s in op.steps.all()] == [
        "scheduled",
        "preparing_rootfs",
        "defining",
        "starting",
    ]
    copy = Path(box.rootfs_dir)
    assert (copy / "sbin" / "init").is_file()
    xml = _domain_xml(lxc_host, box)
    assert xml.get("type") == "lxc"
    assert xml.find("devices/filesystem/source").get("dir") == str(copy)
    assert xml.findtext("cputune/quota") == "50000"
    assert xml.findtext("memtune/hard_limit") == str(64 * 1024)  # KiB, as libvirt shows it
    # A VM requested beside it goes to the VM host, never to the LXC one.
    vm = _request(world, flavor, image, name="web-1")
    vm.refresh_from_db()
    assert (vm.kind, vm.host) == (VMKind.VM, sim_host)


def test_container_stops_starts_restarts_and_delete_leaves_nothing(
    world, lxc_host, container_flavor, rootfs_image, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    for action, state in (
        ("stop", VMState.STOPPED),
        ("start", VMState.RUNNING),
        ("reboot", VMState.RUNNING),
    ):
        services.vm_action(vm=box, action=action, requested_by=world.member)
        box.refresh_from_db()
        assert box.state == state, box.error_message
        assert box.operations.first().status == OperationStatus.SUCCEEDED
    assert hypervisor.domain_runtime_state(lxc_host.uri, str(box.uuid)) == "running"
    services.vm_action(vm=box, action="delete", requested_by=world.member)
    box.refresh_from_db()
    assert box.state == VMState.DELETED
    assert [s.name for s in box.operations.first().steps.all()] == [
        "removing_domain",
        "removing_rootfs",
    ]
    assert hypervisor.domain_runtime_state(lxc_host.uri, str(box.uuid)) == "no_domain"
    assert not Path(box.rootfs_dir).exists()


def test_container_requests_that_do_not_fit_are_refused_with_the_field(
    world, sim_host, lxc_host, container_flavor, rootfs_image, flavor, image
):
    cases = [
        ({"flavor": flavor, "image": rootfs_image, "kind": "container"}, "flavor"),
        ({"flavor": container_flavor, "image": image}, "image"),
        ({"flavor": flavor, "image": rootfs_image}, "image"),
        ({"flavor": container_flavor, "image": rootfs_image, "kind": "vm"}, "flavor"),
        (
            {
                "flavor": container_flavor,
                "image": rootfs_image,
                "ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOk3x2G2t0pZ5s1QyQhPn6Gq3y"
                "Qk8T1v0bq9x5l7m2aB a@b",
            },
            "key_pairs",
        ),
        (
            {
                "flavor": FlavorFactory(kind=VMKind.CONTAINER, vcpus=1, ram_mib=8192),
                "image": rootfs_image,
            },
            "flavor",
        ),
    ]
    for fields, field in cases:
        with pytest.raises(ValidationError) as exc:
            _request(world, **fields)  # type: ignore[arg-type]
        assert field in exc.value.message_dict, (fields, exc.value.message_dict)
    assert not VirtualMachine.objects.unscoped().exists()


def test_reconciler_sees_a_container_that_died(
    world, lxc_host, container_flavor, rootfs_image, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    # Its init ended behind Nuage's back.
    get_connection(lxc_host.uri).lookupByUUIDString(str(box.uuid)).destroy()
    counts = services.reconcile()
    assert counts["containers_stopped"] == 1
    box.refresh_from_db()
    assert box.state == VMState.STOPPED
    assert box.runtime_state == "shutoff"
    assert "stopped by itself" in box.error_message
    assert AuditEntry.objects.filter(action="vm.domain_stopped", object_id=str(box.pk)).exists()
    # It starts again on request.
    services.vm_action(vm=box, action="start", requested_by=world.member)
    box.refresh_from_db()
    assert box.state == VMState.RUNNING


def test_container_is_measured_per_domain(
    world, lxc_host, container_flavor, rootfs_image, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    stats = hypervisor.domain_stats(lxc_host.uri)
    assert [s.uuid for s in stats] == [str(box.uuid)]


# --- the API --------------------------------------------------------------------------------


def test_api_requests_a_container_and_filters_the_list_by_kind(
    world, sim_host, lxc_host, container_flavor, rootfs_image, flavor, image, api, run_on_commit
):
    api.force_authenticate(world.member)
    response = api.post(
        "/api/v1/vms/",
        {
            "kind": "container",
            "name": "box-api",
            "environment": world.development.pk,
            "flavor": container_flavor.pk,
            "image": rootfs_image.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "container"
    response = api.post(
        "/api/v1/vms/",
        {
            "name": "web-api",
            "environment": world.development.pk,
            "flavor": flavor.pk,
            "image": image.pk,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "vm"
    names = {
        k: [v["name"] for v in api.get(f"/api/v1/vms/?kind={k}").json()["results"]]
        for k in ("vm", "container")
    }
    assert names == {"vm": ["web-api"], "container": ["box-api"]}
    bad = api.post(
        "/api/v1/vms/",
        {
            "kind": "container",
            "name": "box-bad",
            "environment": world.development.pk,
            "flavor": flavor.pk,
            "image": rootfs_image.pk,
        },
        format="json",
    )
    assert bad.status_code == 400
    assert "flavor" in bad.json()


def test_admin_registers_rootfs_images_and_what_is_not_one_is_a_400(world, api, tmp_path: Path):
    api.force_authenticate(world.platform_admin)
    good = build_busybox_rootfs(tmp_path / "rootfs")
    response = api.post(
        "/api/v1/images/",
        {"name": "busybox", "kind": "rootfs", "rootfs_path": str(good)},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["rootfs_path"] == str(good)
    (tmp_path / "empty").mkdir()
    for path in (str(tmp_path / "empty"), str(tmp_path / "missing.tar.gz"), ""):
        response = api.post(
            "/api/v1/images/",
            {"name": "not-rootfs", "kind": "rootfs", "rootfs_path": path},
            format="json",
        )
        assert response.status_code == 400, response.content
        assert "rootfs_path" in response.json()
    assert not Image.objects.filter(name="not-rootfs").exists()


def test_what_is_not_a_rootfs_is_said_in_the_admins_language(world, api, tmp_path: Path):
    api.force_authenticate(world.platform_admin)
    (tmp_path / "empty").mkdir()
    response = api.post(
        "/api/v1/images/",
        {"name": "vide", "kind": "rootfs", "rootfs_path": str(tmp_path / "empty")},
        format="json",
        HTTP_ACCEPT_LANGUAGE="fr",
    )
    assert response.status_code == 400
    assert response.json()["rootfs_path"] == [
        f"Le répertoire {tmp_path / 'empty'} n’a pas de /sbin/init exécutable : ce n’est pas un "
        "système de fichiers racine."
    ]


def test_admin_registers_an_lxc_host_and_one_without_the_driver_is_a_400(world, api, monkeypatch):
    api.force_authenticate(world.platform_admin)

    def no_driver(uri: str) -> str:
        raise hypervisor.HostUnreachable(
            f"Cannot reach the host at {uri}: no connection driver available for {uri}"
        )

    monkeypatch.setattr(hypervisor, "host_driver", no_driver)
    response = api.post("/api/v1/hosts/", {"name": "lxc-1", "uri": "lxc:///"}, format="json")
    assert response.status_code == 400
    assert "no LXC driver" in response.json()["uri"][0]
    # An LXC host that does not answer says so (not that it lacks the driver).
    monkeypatch.undo()
    response = api.post(
        "/api/v1/hosts/", {"name": "lxc-1", "uri": "lxc+tcp://127.0.0.1:1/"}, format="json"
    )
    assert response.status_code == 400
    assert "Cannot reach" in response.json()["uri"][0]
    monkeypatch.setattr(hypervisor, "host_driver", lambda uri: "QEMU")
    response = api.post(
        "/api/v1/hosts/", {"name": "lxc-1", "uri": "lxc+ssh://root@lxc.example/"}, format="json"
    )
    assert response.status_code == 400
    assert "not LXC" in response.json()["uri"][0]
    response = api.post(
        "/api/v1/hosts/",
        {"name": "lxc-1", "uri": "qemu:///system", "domain_type": "lxc"},
        format="json",
    )
    assert response.status_code == 400
    assert "domain_type" in response.json()
    assert not Host.objects.filter(name="lxc-1").exists()


def test_container_flavor_over_every_lxc_hosts_memory_is_a_400(world, api, lxc_host):
    api.force_authenticate(world.platform_admin)
    response = api.post(
        "/api/v1/flavors/",
        {"name": "c-huge", "kind": "container", "vcpus": 1, "ram_mib": 8192, "disk_gib": 1},
        format="json",
    )
    assert response.status_code == 400
    assert "4096 MiB" in response.json()["ram_mib"][0]
    assert not Flavor.objects.filter(name="c-huge").exists()
    response = api.post(
        "/api/v1/flavors/",
        {"name": "c-ok", "kind": "container", "vcpus": 1, "ram_mib": 256, "disk_gib": 1},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == "container"


def test_lxc_uri_forms(db):
    from compute.models import validate_libvirt_uri

    for good in ("lxc:///", "lxc+ssh://root@h.example/", "lxc+tcp://127.0.0.1:16509/"):
        validate_libvirt_uri(good)
    for bad in ("lxc:///system", "lxc+ssh:///"):
        with pytest.raises(ValidationError):
            validate_libvirt_uri(bad)


def test_vm_list_page_filters_by_kind_and_a_container_has_no_graphical_console(
    world, sim_host, lxc_host, container_flavor, rootfs_image, flavor, image, client, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    _request(world, flavor, image, name="web-1")
    client.force_login(world.member)
    page = client.get("/?kind=container").content.decode()
    assert 'data-vm="box-1"' in page and 'data-vm="web-1"' not in page
    page = client.get("/").content.decode()
    assert 'data-vm="box-1"' in page and 'data-vm="web-1"' in page
    detail = client.get(f"/vms/{box.pk}/").content.decode()
    assert "System container" in detail
    assert 'data-console="serial"' in detail and 'data-console="vnc"' not in detail
    assert client.get(f"/vms/{box.pk}/console/vnc/").status_code == 404


def test_a_container_is_never_live_migrated(
    world, lxc_host, container_flavor, rootfs_image, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    with pytest.raises(ValidationError, match="cannot be live-migrated"):
        services.vm_migrate(vm=box, requested_by=world.platform_admin)


def test_what_only_a_vm_has_is_a_409_for_a_container(
    world, lxc_host, container_flavor, rootfs_image, api, run_on_commit
):
    box = _request(world, container_flavor, rootfs_image)
    api.force_authenticate(world.member)
    for path, body in (
        (f"/api/v1/vms/{box.pk}/snapshots/", {"name": "before"}),
        (f"/api/v1/vms/{box.pk}/export/", {}),
        (f"/api/v1/vms/{box.pk}/resize/", {"flavor": container_flavor.pk}),
        (
            "/api/v1/volumes/",
            {"name": "data", "environment": world.development.pk, "size_gib": 1, "vm": box.pk},
        ),
    ):
        response = api.post(path, body, format="json")
        assert response.status_code == 409, (path, response.content)
        assert "is a container" in str(response.json()), (path, response.json())
    box.refresh_from_db()
    assert box.state == VMState.RUNNING


def test_a_qemu_host_cannot_be_turned_into_an_lxc_one(world, sim_host, api):
    from compute.models import Host as HostModel

    qemu = HostModel.objects.create(name="q-1", uri="qemu+tcp://127.0.0.1:1/system")
    api.force_authenticate(world.platform_admin)
    response = api.patch(f"/api/v1/hosts/{qemu.pk}/", {"domain_type": "lxc"}, format="json")
    assert response.status_code == 400
    assert "domain_type" in response.json()
    qemu.refresh_from_db()
    assert qemu.domain_type == "qemu"
