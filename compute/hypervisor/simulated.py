"""Simulated hosts on libvirt's test driver: a node description file gives each its own size."""

from __future__ import annotations

import uuid
from pathlib import Path

from lxml import etree


def write_test_node(path: Path, *, cpus: int, memory_mib: int, pool: str = "nuage") -> str:
    """Write a node file for libvirt's test driver and return the host URI that opens it.

    Each connection to such a URI starts from this description with its own private state:
    the CPUs and memory given here, one running `dir` pool, and no domains. The test driver
    sizes the pool at 100 GiB whatever its capacity below says (placement sees 100 GiB of disk).
    """
    node = etree.Element("node")
    cpu = etree.SubElement(node, "cpu")
    for tag, value in (
        ("mhz", "2000"),
        ("model", "x86_64"),
        ("nodes", "1"),
        ("sockets", "1"),
        ("cores", str(cpus)),
        ("threads", "1"),
    ):
        etree.SubElement(cpu, tag).text = value
    etree.SubElement(node, "memory").text = str(memory_mib * 1024)
    pool_el = etree.SubElement(node, "pool", type="dir")
    etree.SubElement(pool_el, "name").text = pool
    etree.SubElement(pool_el, "uuid").text = str(uuid.uuid5(uuid.NAMESPACE_URL, str(path)))
    etree.SubElement(pool_el, "capacity", unit="GiB").text = "100000"
    etree.SubElement(pool_el, "allocation").text = "0"
    etree.SubElement(pool_el, "available", unit="GiB").text = "100000"
    target = etree.SubElement(pool_el, "target")
    etree.SubElement(target, "path").text = f"/{pool}-pool"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(etree.tostring(node, pretty_print=True))
    return f"test://{path.resolve()}"
