"""Dispatch: DESIGN §5 (revocation) and §7, against moto and a local fault sink."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sentori_push import clock, credentials, dispatch
from sentori_push.delivery import DeliveryEngine
from sentori_push.endpoint_guard import EndpointPolicy
from sentori_push.settings import settings
from sentori_push.storage import credentials as credential_store
from sentori_push.storage import queue as dispatch_queue
from sentori_push.storage import tickets as ticket_store
from sentori_push.storage import tokens as token_store
from sentori_push.storage.aws import client, reset_clients
from sentori_push.tickets import sweep_shard
from sentori_push.vapid import b64url_encode, generate_keypair
from tests.support.dispatch_world import allow_origins, drain, receive_all, store_vapid
from tests.support.push_sink import REDIRECT_TARGET, PushSink

SEND = "/v1/push/send"


@pytest.fixture
def sink() -> Iterator[PushSink]:
    with PushSink() as running:
        yield running


@pytest.fixture
def stack(aws, api, project, sink, monkeypatch):
    """The dev-like world: the sink's exact origin allow-listed, a VAPID credential stored."""
    allow_origins(monkeypatch, [sink.origin])
    yield store_vapid(project.project_id)
    dispatch.reset()


def register(api, project, endpoint: str, link_hash: str | None = None) -> str:
    body: dict[str, Any] = {
        "provider": "webpush",
        "nativeToken": {
            "endpoint": endpoint,
            "keys": {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))},
        },
    }
    if link_hash:
        body["linkHash"] = link_hash
    result = api("POST", "/v1/push/tokens", key=project.public_key, json_body=body)
    assert result.status == 200, result.text
    return str(result.json["id"])


def send(api, project, to: Any, **extra: Any) -> list[dict[str, Any]]:
    result = api("POST", SEND, key=project.admin_key, json_body={"to": to, "title": "t", "body": "b", **extra})
    assert result.status == 200, result.text
    return list(result.json["tickets"])


def receipt(api, project, ticket_id: str) -> dict[str, Any]:
    return dict(api("GET", f"/v1/push/receipts/{ticket_id}", key=project.admin_key).json["ticket"])


def stored_ticket(ticket_id: str) -> dict[str, Any]:
    return ticket_store.get_many([ticket_id])[ticket_id]


# --- the happy path ---------------------------------------------------------------------


