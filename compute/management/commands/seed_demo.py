"""Seed the demo: tenant apollo, its users, flavors, a tiny image, hosts, a user-mode network
and an SSH key pair for alice; print the logins and where alice's private key is."""

from __future__ import annotations

import secrets
from base64 import b32encode
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from compute.busyboxroot import build_busybox_rootfs
from compute.choices import DomainType, ImageKind, VMKind, VMState
from compute.hypervisor.simulated import write_test_node
from compute.models import (
    Flavor,
    Host,
    Image,
    Network,
    NetworkGrant,
    NetworkInterface,
    VirtualMachine,
)
from compute.services import host_refresh, vm_request_create
from portal.choices import PlatformRole, Role
from portal.models import KeyPair, Membership, Tenant, User
from portal.services import DEFAULT_ENVIRONMENTS
from portal.sshkeys import parse_public_key

USERS: tuple[tuple[str, str, str | None], ...] = (
    ("alice", PlatformRole.NONE, Role.MEMBER),
    ("bob", PlatformRole.NONE, Role.APPROVER),
    ("admin", PlatformRole.ADMIN, None),
    ("carol", PlatformRole.FINANCE, None),
)
DEMO_VM = "demo-vm"
# A container flavor: 1 vCPU capped at half a CPU, 64 MiB (enforced by cgroups), 1 GiB rootfs.
CONTAINER_FLAVOR = ("c-tiny", 1, 64, 1)
FLAVORS = (
    ("tiny", 1, 128, 1),
    ("small", 1, 512, 10),
    ("medium", 2, 2048, 20),
    ("large", 4, 8192, 40),
)


