"""The NoCloud seed a VM boots with: meta-data, user-data, network-config, and the ISO holding them.

Everything here is a pure function of its arguments; the caller uploads the ISO to the host.

How a user script is delivered: cloud-init takes one user-data document, and ours must carry
the SSH keys. A `#!` script from the user goes into our `#cloud-config` as a `write_files`
entry (base64, so that no byte of it is reinterpreted by YAML) at USER_SCRIPT_PATH, mode 0700,
and `runcmd` runs it once, as cloud-init's own user scripts are run (late in the first boot).
A `#cloud-config` document from the user is merged instead: its mapping is kept, and our keys
are added in front of any `ssh_authorized_keys` it lists.
"""

from __future__ import annotations

import base64
import io
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

USER_DATA_MAX_BYTES = 16 * 1024
USER_SCRIPT_PATH = "/var/lib/nuage/user-script"
CLOUD_CONFIG_HEADER = "#cloud-config"
SEED_LABEL = "cidata"

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


@dataclass(frozen=True)
class GuestNic:
    """How the guest configures one NIC, recognised by its MAC address.

    `dhcp` (QEMU user networking, or a network that serves DHCP), or a static address in CIDR
    form ("10.20.0.5/24") with an optional gateway and DNS servers.
    """

    mac: str
    mode: Literal["dhcp", "static"] = "dhcp"
    address: str = ""
    gateway: str = ""
    dns: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _MAC.match(self.mac):
            raise ValueError(f"not a lowercase MAC address: {self.mac!r}")
        if self.mode == "static":
            iface = ipaddress.ip_interface(self.address)  # raises ValueError when malformed
            if self.gateway and ipaddress.ip_address(self.gateway) not in iface.network:
                raise ValueError(f"gateway {self.gateway} is outside {iface.network}")
            for server in self.dns:
                ipaddress.ip_address(server)
        elif self.mode != "dhcp":
            raise ValueError(f"unknown NIC mode {self.mode!r}")


def _dump(data: Mapping[str, Any]) -> str:
    # A huge width: long values (an RSA key with its comment) are never folded over lines.
    return yaml.safe_dump(
        dict(data), sort_keys=False, default_flow_style=False, allow_unicode=True, width=2**30
    )


def meta_data(*, instance_id: str, hostname: str) -> bytes:
    return _dump({"instance-id": instance_id, "local-hostname": hostname}).encode()


def _split_keys(keys: Iterable[str]) -> list[str]:
    """One entry per key line; blank lines and comments dropped, duplicates kept once."""
    out: list[str] = []
    for text in keys:
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#") and line not in out:
                out.append(line)
    return out


def user_data(*, ssh_keys: Sequence[str] = (), user_data: str = "") -> bytes:
    """The `#cloud-config` document: our SSH keys, plus the user's script or cloud-config.

    `user_data` is assumed valid (validate_user_data); `ssh_keys` are OpenSSH public key lines
    (a text with several lines counts as several keys).
    """
    keys = _split_keys(ssh_keys)
    config: dict[str, Any] = {}
    if user_data.startswith(CLOUD_CONFIG_HEADER):
        theirs = yaml.safe_load(user_data) or {}
        config.update(theirs)
        listed = theirs.get("ssh_authorized_keys") or []
        keys += [k for k in listed if isinstance(k, str) and k not in keys]
    if keys:
        config["ssh_authorized_keys"] = keys
    if user_data.startswith("#!"):
        config["write_files"] = [
            {
                "path": USER_SCRIPT_PATH,
                "permissions": "0700",
                "encoding": "b64",
                "content": base64.b64encode(user_data.encode()).decode("ascii"),
            }
        ]
        config["runcmd"] = [[USER_SCRIPT_PATH]]
    # Keep ssh_authorized_keys first: it reads well, and the tiny test guest expects no order.
    ordered = {k: config[k] for k in ("ssh_authorized_keys",) if k in config}
    ordered.update((k, v) for k, v in config.items() if k not in ordered)
    body = _dump(ordered) if ordered else ""
    return (CLOUD_CONFIG_HEADER + "\n" + body).encode()


