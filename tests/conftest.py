"""Fixtures shared by the whole suite: a tenant with every role, simulated libvirt hosts."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from compute.hypervisor.simulated import write_test_node
from compute.models import Flavor, Host, Image
from compute.services import host_refresh
from portal import twofactor
from portal.choices import PlatformRole, Role
from portal.models import Environment, Tenant, User
from tests.factories import (
    EnvironmentFactory,
    FlavorFactory,
    ImageFactory,
    MembershipFactory,
    TenantFactory,
    UserFactory,
)

_host_numbers = itertools.count(1)

_client_login = Client._login


def _login_past_second_step(self: Client, user: User, backend: str | None = None) -> None:
    """Client.login and force_login stand for a finished sign-in, second step included (a
    platform role's session would otherwise owe its two-factor code on every page). The tests of
    two-factor sign-in (tests/portal/test_two_factor.py) post the real login form instead."""
    _client_login(self, user, backend)
    session = self.session
    session[twofactor.VERIFIED] = True
    session.save()


Client._login = _login_past_second_step  # type: ignore[method-assign]


@dataclass
class TenantWorld:
    tenant: Tenant
    development: Environment
    production: Environment
    member: User
    other_member: User
    approver: User
    tenant_admin: User
    platform_admin: User
    finance: User


def make_world(prefix: str) -> TenantWorld:
    tenant = TenantFactory(name=prefix.capitalize(), slug=prefix)
    dev = EnvironmentFactory(tenant=tenant, name="development", requires_approval=False)
    prod = EnvironmentFactory(tenant=tenant, name="production", requires_approval=True)
    users = {}
    for name, role in (
        ("member", Role.MEMBER),
        ("other_member", Role.MEMBER),
        ("approver", Role.APPROVER),
        ("tenant_admin", Role.ADMIN),
    ):
        users[name] = UserFactory(username=f"{prefix}-{name}")
        MembershipFactory(tenant=tenant, user=users[name], role=role)
    return TenantWorld(
        tenant=tenant,
        development=dev,
        production=prod,
        platform_admin=UserFactory(username="platform-admin", platform_role=PlatformRole.ADMIN),
        finance=UserFactory(username="finance", platform_role=PlatformRole.FINANCE),
        **users,
    )


@pytest.fixture
def world(db: None) -> TenantWorld:
    return make_world("apollo")


@pytest.fixture
def other_world(world: TenantWorld) -> TenantWorld:
    return make_world("zephyr")


def make_sim_host(
    directory: Path, *, cpus: int = 16, memory_mib: int = 32768, **fields: object
) -> Host:
    n = next(_host_numbers)
    uri = write_test_node(directory / f"sim-host-{n}.xml", cpus=cpus, memory_mib=memory_mib)
    host = Host.objects.create(name=f"sim-{n}", uri=uri, **fields)
    return host_refresh(host=host)


@pytest.fixture
def sim_host(db: None, tmp_path: Path) -> Host:
    """A host on libvirt's test driver with its own private state (16 CPUs, 32 GiB)."""
    return make_sim_host(tmp_path)


@pytest.fixture
def flavor(db: None) -> Flavor:
    return FlavorFactory(name="small", vcpus=1, ram_mib=512, disk_gib=1)


@pytest.fixture
def image(db: None) -> Image:
    return ImageFactory(name="tiny-linux")


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def run_on_commit(transactional_db: None) -> None:
    """Real commits, so that on-commit dispatch runs the (eager) tasks as in production."""
