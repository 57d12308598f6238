"""Registering and configuring hosts: URIs, pool capacity, overcommit ratios, tags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from compute import services
from compute.hypervisor.simulated import write_test_node
from compute.models import Host
from portal.models import AuditEntry
from tests.test_api import client_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://example.org/", "starting with qemu://"),
        ("xen:///system", "starting with qemu://"),
        ("qemu:///root", "/system or /session"),
        ("qemu+ssh:///system", "Name the remote host"),
        ("qemu+tls:///system", "Name the remote host"),
        ("test://", "test:///default"),
    ],
)
def test_registering_a_host_with_a_bad_uri_is_a_field_error(world, api, uri, message):
    answer = client_for(world.platform_admin).post(
        "/api/v1/hosts/", {"name": "h", "uri": uri}, format="json"
    )
    assert answer.status_code == 400
    assert message in answer.json()["uri"][0]
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    "uri",
    [
        "qemu:///system",
        "qemu:///session",
        "qemu+tcp://127.0.0.1:16510/system",
        "qemu+ssh://root@kvm-1.example/system?keyfile=/etc/nuage/id",
        "qemu+tls://kvm-2.example/system",
        "qemu+tls://kvm-2.example:16514/system?pkipath=/etc/nuage/pki",
        "test:///default",
    ],
)
def test_every_supported_uri_form_passes_validation(uri):
    Host(name="h", uri=uri).full_clean(exclude=["cpus", "memory_mib", "disk_gib"])


def test_registration_reads_disk_capacity_from_the_storage_pool(world, tmp_path):
    # libvirt's test driver reports every pool as 100 GiB, whatever the node file says.
    uri = write_test_node(tmp_path / "node.xml", cpus=8, memory_mib=4096)
    host = services.host_register(registered_by=world.platform_admin, name="h", uri=uri)
    assert (host.cpus, host.memory_mib, host.disk_gib) == (8, 4096, 100)
    default = services.host_register(
        registered_by=world.platform_admin,
        name="d",
        uri="test:///default",
        storage_pool="default-pool",
    )
    assert default.disk_gib == 100


def test_a_host_without_the_named_pool_is_refused(world):
    with pytest.raises(ValidationError) as exc:
        services.host_register(registered_by=world.platform_admin, name="d", uri="test:///default")
    assert "no storage pool named 'nuage'" in exc.value.message_dict["storage_pool"][0]
    assert not Host.objects.exists()


def test_ratios_and_tags_through_the_api(world, tmp_path):
    admin = client_for(world.platform_admin)
    uri = write_test_node(tmp_path / "node.xml", cpus=8, memory_mib=4096)
    created = admin.post(
        "/api/v1/hosts/",
        {"name": "h", "uri": uri, "cpu_ratio": "8", "tags": ["Env:Production", "ssd", "ssd"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["tags"] == ["env:production", "ssd"]
    assert body["effective_ratios"] == {"cpu": 8.0, "ram": 1.0, "disk": 1.0}
    assert body["status"] == "up"
    assert body["disk_gib"] == 100
    changed = admin.patch(
        f"/api/v1/hosts/{body['id']}/",
        {"ram_ratio": "1.5", "cpu_ratio": None, "tags": [], "enabled": False},
        format="json",
    )
    assert changed.status_code == 200
    assert changed.json()["effective_ratios"] == {"cpu": 4.0, "ram": 1.5, "disk": 1.0}
    assert changed.json()["tags"] == []
    assert changed.json()["status"] == "disabled"
    entry = AuditEntry.objects.filter(action="host.update").latest("id")
    assert entry.changes["ram_ratio"] == [None, "1.50"]


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"cpu_ratio": "0"}, "cpu_ratio", "greater than or equal to 0.10"),
        ({"disk_ratio": "100"}, "disk_ratio", "less than or equal to 64"),
        ({"tags": ["has space"]}, "tags", "not has space"),
        ({"tags": "env:production"}, "tags", "list"),
    ],
)
def test_bad_ratios_and_tags_get_field_messages(world, tmp_path, payload, field, message):
    host = Host.objects.create(
        name="h", uri=write_test_node(tmp_path / "n.xml", cpus=2, memory_mib=1024)
    )
    answer = client_for(world.platform_admin).patch(
        f"/api/v1/hosts/{host.pk}/", payload, format="json"
    )
    assert answer.status_code == 400
    assert message in str(answer.json()[field])
    host.refresh_from_db()
    assert (host.cpu_ratio, host.disk_ratio, host.tags) == (None, None, [])


def test_tags_refused_by_the_model_in_the_service_too(world, tmp_path):
    host = Host.objects.create(
        name="h", uri=write_test_node(tmp_path / "n.xml", cpus=2, memory_mib=1024)
    )
    with pytest.raises(ValidationError) as exc:
        services.host_update(updated_by=world.platform_admin, host=host, tags=["env production"])
    assert "tags" in exc.value.message_dict


def test_host_ratio_overrides_the_platform_default(settings):
    settings.NUAGE = {**settings.NUAGE, "CPU_RATIO": 2.0}
    assert Host(cpu_ratio=None).effective_ratio("cpu") == 2.0
    assert Host(cpu_ratio=Decimal("6.5")).effective_ratio("cpu") == 6.5


def test_members_cannot_change_a_hosts_ratios(world, tmp_path):
    host = Host.objects.create(
        name="h", uri=write_test_node(tmp_path / "n.xml", cpus=2, memory_mib=1024)
    )
    answer = client_for(world.member).patch(
        f"/api/v1/hosts/{host.pk}/", {"cpu_ratio": "16"}, format="json"
    )
    assert answer.status_code == 404
    host.refresh_from_db()
    assert host.cpu_ratio is None


def test_one_status_rule_for_placement_drs_maintenance_and_the_pages(world, api):
    """Every combination of the flags: the status the API and pages show, the filter used to
    pick hosts, and whether placement would put a VM there all come from one rule."""
    import itertools

    from django.utils import timezone

    from compute import selectors
    from compute.choices import HostStatus
    from compute.models import host_status_q
    from compute.services.placement import _host_states
    from tests.factories import HostFactory

    expected = {
        # (enabled, maintenance, reachable, declared down)
        (False, False, True, False): HostStatus.DISABLED,
        (False, True, False, True): HostStatus.DISABLED,
        (True, True, True, True): HostStatus.DOWN,
        (True, False, False, True): HostStatus.DOWN,
        (True, True, False, False): HostStatus.UNREACHABLE,
        (True, False, False, False): HostStatus.UNREACHABLE,
        (True, True, True, False): HostStatus.MAINTENANCE,
        (True, False, True, False): HostStatus.UP,
    }
    api.force_authenticate(world.platform_admin)
    for enabled, maintenance, reachable, down in itertools.product((False, True), repeat=4):
        host = HostFactory(
            enabled=enabled,
            maintenance=maintenance,
            reachable=reachable,
            down_since=timezone.now() if down else None,
        )
        status = host.status
        key = (enabled, maintenance, reachable, down)
        assert status == expected.get(key, status), key
        assert api.get(f"/api/v1/hosts/{host.pk}/").json()["status"] == status
        matching = {s for s in HostStatus if Host.objects.filter(host_status_q(s), pk=host.pk)}
        assert matching == {status}, key
        (state,) = _host_states(Host.objects.filter(pk=host.pk))
        assert (state.enabled and state.up) == (status == HostStatus.UP), key
        (row,) = [
            r
            for r in selectors.host_capacity_list(fetched_by=world.platform_admin)
            if r.host == host
        ]
        shown = "ready for maintenance" if status == HostStatus.MAINTENANCE else status
        assert row.status == shown, key
