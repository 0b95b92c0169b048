"""The delivery engine against a local push service that answers what the path asks (tests/support/push_sink.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import types
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from sentori_push import delivery
from sentori_push.delivery import DeliveryEngine, PushRequest, PushResult, VapidCredential, topic_header
from sentori_push.endpoint_guard import EndpointPolicy
from sentori_push.errors import EndpointNotAllowed
from sentori_push.vapid import b64url_encode, generate_keypair, load_private_key, load_public_point, public_point
from tests.support.push_sink import REDIRECT_TARGET, PushSink

CONTACT = "mailto:ops@example.com"
Keys = tuple[str, str]  # p256dh, auth


@pytest.fixture(scope="module")
def sink() -> Iterator[PushSink]:
    with PushSink() as running:
        yield running


@pytest.fixture
def engine() -> Iterator[DeliveryEngine]:
    with DeliveryEngine(connect_timeout=1.0, total_timeout=2.0) as running:
        yield running


@pytest.fixture(scope="module")
def vapid() -> VapidCredential:
    pair = generate_keypair()
    return VapidCredential(pair.public_key, pair.private_key, CONTACT)


@pytest.fixture(scope="module")
def device_keys() -> Keys:
    receiver = ec.generate_private_key(ec.SECP256R1())
    return b64url_encode(public_point(receiver)), b64url_encode(b"0123456789abcdef")


def request(
    endpoint: str,
    vapid: VapidCredential,
    device_keys: Keys,
    *,
    key: str = "send_1",
    payload: bytes = b'{"title":"hi"}',
    urgency: str | None = "high",
    topic: str | None = "news",
) -> PushRequest:
    p256dh, auth = device_keys
    return PushRequest(key, endpoint, p256dh, auth, payload, 60, urgency, topic, vapid)


def send_one(engine: DeliveryEngine, endpoint: str, vapid: VapidCredential, keys: Keys) -> PushResult:
    [result] = engine.deliver_sync([request(endpoint, vapid, keys)])
    return result


def jwt_claims(authorization: str, public_key: str) -> dict[str, Any]:
    """The claims of a `vapid t=…, k=…` header, after checking its ES256 signature against k."""
    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    header, claims, signature = fields["t"].split(".")
    raw = base64.urlsafe_b64decode(signature + "==")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    load_public_point(public_key).verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"typ": "JWT", "alg": "ES256"}
    parsed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    return parsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# -- answers → outcomes -------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
def test_2xx_is_sent_with_outcome_wp_status(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, status: int
) -> None:
    result = send_one(engine, sink.url(f"/push/{status}"), vapid, device_keys)
    assert result == PushResult("send_1", "sent", f"WP_{status}", status, None, False, None)


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_fail_as_gone_and_count_toward_revocation(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, status: int
) -> None:
    result = send_one(engine, sink.url(f"/push/{status}"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.status, result.revokes) == (
        "failed",
        f"WP_{status}_Gone",
        status,
        True,
    )


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_fail_as_vapid_rejected(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, status: int
) -> None:
    result = send_one(engine, sink.url(f"/push/{status}"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.revokes) == ("failed", f"WP_{status}_VapidRejected", False)


def test_413_fails_as_payload_too_large(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/413"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.revokes) == ("failed", "WP_413_PayloadTooLarge", False)


@pytest.mark.parametrize("status", [400, 405, 408, 422])
def test_other_4xx_fail_with_their_status(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, status: int
) -> None:
    result = send_one(engine, sink.url(f"/push/{status}"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.revokes) == ("failed", f"WP_{status}", False)


def test_429_is_retried_after_retry_after_seconds(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/429?retry_after=30"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.status, result.retry_after) == (
        "retry",
        "WP_429_RateLimited",
        429,
        30.0,
    )


def test_429_retry_after_as_http_date_becomes_seconds(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/429?retry_after_date=120"), vapid, device_keys)
    assert result.outcome == "WP_429_RateLimited"
    assert result.retry_after is not None
    assert 115 <= result.retry_after <= 121  # an HTTP date has whole seconds


def test_retry_after_is_capped_at_12_hours(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/503?retry_after=604800"), vapid, device_keys)
    assert result.retry_after == 12 * 3600


def test_retry_after_in_the_past_means_now(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/429?retry_after_date=-600"), vapid, device_keys)
    assert result.retry_after == 0.0


def test_no_retry_after_header_gives_none(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    assert send_one(engine, sink.url("/push/429"), vapid, device_keys).retry_after is None


def test_406_is_retried_as_rate_limited_like_wns_throttling(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/406?retry_after=60"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.retry_after) == ("retry", "WP_406_RateLimited", 60.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_its_status(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, status: int
) -> None:
    result = send_one(engine, sink.url(f"/push/{status}"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.status, result.revokes) == (
        "retry",
        f"WP_{status}",
        status,
        False,
    )


def test_slow_answer_past_the_total_timeout_is_a_retried_network_error(
    sink: PushSink, vapid: VapidCredential, device_keys: Keys
) -> None:
    with DeliveryEngine(connect_timeout=0.5, total_timeout=0.5) as engine:
        started = time.monotonic()
        result = send_one(engine, sink.url("/push/slow?delay=5"), vapid, device_keys)
        elapsed = time.monotonic() - started
    assert (result.disposition, result.outcome, result.status) == ("retry", "NetworkError", None)
    assert elapsed < 2.0


def test_refused_connection_is_a_retried_network_error(
    engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, f"http://127.0.0.1:{free_port()}/push/201", vapid, device_keys)
    assert (result.disposition, result.outcome, result.status) == ("retry", "NetworkError", None)


def test_unresolvable_host_is_a_retried_network_error(
    engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, "http://push.invalid/push/201", vapid, device_keys)
    assert (result.disposition, result.outcome) == ("retry", "NetworkError")


def test_redirect_is_never_followed_and_fails_with_its_status(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, sink.url("/push/redirect"), vapid, device_keys)
    assert (result.disposition, result.outcome, result.status) == ("failed", "WP_302", 302)
    assert sink.hits("/push/redirect")
    assert sink.hits(REDIRECT_TARGET) == []


# -- endpoint policy ------------------------------------------------------------


def test_endpoint_check_refusal_fails_as_endpoint_not_allowed_and_sends_nothing(
    sink: PushSink, vapid: VapidCredential, device_keys: Keys
) -> None:
    def refuse(endpoint: str) -> None:
        raise EndpointNotAllowed("host 127.0.0.1 is a loopback address")

    path = "/push/201/refused-by-policy"
    with DeliveryEngine(endpoint_check=refuse) as engine:
        result = send_one(engine, sink.url(path), vapid, device_keys)
    assert (result.disposition, result.outcome, result.status) == ("failed", "EndpointNotAllowed", None)
    assert "loopback" in (result.error or "")
    assert sink.hits(path) == []


def test_endpoint_check_runs_before_every_request(sink: PushSink, vapid: VapidCredential, device_keys: Keys) -> None:
    checked: list[str] = []
    endpoints = [sink.url(f"/push/201/check-{i}") for i in range(5)]
    with DeliveryEngine(endpoint_check=checked.append) as engine:
        engine.deliver_sync([request(e, vapid, device_keys) for e in endpoints])
        engine.deliver_sync([request(endpoints[0], vapid, device_keys)])
    assert sorted(checked) == sorted([*endpoints, endpoints[0]])


def test_non_http_endpoint_fails_without_sending(
    engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    result = send_one(engine, "file:///etc/passwd", vapid, device_keys)
    assert (result.disposition, result.outcome) == ("failed", "EndpointNotAllowed")


def test_error_text_never_holds_the_endpoint(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    endpoint = sink.url("/push/404/SECRET-SUBSCRIPTION-TOKEN")
    result = send_one(engine, endpoint, vapid, device_keys)
    assert result.error is not None
    assert "404" in result.error
    assert "SECRET-SUBSCRIPTION-TOKEN" not in result.error
    assert endpoint not in result.error


# -- request shape -----------------------------------------------------------------


def test_push_carries_ttl_urgency_topic_content_type_encoding_and_vapid(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    path = "/push/201/headers"
    engine.deliver_sync([request(sink.url(path), vapid, device_keys, urgency="low", topic="scores")])
    [received] = sink.hits(path)
    assert received.method == "POST"
    assert received.headers["ttl"] == "60"
    assert received.headers["urgency"] == "low"
    assert received.headers["topic"] == "scores"
    assert received.headers["content-type"] == "application/octet-stream"
    assert received.headers["content-encoding"] == "aes128gcm"
    assert received.headers["authorization"].startswith("vapid t=")
    assert received.headers["content-length"] == str(received.body_length)


def test_urgency_and_topic_are_left_out_when_unset(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    path = "/push/201/bare"
    engine.deliver_sync([request(sink.url(path), vapid, device_keys, urgency=None, topic=None)])
    [received] = sink.hits(path)
    assert "urgency" not in received.headers
    assert "topic" not in received.headers


def test_unknown_urgency_fails_without_sending(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    path = "/push/201/urgent"
    [result] = engine.deliver_sync([request(sink.url(path), vapid, device_keys, urgency="asap")])
    assert (result.disposition, result.outcome) == ("failed", "InvalidRequest")
    assert sink.hits(path) == []


def test_largest_plaintext_gives_a_4096_byte_aes128gcm_body(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    path = "/push/201/largest"
    engine.deliver_sync([request(sink.url(path), vapid, device_keys, payload=b"x" * 3993)])
    [received] = sink.hits(path)
    assert received.body_length == 4096
    assert received.body[16:21] == (4096).to_bytes(4, "big") + b"\x41"  # rs = 4096, keyid = 65-byte point


def test_malformed_device_keys_fail_as_invalid_subscription_without_sending(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential
) -> None:
    path = "/push/201/bad-keys"
    [result] = engine.deliver_sync([request(sink.url(path), vapid, ("AAAA", "BBBB"))])
    assert (result.disposition, result.outcome) == ("failed", "InvalidSubscription")
    assert sink.hits(path) == []


def test_unusable_vapid_private_key_fails_as_credential_invalid(
    sink: PushSink, engine: DeliveryEngine, device_keys: Keys
) -> None:
    broken = VapidCredential(generate_keypair().public_key, "not-a-key!", CONTACT)
    path = "/push/201/broken-key"
    [result] = engine.deliver_sync([request(sink.url(path), broken, device_keys)])
    assert (result.disposition, result.outcome) == ("failed", "CredentialInvalid")
    assert "not-a-key" not in (result.error or "")
    assert sink.hits(path) == []


# -- VAPID ---------------------------------------------------------------------------


def test_vapid_jwt_has_aud_endpoint_origin_exp_in_12_hours_and_sub_contact(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    path = "/push/201/claims"
    engine.deliver_sync([request(sink.url(path), vapid, device_keys)])
    [received] = sink.hits(path)
    claims = jwt_claims(received.headers["authorization"], vapid.public_key)
    assert claims["aud"] == sink.origin
    assert abs(claims["exp"] - (time.time() + 12 * 3600)) < 60
    assert claims["sub"] == CONTACT


def test_vapid_jwt_is_reused_across_messages_to_one_origin(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    paths = [f"/push/201/reuse-{i}" for i in range(4)]
    engine.deliver_sync([request(sink.url(p), vapid, device_keys) for p in paths[:2]])
    engine.deliver_sync([request(sink.url(p), vapid, device_keys) for p in paths[2:]])
    tokens = {sink.hits(p)[0].headers["authorization"] for p in paths}
    assert len(tokens) == 1


def test_vapid_jwt_is_distinct_per_origin_with_that_origin_as_aud(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    with PushSink() as other:
        engine.deliver_sync(
            [
                request(sink.url("/push/201/origin-a"), vapid, device_keys),
                request(other.url("/push/201/origin-b"), vapid, device_keys),
            ]
        )
        header_b = other.hits("/push/201/origin-b")[0].headers["authorization"]
    header_a = sink.hits("/push/201/origin-a")[0].headers["authorization"]
    assert header_a != header_b
    assert jwt_claims(header_a, vapid.public_key)["aud"] == sink.origin
    assert jwt_claims(header_b, vapid.public_key)["aud"] == other.origin


def test_vapid_jwt_is_distinct_per_key(sink: PushSink, engine: DeliveryEngine, device_keys: Keys) -> None:
    first, second = (
        VapidCredential(p.public_key, p.private_key, CONTACT) for p in (generate_keypair(), generate_keypair())
    )
    engine.deliver_sync(
        [
            request(sink.url("/push/201/key-1"), first, device_keys),
            request(sink.url("/push/201/key-2"), second, device_keys),
        ]
    )
    jwt_claims(sink.hits("/push/201/key-1")[0].headers["authorization"], first.public_key)
    jwt_claims(sink.hits("/push/201/key-2")[0].headers["authorization"], second.public_key)


def test_vapid_jwt_is_signed_anew_after_11_hours(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.deliver_sync([request(sink.url("/push/201/fresh"), vapid, device_keys)])
    later = time.time() + 11 * 3600 + 1
    monkeypatch.setattr(delivery, "time", types.SimpleNamespace(time=lambda: later))
    engine.deliver_sync([request(sink.url("/push/201/renewed"), vapid, device_keys)])
    fresh = jwt_claims(sink.hits("/push/201/fresh")[0].headers["authorization"], vapid.public_key)
    renewed = jwt_claims(sink.hits("/push/201/renewed")[0].headers["authorization"], vapid.public_key)
    assert renewed["exp"] == int(later) + 12 * 3600
    assert renewed["exp"] > fresh["exp"]


def test_each_private_key_is_parsed_once(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = load_private_key

    def counting(text: str) -> ec.EllipticCurvePrivateKey:
        parsed.append(text)
        return real(text)

    monkeypatch.setattr(delivery, "load_private_key", counting)
    with PushSink() as other:
        engine.deliver_sync(
            [request(sink.url(f"/push/201/parse-{i}"), vapid, device_keys) for i in range(3)]
            + [request(other.url("/push/201/parse-other"), vapid, device_keys)]
        )
    assert parsed == [vapid.private_key]


# -- concurrency and connections -----------------------------------------------------


def test_results_come_back_in_request_order(
    sink: PushSink, engine: DeliveryEngine, vapid: VapidCredential, device_keys: Keys
) -> None:
    paths = ["/push/201?delay=0.3", "/push/404", "/push/503?delay=0.1", "/push/201"]
    results = engine.deliver_sync([request(sink.url(p), vapid, device_keys, key=f"k{i}") for i, p in enumerate(paths)])
    assert [(r.key, r.outcome) for r in results] == [
        ("k0", "WP_201"),
        ("k1", "WP_404_Gone"),
        ("k2", "WP_503"),
        ("k3", "WP_201"),
    ]


def test_many_requests_are_in_flight_at_once(vapid: VapidCredential, device_keys: Keys) -> None:
    with PushSink(delay=0.3) as slow, DeliveryEngine() as engine:
        started = time.monotonic()
        results = engine.deliver_sync([request(slow.url("/push/201"), vapid, device_keys) for _ in range(60)])
        elapsed = time.monotonic() - started
        assert slow.peak_in_flight == 60
    assert {r.outcome for r in results} == {"WP_201"}
    assert elapsed < 3.0


def test_in_flight_requests_are_bounded_by_max_in_flight(vapid: VapidCredential, device_keys: Keys) -> None:
    with PushSink(delay=0.05) as slow, DeliveryEngine(max_in_flight=4) as engine:
        engine.deliver_sync([request(slow.url("/push/201"), vapid, device_keys) for _ in range(20)])
        assert slow.peak_in_flight == 4


def test_in_flight_requests_per_origin_are_bounded_by_max_per_origin(vapid: VapidCredential, device_keys: Keys) -> None:
    with PushSink(delay=0.05) as a, PushSink(delay=0.05) as b, DeliveryEngine(max_per_origin=3) as engine:
        engine.deliver_sync([request(s.url("/push/201"), vapid, device_keys) for s in (a, b) for _ in range(12)])
        assert (a.peak_in_flight, b.peak_in_flight) == (3, 3)


def test_keep_alive_connection_is_reused_across_deliver_sync_calls(vapid: VapidCredential, device_keys: Keys) -> None:
    with PushSink() as fresh, DeliveryEngine() as engine:
        for _ in range(3):
            engine.deliver_sync([request(fresh.url("/push/201"), vapid, device_keys)])
        ports = {r.client_port for r in fresh.requests}
    assert len(ports) == 1


# -- topic_header ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "news", "scores_2024-final", "A" * 32])
def test_topic_header_keeps_up_to_32_base64url_characters(key: str) -> None:
    assert topic_header(key) == key


@pytest.mark.parametrize("key", ["A" * 33, "has space", "slash/y", "émoji🎉", "dot.ted", ""])
def test_topic_header_hashes_anything_else_to_32_base64url_characters(key: str) -> None:
    topic = topic_header(key)
    assert len(topic) == 32
    assert set(topic) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert topic != key


def test_topic_header_hash_is_stable_and_distinct_per_key() -> None:
    assert topic_header("a long collapse key about the match score") == topic_header(
        "a long collapse key about the match score"
    )
    assert topic_header("A" * 33) != topic_header("A" * 34)


def test_engine_refuses_a_second_event_loop_instead_of_sharing_its_session(
    sink: PushSink, vapid: VapidCredential, device_keys: Keys
) -> None:
    engine = DeliveryEngine()
    try:
        engine.deliver_sync([request(sink.url("/push/201"), vapid, device_keys)])
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(engine.deliver([request(sink.url("/push/201"), vapid, device_keys)]))
    finally:
        engine.close()


# --- DNS rebinding: the address a name resolves to is checked too --------------------------


def test_a_name_that_resolves_to_loopback_is_refused_without_a_request(sink, vapid, device_keys):
    """`localhost` stands in for an allow-listed name whose DNS answer is a private address."""
    policy = EndpointPolicy.parse("*.push.services.mozilla.com")
    endpoint = f"http://localhost:{sink.port}/push/201/rebound"
    with DeliveryEngine(endpoint_check=lambda url: None, address_check=policy.address_refusal) as guarded:
        result = send_one(guarded, endpoint, vapid, device_keys)
    assert (result.disposition, result.outcome) == ("failed", "EndpointNotAllowed")
    assert "loopback" in (result.error or "")
    assert sink.hits("/push/201/rebound") == []


def test_an_exact_origin_admits_its_host_whatever_it_resolves_to(sink, vapid, device_keys):
    policy = EndpointPolicy.parse(f"http://localhost:{sink.port}")
    endpoint = f"http://localhost:{sink.port}/push/201/listed"
    with DeliveryEngine(endpoint_check=policy.check, address_check=policy.address_refusal) as guarded:
        result = send_one(guarded, endpoint, vapid, device_keys)
    assert (result.disposition, result.outcome) == ("sent", "WP_201")
    assert len(sink.hits("/push/201/listed")) == 1


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("10.1.2.3", True),
        ("169.254.169.254", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:192.168.0.1", True),
        ("fd00:ec2::254", True),
        ("142.250.74.10", False),
        ("2a00:1450:4001:80b::200a", False),
    ],
)
def test_address_refusal_judges_the_resolved_address(address, refused):
    policy = EndpointPolicy.parse("fcm.googleapis.com")
    assert (policy.address_refusal("fcm.googleapis.com", 443, address) is not None) is refused
