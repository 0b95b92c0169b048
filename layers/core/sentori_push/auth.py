"""Project keys: generation, digests, and resolving a bearer key to a caller.

`st_pk_<26 base32>` public keys may be shipped in a browser bundle and reach
the token and topic routes only; `st_admin_<26 base32>` keys reach everything
of their own project. Only SHA-256 digests are stored.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sentori_push.errors import AdminKeyRequired, InvalidToken, MissingToken, NotFound
from sentori_push.storage import projects as project_store

PUBLIC_PREFIX = "st_pk_"
ADMIN_PREFIX = "st_admin_"
_KEY = re.compile(r"^(st_pk_|st_admin_)[a-z2-7]{26}$")


class KeyKind(StrEnum):
    PUBLIC = "public"
    ADMIN = "admin"


@dataclass(frozen=True)
class Caller:
    project_id: str
    kind: KeyKind

    @property
    def is_admin(self) -> bool:
        return self.kind is KeyKind.ADMIN

    def require_admin(self) -> None:
        if not self.is_admin:
            raise AdminKeyRequired()

    def require_project(self, project_id: str) -> None:
        """Another project's id answers 404, never 403: ids cannot be probed."""
        if project_id != self.project_id:
            raise NotFound("project")


def generate_key(kind: KeyKind) -> str:
    body = base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=").lower()
    return (ADMIN_PREFIX if kind is KeyKind.ADMIN else PUBLIC_PREFIX) + body


def is_well_formed(key: str) -> bool:
    return bool(_KEY.match(key))


def kind_of(key: str) -> KeyKind:
    return KeyKind.ADMIN if key.startswith(ADMIN_PREFIX) else KeyKind.PUBLIC


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_key(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise MissingToken()
    scheme, _, key = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise MissingToken()
    return key.strip()


def authenticate(authorization: str | None) -> Caller:
    key = bearer_key(authorization)
    if not is_well_formed(key):
        raise InvalidToken()
    record = project_store.get_key(digest(key))
    # The stored kind must agree with the prefix: a digest collision across
    # kinds is impossible in practice, but the rule costs nothing to enforce.
    if record is None or record.revoked or record.kind != kind_of(key).value:
        raise InvalidToken()
    return Caller(record.project_id, KeyKind(record.kind))
