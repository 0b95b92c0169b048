"""Sending, tickets and receipts: DESIGN §4 (send/receipt rows) and §6."""

from __future__ import annotations

import json
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sentori_push import sending
from sentori_push.message import Notification, encrypted_size
from sentori_push.settings import settings
from sentori_push.storage import queue as dispatch_queue
from sentori_push.storage import tickets as ticket_store
from sentori_push.storage.aws import client
from sentori_push.vapid import b64url_encode, generate_keypair

SEND = "/v1/push/send"


def subscription(endpoint: str | None = None) -> dict[str, Any]:
    return {
        "endpoint": endpoint or f"https://fcm.googleapis.com/fcm/send/{secrets.token_hex(8)}",
        "expirationTime": None,
        "keys": {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))},
    }


@pytest.fixture
def register(api, project):
    def register(link_hash: str | None = None, provider: str = "webpush", key: str | None = None) -> str:
        body: dict[str, Any] = {"provider": provider, "nativeToken": subscription()}
        if provider != "webpush":
            body["nativeToken"] = secrets.token_hex(20)
        if link_hash:
            body["linkHash"] = link_hash
        result = api("POST", "/v1/push/tokens", key=key or project.public_key, json_body=body)
        assert result.status == 200, result.text
        return str(result.json["id"])

    return register


def queue_messages() -> list[dict[str, Any]]:
    url = settings().dispatch_queue_url
    messages: list[dict[str, Any]] = []
    while True:
        got = (
            client("sqs")
            .receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
            .get("Messages", [])
        )
        if not got:
            return messages
        messages.extend(json.loads(m["Body"]) for m in got)


def queued_ids() -> list[str]:
    return [i for m in queue_messages() for i in m["tickets"]]


def scan_tickets() -> list[dict[str, Any]]:
    items = client("dynamodb").scan(TableName=settings().tickets_table)["Items"]
    return [i for i in items if i["id"]["S"].startswith("send_")]


class CallCounter:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, event_name: str, **kwargs: Any) -> None:
        self.calls.append(event_name.split(".", 1)[1])

    def count(self, prefix: str) -> int:
        return sum(1 for c in self.calls if c.startswith(prefix))


@pytest.fixture
def aws_calls():
    counter = CallCounter()
    for service in ("dynamodb", "sqs"):
        client(service).meta.events.register("before-call", counter)
    yield counter
    for service in ("dynamodb", "sqs"):
        client(service).meta.events.unregister("before-call", counter)


# --- shape and auth ---------------------------------------------------------


def test_send_needs_an_admin_key(api, project, register):
    device = register()
    result = api("POST", SEND, key=project.public_key, json_body={"to": device, "title": "hi"})
    assert (result.status, result.error_code) == (403, "auth.adminKeyRequired")
    assert scan_tickets() == []


def test_a_send_to_one_handle_returns_one_queued_ticket_and_enqueues_it(api, project, register):
    device = register()
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "title": "Hello", "body": "World"})
    assert result.status == 200, result.text
    (ticket,) = result.json["tickets"]
    assert re.fullmatch(r"send_[0-9a-f]{32}", ticket["id"])
    assert ticket["to"] == device
    assert ticket["status"] == "queued"
    assert set(ticket) == {
        "id", "to", "status", "providerOutcome", "error", "retryCount", "nextAttemptAt", "createdAt", "sentAt",
    }  # fmt: skip
    assert ticket["retryCount"] == 0 and ticket["sentAt"] is None
    assert queued_ids() == [ticket["id"]]


def test_tickets_follow_the_order_of_to(api, project, register):
    devices = [register() for _ in range(5)]
    order = [devices[3], devices[0], devices[4], devices[1], devices[2]]
    result = api("POST", SEND, key=project.admin_key, json_body={"to": order, "body": "x"})
    assert [t["to"] for t in result.json["tickets"]] == order


