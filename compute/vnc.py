"""The proxy's part of the VNC (RFB 3.8) handshake on both sides of a graphical console.

Towards the VM's display the proxy authenticates with the VM's password (VNC authentication);
towards the browser it offers no authentication (the browser already proved who it is with its
session and a one-time ticket). So the display's password never leaves the server. After both
handshakes the bytes are relayed unchanged.
"""

from __future__ import annotations

import asyncio
import struct

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

VERSION = b"RFB 003.008\n"
SECURITY_NONE = 1
SECURITY_VNC = 2


class VncError(Exception):
    """The display refused the proxy or spoke something else than RFB 3.x."""


def _des_key(password: str) -> bytes:
    # VNC authentication's quirk: the key is the password (8 bytes, zero-padded) with the bits
    # of every byte in reverse order.
    raw = password.encode("latin-1")[:8].ljust(8, b"\0")
    return bytes(int(f"{b:08b}"[::-1], 2) for b in raw)


def vnc_auth_response(password: str, challenge: bytes) -> bytes:
    """DES-encrypt the display's 16-byte challenge with the password (three equal keys of
    triple DES are single DES)."""
    key = _des_key(password)
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()  # noqa: S305 - RFB's own
    return encryptor.update(challenge) + encryptor.finalize()


async def _reason(reader: asyncio.StreamReader) -> str:
    (length,) = struct.unpack(">I", await reader.readexactly(4))
    return (await reader.readexactly(min(length, 4096))).decode(errors="replace")


async def display_login(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, password: str
) -> None:
    """Take the display through version and security negotiation, up to (not including)
    ClientInit, which the browser sends itself."""
    try:
        version = await reader.readexactly(12)
        if not version.startswith(b"RFB 003."):
            raise VncError("The display does not speak VNC.")
        writer.write(VERSION)
        await writer.drain()
        (count,) = await reader.readexactly(1)
        if count == 0:
            raise VncError(f"The display refused the connection: {await _reason(reader)}")
        offered = set(await reader.readexactly(count))
        if SECURITY_VNC in offered:
            writer.write(bytes([SECURITY_VNC]))
            challenge = await reader.readexactly(16)
            writer.write(vnc_auth_response(password, challenge))
        elif SECURITY_NONE in offered:
            writer.write(bytes([SECURITY_NONE]))
        else:
            raise VncError("The display offers no authentication the proxy knows.")
        await writer.drain()
        (result,) = struct.unpack(">I", await reader.readexactly(4))
        if result != 0:
            raise VncError(f"The display refused the password: {await _reason(reader)}")
    except asyncio.IncompleteReadError as exc:
        raise VncError("The display closed the connection during the handshake.") from exc


class BrowserHandshake:
    """The server side of the handshake with the browser (noVNC), fed with what it sends.

    `greeting()` is sent first; `feed(data)` returns (bytes to send to the browser, bytes left
    over for the display once the handshake is done, done?).
    """

    def __init__(self) -> None:
        self._buffer = b""
        self._state = "version"

    @staticmethod
    def greeting() -> bytes:
        return VERSION

    @property
    def done(self) -> bool:
        return self._state == "relay"

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        self._buffer += data
        reply = b""
        if self._state == "version" and len(self._buffer) >= 12:
            version, self._buffer = self._buffer[:12], self._buffer[12:]
            if not version.startswith(b"RFB 003.00"):
                raise VncError("The browser does not speak VNC.")
            reply += bytes([1, SECURITY_NONE])
            self._state = "security"
        if self._state == "security" and len(self._buffer) >= 1:
            choice, self._buffer = self._buffer[0], self._buffer[1:]
            if choice != SECURITY_NONE:
                raise VncError("The browser chose an authentication that was not offered.")
            reply += struct.pack(">I", 0)
            self._state = "relay"
        if self._state == "relay":
            rest, self._buffer = self._buffer, b""
            return reply, rest
        return reply, b""
