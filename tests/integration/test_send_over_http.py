"""Send end to end over HTTP: the dev stack's API, its SQS feeder and the real dispatch handler.

web-push-testing (an independent push service that decrypts what it gets) and
the local fault sink are started first, so that their exact origins can be
allow-listed in the dev stack's environment. Needs node for web-push-testing
(skipped without it).
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from sentori_push.message import Notification
from sentori_push.vapid import b64url_encode, generate_keypair
from tests.support.push_sink import PushSink
from tests.support.webpush_testing import WebPushTestingServer

if TYPE_CHECKING:
    from tests.integration.conftest import DevStack

RECEIPT_TIMEOUT_S = 10.0
POLL_S = 0.02
LATENCY_SENDS = 8
# The template's MaximumBatchingWindowInSeconds is 1 and the dev stack's feeder honours it (as
# Lambda does): a lone message waits about one second for company before the dispatch runs.
# The figures are printed, not asserted: timing on a shared machine belongs in a benchmark.


@pytest.fixture(scope="module")
def sink() -> Iterator[PushSink]:
    with PushSink() as running:
        yield running


@pytest.fixture(scope="module")
def stack(start_dev_stack: Callable[..., DevStack], wpt: WebPushTestingServer, sink: PushSink) -> Iterator[DevStack]:
    """A dev stack that admits web-push-testing and the sink; stopped (exit 0) before they are."""
    running = start_dev_stack(env={"SENTORI_ENDPOINT_ALLOWLIST": f"{wpt.origin},{sink.origin}"})
    yield running
    assert running.stop() == 0, running.log()


# --- helpers --------------------------------------------------------------------------------


def register(stack: DevStack, endpoint: str, keys: dict[str, str], **fields: Any) -> str:
    body = {
        "provider": "webpush",
        "nativeToken": {"endpoint": endpoint, "expirationTime": None, "keys": keys},
        **fields,
    }
    result = stack.request("POST", "/v1/push/tokens", key=stack.public_key, json=body)
    assert result.status_code == 200, result.text
    return str(result.json()["id"])


def subscribe(stack: DevStack, wpt: WebPushTestingServer, **fields: Any) -> tuple[str, str]:
    """A web-push-testing subscription for the dev project's VAPID key, registered: (handle, clientHash)."""
    subscription = wpt.subscribe(stack.vapid_public_key)
    return register(stack, subscription["endpoint"], subscription["keys"], **fields), subscription["clientHash"]


def sink_device(stack: DevStack, sink: PushSink, path: str) -> str:
    """A device whose endpoint is a path of the fault sink (fresh, valid subscription keys)."""
    keys = {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))}
    return register(stack, sink.url(path), keys)


def send(stack: DevStack, body: dict[str, Any]) -> list[dict[str, Any]]:
    result = stack.request("POST", "/v1/push/send", json=body)
    assert result.status_code == 200, result.text
    return list(result.json()["tickets"])


def receipt(stack: DevStack, ticket_id: str) -> dict[str, Any]:
    result = stack.request("GET", f"/v1/push/receipts/{ticket_id}")
    assert result.status_code == 200, result.text
    return dict(result.json()["ticket"])


def settled(stack: DevStack, ticket_id: str) -> dict[str, Any]:
    """Poll the receipt every 20 ms until it is no longer queued (fails after 10 s)."""
    deadline = time.monotonic() + RECEIPT_TIMEOUT_S
    while True:
        ticket = receipt(stack, ticket_id)
        if ticket["status"] != "queued":
            return ticket
        if time.monotonic() > deadline:
            pytest.fail(f"ticket {ticket_id} still queued after {RECEIPT_TIMEOUT_S} s: {ticket}")
        time.sleep(POLL_S)


def plaintext(body: dict[str, Any], ticket_id: str) -> str:
    """The exact Web Push plaintext of a send body for one ticket (DESIGN §6), as text."""
    note = Notification(body.get("title"), body.get("body"), body.get("data"), 3600, None, None)
    return note.plaintext(ticket_id).decode("utf-8")


# --- tests ----------------------------------------------------------------------------------


def test_a_send_is_delivered_decrypted_and_the_receipt_says_sent(stack: DevStack, wpt: WebPushTestingServer) -> None:
    device, client_hash = subscribe(stack, wpt)
    body = {"to": device, "title": "Grüße 👋", "body": "over HTTP", "data": {"orderId": 7}}

    (ticket,) = send(stack, body)
    assert (ticket["to"], ticket["status"]) == (device, "queued")
    done = settled(stack, ticket["id"])

    assert (done["status"], done["providerOutcome"], done["error"]) == ("sent", "WP_201", None)
    assert done["sentAt"] is not None
    received = wpt.notifications(client_hash)
    assert received == [plaintext(body, ticket["id"])]
    assert json.loads(received[0])["data"] == {"orderId": 7, "_sentori": {"msgId": ticket["id"]}}