def test_more_than_100_recipients_is_batch_too_large_with_counts(api, project):
    handles = [f"ipt_{secrets.token_hex(16)}" for _ in range(101)]
    result = api("POST", SEND, key=project.admin_key, json_body={"to": handles, "body": "x"})
    assert (result.status, result.error_code) == (400, "BatchTooLarge")
    assert result.json["error"]["actualRecipients"] == 101
    assert result.json["error"]["maxRecipients"] == 100
    assert scan_tickets() == []


def test_exactly_100_recipients_is_accepted(api, project):
    handles = [f"ipt_{secrets.token_hex(16)}" for _ in range(100)]
    result = api("POST", SEND, key=project.admin_key, json_body={"to": handles, "body": "x"})
    assert result.status == 200
    assert len(result.json["tickets"]) == 100


@pytest.mark.parametrize("bad", ["ipt_123", "ipt_" + "G" * 32, "device-1", "ipt_" + "a" * 33])
def test_a_malformed_handle_rejects_the_whole_request_and_writes_nothing(api, project, register, bad):
    good = register()
    result = api("POST", SEND, key=project.admin_key, json_body={"to": [good, bad], "body": "x"})
    assert (result.status, result.error_code) == (400, "invalidRequest")
    assert result.json["error"]["details"][0]["field"] == "to.1"
    assert scan_tickets() == []
    assert queue_messages() == []


def test_unknown_and_revoked_handles_get_stored_failed_tickets(api, project, register):
    live, revoked = register(), register()
    assert api("DELETE", f"/v1/push/tokens/{revoked}", key=project.public_key).status == 204
    unknown = f"ipt_{secrets.token_hex(16)}"
    result = api("POST", SEND, key=project.admin_key, json_body={"to": [unknown, revoked, live], "body": "x"})
    tickets = result.json["tickets"]
    assert [t["status"] for t in tickets] == ["failed", "failed", "queued"]
    assert [t["providerOutcome"] for t in tickets[:2]] == ["DeviceNotRegistered", "DeviceNotRegistered"]
    stored = api("GET", f"/v1/push/receipts/{tickets[0]['id']}", key=project.admin_key)
    assert stored.json["ticket"]["providerOutcome"] == "DeviceNotRegistered"
    assert queued_ids() == [tickets[2]["id"]]


def test_another_projects_handle_is_device_not_registered(api, project, other_project, register):
    theirs = register(key=other_project.public_key)
    result = api("POST", SEND, key=project.admin_key, json_body={"to": theirs, "body": "x"})
    assert result.json["tickets"][0]["providerOutcome"] == "DeviceNotRegistered"


def test_a_device_of_another_provider_ends_provider_not_supported(api, project, register):
    device = register(provider="fcm")
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x"})
    ticket = result.json["tickets"][0]
    assert (ticket["status"], ticket["providerOutcome"]) == ("failed", "ProviderNotSupported")
    assert queue_messages() == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": 42}, "to"),
        ({"to": "someone"}, "to"),
        ({"to": "user:"}, "to"),
        ({"to": []}, "to"),
        ({"to": {"group": "x"}}, "to"),
        ({"title": "no recipient"}, "to"),
        ({"to": "topic:news", "title": 5}, "title"),
        ({"to": "topic:news", "data": [1, 2]}, "data"),
        ({"to": "topic:news", "options": {"priority": "urgent"}}, "options.priority"),
        ({"to": "topic:news", "options": {"ttl": -1}}, "options.ttl"),
        ({"to": "topic:news", "options": {"ttl": 2419201}}, "options.ttl"),
        ({"to": "topic:news", "options": {"ttl": "60"}}, "options.ttl"),
        ({"to": "topic:news", "options": {"collapseKey": ""}}, "options.collapseKey"),
        ({"to": "topic:news", "idempotencyKey": "k" * 257}, "idempotencyKey"),
        ({"to": "topic:news", "sendAt": "tomorrow"}, "sendAt"),
        ({"to": "topic:news", "sendAt": "2030-01-01T10:00:00"}, "sendAt"),
        ({"to": "topic:news", "colour": "red"}, "colour"),
        ({"to": "user:" + "u" * 129}, "linkHash"),
        ({"to": {"linkHash": "u" * 129}}, "to"),
        ({"to": "topic:" + "t" * 201}, "topic"),
        ({"to": {"topic": "   "}}, "topic"),
    ],
)
def test_fields_of_the_wrong_shape_are_invalid_request_naming_the_field(api, project, body, field):
    result = api("POST", SEND, key=project.admin_key, json_body=body)
    assert (result.status, result.error_code) == (400, "invalidRequest"), result.text
    assert any(d["field"] == field or d["field"].startswith(field + ".") for d in result.json["error"]["details"])


