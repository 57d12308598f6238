"""factory-boy factories for every model the tests build."""

from __future__ import annotations

import factory

from compute.choices import ImageKind
from compute.models import Flavor, Host, Image, VirtualMachine
from portal.choices import Role
from portal.models import Environment, Membership, Tenant, User
from quotas.models import QuotaRequest


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests")


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class EnvironmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Environment

    tenant = factory.SubFactory(TenantFactory)
    name = "development"
    requires_approval = False


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MEMBER


class FlavorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Flavor

    name = factory.Sequence(lambda n: f"flavor-{n}")
    vcpus = 1
    ram_mib = 512
    disk_gib = 1


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image

    name = factory.Sequence(lambda n: f"image-{n}")
    kind = ImageKind.KERNEL
    kernel_path = "/var/lib/libvirt/nuage-images/vmlinuz"
    initrd_path = "/var/lib/libvirt/nuage-images/initrd.img"


class HostFactory(factory.django.DjangoModelFactory):
    """A host row; tests that touch libvirt use the `sim_host` fixture instead."""

    class Meta:
        model = Host

    name = factory.Sequence(lambda n: f"host-{n}")
    uri = factory.Sequence(lambda n: f"test:///nonexistent-{n}.xml")
    cpus = 16
    memory_mib = 32768
    disk_gib = 1000
    reachable = True


class VirtualMachineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VirtualMachine

    environment = factory.SubFactory(EnvironmentFactory)
    tenant = factory.SelfAttribute("environment.tenant")
    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"vm-{n}")
    flavor = factory.SubFactory(FlavorFactory)
    image = factory.SubFactory(ImageFactory)


class QuotaRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QuotaRequest

    environment = factory.SubFactory(EnvironmentFactory)
    tenant = factory.SelfAttribute("environment.tenant")
    requested_by = factory.SubFactory(UserFactory)
    asked = factory.LazyFunction(lambda: {"vcpus": 4})
    reason = "More builds this quarter."
