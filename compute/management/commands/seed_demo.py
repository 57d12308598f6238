"""Seed the demo: tenant apollo, its users, flavors, a tiny image and hosts; print the logins."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from compute.choices import ImageKind
from compute.hypervisor.simulated import write_test_node
from compute.models import Flavor, Host, Image
from compute.services import host_refresh
from portal.choices import PlatformRole, Role
from portal.models import Membership, Tenant, User
from portal.services import DEFAULT_ENVIRONMENTS

USERS: tuple[tuple[str, str, str | None], ...] = (
    ("alice", PlatformRole.NONE, Role.MEMBER),
    ("bob", PlatformRole.NONE, Role.APPROVER),
    ("admin", PlatformRole.ADMIN, None),
    ("carol", PlatformRole.FINANCE, None),
)
FLAVORS = (
    ("tiny", 1, 128, 1),
    ("small", 1, 512, 10),
    ("medium", 2, 2048, 20),
    ("large", 4, 8192, 40),
)


class Command(BaseCommand):
    help = "Create (or refresh) the demo tenant, users, flavors, image and hosts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host-uri",
            action="append",
            default=[],
            help="Register this libvirt URI as a host (repeatable). Default: two simulated hosts.",
        )
        parser.add_argument("--kernel", default="", help="Kernel of the tiny image (real hosts).")
        parser.add_argument("--initrd", default="", help="Initrd of the tiny image (real hosts).")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        tenant, _ = Tenant.objects.get_or_create(slug="apollo", defaults={"name": "Apollo"})
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
            logins.append((username, password, role or platform_role))
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
        for i, uri in enumerate(uris, start=1):
            host, _ = Host.objects.update_or_create(
                uri=uri, defaults={"name": f"host-{i}", "enabled": True}
            )
            host_refresh(host=host)
            state = "reachable" if host.reachable else f"UNREACHABLE: {host.last_error}"
            self.stdout.write(
                f"host {host.name}: {uri} ({host.cpus} CPUs, {host.memory_mib} MiB, {state})"
            )
        self.stdout.write(
            self.style.SUCCESS("Demo logins (generated now; they change at each seed):")
        )
        for username, password, role in logins:
            self.stdout.write(f"  {username:<6} {password}   ({role})")
