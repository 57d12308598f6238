"""Networks, grants and addresses: validation, who sees what, what a VM request gets, and
when the address comes back."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from compute import ipam, services
from compute.choices import VMState
from compute.models import Network, NetworkGrant, NetworkInterface, VirtualMachine
from portal import services as portal_services
from portal.errors import ConflictError
from portal.models import AuditEntry
from quotas.models import Quota
from tests.factories import ImageFactory, VirtualMachineFactory
from tests.portal.test_keypairs import ed25519_key

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def lan(admin, **fields) -> Network:
    data = {
        "name": "lan",
        "kind": "bridge",
        "bridge": "br0",
        "subnet": "10.20.0.0/24",
        "gateway": "10.20.0.1",
        "pool_start": "10.20.0.1",
        "pool_end": "10.20.0.20",
        "dns_servers": ["10.20.0.1"],
        **fields,
    }
    return ipam.network_create(created_by=admin, **data)


def request_vm(world, flavor, image, *, name="web-1", env=None, **kwargs) -> VirtualMachine:
    return services.vm_request_create(
        requested_by=world.member,
        environment=env or world.development,
        flavor=flavor,
        image=image,
        name=name,
        **kwargs,
    )


# --- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"subnet": "10.20.0.0/33"}, "subnet", "not a subnet in CIDR form"),
        ({"subnet": "10.20.0.5/24"}, "subnet", "host bits must be zero"),
        ({"gateway": "10.99.0.1"}, "gateway", "outside 10.20.0.0/24"),
        ({"pool_start": "10.21.0.1"}, "pool_start", "outside 10.20.0.0/24"),
        ({"pool_end": "10.20.0.255"}, "pool_end", "broadcast address"),
        ({"pool_start": "10.20.0.50"}, "pool_end", "ends before it starts"),
        ({"pool_start": "banana"}, "pool_start", "not an IP address"),
        ({"bridge": ""}, "bridge", "Name the host bridge"),
        ({"kind": "nat", "bridge": "br0"}, "bridge", "Only bridge networks"),
        ({"dns_servers": ["8.8.8.8", "x"]}, "dns_servers", "not an IP address"),
        ({"kind": "wormhole"}, "kind", "Choose one of"),
        ({"name": "Bad Name"}, "name", "lowercase"),
    ],
)
def test_bad_networks_are_refused_on_the_field_at_fault(world, fields, field, message):
    with pytest.raises(ValidationError) as info:
        lan(world.platform_admin, **fields)
    assert message in " ".join(info.value.message_dict[field])
    assert not Network.objects.exists()


def test_overlapping_subnets_are_refused(world):
    lan(world.platform_admin)
    with pytest.raises(ValidationError) as info:
        lan(world.platform_admin, name="lan2", subnet="10.20.0.128/25", gateway="10.20.0.129",
            pool_start="10.20.0.130", pool_end="10.20.0.140")  # fmt: skip
    assert info.value.message_dict["subnet"] == [
        "10.20.0.128/25 overlaps 10.20.0.0/24 of network lan."
    ]
    # Next door is fine.
    lan(world.platform_admin, name="lan2", subnet="10.20.1.0/24", gateway="10.20.1.1",
        pool_start="10.20.1.10", pool_end="10.20.1.20")  # fmt: skip


def test_user_network_needs_no_subnet_and_takes_none(world):
    user_net = ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    assert user_net.subnet == "" and user_net.pool_start is None
    with pytest.raises(ValidationError) as info:
        ipam.network_create(
            created_by=world.platform_admin, name="usernet2", kind="user", subnet="10.0.2.0/24"
        )
    assert "A user network has no subnet" in info.value.message_dict["subnet"][0]


def test_only_platform_admins_manage_networks(world):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        lan(world.tenant_admin)
    api = client_for(world.tenant_admin)
    answer = api.post("/api/v1/networks/", {"name": "x", "kind": "user"}, format="json")
    assert answer.status_code == 403


def test_addressing_is_fixed_while_a_vm_holds_an_address(world, sim_host, flavor, image):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    request_vm(world, flavor, image)
    with pytest.raises(ValidationError, match="VMs hold addresses"):
        ipam.network_update(updated_by=world.platform_admin, network=net, pool_end="10.20.0.30")
    renamed = ipam.network_update(updated_by=world.platform_admin, network=net, name="office")
    assert renamed.name == "office"
    with pytest.raises(ConflictError, match="delete those VMs first"):
        ipam.network_delete(network=net, deleted_by=world.platform_admin)


# --- grants and who sees what -----------------------------------------------------------------


def test_members_see_granted_networks_only_and_read_only(world, other_world):
    admin = client_for(world.platform_admin)
    ours = admin.post(
        "/api/v1/networks/",
        {"name": "ours", "kind": "nat", "subnet": "192.168.50.0/24", "gateway": "192.168.50.1",
         "pool_start": "192.168.50.10", "pool_end": "192.168.50.250"},
        format="json",
    )  # fmt: skip
    assert ours.status_code == 201, ours.json()
    theirs = admin.post("/api/v1/networks/", {"name": "theirs", "kind": "user"}, format="json")
    bad = admin.post(
        "/api/v1/networks/",
        {"name": "bad", "kind": "nat", "subnet": "192.168.50.0/25", "gateway": "192.168.50.1",
         "pool_start": "192.168.50.10", "pool_end": "192.168.50.20"},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400 and "overlaps" in bad.json()["subnet"][0]
    grant = admin.post(
        "/api/v1/network-grants/",
        {"network": ours.json()["id"], "tenant": world.tenant.pk},
        format="json",
    )
    assert grant.status_code == 201, grant.json()
    admin.post(
        "/api/v1/network-grants/",
        {"network": theirs.json()["id"], "tenant": other_world.tenant.pk},
        format="json",
    )
    wrong_env = admin.post(
        "/api/v1/network-grants/",
        {"network": ours.json()["id"], "tenant": world.tenant.pk,
         "environment": other_world.development.pk},
        format="json",
    )  # fmt: skip
    assert "Choose an environment of Apollo" in wrong_env.json()["environment"][0]

    member = client_for(world.member)
    assert [n["name"] for n in member.get("/api/v1/networks/").json()["results"]] == ["ours"]
    assert member.get(f"/api/v1/networks/{theirs.json()['id']}/").status_code == 404
    assert (
        member.patch(f"/api/v1/networks/{ours.json()['id']}/", {"name": "x"}, format="json")
    ).status_code == 403
    assert member.delete(f"/api/v1/networks/{ours.json()['id']}/").status_code == 403
    assert (
        member.post(
            "/api/v1/network-grants/", {"network": ours.json()["id"], "tenant": 1}, format="json"
        ).status_code
        == 403
    )
    grants = member.get("/api/v1/network-grants/").json()["results"]
    assert [(g["network_name"], g["tenant_slug"]) for g in grants] == [("ours", "apollo")]


def test_environment_grant_comes_before_the_tenant_grant_as_default(world):
    admin = world.platform_admin
    wide = lan(admin)
    own = lan(admin, name="dev-lan", subnet="10.30.0.0/24", gateway="10.30.0.1",
              pool_start="10.30.0.10", pool_end="10.30.0.20")  # fmt: skip
    ipam.network_grant_create(created_by=admin, network=wide, tenant=world.tenant)
    ipam.network_grant_create(
        created_by=admin, network=own, tenant=world.tenant, environment=world.development
    )
    assert ipam.network_default(environment=world.development) == own
    assert ipam.network_default(environment=world.production) == wide
    assert list(ipam.networks_granted(environment=world.production)) == [wide]
    with pytest.raises(ValidationError, match="exists already"):
        ipam.network_grant_create(created_by=admin, network=wide, tenant=world.tenant)


# --- what a VM request gets -------------------------------------------------------------------


def test_request_gets_the_default_network_lowest_address_skipping_the_gateway(
    world, sim_host, flavor, image
):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    first = request_vm(world, flavor, image)
    second = request_vm(world, flavor, image, name="web-2")
    nics = [vm.interfaces.get() for vm in (first, second)]
    assert [n.ip for n in nics] == ["10.20.0.2", "10.20.0.3"]  # .1 is the gateway
    assert all(n.mac.startswith("52:54:00:") and len(n.mac) == 17 for n in nics)
    assert nics[0].mac != nics[1].mac


def test_request_without_any_granted_network_gets_no_port(world, sim_host, flavor, image):
    lan(world.platform_admin)  # exists, but not granted to apollo
    vm = request_vm(world, flavor, image)
    assert not vm.interfaces.exists()


def test_a_network_not_granted_to_the_environment_is_refused(world, sim_host, flavor, image):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant, environment=world.production)
    with pytest.raises(ValidationError) as info:
        request_vm(world, flavor, image, network=net)
    assert info.value.message_dict["network"] == ["Network lan is not available to development."]
    assert not VirtualMachine.objects.exists()


def test_full_pool_is_a_400_on_network_and_nothing_is_reserved(world, sim_host, flavor, image):
    net = lan(world.platform_admin, pool_start="10.20.0.1", pool_end="10.20.0.3")
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    request_vm(world, flavor, image, name="a")
    request_vm(world, flavor, image, name="b")  # .2 and .3: the pool is full
    quota = Quota.objects.get(environment=world.development)
    before = (quota.vcpus_reserved, quota.vms_reserved)
    answer = client_for(world.member).post(
        "/api/v1/vms/",
        {"name": "c", "environment": world.development.pk, "flavor": flavor.pk,
         "image": image.pk},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 400
    assert answer.json()["network"] == [
        "Network lan has no free address left (pool 10.20.0.1-10.20.0.3). Choose another "
        "network or ask an admin to widen the pool."
    ]
    assert not VirtualMachine.objects.filter(name="c").exists()
    assert NetworkInterface.objects.count() == 2
    quota.refresh_from_db()
    assert (quota.vcpus_reserved, quota.vms_reserved) == before


def test_user_network_forwards_a_port_and_says_how_to_ssh(world, sim_host, flavor, image, settings):
    settings.NUAGE = {**settings.NUAGE, "USER_NET_PORTS": (22000, 22001)}
    net = ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    api = client_for(world.member)
    vm = request_vm(world, flavor, image)
    body = api.get(f"/api/v1/vms/{vm.pk}/").json()
    assert body["ssh_command"] == "ssh -p 22000 root@127.0.0.1"
    assert body["addresses"][0]["host_port"] == 22000 and body["addresses"][0]["ip"] is None
    request_vm(world, flavor, image, name="web-2")
    with pytest.raises(ValidationError, match="all forwarded ports 22000-22001 are in use"):
        request_vm(world, flavor, image, name="web-3")


def test_vm_api_and_pages_show_addresses_and_ssh_command(world, sim_host, flavor, image, client):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    api = client_for(world.member)
    created = api.post(
        "/api/v1/vms/",
        {"name": "web-1", "environment": world.development.pk, "flavor": flavor.pk,
         "image": image.pk, "network": net.pk},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["ssh_command"] == "ssh root@10.20.0.2"
    assert body["addresses"][0]["network"] == "lan" and body["addresses"][0]["kind"] == "bridge"
    client.force_login(world.member)
    listing = client.get("/").content.decode()
    assert "10.20.0.2" in listing
    detail = client.get(f"/vms/{body['id']}/").content.decode()
    assert "ssh root@10.20.0.2" in detail


def test_unknown_network_id_is_a_field_error(world, other_world, sim_host, flavor, image):
    theirs = lan(world.platform_admin)
    NetworkGrant.objects.create(network=theirs, tenant=other_world.tenant)
    answer = client_for(world.member).post(
        "/api/v1/vms/",
        {"name": "web-1", "environment": world.development.pk, "flavor": flavor.pk,
         "image": image.pk, "network": theirs.pk},
        format="json",
    )  # fmt: skip
    # Another tenant's network reads as one that does not exist.
    assert answer.status_code == 400
    assert answer.json()["network"] == [f'Invalid pk "{theirs.pk}" - object does not exist.']


def test_vm_list_query_count_stays_flat_with_addresses(world, client):
    net = ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    client.force_login(world.member)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/").status_code == 200
        return len(ctx.captured_queries)

    def vms(n: int, prefix: str) -> None:
        for i in range(n):
            vm = VirtualMachineFactory(
                environment=world.development, owner=world.member, name=f"{prefix}-{i}"
            )
            ipam.nics_allocate(vm=vm, network=net)

    vms(2, "a")
    small = queries()
    vms(20, "b")
    assert queries() == small


# --- key pairs on the request -----------------------------------------------------------------


def test_request_with_key_pairs_keeps_a_snapshot_of_authorized_keys(world, sim_host, flavor, image):
    laptop = portal_services.keypair_create(
        owner=world.member, name="laptop", public_key=ed25519_key("me@laptop")
    )
    desk = portal_services.keypair_create(owner=world.member, name="desk", public_key=ed25519_key())
    pasted = ed25519_key("ci")
    api = client_for(world.member)
    created = api.post(
        "/api/v1/vms/",
        {"name": "web-1", "environment": world.development.pk, "flavor": flavor.pk,
         "image": image.pk, "key_pairs": [laptop.pk, desk.pk], "ssh_public_key": pasted},
        format="json",
    )  # fmt: skip
    assert created.status_code == 201, created.json()
    keys = created.json()["authorized_keys"]
    assert keys == [laptop.public_key, desk.public_key, pasted]
    portal_services.keypair_delete(key_pair=laptop, deleted_by=world.member)
    after = api.get(f"/api/v1/vms/{created.json()['id']}/").json()["authorized_keys"]
    assert after == keys  # deleting the key pair did not change the VM


def test_someone_elses_key_pair_is_unknown_and_a_bad_pasted_key_refused(
    world, sim_host, flavor, image
):
    theirs = portal_services.keypair_create(
        owner=world.other_member, name="theirs", public_key=ed25519_key()
    )
    api = client_for(world.member)
    base = {"name": "web-1", "environment": world.development.pk, "flavor": flavor.pk,
            "image": image.pk}  # fmt: skip
    answer = api.post("/api/v1/vms/", {**base, "key_pairs": [theirs.pk]}, format="json")
    assert answer.status_code == 400
    assert answer.json()["key_pairs"] == [f'Invalid pk "{theirs.pk}" - object does not exist.']
    with pytest.raises(ValidationError) as info:
        request_vm(world, flavor, image, key_pairs=[theirs])
    assert "your own key pairs" in info.value.message_dict["key_pairs"][0]
    answer = api.post("/api/v1/vms/", {**base, "ssh_public_key": "not a key"}, format="json")
    assert answer.status_code == 400
    assert "Not an OpenSSH public key" in answer.json()["ssh_public_key"][0]
    assert not VirtualMachine.objects.exists()


def test_request_form_offers_own_key_pairs_and_granted_networks(
    world, sim_host, flavor, image, client
):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    pair = portal_services.keypair_create(
        owner=world.member, name="laptop", public_key=ed25519_key()
    )
    portal_services.keypair_create(
        owner=world.other_member, name="not-mine", public_key=ed25519_key()
    )
    client.force_login(world.member)
    page = client.get("/vms/new/").content.decode()
    assert "laptop" in page and "not-mine" not in page and "lan (10.20.0.0/24)" in page
    answer = client.post(
        "/vms/new/",
        {"environment": world.development.pk, "flavor": flavor.pk, "image": image.pk,
         "name": "web-1", "key_pairs": [pair.pk], "network": net.pk,
         "ssh_public_key": "ssh-ed25519 AAAA"},
    )  # fmt: skip
    assert "incomplete" in answer.content.decode()
    answer = client.post(
        "/vms/new/",
        {"environment": world.development.pk, "flavor": flavor.pk, "image": image.pk,
         "name": "web-1", "key_pairs": [pair.pk], "network": net.pk},
    )  # fmt: skip
    assert answer.status_code == 302
    vm = VirtualMachine.objects.get()
    assert vm.authorized_keys == [pair.public_key]
    assert vm.interfaces.get().ip == "10.20.0.2"


# --- release ----------------------------------------------------------------------------------


def test_address_comes_back_on_delete_rejection_and_failed_provisioning(
    world, sim_host, flavor, image, run_on_commit
):
    net = lan(world.platform_admin)
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    vm = request_vm(world, flavor, image)
    vm.refresh_from_db()
    assert vm.state == VMState.RUNNING and vm.interfaces.get().ip == "10.20.0.2"
    services.vm_action(vm=vm, action="delete", requested_by=world.member)
    vm.refresh_from_db()
    assert vm.state == VMState.DELETED and not vm.interfaces.exists()

    pending = request_vm(world, flavor, image, name="web-2", env=world.production)
    assert pending.interfaces.get().ip == "10.20.0.2"  # the freed address is the lowest again
    services.vm_reject(vm=pending, rejected_by=world.approver, reason="Not now")
    assert not pending.interfaces.exists()

    disk_image = ImageFactory(kind="disk", base_volume="missing.qcow2", kernel_path="")
    failed = request_vm(world, flavor, disk_image, name="web-3")
    failed.refresh_from_db()
    assert failed.state == VMState.ERROR
    assert not failed.interfaces.exists()
    assert NetworkInterface.objects.count() == 0
    # Who held which address, and when, stays in the audit log.
    held = AuditEntry.objects.filter(object_id=str(vm.pk), action__startswith="vm.nic.")
    assert sorted((e.action, e.changes["ip"]) for e in held) == [
        ("vm.nic.allocate", "10.20.0.2"),
        ("vm.nic.release", "10.20.0.2"),
    ]


def test_a_port_says_how_libvirt_and_the_guest_configure_it(world):
    admin = world.platform_admin
    vm = VirtualMachineFactory(environment=world.development, owner=world.member)
    bridged = ipam.nics_allocate(vm=vm, network=lan(admin))
    assert (bridged.libvirt_kind, bridged.libvirt_source, bridged.cidr) == (
        "bridge",
        "br0",
        "10.20.0.2/24",
    )
    nat = ipam.network_create(
        created_by=admin, name="nat1", kind="nat", subnet="192.168.70.0/24",
        gateway="192.168.70.1", pool_start="192.168.70.10", pool_end="192.168.70.20",
    )  # fmt: skip
    on_nat = ipam.nics_allocate(vm=vm, network=nat)
    assert (on_nat.libvirt_kind, on_nat.libvirt_source) == ("network", "nuage-nat1")
    user = ipam.nics_allocate(
        vm=vm, network=ipam.network_create(created_by=admin, name="u", kind="user")
    )
    assert (user.libvirt_kind, user.libvirt_source, user.cidr) == ("user", "", "")
    assert ipam.nics_release(vm=vm) == 3


def test_networks_page_admin_creates_grants_and_members_read(world, other_world, client):
    client.force_login(world.platform_admin)
    bad = client.post(
        "/networks/",
        {"do": "create", "name": "lan", "kind": "bridge", "bridge": "br0",
         "subnet": "10.20.0.0/24", "gateway": "10.99.0.1", "pool_start": "10.20.0.10",
         "pool_end": "10.20.0.20"},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "The gateway 10.99.0.1 is outside 10.20.0.0/24." in bad.content.decode()
    made = client.post(
        "/networks/",
        {"do": "create", "name": "lan", "kind": "bridge", "bridge": "br0",
         "subnet": "10.20.0.0/24", "gateway": "10.20.0.1", "pool_start": "10.20.0.10",
         "pool_end": "10.20.0.20", "dns_servers": "10.20.0.1, 9.9.9.9"},
    )  # fmt: skip
    assert made.status_code == 302
    net = Network.objects.get()
    assert net.dns_servers == ["10.20.0.1", "9.9.9.9"]
    client.post("/networks/", {"do": "grant", "network": net.pk, "tenant": world.tenant.pk})
    assert NetworkGrant.objects.filter(network=net, tenant=world.tenant).exists()

    client.force_login(world.member)
    page = client.get("/networks/").content.decode()
    assert 'data-network="lan"' in page and "New network" not in page
    assert client.post("/networks/", {"do": "delete", "network": net.pk}).status_code == 404
    client.force_login(other_world.member)
    assert 'data-network="lan"' not in client.get("/networks/").content.decode()


def test_a_lost_provisioning_gives_its_address_back(world, settings):
    from datetime import timedelta

    from django.utils import timezone

    net = lan(world.platform_admin)
    lost = VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.PROVISIONING
    )
    stopping = VirtualMachineFactory(
        environment=world.development, owner=world.member, state=VMState.STOPPING
    )
    for vm in (lost, stopping):
        ipam.nics_allocate(vm=vm, network=net)
    long_ago = timezone.now() - timedelta(seconds=settings.NUAGE["STALE_SECONDS"] + 60)
    VirtualMachine.objects.update(state_changed_at=long_ago)
    assert services.reconcile()["orphaned_states"] == 2
    assert not lost.interfaces.exists()  # it never ran: nothing holds the address
    assert stopping.interfaces.get().ip == "10.20.0.3"  # it exists on a host: it keeps it


def test_the_seed_and_the_domain_get_the_vms_keys_and_ports(world, sim_host, flavor, image):
    from compute.services.seed import vm_nics, vm_seed_inputs

    admin = world.platform_admin
    net = lan(admin, dns_servers=["10.20.0.1", "9.9.9.9"])
    user_net = ipam.network_create(created_by=admin, name="usernet", kind="user")
    NetworkGrant.objects.create(network=net, tenant=world.tenant)
    key = ed25519_key("me@laptop")
    vm = request_vm(world, flavor, image, ssh_public_key=key)
    ipam.nics_allocate(vm=vm, network=user_net)
    lan_nic, user_nic = vm.interfaces.order_by("id")

    inputs = vm_seed_inputs(vm)
    assert inputs.ssh_keys == (key,)
    assert [(n.mac, n.mode, n.address, n.gateway, n.dns) for n in inputs.nics] == [
        (lan_nic.mac, "static", "10.20.0.2/24", "10.20.0.1", ("10.20.0.1", "9.9.9.9")),
        (user_nic.mac, "dhcp", "", "", ()),
    ]
    assert [(n.kind, n.mac, n.source, n.host_port) for n in vm_nics(vm) or ()] == [
        ("bridge", lan_nic.mac, "br0", None),
        ("user", user_nic.mac, "", 22000),
    ]
    bare = request_vm(world, flavor, image, name="web-2", env=world.production)
    NetworkInterface.objects.unscoped().filter(vm=bare).delete()
    assert vm_nics(bare) is None  # no port: the one default user NIC, as before
    assert vm_seed_inputs(bare).nics == ()


def test_user_network_guests_are_restricted_from_the_host_unless_the_setting_allows(
    world, sim_host, flavor, image, settings
):
    from lxml import etree

    from compute.hypervisor.xml import QEMU_NS, domain_xml
    from compute.services import steps

    user_net = ipam.network_create(created_by=world.platform_admin, name="usernet", kind="user")
    vm = request_vm(world, flavor, image)
    NetworkInterface.objects.unscoped().filter(vm=vm).delete()
    nic = ipam.nics_allocate(vm=vm, network=user_net)
    vm.host = sim_host

    def backend() -> str:
        tree = etree.fromstring(domain_xml(steps._domain_spec(vm, "/pool/web.qcow2")))
        return tree.find(f"{{{QEMU_NS}}}commandline/{{{QEMU_NS}}}arg[2]").get("value")

    assert backend() == f"user,id=nuagenet0,restrict=on,hostfwd=tcp:127.0.0.1:{nic.host_port}-:22"
    settings.NUAGE = {**settings.NUAGE, "USER_NET_HOST_ACCESS": True}
    assert backend() == f"user,id=nuagenet0,hostfwd=tcp:127.0.0.1:{nic.host_port}-:22"