def test_consecutive_sends_each_reach_sent_and_arrive_in_order(stack: DevStack, wpt: WebPushTestingServer) -> None:
    device, client_hash = subscribe(stack, wpt)
    latencies: list[float] = []
    ids: list[str] = []
    for n in range(LATENCY_SENDS):
        (ticket,) = send(stack, {"to": device, "body": f"latency {n}"})
        sent_at = time.perf_counter()  # the send response is in hand
        done = settled(stack, ticket["id"])
        latencies.append(time.perf_counter() - sent_at)
        assert (done["status"], done["providerOutcome"]) == ("sent", "WP_201")
        ids.append(ticket["id"])

    print(
        f"\nsend-to-sent latency over {LATENCY_SENDS} sends (poll every {POLL_S * 1000:.0f} ms): "
        + ", ".join(f"{s * 1000:.0f}" for s in latencies)
        + f" ms; median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    assert wpt.notifications(client_hash) == [plaintext({"body": f"latency {n}"}, i) for n, i in enumerate(ids)]


def test_a_user_send_reaches_every_device_of_the_link_hash(stack: DevStack, wpt: WebPushTestingServer) -> None:
    link_hash = f"user-{secrets.token_hex(8)}"
    devices = [subscribe(stack, wpt, linkHash=link_hash) for _ in range(2)]
    stranger, stranger_hash = subscribe(stack, wpt, linkHash=f"other-{secrets.token_hex(8)}")
    body = {"to": f"user:{link_hash}", "title": "For you", "body": "both of your browsers"}

    tickets = send(stack, body)

    assert sorted(t["to"] for t in tickets) == sorted(d for d, _ in devices)
    by_device = {t["to"]: t for t in tickets}
    for device, client_hash in devices:
        ticket = by_device[device]
        done = settled(stack, ticket["id"])
        assert (done["status"], done["providerOutcome"]) == ("sent", "WP_201")
        assert wpt.notifications(client_hash) == [plaintext(body, ticket["id"])]
    assert stranger not in by_device
    assert wpt.notifications(stranger_hash) == []


def test_a_topic_send_reaches_every_subscribed_device(stack: DevStack, wpt: WebPushTestingServer) -> None:
    topic = f"news-{secrets.token_hex(6)}"
    devices = [subscribe(stack, wpt) for _ in range(2)]
    for device, _ in devices:
        joined = stack.request("POST", f"/v1/push/tokens/{device}/topics", key=stack.public_key, json={"topic": topic})
        assert joined.status_code == 200, joined.text
    outsider, outsider_hash = subscribe(stack, wpt)
    body = {"to": f"topic:{topic}", "title": "Breaking", "body": "日本語 news", "data": {"topic": topic}}

    tickets = send(stack, body)

    assert sorted(t["to"] for t in tickets) == sorted(d for d, _ in devices)
    by_device = {t["to"]: t for t in tickets}
    for device, client_hash in devices:
        ticket = by_device[device]
        done = settled(stack, ticket["id"])
        assert (done["status"], done["providerOutcome"]) == ("sent", "WP_201")
        assert wpt.notifications(client_hash) == [plaintext(body, ticket["id"])]
    assert outsider not in by_device
    assert wpt.notifications(outsider_hash) == []


def test_three_gone_answers_revoke_the_token(stack: DevStack, sink: PushSink) -> None:
    path = f"/push/410/{secrets.token_hex(6)}"
    device = sink_device(stack, sink, path)

    for n in range(3):
        (ticket,) = send(stack, {"to": device, "body": f"gone {n}"})
        assert ticket["status"] == "queued"
        done = settled(stack, ticket["id"])
        assert (done["status"], done["providerOutcome"]) == ("failed", "WP_410_Gone")
        assert path not in (done["error"] or "")  # the endpoint path never reaches a receipt

    (after,) = send(stack, {"to": device, "body": "after revocation"})
    assert (after["status"], after["providerOutcome"]) == ("failed", "DeviceNotRegistered")
    assert receipt(stack, after["id"])["providerOutcome"] == "DeviceNotRegistered"
    time.sleep(1.5)  # longer than the feeder's batching window: a wrongly queued push would have arrived
    assert len(sink.hits(path)) == 3


def test_batch_receipts_return_every_known_ticket(stack: DevStack, wpt: WebPushTestingServer, sink: PushSink) -> None:
    delivered, _ = subscribe(stack, wpt)
    refused = sink_device(stack, sink, f"/push/403/{secrets.token_hex(6)}")
    (ok,) = send(stack, {"to": delivered, "body": "batch a"})
    (bad,) = send(stack, {"to": refused, "body": "batch b"})
    settled(stack, ok["id"])
    settled(stack, bad["id"])
    unknown = "send_" + secrets.token_hex(16)

    result = stack.request("POST", "/v1/push/receipts", json={"ids": [ok["id"], bad["id"], unknown]})

    assert result.status_code == 200, result.text
    tickets = result.json()["tickets"]
    assert set(tickets) == {ok["id"], bad["id"]}
    assert (tickets[ok["id"]]["status"], tickets[ok["id"]]["providerOutcome"]) == ("sent", "WP_201")
    assert (tickets[bad["id"]]["status"], tickets[bad["id"]]["providerOutcome"]) == ("failed", "WP_403_VapidRejected")
    assert tickets[ok["id"]] == receipt(stack, ok["id"])
    assert tickets[bad["id"]] == receipt(stack, bad["id"])