def test_ttl_bounds_are_inclusive(api, project, register):
    device = register()
    for ttl in (0, 2419200):
        body = {"to": device, "body": "x", "options": {"ttl": ttl}}
        assert api("POST", SEND, key=project.admin_key, json_body=body).status == 200


# --- payload limit ------------------------------------------------------------


def _body_for_plaintext_size(target: int) -> str:
    probe = Notification(None, "", None, 3600, None, None).plaintext("send_" + "0" * 32)
    return "a" * (target - len(probe))


def test_the_largest_payload_that_encrypts_to_4096_bytes_is_accepted(api, project, register):
    device = register()
    body = _body_for_plaintext_size(3993)
    assert encrypted_size(Notification(None, body, None, 3600, None, None).plaintext("send_" + "0" * 32)) == 4096
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": body})
    assert result.status == 200, result.text


def test_one_byte_more_is_payload_too_big_with_sizes(api, project, register):
    device = register()
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": _body_for_plaintext_size(3994)})
    assert (result.status, result.error_code) == (400, "PayloadTooBig")
    assert result.json["error"]["actualBytes"] == 4097
    assert result.json["error"]["maxBytes"] == 4096
    assert scan_tickets() == []


def test_the_size_counts_utf8_bytes_not_characters(api, project, register):
    device = register()
    fits = len(_body_for_plaintext_size(3993))
    body = "€" * (fits // 3 + 1)  # 3 UTF-8 bytes each: fewer characters than `fits`, more bytes
    assert len(body) < fits
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": body})
    assert result.error_code == "PayloadTooBig"


def test_the_plaintext_carries_the_ticket_id_in_data_sentori():
    note = Notification("T", "B", {"k": "v", "_sentori": {"x": 1}}, 60, None, None)
    decoded = json.loads(note.plaintext("send_" + "1" * 32))
    assert decoded == {"title": "T", "body": "B", "data": {"k": "v", "_sentori": {"x": 1, "msgId": "send_" + "1" * 32}}}


def test_options_are_stored_for_the_dispatcher(api, project, register):
    device = register()
    body = {"to": device, "title": "t", "options": {"priority": "high", "ttl": 60, "collapseKey": "score"}}
    ticket = api("POST", SEND, key=project.admin_key, json_body=body).json["tickets"][0]
    message_id = ticket_store.get_many([ticket["id"]])[ticket["id"]]["msgId"]["S"]
    message = ticket_store.get_message(message_id)
    assert message is not None
    stored = message.notification
    assert (stored.priority, stored.ttl, stored.collapse_key, stored.urgency) == ("high", 60, "score", "high")


# --- audiences ------------------------------------------------------------------


def test_a_user_send_reaches_each_active_device_of_that_user(api, project, register):
    phone, laptop, old = register("user-42"), register("user-42"), register("user-42")
    register("user-7")
    api("DELETE", f"/v1/push/tokens/{old}", key=project.public_key)
    for to in ("user:user-42", {"linkHash": "user-42"}):
        result = api("POST", SEND, key=project.admin_key, json_body={"to": to, "body": "x"})
        assert sorted(t["to"] for t in result.json["tickets"]) == sorted([phone, laptop])
        assert all(t["status"] == "queued" for t in result.json["tickets"])


def test_a_topic_send_reaches_subscribed_active_devices_only(api, project, register):
    a, b, c = register(), register(), register()
    for device in (a, b, c):
        api("POST", f"/v1/push/tokens/{device}/topics", key=project.public_key, json_body={"topic": "news"})
    api("DELETE", f"/v1/push/tokens/{c}", key=project.public_key)
    register()  # not subscribed
    for to in ("topic:news", {"topic": "news"}):
        result = api("POST", SEND, key=project.admin_key, json_body={"to": to, "body": "x"})
        assert sorted(t["to"] for t in result.json["tickets"]) == sorted([a, b])


def test_an_audience_with_no_device_is_an_empty_ticket_list(api, project):
    for to in ("topic:nobody", "user:nobody"):
        result = api("POST", SEND, key=project.admin_key, json_body={"to": to, "body": "x"})
        assert result.status == 200
        assert result.json == {"tickets": []}
    assert queue_messages() == []


def test_an_audience_over_1000_devices_is_audience_too_large(api, project, monkeypatch):
    from sentori_push.storage import tokens as token_store

    monkeypatch.setattr(token_store, "active_for_topic", lambda p, t, limit: [object()] * limit)
    result = api("POST", SEND, key=project.admin_key, json_body={"to": "topic:huge", "body": "x"})
    assert (result.status, result.error_code) == (400, "AudienceTooLarge")
    assert scan_tickets() == []


# --- scheduling and enqueueing ---------------------------------------------------------


def test_a_future_send_at_beyond_sqs_delay_goes_to_the_due_index_not_sqs(api, project, register):
    device = register()
    when = datetime.now(UTC) + timedelta(hours=2)
    ticket = api(
        "POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x", "sendAt": when.isoformat()}
    ).json["tickets"][0]
    assert queue_messages() == []
    item = ticket_store.get_many([ticket["id"]])[ticket["id"]]
    assert abs(int(item["dueAt"]["N"]) / 1000 - when.timestamp()) < 1
    assert ticket["nextAttemptAt"] is not None


