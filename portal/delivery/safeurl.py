"""Outgoing HTTP to addresses tenants choose (webhooks), without reaching inside the network.

A tenant's webhook URL must not become a way to call Nuage's own services (the database, Redis,
libvirt, the cloud's metadata endpoint) from the worker. So the host name is resolved once,
every address it resolves to must be a global one, and the connection goes to that address
(pinned: a DNS answer that changes between the check and the connection changes nothing), with
the name in the Host header and as TLS SNI (the certificate is checked against the name). No
redirect is followed and no proxy from the environment is used (http.client does neither).
`settings.NUAGE["WEBHOOK_ALLOW_PRIVATE"]` lifts the address rule, for tests and labs only.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedAddress(Exception):
    """The URL's host is, or resolves to, an address webhooks may not reach."""


def private_allowed() -> bool:
    return bool(settings.NUAGE.get("WEBHOOK_ALLOW_PRIVATE", False))


def _unwrap(address: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or 6to4 IPv6 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def address_allowed(address: Address) -> bool:
    """Only global unicast addresses (no loopback, private, link-local, CGNAT, multicast,
    reserved...), whatever the spelling."""
    if private_allowed():
        return True
    address = _unwrap(address)
    return address.is_global and not address.is_multicast


def literal_address(host: str) -> Address | None:
    """The address a host written as a number stands for, in any spelling the C library's
    resolver accepts (2130706433, 0x7f.1, 0177.0.0.1, [::ffff:127.0.0.1]), or None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def check_host(host: str) -> None:
    """Refuse at once what needs no DNS to refuse: a non-global literal address, localhost."""
    if private_allowed():
        return
    lowered = host.lower().rstrip(".")
    if lowered == "localhost" or lowered.endswith(".localhost"):
        raise RefusedAddress(host)
    literal = literal_address(host)
    if literal is not None and not address_allowed(literal):
        raise RefusedAddress(host)


def resolve(host: str, port: int) -> Address:
    """The address to connect to: every address `host` resolves to must be allowed (so that a
    name with one public and one private record is refused), the first one is used."""
    check_host(host)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc.strerror}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
    if not addresses:
        raise OSError(f"cannot resolve {host}")
    refused = [a for a in addresses if not address_allowed(a)]
    if refused:
        raise RefusedAddress(f"{host} resolves to {refused[0]}")
    return addresses[0]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: Address, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.pinned = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self.pinned, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, *, address: Address, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.pinned = str(address)
        self.tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self.pinned, self.port), self.timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # SNI and the certificate check use the name, not the address connected to.
        self.sock = self.tls.wrap_socket(raw, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    status: int


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """POST `body` to `url` at its pinned address; the status code only (the body is never
    read: a receiver's answer is not stored or shown). Raises RefusedAddress or OSError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress(url)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = _PinnedHTTPS(
            host,
            port,
            address=address,
            timeout=timeout,
            context=context or ssl.create_default_context(),
        )
    else:
        conn = _PinnedHTTP(host, port, address=address, timeout=timeout)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", path, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        return Answer(status=response.status)
    except http.client.HTTPException as exc:
        raise OSError(f"bad answer: {exc!r}") from exc
    finally:
        conn.close()
