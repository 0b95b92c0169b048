"""The token and topic routes through the dev stack, as a browser calls them: the public key, CORS, real HTTP.

The dev stack admits only the public push services, so the endpoints name FCM;
nothing is sent to them.
"""

from __future__ import annotations

import base64
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from tests.integration.conftest import DevStack

BROWSER_ORIGIN = "https://app.example.com"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def subscription_body(endpoint: str, **fields: Any) -> dict[str, Any]:
    point = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    keys = {"p256dh": b64url(point), "auth": b64url(secrets.token_bytes(16))}
    return {
        "provider": "webpush",
        "nativeToken": {"endpoint": endpoint, "expirationTime": None, "keys": keys},
        **fields,
    }


def fresh_endpoint() -> str:
    return f"https://fcm.googleapis.com/fcm/send/{secrets.token_hex(8)}"


def test_register_with_the_public_key_and_again_returns_the_same_id(dev_stack: DevStack) -> None:
    endpoint = fresh_endpoint()

    first = dev_stack.request("POST", "/v1/push/tokens", key=dev_stack.public_key, json=subscription_body(endpoint))
    again = dev_stack.request("POST", "/v1/push/tokens", key=dev_stack.public_key, json=subscription_body(endpoint))

    assert first.status_code == 200, first.text
    assert set(first.json()) == {"id", "createdAt", "updatedAt"}
    assert first.json()["id"].startswith("ipt_")
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["createdAt"] == first.json()["createdAt"]


def test_subscribe_unsubscribe_and_unregister(dev_stack: DevStack) -> None:
    created = dev_stack.request(
        "POST", "/v1/push/tokens", key=dev_stack.public_key, json=subscription_body(fresh_endpoint())
    )
    ipt = created.json()["id"]

    subscribed = dev_stack.request(
        "POST", f"/v1/push/tokens/{ipt}/topics", key=dev_stack.public_key, json={"topic": " breaking news "}
    )
    unsubscribed = dev_stack.request(
        "DELETE", f"/v1/push/tokens/{ipt}/topics/{quote('breaking news')}", key=dev_stack.public_key
    )
    unregistered = dev_stack.request("DELETE", f"/v1/push/tokens/{ipt}", key=dev_stack.public_key)
    again = dev_stack.request("DELETE", f"/v1/push/tokens/{ipt}", key=dev_stack.public_key)
    after = dev_stack.request("POST", f"/v1/push/tokens/{ipt}/topics", key=dev_stack.public_key, json={"topic": "x"})

    assert subscribed.status_code == 200, subscribed.text
    assert subscribed.json() == {"subscribed": True}
    assert unsubscribed.status_code == 200, unsubscribed.text
    assert unsubscribed.json() == {"unsubscribed": True}
    assert unregistered.status_code == 204
    assert unregistered.content == b""
    assert again.status_code == 204
    assert after.status_code == 404
    assert after.json()["error"]["code"] == "notFound"


def test_an_endpoint_outside_the_default_allow_list_is_refused(dev_stack: DevStack) -> None:
    refused = dev_stack.request(
        "POST", "/v1/push/tokens", key=dev_stack.public_key, json=subscription_body("http://127.0.0.1:8090/push/1")
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "endpointNotAllowed"


def test_a_cors_preflight_for_registration_allows_authorization_and_content_type(dev_stack: DevStack) -> None:
    preflight = dev_stack.request(
        "OPTIONS",
        "/v1/push/tokens",
        key=None,
        headers={
            "Origin": BROWSER_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", BROWSER_ORIGIN)
    allowed_headers = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]


def test_a_registration_from_a_browser_origin_carries_allow_origin(dev_stack: DevStack) -> None:
    created = dev_stack.request(
        "POST",
        "/v1/push/tokens",
        key=dev_stack.public_key,
        json=subscription_body(fresh_endpoint()),
        headers={"Origin": BROWSER_ORIGIN},
    )

    assert created.status_code == 200, created.text
    assert created.headers["Access-Control-Allow-Origin"] in ("*", BROWSER_ORIGIN)