def test_a_near_send_at_uses_the_sqs_delay_and_stays_out_of_the_index(api, project, register, monkeypatch):
    device = register()
    sent: list[dispatch_queue.DispatchBatch] = []
    real = dispatch_queue.enqueue
    monkeypatch.setattr(dispatch_queue, "enqueue", lambda batches: (sent.extend(batches), real(batches))[1])
    when = datetime.now(UTC) + timedelta(minutes=5)
    ticket = api(
        "POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x", "sendAt": when.isoformat()}
    ).json["tickets"][0]
    assert 290 <= sent[0].delay_seconds <= 300
    assert "dueAt" not in ticket_store.get_many([ticket["id"]])[ticket["id"]]


def test_fast_path_tickets_stay_out_of_the_sweep_index(api, project, register):
    device = register()
    ticket = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x"}).json["tickets"][0]
    item = ticket_store.get_many([ticket["id"]])[ticket["id"]]
    assert "dueAt" not in item and "dueShard" not in item


def test_when_enqueueing_fails_the_send_succeeds_and_the_sweep_index_holds_the_tickets(
    api, project, register, monkeypatch
):
    devices = [register() for _ in range(3)]

    def refuse(batches):
        raise ConnectionError("sqs down")

    monkeypatch.setattr(dispatch_queue, "enqueue", refuse)
    result = api("POST", SEND, key=project.admin_key, json_body={"to": devices, "body": "x"})
    assert result.status == 200
    for ticket in result.json["tickets"]:
        item = ticket_store.get_many([ticket["id"]])[ticket["id"]]
        assert item["status"]["S"] == "queued"
        assert "dueAt" in item and "dueShard" in item


def test_the_due_index_is_sharded_sixteen_ways():
    from sentori_push.tickets import new_ticket_id, sweep_shard

    assert {sweep_shard(new_ticket_id()) for _ in range(2000)} == set("0123456789abcdef")


def test_a_100_recipient_send_costs_one_sqs_call_and_batched_writes(api, project, register, aws_calls):
    devices = [register() for _ in range(100)]
    aws_calls.calls.clear()
    result = api("POST", SEND, key=project.admin_key, json_body={"to": devices, "body": "x"})
    assert len(result.json["tickets"]) == 100
    assert aws_calls.count("sqs.SendMessageBatch") == 1
    assert aws_calls.count("sqs.SendMessage") == 1  # the batch call only
    assert aws_calls.count("dynamodb.BatchWriteItem") == 5  # 101 items in chunks of 25
    assert aws_calls.count("dynamodb.PutItem") == 0
    assert aws_calls.count("dynamodb.UpdateItem") == 0
    assert len(queue_messages()) == 1


