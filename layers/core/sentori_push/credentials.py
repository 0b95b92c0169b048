"""Per-project push credentials: validation, KMS-sealed storage, verification.

Web Push (VAPID) credentials are validated and normalised: the public key must
be a P-256 point, the private key must parse (PEM, base64 PEM/DER, raw
scalar; SEC1 or PKCS#8) and match it, the contact must be a mailto: or https:
URI (Apple rejects anything else). Other providers are stored as given until
this service delivers to them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sentori_push import clock, vapid
from sentori_push.errors import InvalidCredential, InvalidRequest, NotFound
from sentori_push.providers import WEBPUSH, check_provider
from sentori_push.storage import credentials as store
from sentori_push.storage import kms


def _pick(section: dict[str, Any], where: str, *names: str) -> Any:
    """The first of `names` present in `section` (camelCase or snake_case)."""
    for name in names:
        if name in section:
            return section[name]
    raise InvalidCredential(f"{where}.{names[0]}", "is required")


def _object(body: dict[str, Any], name: str, *, required: bool) -> dict[str, Any]:
    value = body.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise InvalidCredential(name, "must be an object")
    return value


@dataclass(frozen=True)
class WebPushCredential:
    """A decrypted, validated VAPID credential."""

    public_key: str
    private_key: str
    contact: str


def validate_webpush(config: dict[str, Any], secret: dict[str, Any]) -> WebPushCredential:
    public_text = _pick(config, "config", "vapidPublic", "vapid_public")
    if not isinstance(public_text, str):
        raise InvalidCredential("config.vapidPublic", "must be a string")
    try:
        public = vapid.load_public_point(public_text)
    except vapid.KeyError_ as exc:
        raise InvalidCredential("config.vapidPublic", str(exc)) from None

    contact = _pick(config, "config", "contact", "subject", "sub")
    if not isinstance(contact, str) or not vapid.is_contact(contact.strip()):
        raise InvalidCredential("config.contact", "must be a mailto: or https: URI")

    private_text = _pick(secret, "secret", "vapidPrivate", "vapid_private")
    if not isinstance(private_text, str):
        raise InvalidCredential("secret.vapidPrivate", "must be a string")
    try:
        private = vapid.load_private_key(private_text)
    except vapid.KeyError_ as exc:
        raise InvalidCredential("secret.vapidPrivate", str(exc)) from None
    if vapid.public_point(private) != vapid.public_point(public):
        raise InvalidCredential("secret.vapidPrivate", "does not match config.vapidPublic")
    return WebPushCredential(
        public_key=vapid.b64url_encode(vapid.public_point(public)),
        private_key=vapid.raw_scalar(private),
        contact=contact.strip(),
    )


def _view(credential: store.StoredCredential) -> dict[str, Any]:
    return {"provider": credential.provider, "config": credential.config, "updatedAt": credential.updated_at}


def put_credential(project_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object", [{"field": "", "problem": "not an object"}])
    provider = check_provider(body.get("provider"))
    config = _object(body, "config", required=True)
    secret = _object(body, "secret", required=provider == WEBPUSH)
    if provider == WEBPUSH:
        checked = validate_webpush(config, secret)
        config = {"vapidPublic": checked.public_key, "contact": checked.contact}
        secret = {"vapidPrivate": checked.private_key}
    sealed = kms.encrypt(json.dumps(secret).encode(), project_id=project_id, provider=provider)
    stored = store.StoredCredential(project_id, provider, config, sealed, clock.iso())
    store.put(stored)
    return {"ok": True, **_view(stored)}


def list_credentials(project_id: str) -> list[dict[str, Any]]:
    return [_view(c) for c in store.list_for_project(project_id)]


def delete_credential(project_id: str, provider: str) -> None:
    store.delete(project_id, check_provider(provider))


class CredentialUnavailable(Exception):
    """The credential is missing or cannot be opened; `outcome` names why."""

    def __init__(self, outcome: str) -> None:
        super().__init__(outcome)
        self.outcome = outcome


def open_secret(stored: store.StoredCredential) -> dict[str, Any]:
    try:
        plain = kms.decrypt(stored.secret_ciphertext, project_id=stored.project_id, provider=stored.provider)
    except kms.DecryptFailed:
        raise CredentialUnavailable("CredentialDecryptFailed") from None
    secret = json.loads(plain)
    if not isinstance(secret, dict):
        raise CredentialUnavailable("CredentialDecryptFailed")
    return secret


def load_webpush(project_id: str) -> WebPushCredential:
    """The decrypted VAPID credential of a project, for the dispatcher."""
    stored = store.get(project_id, WEBPUSH)
    if stored is None:
        raise CredentialUnavailable("CredentialMissing")
    secret = open_secret(stored)
    try:
        return validate_webpush(stored.config, secret)
    except InvalidCredential:
        raise CredentialUnavailable("CredentialDecryptFailed") from None


def verify_credential(project_id: str, provider: str) -> dict[str, Any]:
    provider = check_provider(provider)
    stored = store.get(project_id, provider)
    if stored is None:
        raise NotFound("credential")
    try:
        secret = open_secret(stored)
    except CredentialUnavailable:
        return {"provider": provider, "status": "rejected", "reason": "KMS refused to decrypt the secret"}
    if provider != WEBPUSH:
        return {
            "provider": provider,
            "status": "ok",
            "reason": "the secret decrypts; its format is not checked until this service delivers to " + provider,
        }
    try:
        validate_webpush(stored.config, secret)
    except InvalidCredential as exc:
        return {"provider": provider, "status": "malformed", "reason": exc.message}
    return {"provider": provider, "status": "ok", "reason": "the VAPID key pair decrypts and matches"}


class WebPushCredentialCache:
    """Decrypted VAPID credentials per project, for at most `ttl` seconds.

    One warm dispatch Lambda asks KMS at most once per project per 5 minutes.
    A missing or undecryptable credential is remembered for a shorter time, so
    a credential PUT just now is picked up quickly.
    """

    def __init__(self, ttl: float = 300.0, failure_ttl: float = 30.0) -> None:
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self._entries: dict[str, tuple[float, WebPushCredential | CredentialUnavailable]] = {}

    def get(self, project_id: str) -> WebPushCredential:
        now = clock.now()
        entry = self._entries.get(project_id)
        if entry is None or entry[0] <= now:
            try:
                value: WebPushCredential | CredentialUnavailable = load_webpush(project_id)
                entry = (now + self.ttl, value)
            except CredentialUnavailable as missing:
                entry = (now + self.failure_ttl, missing)
            self._entries[project_id] = entry
        if isinstance(entry[1], CredentialUnavailable):
            raise CredentialUnavailable(entry[1].outcome)
        return entry[1]

    def clear(self) -> None:
        self._entries.clear()