def test_a_queued_ticket_is_delivered_and_the_receipt_says_sent_wp_201(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/a"))
    (ticket,) = send(api, project, device, options={"priority": "high", "ttl": 120, "collapseKey": "score"})
    assert drain() == {"batchItemFailures": []}
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"]) == ("sent", "WP_201")
    assert done["sentAt"] is not None and done["error"] is None
    (hit,) = sink.hits("/push/201/a")
    assert hit.headers["ttl"] == "120"
    assert hit.headers["urgency"] == "high"
    assert hit.headers["topic"] == "score"
    assert hit.headers["content-type"] == "application/octet-stream"
    assert hit.headers["content-encoding"] == "aes128gcm"
    assert hit.headers["authorization"].startswith("vapid t=")
    assert f"k={stack.public_key}" in hit.headers["authorization"]


def test_a_sent_ticket_leaves_no_lease_or_index_entry_and_expires_30_days_after(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/b"))
    (ticket,) = send(api, project, device)
    drain()
    item = stored_ticket(ticket["id"])
    for gone in ("leaseUntil", "dueAt", "dueShard", "nextAttemptAt"):
        assert gone not in item
    assert int(item["expiresAt"]["N"]) == pytest.approx(time.time() + 30 * 86400, abs=30)


def test_a_duplicate_sqs_message_does_not_deliver_twice(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/dup"))
    (ticket,) = send(api, project, device)
    batch = dispatch_queue.DispatchBatch(project.project_id, [ticket["id"]])
    dispatch_queue.enqueue([batch])
    drain()
    drain()
    assert len(sink.hits("/push/201/dup")) == 1


def test_the_same_ticket_in_two_concurrent_batches_is_delivered_once(api, project, stack, monkeypatch):
    with PushSink(delay=0.3) as slow_sink:
        monkeypatch.setenv("SENTORI_ENDPOINT_ALLOWLIST", slow_sink.origin)
        reset_clients()
        dispatch.reset()
        device = register(api, project, slow_sink.url("/push/201/race"))
        (ticket,) = send(api, project, device)
        receive_all()  # the send's own message: consumed, not used
        event = {
            "Records": [
                {"messageId": "m", "body": json.dumps({"projectId": "", "tickets": [ticket["id"]]}), "attributes": {}}
            ]
        }
        threads = [threading.Thread(target=dispatch.handle, args=(event,)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(slow_sink.hits("/push/201/race")) == 1


# --- outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/push/401", "WP_401_VapidRejected"),
        ("/push/403", "WP_403_VapidRejected"),
        ("/push/413", "WP_413_PayloadTooLarge"),
        ("/push/400", "WP_400"),
        ("/push/404", "WP_404_Gone"),
        ("/push/410", "WP_410_Gone"),
    ],
)
def test_permanent_refusals_end_the_ticket_failed(api, project, stack, sink, path, outcome):
    device = register(api, project, sink.url(path))
    (ticket,) = send(api, project, device)
    drain()
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"]) == ("failed", outcome)
    assert done["error"]
    assert int(stored_ticket(ticket["id"])["expiresAt"]["N"]) == pytest.approx(time.time() + 90 * 86400, abs=30)


def test_a_redirect_is_never_followed(api, project, stack, sink):
    device = register(api, project, sink.url("/push/redirect"))
    (ticket,) = send(api, project, device)
    drain()
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"]) == ("failed", "WP_302")
    assert sink.hits(REDIRECT_TARGET) == []


@pytest.mark.parametrize(
    ("path", "outcome"), [("/push/500", "WP_500"), ("/push/503", "WP_503"), ("/push/429", "WP_429_RateLimited")]
)
def test_transient_answers_are_retried_after_60s_with_jitter(api, project, stack, sink, path, outcome, monkeypatch):
    device = register(api, project, sink.url(path))
    (ticket,) = send(api, project, device)
    before = time.time()
    enqueued: list[dispatch_queue.DispatchBatch] = []
    real = dispatch_queue.enqueue
    monkeypatch.setattr(dispatch_queue, "enqueue", lambda batches: (enqueued.extend(batches), real(batches))[1])
    drain()
    waiting = receipt(api, project, ticket["id"])
    assert (waiting["status"], waiting["providerOutcome"], waiting["retryCount"]) == ("queued", outcome, 1)
    next_at = int(stored_ticket(ticket["id"])["nextAttemptAt"]["N"]) / 1000
    assert 48 - 1 <= next_at - before <= 72 + 2
    (batch,) = enqueued  # back on SQS with a delay, not in the sweep index
    assert batch.ticket_ids == [ticket["id"]]
    assert 47 <= batch.delay_seconds <= 74
    assert "dueAt" not in stored_ticket(ticket["id"])


def test_retry_after_in_seconds_sets_the_next_attempt(api, project, stack, sink):
    device = register(api, project, sink.url("/push/429?retry_after=30"))
    (ticket,) = send(api, project, device)
    before = time.time()
    drain()
    next_at = int(stored_ticket(ticket["id"])["nextAttemptAt"]["N"]) / 1000
    assert 29 <= next_at - before <= 32


def test_retry_after_as_an_http_date_sets_the_next_attempt(api, project, stack, sink):
    device = register(api, project, sink.url("/push/503?retry_after_date=600"))
    (ticket,) = send(api, project, device)
    before = time.time()
    drain()
    next_at = int(stored_ticket(ticket["id"])["nextAttemptAt"]["N"]) / 1000
    assert 595 <= next_at - before <= 605


def test_a_retry_later_than_15_minutes_goes_to_the_sweep_index(api, project, stack, sink):
    device = register(api, project, sink.url("/push/429?retry_after=3600"))
    (ticket,) = send(api, project, device, options={"ttl": 86400})
    drain()
    assert receive_all() == []
    item = stored_ticket(ticket["id"])
    assert int(item["dueAt"]["N"]) == int(item["nextAttemptAt"]["N"])
    assert "leaseUntil" not in item


def test_retry_after_is_capped_at_12_hours(api, project, stack, sink):
    device = register(api, project, sink.url("/push/429?retry_after=999999"))
    (ticket,) = send(api, project, device, options={"ttl": 2419200})
    before = time.time()
    drain()
    next_at = int(stored_ticket(ticket["id"])["nextAttemptAt"]["N"]) / 1000
    assert 43200 - 5 <= next_at - before <= 43200 + 5


def test_a_slow_push_service_is_a_network_error_retried(api, project, stack, sink, monkeypatch):
    monkeypatch.setattr(
        dispatch,
        "_engine",
        DeliveryEngine(endpoint_check=EndpointPolicy.parse(settings().endpoint_allowlist).check, total_timeout=0.5),
    )
    device = register(api, project, sink.url("/push/slow?delay=3"))
    (ticket,) = send(api, project, device)
    drain()
    waiting = receipt(api, project, ticket["id"])
    assert (waiting["status"], waiting["providerOutcome"]) == ("queued", "NetworkError")


def test_a_refused_connection_is_a_network_error_retried(api, project, stack, monkeypatch):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("SENTORI_ENDPOINT_ALLOWLIST", f"http://127.0.0.1:{port}")
    reset_clients()
    dispatch.reset()
    device = register(api, project, f"http://127.0.0.1:{port}/push")
    (ticket,) = send(api, project, device)
    drain()
    assert receipt(api, project, ticket["id"])["providerOutcome"] == "NetworkError"


def test_the_sixth_failed_attempt_is_final(api, project, stack, sink):
    device = register(api, project, sink.url("/push/500"))
    (ticket,) = send(api, project, device, options={"ttl": 2419200})
    for attempt in range(1, 7):
        # Pretend the delay elapsed: make the ticket due now and put it back on the queue.
        client("dynamodb").update_item(
            TableName=settings().tickets_table,
            Key={"id": {"S": ticket["id"]}},
            UpdateExpression="SET nextAttemptAt = :n",
            ExpressionAttributeValues={":n": {"N": str(int(time.time() * 1000))}},
        )
        receive_all()
        dispatch_queue.enqueue([dispatch_queue.DispatchBatch(project.project_id, [ticket["id"]])])
        drain()
        state = receipt(api, project, ticket["id"])
        if attempt < 6:
            assert (state["status"], state["retryCount"]) == ("queued", attempt)
    assert (state["status"], state["providerOutcome"]) == ("failed", "WP_500")
    assert len(sink.hits("/push/500")) == 6


def test_a_retry_that_would_run_after_the_ttl_ends_expired(api, project, stack, sink):
    device = register(api, project, sink.url("/push/503"))
    (ticket,) = send(api, project, device, options={"ttl": 30})
    drain()
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"]) == ("failed", "Expired")


def test_a_waiting_retry_whose_ttl_has_passed_ends_expired_without_a_request(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/500"))
    (ticket,) = send(api, project, device, options={"ttl": 600})
    drain()
    assert len(sink.hits("/push/500")) == 1
    later = time.time() + 700
    monkeypatch.setattr(clock, "now", lambda: later)
    receive_all()
    dispatch_queue.enqueue([dispatch_queue.DispatchBatch(project.project_id, [ticket["id"]])])
    drain()
    assert receipt(api, project, ticket["id"])["providerOutcome"] == "Expired"
    assert len(sink.hits("/push/500")) == 1


def test_a_retry_carries_only_the_remaining_ttl(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/503/ttl"))
    (ticket,) = send(api, project, device, options={"ttl": 600})
    drain()
    later = time.time() + 400
    monkeypatch.setattr(clock, "now", lambda: later)
    receive_all()
    dispatch_queue.enqueue([dispatch_queue.DispatchBatch(project.project_id, [ticket["id"]])])
    drain()
    first, second = sink.hits("/push/503/ttl")
    assert first.headers["ttl"] == "600"
    assert 195 <= int(second.headers["ttl"]) <= 200


def test_a_first_attempt_after_the_ttl_has_passed_ends_expired(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/201/late"))
    (ticket,) = send(api, project, device, options={"ttl": 60})
    later = time.time() + 3600
    monkeypatch.setattr(clock, "now", lambda: later)
    drain()
    assert receipt(api, project, ticket["id"])["providerOutcome"] == "Expired"
    assert sink.hits("/push/201/late") == []


def test_a_zero_ttl_message_is_still_delivered_on_the_fast_path(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/now"))
    (ticket,) = send(api, project, device, options={"ttl": 0})
    drain()
    assert receipt(api, project, ticket["id"])["status"] == "sent"
    assert sink.hits("/push/201/now")[0].headers["ttl"] == "0"


# --- service-side outcomes ------------------------------------------------------------


def test_a_project_without_credential_ends_credential_missing_and_others_still_deliver(
    api, project, other_project, stack, sink
):
    mine = register(api, project, sink.url("/push/201/mine"))
    theirs_body = {
        "provider": "webpush",
        "nativeToken": {
            "endpoint": sink.url("/push/201/theirs"),
            "keys": {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))},
        },
    }
    theirs = api("POST", "/v1/push/tokens", key=other_project.public_key, json_body=theirs_body).json["id"]
    (t_mine,) = send(api, project, mine)
    t_theirs = api("POST", SEND, key=other_project.admin_key, json_body={"to": theirs, "body": "x"}).json["tickets"][0]
    drain()
    assert receipt(api, project, t_mine["id"])["status"] == "sent"
    lost = api("GET", f"/v1/push/receipts/{t_theirs['id']}", key=other_project.admin_key).json["ticket"]
    assert (lost["status"], lost["providerOutcome"]) == ("failed", "CredentialMissing")


def test_an_undecryptable_credential_ends_credential_decrypt_failed(api, project, other_project, stack, sink):
    original = credential_store.get(project.project_id, "webpush")
    assert original is not None
    credential_store.put(
        credential_store.StoredCredential(
            other_project.project_id, "webpush", original.config, original.secret_ciphertext, original.updated_at
        )
    )
    body = {
        "provider": "webpush",
        "nativeToken": {
            "endpoint": sink.url("/push/201/x"),
            "keys": {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))},
        },
    }
    device = api("POST", "/v1/push/tokens", key=other_project.public_key, json_body=body).json["id"]
    ticket = api("POST", SEND, key=other_project.admin_key, json_body={"to": device, "body": "x"}).json["tickets"][0]
    drain()
    done = api("GET", f"/v1/push/receipts/{ticket['id']}", key=other_project.admin_key).json["ticket"]
    assert (done["status"], done["providerOutcome"]) == ("failed", "CredentialDecryptFailed")
    assert sink.hits("/push/201/x") == []


def test_a_device_unregistered_after_the_send_ends_device_not_registered(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/later"))
    (ticket,) = send(api, project, device)
    api("DELETE", f"/v1/push/tokens/{device}", key=project.public_key)
    drain()
    assert receipt(api, project, ticket["id"])["providerOutcome"] == "DeviceNotRegistered"
    assert sink.hits("/push/201/later") == []


def test_the_endpoint_guard_is_rechecked_before_each_request(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/201/guard"))
    (ticket,) = send(api, project, device)
    monkeypatch.setenv("SENTORI_ENDPOINT_ALLOWLIST", "fcm.googleapis.com")
    reset_clients()
    dispatch.reset()
    drain()
    done = receipt(api, project, ticket["id"])
    assert (done["status"], done["providerOutcome"]) == ("failed", "EndpointNotAllowed")
    assert sink.requests == []


def test_kms_decrypts_a_projects_credential_once_across_batches(api, project, stack, sink):
    calls: list[str] = []
    client("kms").meta.events.register("before-call.kms.Decrypt", lambda **kw: calls.append("decrypt"))
    device = register(api, project, sink.url("/push/201/kms"))
    for _ in range(3):
        send(api, project, device)
        drain()
    assert len(calls) == 1
    assert len(sink.hits("/push/201/kms")) == 3


def test_the_credential_cache_expires_after_five_minutes(monkeypatch):
    loads: list[str] = []
    monkeypatch.setattr(credentials, "load_webpush", lambda p: loads.append(p) or "cred")
    cache = credentials.WebPushCredentialCache()
    now = [1000.0]
    monkeypatch.setattr(clock, "now", lambda: now[0])
    cache.get("p")
    now[0] += 299
    cache.get("p")
    assert loads == ["p"]
    now[0] += 2
    cache.get("p")
    assert loads == ["p", "p"]


# --- revocation ---------------------------------------------------------------------------


def test_three_consecutive_gone_answers_revoke_the_token(api, project, stack, sink):
    device = register(api, project, sink.url("/push/410/dev"))
    for _ in range(3):
        send(api, project, device)
        drain()
    record = token_store.get_many(project.project_id, [device])[device]
    assert record.revoked
    (after,) = send(api, project, device)
    assert after["providerOutcome"] == "DeviceNotRegistered"


def test_a_success_resets_the_bad_streak(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/410/flaky"))
    send(api, project, device)
    drain()
    send(api, project, device)
    drain()
    assert token_store.get_many(project.project_id, [device])[device].bad_streak == 2
    # The same endpoint now answers 201: re-point the stored token at the 201 path.
    client("dynamodb").update_item(
        TableName=settings().tokens_table,
        Key=token_store.token_key(project.project_id, device),
        UpdateExpression="SET endpoint = :e",
        ExpressionAttributeValues={":e": {"S": sink.url("/push/201/flaky")}},
    )
    send(api, project, device)
    drain()
    assert token_store.get_many(project.project_id, [device])[device].bad_streak == 0


# --- dead workers and the sweep -------------------------------------------------------------


def test_a_worker_that_dies_after_claiming_leaves_the_ticket_to_sqs_redelivery(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/201/dead"))
    (ticket,) = send(api, project, device)
    records = receive_all()
    claimed = ticket_store.claim(
        ticket["id"], now=time.time(), lease_until=time.time() + dispatch.LEASE_SECONDS, swept=False
    )
    assert claimed is not None  # ... and the worker dies here
    dispatch.handle({"Records": records})  # redelivered while the lease holds: skipped
    assert sink.hits("/push/201/dead") == []
    later = time.time() + dispatch.LEASE_SECONDS + 1
    monkeypatch.setattr(clock, "now", lambda: later)
    dispatch.handle({"Records": records})  # redelivered after the visibility timeout
    assert len(sink.hits("/push/201/dead")) == 1
    assert receipt(api, project, ticket["id"])["status"] == "sent"


@pytest.fixture
def sqs_outage(monkeypatch):
    """While `down[0]` is True, every SQS enqueue fails as if SQS were unreachable."""
    down = [True]
    real = dispatch_queue.enqueue

    def enqueue(batches):
        if down[0]:
            raise ConnectionError("sqs down")
        return real(batches)

    monkeypatch.setattr(dispatch_queue, "enqueue", enqueue)
    return down


def test_the_sweep_delivers_a_dead_workers_index_ticket_after_the_lease(
    api, project, stack, sink, monkeypatch, sqs_outage
):
    device = register(api, project, sink.url("/push/201/swept"))
    (ticket,) = send(api, project, device)
    sqs_outage[0] = False
    assert "dueAt" in stored_ticket(ticket["id"])
    now = time.time()
    claimed = ticket_store.claim(ticket["id"], now=now, lease_until=now + dispatch.LEASE_SECONDS, swept=True)
    assert claimed is not None  # the worker dies holding the lease
    assert dispatch.sweep(now + 61) == {"enqueued": 0, "failedShards": 0}  # lease still holds
    result = dispatch.sweep(now + dispatch.LEASE_SECONDS + 1)
    assert result["enqueued"] == 1
    later = now + dispatch.LEASE_SECONDS + 2
    monkeypatch.setattr(clock, "now", lambda: later)
    drain()
    assert receipt(api, project, ticket["id"])["status"] == "sent"
    assert "dueAt" not in stored_ticket(ticket["id"])


def test_the_sweep_enqueues_a_future_send_when_it_falls_due(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/201/later"))
    when = time.time() + 3600
    (ticket,) = send(api, project, device, sendAt=_rfc3339(when))
    assert dispatch.sweep(time.time())["enqueued"] == 0
    assert dispatch.sweep(when + 1)["enqueued"] == 1
    monkeypatch.setattr(clock, "now", lambda: when + 2)
    drain()
    assert receipt(api, project, ticket["id"])["status"] == "sent"


def _rfc3339(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat()


def test_a_failing_sweep_logs_the_cause_and_loses_nothing(api, project, stack, sink, caplog, sqs_outage):
    device = register(api, project, sink.url("/push/201/s"))
    (ticket,) = send(api, project, device)
    result = dispatch.sweep(time.time() + 1)
    assert result == {"enqueued": 0, "failedShards": 1}
    (failure,) = [r for r in caplog.records if r.getMessage() == "push dispatch sweep failed"]
    assert "sqs down" in failure.__dict__["cause"]
    sqs_outage[0] = False
    assert "dueAt" in stored_ticket(ticket["id"])
    assert dispatch.sweep(time.time() + 1)["enqueued"] == 1
    drain()
    assert receipt(api, project, ticket["id"])["status"] == "sent"


def test_on_the_last_receive_a_failing_batch_is_handed_to_the_sweep(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/201/last"))
    (ticket,) = send(api, project, device)
    records = receive_all()
    real_get_many = token_store.get_many
    monkeypatch.setattr(token_store, "get_many", lambda *a: (_ for _ in ()).throw(ConnectionError("ddb blip")))
    records[0]["attributes"]["ApproximateReceiveCount"] = "2"
    assert dispatch.handle({"Records": records}) == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    records[0]["attributes"]["ApproximateReceiveCount"] = "5"
    later = time.time() + dispatch.LEASE_SECONDS + 1
    monkeypatch.setattr(clock, "now", lambda: later)
    assert dispatch.handle({"Records": records}) == {"batchItemFailures": []}
    assert "dueAt" in stored_ticket(ticket["id"])
    monkeypatch.setattr(token_store, "get_many", real_get_many)
    assert dispatch.sweep(later + dispatch.LEASE_SECONDS + 1)["enqueued"] == 1
    monkeypatch.setattr(clock, "now", lambda: later + dispatch.LEASE_SECONDS + 2)
    drain()
    assert receipt(api, project, ticket["id"])["status"] == "sent"


# --- cost, logs, metrics ------------------------------------------------------------------


def test_a_delivered_ticket_costs_three_writes(api, project, stack, sink):
    device = register(api, project, sink.url("/push/201/cost"))
    writes: list[str] = []

    def count(event_name: str, **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[1]
        if operation in {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}:
            writes.append(operation)

    client("dynamodb").meta.events.register("before-call.dynamodb", count)
    send(api, project, device)
    drain()
    # BatchWriteItem carries the message item and the ticket; claim and outcome are one UpdateItem each.
    assert writes == ["BatchWriteItem", "UpdateItem", "UpdateItem"]


def test_one_log_line_per_attempt_without_keys_or_endpoint_paths(api, project, stack, sink, caplog):
    device = register(api, project, sink.url("/push/201/secretpath"))
    send(api, project, device)
    drain()
    attempts = [r for r in caplog.records if r.getMessage() == "push attempt"]
    assert len(attempts) == 1
    text = caplog.text + json.dumps([{k: str(v) for k, v in r.__dict__.items()} for r in caplog.records])
    assert "secretpath" not in text
    assert stack.private_key not in text
    assert project.admin_key not in text
    assert attempts[0].__dict__["outcome"] == "WP_201"


def test_metrics_count_sent_failed_and_retried(api, project, stack, sink, capsys):
    ok = register(api, project, sink.url("/push/201/m"))
    gone = register(api, project, sink.url("/push/410/m"))
    busy = register(api, project, sink.url("/push/503/m"))
    send(api, project, [ok, gone, busy])
    drain()
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"Sent", "Failed", "Failed_WP_410_Gone", "Retried"} <= names


def test_retry_delays_follow_the_schedule_within_20_percent():
    for attempt, base in enumerate((60, 300, 1800, 7200, 43200), start=1):
        assert dispatch.retry_delay(attempt, None, rng=lambda: 0.0) == pytest.approx(base * 0.8)
        assert dispatch.retry_delay(attempt, None, rng=lambda: 1.0) == pytest.approx(base * 1.2)
    assert dispatch.retry_delay(2, 42.0) == 42.0
    assert dispatch.retry_delay(1, 10**9) == 43200


def test_a_retry_sqs_refuses_goes_to_the_sweep_index_in_the_same_write(api, project, stack, sink, monkeypatch):
    device = register(api, project, sink.url("/push/503/outage"))
    (ticket,) = send(api, project, device)
    records = receive_all()
    real = dispatch_queue.enqueue
    monkeypatch.setattr(dispatch_queue, "enqueue", lambda batches: (_ for _ in ()).throw(ConnectionError("down")))
    writes: list[str] = []
    client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.UpdateItem", lambda **kw: writes.append(kw["params"]["UpdateExpression"])
    )
    assert dispatch.handle({"Records": records}) == {"batchItemFailures": []}
    assert len(writes) == 2  # the claim, then one reschedule that also indexes the ticket
    item = stored_ticket(ticket["id"])
    assert item["status"]["S"] == "queued" and "leaseUntil" not in item
    assert int(item["dueAt"]["N"]) == int(item["nextAttemptAt"]["N"])
    monkeypatch.setattr(dispatch_queue, "enqueue", real)
    assert dispatch.sweep(int(item["dueAt"]["N"]) / 1000 + 1)["enqueued"] == 1


def test_the_sweep_reads_all_sixteen_shards(api, project, stack, sink, sqs_outage):
    devices = [register(api, project, sink.url(f"/push/201/shard{n}")) for n in range(40)]
    tickets = send(api, project, devices)  # SQS down: every ticket enters the due index
    shards = {sweep_shard(t["id"]) for t in tickets}
    assert len(shards) >= 12  # 40 random ids cover most of the 16 shards
    sqs_outage[0] = False
    assert dispatch.sweep(time.time() + 1)["enqueued"] == 40
    drain()
    assert all(receipt(api, project, t["id"])["status"] == "sent" for t in tickets)