# --- idempotency ---------------------------------------------------------------------


def test_a_repeat_with_the_same_key_returns_the_original_tickets_and_queues_nothing(api, project, register):
    devices = [register(), register()]
    body = {"to": devices, "body": "x", "idempotencyKey": "order-1"}
    first = api("POST", SEND, key=project.admin_key, json_body=body)
    assert len(queue_messages()) == 1
    again = api("POST", SEND, key=project.admin_key, json_body=body)
    assert again.status == 200
    assert [t["id"] for t in again.json["tickets"]] == [t["id"] for t in first.json["tickets"]]
    assert queue_messages() == []
    assert len(scan_tickets()) == 2


def test_the_same_key_with_a_different_message_is_409(api, project, register):
    device = register()
    api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x", "idempotencyKey": "k"})
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "y", "idempotencyKey": "k"})
    assert (result.status, result.error_code) == (409, "idempotencyKeyReused")
    assert len(scan_tickets()) == 1


def test_the_idempotency_key_header_works_like_the_body_field(api, project, register):
    device = register()
    first = api(
        "POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x"}, headers={"Idempotency-Key": "h1"}
    )
    again = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x", "idempotencyKey": "h1"})
    assert again.json["tickets"] == first.json["tickets"]
    clash = api(
        "POST",
        SEND,
        key=project.admin_key,
        json_body={"to": device, "body": "x", "idempotencyKey": "a"},
        headers={"Idempotency-Key": "b"},
    )
    assert (clash.status, clash.error_code) == (400, "invalidRequest")


def test_idempotency_keys_are_scoped_per_project(api, project, other_project, register):
    mine, theirs = register(), register(key=other_project.public_key)
    api("POST", SEND, key=project.admin_key, json_body={"to": mine, "body": "x", "idempotencyKey": "k"})
    result = api(
        "POST", SEND, key=other_project.admin_key, json_body={"to": theirs, "body": "y", "idempotencyKey": "k"}
    )
    assert result.status == 200
    assert result.json["tickets"][0]["to"] == theirs


def test_an_expired_idempotency_record_no_longer_binds_the_key(api, project, register, monkeypatch):
    device = register()
    api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "x", "idempotencyKey": "k"})
    from sentori_push import clock

    later = clock.now() + 24 * 3600 + 5
    monkeypatch.setattr(clock, "now", lambda: later)
    result = api("POST", SEND, key=project.admin_key, json_body={"to": device, "body": "y", "idempotencyKey": "k"})
    assert result.status == 200


def test_a_send_whose_ticket_write_fails_frees_its_idempotency_key(api, project, register, monkeypatch):
    device = register()
    body = {"to": device, "body": "x", "idempotencyKey": "retry-me"}
    real = ticket_store.put_send

    def broken(*args, **kwargs):
        raise RuntimeError("dynamodb hiccup")

    monkeypatch.setattr(ticket_store, "put_send", broken)
    assert api("POST", SEND, key=project.admin_key, json_body=body).status == 500
    monkeypatch.setattr(ticket_store, "put_send", real)
    again = api("POST", SEND, key=project.admin_key, json_body=body)
    assert again.status == 200
    assert again.json["tickets"][0]["status"] == "queued"
    assert queued_ids() == [again.json["tickets"][0]["id"]]


def test_two_concurrent_identical_requests_make_one_set_of_tickets(api, project, register):
    devices = [register() for _ in range(10)]
    body = {"to": devices, "body": "x", "idempotencyKey": "race"}
    answers: list[Any] = []
    barrier = threading.Barrier(4)

    def go() -> None:
        barrier.wait()
        answers.append(api("POST", SEND, key=project.admin_key, json_body=body))

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [a.status for a in answers] == [200] * 4
    id_sets = {tuple(t["id"] for t in a.json["tickets"]) for a in answers}
    assert len(id_sets) == 1
    assert len(scan_tickets()) == 10
    assert len(queued_ids()) == 10


