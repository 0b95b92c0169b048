"""The delivery engine against web-push-testing, a push service that decrypts what it gets.

Needs node (skipped without it) and `npm ci` (fails with that instruction without it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sentori_push.delivery import DeliveryEngine, PushRequest, PushResult, VapidCredential
from sentori_push.vapid import generate_keypair
from tests.support.webpush_testing import WebPushTestingServer

pytestmark = pytest.mark.conformance

LARGEST_PLAINTEXT = 3993  # 4096 − 86-byte aes128gcm header − 16-byte tag − 1 delimiter byte


@pytest.fixture(scope="module")
def engine() -> Iterator[DeliveryEngine]:
    with DeliveryEngine(connect_timeout=2.0, total_timeout=5.0) as running:
        yield running


def credential() -> VapidCredential:
    pair = generate_keypair()
    return VapidCredential(pair.public_key, pair.private_key, "mailto:ops@example.com")


def push(key: str, subscription: dict[str, Any], payload: bytes, vapid: VapidCredential) -> PushRequest:
    return PushRequest(
        key=key,
        endpoint=subscription["endpoint"],
        p256dh=subscription["keys"]["p256dh"],
        auth=subscription["keys"]["auth"],
        payload=payload,
        ttl=3600,
        urgency="high",
        topic="greeting",
        vapid=vapid,
    )


def test_payloads_arrive_decrypted_byte_for_byte(wpt: WebPushTestingServer, engine: DeliveryEngine) -> None:
    vapid = credential()
    payloads = {
        "ascii-json": json.dumps({"title": "Hi", "body": "there", "data": {"_sentori": {"msgId": "send_1"}}}).encode(),
        "non-ascii": "Grüße, 東京 — ça va? 🎉🚀 ñ".encode(),
        "largest": ("é" * 1996 + "x").encode(),
    }
    assert len(payloads["largest"]) == LARGEST_PLAINTEXT
    subscriptions = {name: wpt.subscribe(vapid.public_key) for name in payloads}

    results = engine.deliver_sync([push(name, subscriptions[name], body, vapid) for name, body in payloads.items()])

    assert [(r.key, r.disposition, r.outcome) for r in results] == [(n, "sent", "WP_201") for n in payloads]
    for name, body in payloads.items():
        received = wpt.notifications(subscriptions[name]["clientHash"])
        assert [m.encode("utf-8") for m in received] == [body], name


def test_many_messages_to_one_origin_all_arrive_with_one_reused_jwt(
    wpt: WebPushTestingServer, engine: DeliveryEngine
) -> None:
    vapid = credential()
    subscriptions = [wpt.subscribe(vapid.public_key) for _ in range(20)]

    results = engine.deliver_sync(
        [push(f"m{i}", s, f"message {i}".encode(), vapid) for i, s in enumerate(subscriptions)]
    )

    assert {r.outcome for r in results} == {"WP_201"}
    assert [wpt.notifications(s["clientHash"]) for s in subscriptions] == [[f"message {i}"] for i in range(20)]


def test_push_signed_with_another_vapid_key_is_rejected(wpt: WebPushTestingServer, engine: DeliveryEngine) -> None:
    key_a, key_b = credential(), credential()
    subscription = wpt.subscribe(key_a.public_key)

    [result] = engine.deliver_sync([push("wrong-key", subscription, b"must not arrive", key_b)])

    assert result.disposition == "failed"
    assert result.status == 400  # web-push-testing answers 400 for every refusal
    assert result.outcome == "WP_400"
    assert not result.revokes
    assert wpt.notifications(subscription["clientHash"]) == []


def test_expired_subscription_answers_410_gone_and_revokes(wpt: WebPushTestingServer, engine: DeliveryEngine) -> None:
    vapid = credential()
    subscription = wpt.subscribe(vapid.public_key)
    wpt.expire(subscription["clientHash"])

    [result] = engine.deliver_sync([push("expired", subscription, b"too late", vapid)])

    assert (result.disposition, result.outcome, result.status, result.revokes) == ("failed", "WP_410_Gone", 410, True)
    assert subscription["clientHash"] not in (result.error or "")


def test_async_deliver_works_on_the_callers_event_loop(wpt: WebPushTestingServer) -> None:
    vapid = credential()
    subscription = wpt.subscribe(vapid.public_key)

    async def send() -> list[PushResult]:
        async with DeliveryEngine() as engine:
            return await engine.deliver([push("async", subscription, b"from a running loop", vapid)])

    [result] = asyncio.run(send())
    assert result.outcome == "WP_201"
    assert wpt.notifications(subscription["clientHash"]) == ["from a running loop"]
