"""VAPID key material: parsing every accepted form, and checking a pair matches.

Accepted private keys: PEM text, base64 of a PEM file, base64 of DER, or a
base64url raw 32-byte scalar; SEC1 (`BEGIN EC PRIVATE KEY`) and PKCS#8.
Keys are normalised to base64url raw form (65-byte point, 32-byte scalar).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

_CONTACT = re.compile(r"^(mailto:[^@\s]+@[^@\s]+\.[^@\s]+|https://[^\s/@]+(/\S*)?)$")


class KeyError_(ValueError):
    """A key that does not parse; the message says why."""


def b64url_decode(text: str) -> bytes:
    text = text.strip()
    if not re.fullmatch(r"[A-Za-z0-9_\-]*={0,2}", text):
        raise KeyError_("is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise KeyError_("is not base64url") from exc


def b64url_encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_public_point(text: str) -> ec.EllipticCurvePublicKey:
    """A base64url 65-byte uncompressed P-256 point that lies on the curve."""
    raw = b64url_decode(text)
    if len(raw) != 65 or raw[0] != 0x04:
        raise KeyError_(f"must be a 65-byte uncompressed P-256 point, got {len(raw)} bytes")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError as exc:
        raise KeyError_("is not a point on the P-256 curve") from exc


def _from_pem_or_der(blob: bytes) -> ec.EllipticCurvePrivateKey:
    loader = serialization.load_pem_private_key if b"-----BEGIN" in blob else serialization.load_der_private_key
    try:
        key = loader(blob, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyError_("does not parse as a PEM or DER private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyError_("is not a P-256 EC private key")
    return key


def load_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    text = text.strip()
    if not text:
        raise KeyError_("is empty")
    if "-----BEGIN" in text:
        return _from_pem_or_der(text.encode())
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyError_("is neither PEM nor base64") from exc
    if len(raw) == 32:
        value = int.from_bytes(raw, "big")
        try:
            return ec.derive_private_key(value, ec.SECP256R1())
        except ValueError as exc:
            raise KeyError_("is not a valid P-256 scalar") from exc
    return _from_pem_or_der(raw)


def public_point(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def raw_scalar(key: ec.EllipticCurvePrivateKey) -> str:
    return b64url_encode(key.private_numbers().private_value.to_bytes(32, "big"))


def is_contact(value: str) -> bool:
    return bool(_CONTACT.match(value))


@dataclass(frozen=True)
class VapidKeyPair:
    public_key: str  # base64url, 65-byte point
    private_key: str  # base64url, 32-byte scalar


def generate_keypair() -> VapidKeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    return VapidKeyPair(b64url_encode(public_point(key)), raw_scalar(key))
