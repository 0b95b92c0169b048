"""Device tokens (DESIGN §5): registration, unregistration and topic membership.

A registration is an upsert on (project, provider, endpoint): the same
endpoint always gets the same opaque handle `ipt_<32 hex>`, and registering it
again replaces its keys, metadata and linkHash and revives it. For `webpush`
the endpoint is the PushSubscription's endpoint, checked against the endpoint
policy; the other providers are not delivered by this service, so their
native token is kept as given and is their upsert key.

A path parameter that cannot be a handle answers 404, like a handle that
names nothing: unregister answers 204 for an unknown or another project's
handle (it is gone either way), the topic routes answer 404 for one.
"""

from __future__ import annotations

import json
import re
import secrets
from functools import cache
from typing import Any

from sentori_push import clock
from sentori_push.endpoint_guard import EndpointPolicy
from sentori_push.errors import InvalidRequest, NotFound
from sentori_push.providers import WEBPUSH, check_provider
from sentori_push.settings import settings
from sentori_push.storage import tokens as store
from sentori_push.subscription import parse_subscription

HANDLE_PATTERN = re.compile(r"^ipt_[0-9a-f]{32}$")
MAX_NATIVE_TOKEN_CHARS = 4096
MAX_LINK_HASH_CHARS = 128
MAX_METADATA_BYTES = 4096
MAX_TOPIC_CHARS = 200


def is_handle(value: str) -> bool:
    return isinstance(value, str) and HANDLE_PATTERN.match(value) is not None


def new_handle() -> str:
    return "ipt_" + secrets.token_hex(16)


def _invalid(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(f"{field} {problem}", [{"field": field, "problem": problem}])


def normalize_topic(topic: object) -> str:
    """A topic trimmed of surrounding whitespace, 1–200 characters."""
    if not isinstance(topic, str):
        raise _invalid("topic", "must be a string")
    trimmed = topic.strip()
    if not 1 <= len(trimmed) <= MAX_TOPIC_CHARS:
        raise _invalid("topic", f"must be 1-{MAX_TOPIC_CHARS} characters after trimming")
    return trimmed


@cache
def _policy(allowlist: str) -> EndpointPolicy:
    return EndpointPolicy.parse(allowlist)


def _link_hash(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_LINK_HASH_CHARS:
        raise _invalid("linkHash", f"must be a string of 1-{MAX_LINK_HASH_CHARS} characters")
    return value


def _metadata(value: object) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("metadata", "must be a JSON object")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_METADATA_BYTES:
        raise _invalid("metadata", f"is {size} bytes serialized; the limit is {MAX_METADATA_BYTES}")
    return value


def _native_token(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _invalid("nativeToken", "must be a non-empty string")
    if len(value) > MAX_NATIVE_TOKEN_CHARS:
        raise _invalid("nativeToken", f"must be at most {MAX_NATIVE_TOKEN_CHARS} characters")
    return value


def _registration(project_id: str, body: Any) -> store.Registration:
    if not isinstance(body, dict):
        raise _invalid("", "the body must be a JSON object")
    provider = check_provider(body.get("provider"))
    link_hash = _link_hash(body.get("linkHash"))
    metadata = _metadata(body.get("metadata"))
    if provider != WEBPUSH:
        native = _native_token(body.get("nativeToken"))
        return store.Registration(project_id, provider, native, None, None, None, link_hash, metadata)
    subscription = parse_subscription(body.get("nativeToken"))
    _policy(settings().endpoint_allowlist).check(subscription.endpoint)
    return store.Registration(
        project_id,
        provider,
        subscription.endpoint,
        subscription.p256dh,
        subscription.auth,
        subscription.expiration_time,
        link_hash,
        metadata,
    )


def register(project_id: str, body: Any) -> dict[str, str]:
    """Upsert a device; `{id, createdAt, updatedAt}`. Two DynamoDB calls, new device or known."""
    registration = _registration(project_id, body)
    ipt = store.claim_handle(project_id, registration.provider, registration.endpoint, new_handle())
    registered = store.upsert_token(ipt, registration, clock.iso())
    return {"id": registered.ipt, "createdAt": registered.created_at, "updatedAt": registered.updated_at}


def unregister(project_id: str, ipt: str) -> None:
    """Revoke the token (kept for receipts). Unknown, already revoked or another project's: nothing to do."""
    if not is_handle(ipt):
        raise NotFound("token")
    store.revoke(project_id, ipt, reason="unregistered", now=clock.iso())


def subscribe(project_id: str, ipt: str, body: Any) -> dict[str, bool]:
    if not is_handle(ipt):
        raise NotFound("token")
    topic = normalize_topic(body.get("topic") if isinstance(body, dict) else None)
    try:
        store.subscribe(project_id, ipt, topic, clock.iso())
    except store.TokenNotActive:
        raise NotFound("token") from None
    return {"subscribed": True}


def unsubscribe(project_id: str, ipt: str, topic: str) -> dict[str, bool]:
    if not is_handle(ipt):
        raise NotFound("token")
    topic = normalize_topic(topic)
    try:
        store.unsubscribe(project_id, ipt, topic)
    except store.TokenNotActive:
        raise NotFound("token") from None
    return {"unsubscribed": True}
