"""The real dispatcher against web-push-testing, a push service that decrypts what it gets.

Send through the in-process API (moto), hand the SQS records to `dispatch.handle`
as the event source would, and compare what web-push-testing decrypted with the
exact Web Push plaintext of DESIGN §6 byte for byte.

Needs node (skipped without it) and `npm ci` (fails with that instruction without it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from local.provision import Provisioned
from sentori_push import dispatch
from sentori_push.message import Notification
from sentori_push.projects import CreatedProject
from sentori_push.storage import queue as dispatch_queue
from sentori_push.storage import tokens as token_store
from sentori_push.vapid import VapidKeyPair, generate_keypair
from tests.conftest import Api
from tests.support.dispatch_world import allow_origins, receive_all, store_vapid
from tests.support.webpush_testing import WebPushTestingServer

pytestmark = pytest.mark.conformance

LARGEST_PLAINTEXT = 3993  # 4096 − 86-byte aes128gcm header − 16-byte tag − 1 delimiter byte
SAMPLE_TICKET_ID = "send_" + "0" * 32  # every ticket id has this length
GREETING = "Grüße 👋 日本語"


@pytest.fixture
def vapid(
    aws: Provisioned, api: Api, project: CreatedProject, wpt: WebPushTestingServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[VapidKeyPair]:
    """web-push-testing's exact origin allow-listed, the project's VAPID credential stored."""
    allow_origins(monkeypatch, [wpt.origin])
    yield store_vapid(project.project_id)
    dispatch.reset()


# --- helpers ------------------------------------------------------------------------------


def subscribe(
    api: Api, project: CreatedProject, wpt: WebPushTestingServer, application_server_key: str
) -> tuple[str, str]:
    """A web-push-testing subscription registered as a device: (handle, clientHash)."""
    subscription = wpt.subscribe(application_server_key)
    native = {"endpoint": subscription["endpoint"], "expirationTime": None, "keys": subscription["keys"]}
    result = api(
        "POST", "/v1/push/tokens", key=project.public_key, json_body={"provider": "webpush", "nativeToken": native}
    )
    assert result.status == 200, result.text
    return str(result.json["id"]), str(subscription["clientHash"])


def send(api: Api, project: CreatedProject, body: dict[str, Any]) -> list[dict[str, Any]]:
    result = api("POST", "/v1/push/send", key=project.admin_key, json_body=body)
    assert result.status == 200, result.text
    return list(result.json["tickets"])


def drain() -> int:
    """Feed every queued SQS message to the dispatch Lambda; returns how many records it got."""
    records = receive_all()
    if records:
        assert dispatch.handle({"Records": records}) == {"batchItemFailures": []}
    return len(records)


def receipt(api: Api, project: CreatedProject, ticket_id: str) -> dict[str, Any]:
    result = api("GET", f"/v1/push/receipts/{ticket_id}", key=project.admin_key)
    assert result.status == 200, result.text
    return dict(result.json["ticket"])


def plaintext(body: dict[str, Any], ticket_id: str) -> bytes:
    """The exact Web Push plaintext a send body yields for one ticket (DESIGN §6)."""
    note = Notification(body.get("title"), body.get("body"), body.get("data"), 3600, None, None)
    return note.plaintext(ticket_id)


def assert_delivered(
    api: Api,
    project: CreatedProject,
    wpt: WebPushTestingServer,
    ticket: dict[str, Any],
    client_hash: str,
    body: dict[str, Any],
) -> None:
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"], done["error"]) == ("sent", "WP_201", None)
    assert done["sentAt"] is not None
    received = wpt.notifications(client_hash)
    assert [m.encode("utf-8") for m in received] == [plaintext(body, ticket["id"])]
    # The plaintext is the documented JSON, not merely whatever Notification produces.
    decoded = json.loads(received[0])
    expected: dict[str, Any] = {k: body[k] for k in ("title", "body") if k in body}
    expected["data"] = {**(body.get("data") or {}), "_sentori": {"msgId": ticket["id"]}}
    assert decoded == expected


# --- payloads arrive byte for byte ------------------------------------------------------------


def test_a_plain_ascii_push_arrives_decrypted_byte_for_byte(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    device, client_hash = subscribe(api, project, wpt, vapid.public_key)
    body = {"to": device, "title": "Hello", "body": "Your order shipped.", "data": {"orderId": 42, "url": "/o/42"}}

    (ticket,) = send(api, project, body)
    assert ticket["status"] == "queued"
    assert drain() == 1

    assert_delivered(api, project, wpt, ticket, client_hash, body)


def test_non_ascii_text_arrives_as_the_same_utf8_bytes(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    device, client_hash = subscribe(api, project, wpt, vapid.public_key)
    body = {
        "to": device,
        "title": GREETING,
        "body": f"{GREETING} — ça va? ñ",
        "data": {"greeting": GREETING, "nested": {"emoji": "👋🎉", "list": ["日本語", "Grüße"]}},
    }

    (ticket,) = send(api, project, body)
    drain()

    assert_delivered(api, project, wpt, ticket, client_hash, body)
    raw = wpt.notifications(client_hash)[0].encode("utf-8")
    assert GREETING.encode("utf-8") in raw  # UTF-8 on the wire, not \\u escapes
    assert b"\\u" not in raw


def _body_of_plaintext_size(size: int, filler: str) -> str:
    """A body made of `filler` (then ASCII) so the plaintext of {title: "max", body} is `size` bytes."""
    overhead = len(Notification("max", "", None, 3600, None, None).plaintext(SAMPLE_TICKET_ID))
    room = size - overhead
    count = room // len(filler.encode("utf-8"))
    text = filler * count
    return text + "x" * (room - len(text.encode("utf-8")))


@pytest.mark.parametrize("filler", ["x", "日"], ids=["ascii", "three-byte-utf8"])
def test_the_largest_accepted_payload_is_delivered_and_one_byte_more_is_refused(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer, filler: str
) -> None:
    device, client_hash = subscribe(api, project, wpt, vapid.public_key)
    largest = {"to": device, "title": "max", "body": _body_of_plaintext_size(LARGEST_PLAINTEXT, filler)}
    too_big = {"to": device, "title": "max", "body": _body_of_plaintext_size(LARGEST_PLAINTEXT + 1, filler)}

    refused = api("POST", "/v1/push/send", key=project.admin_key, json_body=too_big)
    assert refused.status == 400, refused.text
    assert refused.error_code == "PayloadTooBig"
    assert (refused.json["error"]["actualBytes"], refused.json["error"]["maxBytes"]) == (4097, 4096)
    assert receive_all() == []  # nothing queued for the refused send

    (ticket,) = send(api, project, largest)
    assert len(plaintext(largest, ticket["id"])) == LARGEST_PLAINTEXT
    drain()

    assert_delivered(api, project, wpt, ticket, client_hash, largest)


def test_each_recipient_of_one_send_gets_its_own_msg_id(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    devices = [subscribe(api, project, wpt, vapid.public_key) for _ in range(5)]
    body = {"to": [d for d, _ in devices], "title": "All", "body": GREETING, "data": {"n": 1}}

    tickets = send(api, project, body)
    assert [t["to"] for t in tickets] == [d for d, _ in devices]
    assert drain() == 1  # one SQS message carries the whole send

    for ticket, (_, client_hash) in zip(tickets, devices, strict=True):
        assert_delivered(api, project, wpt, ticket, client_hash, body)
    assert len({t["id"] for t in tickets}) == 5


def test_a_redelivered_sqs_message_does_not_push_twice(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    device, client_hash = subscribe(api, project, wpt, vapid.public_key)
    body = {"to": device, "body": "once"}
    (ticket,) = send(api, project, body)
    drain()

    dispatch_queue.enqueue([dispatch_queue.DispatchBatch(project.project_id, [ticket["id"]])])
    assert drain() == 1

    assert wpt.notifications(client_hash) == [plaintext(body, ticket["id"]).decode()]


# --- refusals -----------------------------------------------------------------------------------


def test_a_credential_whose_key_differs_from_the_application_server_key_fails_wp_400(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    other_key = generate_keypair().public_key
    assert other_key != vapid.public_key
    device, client_hash = subscribe(api, project, wpt, other_key)

    (ticket,) = send(api, project, {"to": device, "title": "must not arrive"})
    drain()

    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"], done["sentAt"]) == ("failed", "WP_400", None)
    assert done["error"].startswith("400")
    assert wpt.notifications(client_hash) == []
    record = token_store.get_many(project.project_id, [device])[device]
    assert (record.revoked, record.bad_streak) == (False, 0)  # a 400 is not a sign the device is gone


def test_an_expired_subscription_answers_410_and_three_revoke_the_token(
    api: Api, project: CreatedProject, vapid: VapidKeyPair, wpt: WebPushTestingServer
) -> None:
    device, client_hash = subscribe(api, project, wpt, vapid.public_key)
    wpt.expire(client_hash)

    for streak in (1, 2, 3):
        (ticket,) = send(api, project, {"to": device, "body": f"attempt {streak}"})
        assert ticket["status"] == "queued"
        drain()
        done = receipt(api, project, ticket["id"])
        assert (done["status"], done["providerOutcome"]) == ("failed", "WP_410_Gone")
        assert client_hash not in (done["error"] or "")  # the endpoint path never reaches a receipt
        record = token_store.get_many(project.project_id, [device])[device]
        assert (record.bad_streak, record.revoked) == (streak, streak == 3)

    (after,) = send(api, project, {"to": device, "body": "after revocation"})
    assert (after["status"], after["providerOutcome"]) == ("failed", "DeviceNotRegistered")
    assert receive_all() == []  # nothing was queued for it
    assert receipt(api, project, after["id"])["providerOutcome"] == "DeviceNotRegistered"
    assert wpt.notifications(client_hash) == []
