"""A webpush nativeToken: the browser's PushSubscription JSON, validated (DESIGN §5).

Only the shape and the key material are checked here. Whether the endpoint may
be reached is the endpoint policy's question (`endpoint_guard`), asked
separately by the caller.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sentori_push import errors, vapid

AUTH_SECRET_BYTES = 16


@dataclass(frozen=True)
class WebPushSubscription:
    endpoint: str
    expiration_time: int | None  # milliseconds since the epoch, as the browser reports it
    p256dh: str  # unpadded base64url, 65-byte uncompressed P-256 point
    auth: str  # unpadded base64url, 16 bytes


def parse_subscription(native_token: object) -> WebPushSubscription:
    """Validate a PushSubscription given as its JSON string or as the decoded object."""
    if isinstance(native_token, str):
        try:
            native_token = json.loads(native_token)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise errors.InvalidSubscription("nativeToken", "is not valid JSON") from exc
    if not isinstance(native_token, dict):
        raise errors.InvalidSubscription("nativeToken", "must be a PushSubscription object or its JSON string")
    endpoint = _endpoint(native_token.get("endpoint"))
    expiration_time = _expiration_time(native_token.get("expirationTime"))
    keys = _keys(native_token)
    return WebPushSubscription(endpoint, expiration_time, _p256dh(keys.get("p256dh")), _auth(keys.get("auth")))


def _endpoint(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise errors.InvalidSubscription("nativeToken.endpoint", "must be a non-empty string")
    return value


def _expiration_time(value: object) -> int | None:
    if value is None:
        return None
    # bool is an int subclass; `true` is not a timestamp.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise errors.InvalidSubscription("nativeToken.expirationTime", "must be null or a non-negative integer (ms)")
    return value


def _keys(token: dict[Any, Any]) -> dict[Any, Any]:
    keys = token.get("keys")
    if not isinstance(keys, dict):
        raise errors.InvalidSubscription("nativeToken.keys", "must be an object with p256dh and auth")
    return keys


def _p256dh(value: object) -> str:
    field = "nativeToken.keys.p256dh"
    if not isinstance(value, str):
        raise errors.InvalidSubscription(field, "must be a base64url string")
    try:
        point = vapid.load_public_point(value)
    except vapid.KeyError_ as exc:
        raise errors.InvalidSubscription(field, str(exc)) from exc
    return vapid.b64url_encode(vapid.public_point(point))


def _auth(value: object) -> str:
    field = "nativeToken.keys.auth"
    if not isinstance(value, str):
        raise errors.InvalidSubscription(field, "must be a base64url string")
    try:
        raw = vapid.b64url_decode(value)
    except vapid.KeyError_ as exc:
        raise errors.InvalidSubscription(field, str(exc)) from exc
    if len(raw) != AUTH_SECRET_BYTES:
        raise errors.InvalidSubscription(field, f"must be {AUTH_SECRET_BYTES} bytes, got {len(raw)}")
    return vapid.b64url_encode(raw)
