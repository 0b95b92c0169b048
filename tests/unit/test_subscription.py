"""webpush nativeToken validation (DESIGN §5): the browser's PushSubscription JSON."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sentori_push import errors
from sentori_push.subscription import WebPushSubscription, parse_subscription

ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91bH"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def point(fmt: serialization.PublicFormat = serialization.PublicFormat.UncompressedPoint) -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(serialization.Encoding.X962, fmt)


P256DH_RAW = point()
P256DH = b64url(P256DH_RAW)
AUTH_RAW = bytes(range(16))
AUTH = b64url(AUTH_RAW)


def token(**changes: Any) -> dict[str, Any]:
    """A valid subscription object; `keys_<name>` replaces a key, the value None removes the field."""
    keys: dict[str, Any] = {"p256dh": P256DH, "auth": AUTH}
    body: dict[str, Any] = {"endpoint": ENDPOINT, "expirationTime": None, "keys": keys}
    for name, value in changes.items():
        target, key = (keys, name[len("keys_") :]) if name.startswith("keys_") else (body, name)
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return body


def invalid(native_token: object) -> errors.InvalidSubscription:
    with pytest.raises(errors.InvalidSubscription) as caught:
        parse_subscription(native_token)
    return caught.value


# --- valid subscriptions ---------------------------------------------------------------------------------------------


def test_valid_subscription_as_object() -> None:
    assert parse_subscription(token()) == WebPushSubscription(ENDPOINT, None, P256DH, AUTH)


def test_valid_subscription_as_json_string() -> None:
    assert parse_subscription(json.dumps(token())) == WebPushSubscription(ENDPOINT, None, P256DH, AUTH)


def test_expiration_time_may_be_absent_or_a_non_negative_integer() -> None:
    assert parse_subscription(token(expirationTime=None)).expiration_time is None
    assert parse_subscription(token(expirationTime=0)).expiration_time == 0
    assert parse_subscription(token(expirationTime=1767225600000)).expiration_time == 1767225600000


def test_keys_are_normalised_to_unpadded_base64url() -> None:
    padded = base64.urlsafe_b64encode(P256DH_RAW).decode()
    assert padded.endswith("=")
    parsed = parse_subscription(token(keys_p256dh=padded, keys_auth=base64.urlsafe_b64encode(AUTH_RAW).decode()))
    assert (parsed.p256dh, parsed.auth) == (P256DH, AUTH)


def test_unknown_fields_are_ignored() -> None:
    assert parse_subscription({**token(), "extra": 1}).endpoint == ENDPOINT


def test_endpoint_policy_is_not_applied_here() -> None:
    assert parse_subscription(token(endpoint="http://127.0.0.1:8090/push")).endpoint == "http://127.0.0.1:8090/push"


# --- the token as a whole --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("native_token", ["{not json", "", '{"endpoint": ', "[" * 100_000])
def test_string_token_must_be_valid_json(native_token: str) -> None:
    error = invalid(native_token)
    assert error.details["field"] == "nativeToken"
    assert "not valid JSON" in error.message


@pytest.mark.parametrize("native_token", [None, 42, ["endpoint"], "[]", '"a string"', "42", "null", b"{}"])
def test_token_must_be_an_object(native_token: object) -> None:
    assert invalid(native_token).details["field"] == "nativeToken"


# --- endpoint --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [None, "", 42, ["https://fcm.googleapis.com/x"], {"url": ENDPOINT}])
def test_endpoint_is_a_required_non_empty_string(endpoint: object) -> None:
    assert invalid(token(endpoint=endpoint)).details["field"] == "nativeToken.endpoint"


# --- expirationTime --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("expiration", ["1767225600000", 1.5, True, False, -1, [1], {"ms": 1}])
def test_expiration_time_must_be_null_or_a_non_negative_integer(expiration: object) -> None:
    assert invalid(token(expirationTime=expiration)).details["field"] == "nativeToken.expirationTime"


# --- keys ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("keys", [None, "p256dh", [P256DH, AUTH]])
def test_keys_must_be_an_object(keys: object) -> None:
    body = token()
    if keys is None:
        del body["keys"]
    else:
        body["keys"] = keys
    assert invalid(body).details["field"] == "nativeToken.keys"


@pytest.mark.parametrize(
    ("p256dh", "problem"),
    [
        (None, "base64url"),  # missing
        (12345, "base64url"),  # not a string
        ("", "65-byte"),
        ("not base64url!", "not base64url"),
        (P256DH[:-2] + "+/", "not base64url"),  # standard base64 alphabet
        (b64url(P256DH_RAW[:64]), "65-byte"),  # one byte short
        (b64url(P256DH_RAW + b"\x00"), "65-byte"),  # one byte long
        (b64url(point(serialization.PublicFormat.CompressedPoint)), "65-byte"),  # compressed point
        (b64url(b"\x05" + P256DH_RAW[1:]), "65-byte"),  # wrong prefix
        (b64url(b"\x04" + b"\x01" * 64), "not a point on the P-256 curve"),  # 65 bytes, off the curve
        (b64url(P256DH_RAW[:64] + bytes([P256DH_RAW[64] ^ 1])), "not a point on the P-256 curve"),  # y flipped
    ],
)
def test_p256dh_is_a_65_byte_uncompressed_point_on_the_curve(p256dh: object, problem: str) -> None:
    error = invalid(token(keys_p256dh=p256dh))
    assert error.details["field"] == "nativeToken.keys.p256dh"
    assert problem in error.message


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        (None, "base64url"),  # missing
        (16, "base64url"),  # not a string
        (b64url(bytes(15)), "16 bytes, got 15"),
        (b64url(bytes(17)), "16 bytes, got 17"),
        ("", "16 bytes, got 0"),
        ("AAAAAAAAAAAAAAAAAAAAA+", "not base64url"),  # standard base64 alphabet
        ("AAAAAAAA AAAAAAAAAAAAAA", "not base64url"),
        ("AAAAAAAAAAAAAAAAAAAAA", "not base64url"),  # 21 chars: no whole number of bytes
    ],
)
def test_auth_is_16_bytes_of_base64url(auth: object, problem: str) -> None:
    error = invalid(token(keys_auth=auth))
    assert error.details["field"] == "nativeToken.keys.auth"
    assert problem in error.message


def test_string_and_object_forms_fail_alike() -> None:
    bad = token(keys_auth=b64url(bytes(15)))
    assert invalid(bad).message == invalid(json.dumps(bad)).message
