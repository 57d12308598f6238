"""Parsing and checking OpenSSH public keys: the one place a pasted key is judged."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

MAX_KEY_LENGTH = 16 * 1024
MIN_RSA_BITS = 2048
MAX_COMMENT_LENGTH = 255

# Key type → (the curve name an ECDSA blob repeats, the bytes of its uncompressed point).
_ECDSA = {
    "ecdsa-sha2-nistp256": ("nistp256", 65),
    "ecdsa-sha2-nistp384": ("nistp384", 97),
    "ecdsa-sha2-nistp521": ("nistp521", 133),
}
ACCEPTED_TYPES = ("ssh-ed25519", *_ECDSA, "ssh-rsa")
_BITS = {
    "ssh-ed25519": 256,
    "ecdsa-sha2-nistp256": 256,
    "ecdsa-sha2-nistp384": 384,
    "ecdsa-sha2-nistp521": 521,
}


@dataclass(frozen=True)
class ParsedKey:
    key_type: str
    bits: int
    blob: bytes
    comment: str

    @property
    def fingerprint(self) -> str:
        """As `ssh-keygen -lf` prints it: SHA256 of the blob, base64 without padding."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode()
        return "SHA256:" + digest.rstrip("=")

    @property
    def line(self) -> str:
        """The key as one authorized_keys line (normalised: single spaces, no options)."""
        encoded = base64.b64encode(self.blob).decode()
        return f"{self.key_type} {encoded}" + (f" {self.comment}" if self.comment else "")


class _Truncated(Exception):
    pass


class _Reader:
    """Reads the SSH wire format (RFC 4251): uint32-length-prefixed strings and mpints."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def string(self) -> bytes:
        if self.pos + 4 > len(self.data):
            raise _Truncated
        (length,) = struct.unpack(">I", self.data[self.pos : self.pos + 4])
        start = self.pos + 4
        if start + length > len(self.data):
            raise _Truncated
        self.pos = start + length
        return self.data[start : self.pos]

    def done(self) -> bool:
        return self.pos == len(self.data)


def _invalid(message: str, code: str) -> ValidationError:
    return ValidationError(message, code=code)


def _check_blob(key_type: str, blob: bytes) -> int:
    """The key's size in bits, once the blob's structure is known to be complete and exact."""
    reader = _Reader(blob)
    try:
        embedded = reader.string()
        if embedded != key_type.encode():
            raise _invalid(
                _("The key says %(prefix)s but its data is a %(embedded)s key.")
                % {"prefix": key_type, "embedded": embedded.decode("ascii", "replace")[:40]},
                "type_mismatch",
            )
        if key_type == "ssh-ed25519":
            if len(reader.string()) != 32:
                raise _Truncated
            bits = 256
        elif key_type in _ECDSA:
            curve, point_length = _ECDSA[key_type]
            if reader.string() != curve.encode():
                raise _invalid(
                    _("The key's curve does not match its type %(type)s.") % {"type": key_type},
                    "type_mismatch",
                )
            point = reader.string()
            if len(point) != point_length or point[0] != 4:
                raise _Truncated
            bits = _BITS[key_type]
        else:  # ssh-rsa
            exponent, modulus = reader.string(), reader.string()
            if not exponent or not modulus:
                raise _Truncated
            bits = int.from_bytes(modulus, "big").bit_length()
    except _Truncated:
        raise _invalid(
            _("The key is incomplete: it looks cut off. Paste the whole line."), "truncated"
        ) from None
    if not reader.done():
        raise _invalid(
            _("The key has extra data after its end: paste exactly one key."), "trailing"
        )
    return bits


def parse_public_key(text: str) -> ParsedKey:
    """An OpenSSH public key line (`type base64 [comment]`) checked through and through.

    Accepted: ssh-ed25519, ecdsa-sha2-nistp256/384/521 and ssh-rsa of at least 2048 bits.
    Raises a ValidationError whose message says what is wrong with the key.
    """
    if len(text) > MAX_KEY_LENGTH:
        raise _invalid(
            _("This is too long for a public key (at most %(n)s characters).")
            % {"n": MAX_KEY_LENGTH},
            "too_long",
        )
    text = text.strip()
    if not text:
        raise _invalid(_("Paste a public key."), "empty")
    if "PRIVATE KEY" in text:
        raise _invalid(
            _("This is a private key: never share it. Paste the .pub file's content instead."),
            "private",
        )
    if "\n" in text or "\r" in text:
        raise _invalid(_("Paste one key, on one line."), "lines")
    parts = text.split(None, 2)
    key_type = parts[0]
    if key_type not in ACCEPTED_TYPES:
        if key_type == "ssh-dss":
            message = _("DSA keys are no longer safe; use an ed25519 key.")
        else:
            message = _(
                "Not an OpenSSH public key. Expected a line starting with one of %(types)s "
                "(as in ~/.ssh/id_ed25519.pub)."
            ) % {"types": ", ".join(ACCEPTED_TYPES)}
        raise _invalid(message, "type")
    if len(parts) < 2:
        raise _invalid(_("The key's data is missing after %(type)s.") % {"type": key_type}, "data")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise _invalid(
            _("The key's data is not valid base64: it may be cut off or mistyped."), "base64"
        ) from None
    comment = parts[2].strip() if len(parts) > 2 else ""
    if len(comment) > MAX_COMMENT_LENGTH or any(ord(c) < 32 for c in comment):
        raise _invalid(
            _("Keep the key's comment to one line of at most %(n)s characters.")
            % {"n": MAX_COMMENT_LENGTH},
            "comment",
        )
    bits = _check_blob(key_type, blob)
    if key_type == "ssh-rsa" and bits < MIN_RSA_BITS:
        raise _invalid(
            _("This RSA key has %(bits)s bits; at least %(min)s are required (or use ed25519).")
            % {"bits": bits, "min": MIN_RSA_BITS},
            "weak",
        )
    try:
        # The library checks what our structural pass does not: an ECDSA point on its curve.
        load_ssh_public_key(f"{key_type} {parts[1]}".encode())
    except Exception:  # ValueError, UnsupportedAlgorithm...: any refusal means a bad key
        raise _invalid(
            _("The key's data is not a valid %(type)s key.") % {"type": key_type}, "bad"
        ) from None
    return ParsedKey(key_type=key_type, bits=bits, blob=blob, comment=comment)


def validate_public_key(value: str) -> None:
    """Model and form field validator: an empty value is left to `blank`/`required`."""
    if value.strip():
        parse_public_key(value)
