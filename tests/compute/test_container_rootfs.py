"""A container's domain XML and its copy of a rootfs image."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from lxml import etree

from compute import hypervisor
from compute.busyboxroot import build_busybox_rootfs, build_busybox_tarball
from compute.hypervisor.xml import ContainerSpec, ResourceLimits, container_domain_xml


def _spec(**kw: object) -> ContainerSpec:
    values: dict[str, object] = {
        "name": "nuage-0123abcd-web",
        "uuid": "0123abcd-0000-4000-8000-000000000001",
        "title": "apollo/web",
        "vcpus": 2,
        "memory_mib": 128,
        "rootfs": "/var/lib/libvirt/nuage-containers/nuage-0123abcd-web",
        "tenant": "apollo",
    }
    values.update(kw)
    return ContainerSpec(**values)  # type: ignore[arg-type]


def test_container_xml_caps_cpu_over_all_vcpus_and_limits_memory():
    dom = etree.fromstring(
        container_domain_xml(_spec(limits=ResourceLimits(cpu_cap_percent=50, cpu_shares=512)))
    )
    assert dom.get("type") == "lxc"
    assert dom.findtext("os/type") == "exe"
    assert dom.findtext("os/init") == "/sbin/init"
    # Two vCPUs at half a CPU each: one CPU's worth per period.
    assert dom.findtext("cputune/period") == "100000"
    assert dom.findtext("cputune/quota") == "100000"
    assert dom.findtext("cputune/shares") == "512"
    assert dom.findtext("memtune/hard_limit") == "128"
    assert dom.find("memtune/hard_limit").get("unit") == "MiB"
    assert dom.findtext("memtune/swap_hard_limit") == "128"
    assert dom.find("devices/filesystem/source").get("dir").endswith("nuage-0123abcd-web")
    assert dom.find("devices/filesystem/target").get("dir") == "/"
    assert dom.find("devices/console").get("type") == "pty"
    # Its own network namespace: it does not share the host's loopback services.
    assert dom.find("features/privnet") is not None
    assert dom.findtext("on_reboot") == "destroy"


def test_container_without_cap_gets_its_vcpus_as_whole_cpus():
    dom = etree.fromstring(container_domain_xml(_spec(vcpus=3)))
    assert dom.findtext("cputune/quota") == "300000"
    assert dom.find("cputune/shares") is None


def test_container_xml_escapes_values():
    xml = container_domain_xml(_spec(title="a<b>&'\""))
    assert etree.fromstring(xml).findtext("title") == "a<b>&'\""


def test_relative_rootfs_is_refused():
    with pytest.raises(ValueError):
        _spec(rootfs="rootfs")


def test_directory_image_is_copied_per_container_and_removed(tmp_path: Path):
    image = build_busybox_rootfs(tmp_path / "image")
    assert hypervisor.rootfs_problem(str(image)) == ""
    first, second = tmp_path / "c" / "one", tmp_path / "c" / "two"
    assert hypervisor.rootfs_prepare(source=str(image), dest=str(first))
    assert hypervisor.rootfs_prepare(source=str(image), dest=str(second))
    (first / "root" / "note").write_text("mine")
    assert not (second / "root" / "note").exists()
    assert not (image / "root" / "note").exists()
    # A rerun keeps the copy made (and what the container wrote in it).
    assert not hypervisor.rootfs_prepare(source=str(image), dest=str(first))
    assert (first / "root" / "note").read_text() == "mine"
    assert hypervisor.rootfs_remove(str(first))
    assert not first.exists()
    assert not hypervisor.rootfs_remove(str(first))


def test_tarball_image_is_unpacked_per_container(tmp_path: Path):
    tarball = build_busybox_tarball(tmp_path / "busybox.tar.gz")
    assert hypervisor.rootfs_problem(str(tarball)) == ""
    dest = tmp_path / "c" / "one"
    assert hypervisor.rootfs_prepare(source=str(tarball), dest=str(dest))
    assert (dest / "sbin" / "init").is_file()
    assert (dest / "bin" / "sh").is_symlink()


def test_what_is_not_a_rootfs_is_named(tmp_path: Path):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "has no executable /sbin/init" in hypervisor.rootfs_problem(str(empty))
    assert "absolute path" in hypervisor.rootfs_problem("relative/dir")
    assert "There is no" in hypervisor.rootfs_problem(str(tmp_path / "missing"))
    notes = tmp_path / "notes.tar"
    with tarfile.open(notes, "w") as tar:
        tar.add(empty, arcname="docs")
    assert "has no /sbin/init" in hypervisor.rootfs_problem(str(notes))
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(b"not a tarball")
    assert "not a readable tarball" in hypervisor.rootfs_problem(str(broken))
    with pytest.raises(hypervisor.HypervisorError, match="/sbin/init"):
        hypervisor.rootfs_prepare(source=str(empty), dest=str(tmp_path / "c"))
    assert not (tmp_path / "c").exists()