def network_config(nics: Sequence[GuestNic]) -> bytes:
    """Network config version 2: one `ethernets` entry per NIC, matched by MAC address."""
    ethernets: dict[str, Any] = {}
    for index, nic in enumerate(nics):
        entry: dict[str, Any] = {"match": {"macaddress": nic.mac}}
        if nic.mode == "dhcp":
            entry["dhcp4"] = True
        else:
            iface = ipaddress.ip_interface(nic.address)
            entry["addresses"] = [iface.with_prefixlen]
            if nic.gateway:
                default = "0.0.0.0/0" if iface.version == 4 else "::/0"
                entry["routes"] = [{"to": default, "via": nic.gateway}]
            if nic.dns:
                entry["nameservers"] = {"addresses": list(nic.dns)}
        ethernets[f"nic{index}"] = entry
    return _dump({"version": 2, "ethernets": ethernets}).encode()


def seed_files(
    *,
    instance_id: str,
    hostname: str,
    ssh_keys: Sequence[str] = (),
    user_script: str = "",
    nics: Sequence[GuestNic] = (),
) -> dict[str, bytes]:
    """The files of a NoCloud seed, by name. Without NICs there is no network-config, and
    cloud-init falls back to DHCP on the first interface."""
    files = {
        "meta-data": meta_data(instance_id=instance_id, hostname=hostname),
        "user-data": user_data(ssh_keys=ssh_keys, user_data=user_script),
    }
    if nics:
        files["network-config"] = network_config(nics)
    return files


def validate_user_data(text: str) -> None:
    """Raise ValidationError unless `text` is user data we can pass on (empty is fine)."""
    if not text:
        return
    size = len(text.encode())
    if size > USER_DATA_MAX_BYTES:
        raise ValidationError(
            _("User data is %(size)d bytes; at most %(limit)d bytes (16 KiB) are allowed.")
            % {"size": size, "limit": USER_DATA_MAX_BYTES},
            code="too_long",
        )
    if text.startswith("#!"):
        return
    if not text.startswith(CLOUD_CONFIG_HEADER):
        raise ValidationError(
            _(
                "User data must be a script starting with #! or a cloud-config document "
                "starting with #cloud-config."
            ),
            code="format",
        )
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = (
            _(" (line %(line)d, column %(column)d)")
            % {"line": mark.line + 1, "column": mark.column + 1}
            if mark is not None
            else ""
        )
        problem = getattr(exc, "problem", None) or str(exc)
        raise ValidationError(
            _("The cloud-config is not valid YAML%(where)s: %(problem)s.")
            % {"where": where, "problem": problem},
            code="yaml",
        ) from exc
    if parsed is not None and not isinstance(parsed, dict):
        raise ValidationError(
            _("A cloud-config document must be a mapping of keys to values."), code="not_mapping"
        )
    if isinstance(parsed, dict):
        listed = parsed.get("ssh_authorized_keys")
        if listed is not None and not (
            isinstance(listed, list) and all(isinstance(k, str) for k in listed)
        ):
            raise ValidationError(
                _("ssh_authorized_keys in the cloud-config must be a list of key lines."),
                code="keys",
            )


def _iso9660_name(name: str) -> str:
    """The plain ISO 9660 name (level 3: d-characters); Rock Ridge and Joliet keep the real one."""
    stem = re.sub(r"[^A-Z0-9_]", "_", name.upper())[:30]
    return f"/{stem}.;1"


def seed_iso(files: Mapping[str, bytes]) -> bytes:
    """An ISO 9660 image labelled `cidata` holding `files` at its root.

    Rock Ridge and Joliet names carry "meta-data" and "user-data" as cloud-init expects them
    (a plain ISO 9660 name cannot hold a hyphen), as `cloud-localds` writes them.
    """
    import pycdlib  # imported here: only the provisioning worker builds seeds

    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=3, vol_ident=SEED_LABEL, joliet=3, rock_ridge="1.09")
    try:
        for name, data in files.items():
            if "/" in name or not name:
                raise ValueError(f"seed file names are plain names: {name!r}")
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                _iso9660_name(name),
                rr_name=name,
                joliet_path=f"/{name}",
            )
        out = io.BytesIO()
        iso.write_fp(out)
    finally:
        iso.close()
    return out.getvalue()