# --- receipts ------------------------------------------------------------------------


def test_a_receipt_reads_back_the_ticket(api, project, register):
    ticket = api("POST", SEND, key=project.admin_key, json_body={"to": register(), "body": "x"}).json["tickets"][0]
    result = api("GET", f"/v1/push/receipts/{ticket['id']}", key=project.admin_key)
    assert result.status == 200
    assert result.json == {"ticket": ticket}


def test_another_projects_receipt_is_404(api, project, other_project, register):
    ticket = api("POST", SEND, key=project.admin_key, json_body={"to": register(), "body": "x"}).json["tickets"][0]
    result = api("GET", f"/v1/push/receipts/{ticket['id']}", key=other_project.admin_key)
    assert (result.status, result.error_code) == (404, "notFound")


@pytest.mark.parametrize("send_id", ["send_" + "0" * 32, "nope", "msg_" + "0" * 32])
def test_an_unknown_receipt_is_404(api, project, send_id):
    result = api("GET", f"/v1/push/receipts/{send_id}", key=project.admin_key)
    assert (result.status, result.error_code) == (404, "notFound")


def test_a_message_item_is_never_served_as_a_receipt(api, project, register):
    ticket = api("POST", SEND, key=project.admin_key, json_body={"to": register(), "body": "x"}).json["tickets"][0]
    message_id = ticket_store.get_many([ticket["id"]])[ticket["id"]]["msgId"]["S"]
    result = api("POST", "/v1/push/receipts", key=project.admin_key, json_body={"ids": [message_id]})
    assert result.json == {"tickets": {}}


def test_batch_receipts_return_known_ids_of_this_project_only(api, project, other_project, register):
    mine = api("POST", SEND, key=project.admin_key, json_body={"to": register(), "body": "x"}).json["tickets"][0]
    theirs_device = register(key=other_project.public_key)
    theirs = api("POST", SEND, key=other_project.admin_key, json_body={"to": theirs_device, "body": "x"}).json[
        "tickets"
    ][0]
    unknown = "send_" + "f" * 32
    result = api(
        "POST",
        "/v1/push/receipts",
        key=project.admin_key,
        json_body={"ids": [mine["id"], theirs["id"], unknown, "junk"]},
    )
    assert result.status == 200
    assert result.json == {"tickets": {mine["id"]: mine}}


def test_batch_receipts_accept_1000_ids_and_refuse_1001(api, project):
    ids = ["send_" + secrets.token_hex(16) for _ in range(1001)]
    assert api("POST", "/v1/push/receipts", key=project.admin_key, json_body={"ids": ids[:1000]}).status == 200
    result = api("POST", "/v1/push/receipts", key=project.admin_key, json_body={"ids": ids})
    assert (result.status, result.error_code) == (400, "invalidRequest")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [("GET", "/v1/push/receipts/send_" + "0" * 32, None), ("POST", "/v1/push/receipts", {"ids": []})],
)
def test_receipt_routes_need_an_admin_key(api, project, method, path, body):
    assert api(method, path, key=project.public_key, json_body=body).status == 403
    assert api(method, path, json_body=body).status == 401


def test_ticket_expiry_is_90_days_for_failed_and_30_after_sent():
    from sentori_push.tickets import Ticket

    failed = Ticket("send_" + "0" * 32, "p", "ipt_x", "msg_x", status="failed", created_at=1000.0)
    sent = Ticket("send_" + "1" * 32, "p", "ipt_x", "msg_x", status="sent", created_at=1000.0, sent_at=2000.0)
    assert int(ticket_store.ticket_item(failed)["expiresAt"]["N"]) == 1000 + 90 * 86400
    assert int(ticket_store.ticket_item(sent)["expiresAt"]["N"]) == 2000 + 30 * 86400


def test_send_module_validation_is_usable_without_aws():
    with pytest.raises(Exception) as caught:
        sending.parse_send({"to": ["ipt_bad"]})
    assert getattr(caught.value, "code", "") == "invalidRequest"