# The customer block of the demo's invoices (finance edits it on the Tenant page).
DEMO_BILLING_DETAILS = {
    "billing_legal_name": "Apollo Research SAS",
    "billing_address": "12 rue de la Paix\n75002 Paris",
    "billing_country": "FR",
    "vat_number": "FR40303265045",
    "billing_email": "accounts@apollo.example",
    "cost_centre": "CC-4410 Research",
}


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, users, flavors, image and hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host-uri",
            action="append",
            default=[],
            help="Register this libvirt URI as a host (repeatable). Default: two simulated hosts.",
        )
        parser.add_argument(
            "--lxc-host-uri",
            default="",
            help="Register this libvirt URI as the LXC host (lxc:///). Default: a simulated one.",
        )
        parser.add_argument("--kernel", default="", help="Kernel of the tiny image (real hosts).")
        parser.add_argument("--initrd", default="", help="Initrd of the tiny image (real hosts).")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant, _ = Tenant.objects.get_or_create(
            slug="apollo", defaults={"name": "Apollo", **DEMO_BILLING_DETAILS}
        )
        for env_name, approval in DEFAULT_ENVIRONMENTS:
            tenant.environments.get_or_create(
                name=env_name, defaults={"requires_approval": approval}
            )
        logins = []
        for username, platform_role, role in USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.platform_role = platform_role
            user.is_staff = user.is_superuser = platform_role == PlatformRole.ADMIN
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            if role:
                Membership.objects.update_or_create(
                    tenant=tenant, user=user, defaults={"role": role}
                )
            second = ""
            if platform_role:  # platform roles sign in with a code too (portal.twofactor)
                TOTPDevice.objects.filter(user=user).delete()
                StaticDevice.objects.filter(user=user).delete()
                device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
                secret = b32encode(device.bin_key).decode()
                second = " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
            logins.append((username, password, role or platform_role, second))
        for name, vcpus, ram, disk in FLAVORS:
            Flavor.objects.update_or_create(
                name=name, defaults={"vcpus": vcpus, "ram_mib": ram, "disk_gib": disk}
            )
        Image.objects.update_or_create(
            name="tiny-linux",
            defaults={
                "kind": ImageKind.KERNEL,
                "kernel_path": options["kernel"] or "/var/lib/libvirt/nuage-images/vmlinuz",
                "initrd_path": options["initrd"] or "/var/lib/libvirt/nuage-images/initrd.img",
                "cmdline": "console=ttyS0 quiet",
            },
        )
        uris = options["host_uri"] or [
            write_test_node(
                Path(settings.VAR_DIR) / "hosts" / f"sim-{i}.xml", cpus=16, memory_mib=32768
            )
            for i in (1, 2)
        ]
        for host in self._hosts(uris):
            state = "reachable" if host.reachable else f"UNREACHABLE: {host.last_error}"
            self.stdout.write(
                f"host {host.name}: {host.uri} ({host.cpus} CPUs, {host.memory_mib} MiB, {state})"
            )
        self._containers(options["lxc_host_uri"], real=bool(options["kernel"]))
        network, _ = Network.objects.get_or_create(name="user-net", defaults={"kind": "user"})
        NetworkGrant.objects.get_or_create(network=network, tenant=tenant, environment=None)
        alice = User.objects.get(username="alice")
        key_path = self._alice_key(alice)
        if options["kernel"]:  # real guests: one VM to log into and open the console of
            self._demo_vm(alice, tenant, network)
        self.stdout.write(
            self.style.SUCCESS("Demo logins (generated now; they change at each seed):")
        )
        for username, password, role, _second in logins:
            self.stdout.write(f"  {username:<6} {password}   ({role})")
        self.stdout.write(
            "Platform roles (admin, carol) then give a two-factor code: add the secret below to "
            "an authenticator app (time-based, 6 digits), or print the current code with\n"
            "  NUAGE_DEMO=1 .venv/bin/python manage.py two_factor_code admin"
        )
        for username, _password, _role, second in logins:
            if second:
                self.stdout.write(f"  {username:<6} TOTP secret: {second}")
        ssh = getattr(self, "_ssh_line", None) or "ssh -p PORT root@127.0.0.1"
        self.stdout.write(
            f"alice's SSH private key (key pair 'demo'): {key_path}\n"
            f"  VMs on network {network.name} print their command, e.g. "
            f"{ssh.replace('ssh ', f'ssh -i {key_path} ', 1)} (on the libvirt host)"
        )

    def _containers(self, lxc_uri: str, *, real: bool) -> None:
        """System containers: a container flavor, a busybox rootfs image and an LXC host."""
        Flavor.objects.update_or_create(
            name=CONTAINER_FLAVOR[0],
            defaults={
                "kind": VMKind.CONTAINER,
                "vcpus": CONTAINER_FLAVOR[1],
                "ram_mib": CONTAINER_FLAVOR[2],
                "disk_gib": CONTAINER_FLAVOR[3],
                "cpu_cap_percent": 50,
            },
        )
        images = Path("/var/lib/libvirt/nuage-images") if real else Path(settings.VAR_DIR)
        rootfs = build_busybox_rootfs(images / "busybox-rootfs")
        Image.objects.update_or_create(
            name="busybox",
            defaults={"kind": ImageKind.ROOTFS, "rootfs_path": str(rootfs), "kernel_path": ""},
        )
        uri = lxc_uri or write_test_node(
            Path(settings.VAR_DIR) / "hosts" / "sim-lxc.xml", cpus=8, memory_mib=8192
        )
        host, _ = Host.objects.update_or_create(
            name="lxc-1", defaults={"uri": uri, "enabled": True, "domain_type": DomainType.LXC}
        )
        host_refresh(host=host)
        state = "reachable" if host.reachable else f"UNREACHABLE: {host.last_error}"
        self.stdout.write(
            f"host {host.name}: {uri} (system containers; {host.cpus} CPUs, "
            f"{host.memory_mib} MiB, {state}); image busybox: {rootfs}"
        )

    def _hosts(self, uris: list[str]) -> list[Host]:
        """The demo's hosts, once each however often the seed runs: a URI registered before
        keeps its host (and name); a new one gets the first free `host-N`. The demo's hosts of
        an earlier seed that are not asked for now (simulated ones, after a switch to
        qemu:///system) are disabled, so new VMs land on the hosts asked for; their VMs stay."""
        hosts = []
        for uri in uris:
            host = Host.objects.filter(uri=uri).first()
            if host is None:
                taken = set(Host.objects.values_list("name", flat=True))
                name = next(
                    f"host-{n}" for n in range(1, len(taken) + 2) if f"host-{n}" not in taken
                )
                host = Host.objects.create(name=name, uri=uri)
            elif not host.enabled:
                host.enabled = True
                host.save(update_fields=["enabled"])
            hosts.append(host_refresh(host=host))
        earlier = Host.objects.filter(name__regex=r"^host-[0-9]+$", enabled=True).exclude(
            uri__in=uris
        )
        for host in earlier:
            host.enabled = False
            host.save(update_fields=["enabled"])
            self.stdout.write(f"host {host.name}: {host.uri} disabled (not a demo host any more)")
        return hosts

    def _demo_vm(self, alice: User, tenant: Tenant, network: Network) -> None:
        """alice's VM `demo-vm` in development, with her key pair, on the user network: requested
        unless she has one already; the worker provisions it once it starts."""
        live = VirtualMachine.objects.unscoped().filter(owner=alice, name=DEMO_VM)
        vm = live.exclude(state=VMState.DELETED).first()
        if vm is None:
            vm = vm_request_create(
                requested_by=alice,
                environment=tenant.environments.get(name="development"),
                flavor=Flavor.objects.get(name="tiny"),
                image=Image.objects.get(name="tiny-linux"),
                name=DEMO_VM,
                key_pairs=list(KeyPair.objects.unscoped().filter(owner=alice, name="demo")),
                network=network,
            )
        nic = NetworkInterface.objects.unscoped().filter(vm_id=vm.pk).first()
        ssh = nic.ssh_command if nic else None
        self.stdout.write(
            f"alice's VM {DEMO_VM} ({vm.get_state_display()}; the worker boots it): "
            f"/vms/{vm.pk}/ has its serial console" + (f"; log in with: {ssh}" if ssh else "")
        )
        self._ssh_line = ssh

    def _alice_key(self, alice: User) -> Path:
        """alice's demo key: generated once into var/ (never committed), registered as 'demo'."""
        path = Path(settings.VAR_DIR) / "demo-keys" / "alice_ed25519"
        if path.exists():
            private = serialization.load_ssh_private_key(path.read_bytes(), password=None)
        else:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            private = ed25519.Ed25519PrivateKey.generate()
            data = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
            path.touch(mode=0o600)
            path.write_bytes(data)
        public = (
            private.public_key()
            .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            .decode()
        )
        parsed = parse_public_key(f"{public} alice@nuage-demo")
        path.with_suffix(".pub").write_text(parsed.line + "\n")
        KeyPair.objects.unscoped().filter(owner=alice, fingerprint=parsed.fingerprint).exclude(
            name="demo"
        ).delete()
        KeyPair.objects.update_or_create(
            owner=alice,
            name="demo",
            defaults={
                "public_key": parsed.line,
                "fingerprint": parsed.fingerprint,
                "key_type": parsed.key_type,
                "bits": parsed.bits,
            },
        )
        return path
