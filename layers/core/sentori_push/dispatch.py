"""Dispatch: queued tickets become Web Push requests and final receipts.

Two entry points share one Lambda:
- `handle_sqs`: an SQS batch; every ticket of every record is claimed (a
  conditional lease), delivered in one concurrent fan-out, and its outcome
  recorded under the lease. Records whose tickets hit an infrastructure error
  are reported in `batchItemFailures` for SQS to redeliver; on the last receive
  before the dead-letter queue their tickets are handed to the sweep instead.
- `sweep`: finds due tickets in the sparse due index (16 shards) and enqueues
  them. A failure is logged as `push dispatch sweep failed` and loses nothing:
  the index is only read, so the next sweep sees the same tickets.

Writes per delivered ticket: create (at send), claim, outcome. Fast-path
tickets never enter the due index; a retry within SQS's 15-minute delay limit
goes back on SQS, a later one into the index.
"""

from __future__ import annotations

import math
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from aws_lambda_powertools.metrics import MetricUnit

from sentori_push import clock
from sentori_push.credentials import CredentialUnavailable, WebPushCredentialCache
from sentori_push.delivery import DeliveryEngine, PushRequest, PushResult, VapidCredential, topic_header
from sentori_push.endpoint_guard import EndpointPolicy
from sentori_push.observability import logger, metrics
from sentori_push.providers import WEBPUSH
from sentori_push.settings import settings
from sentori_push.storage import queue as dispatch_queue
from sentori_push.storage import tickets as ticket_store
from sentori_push.storage import tokens as token_store
from sentori_push.storage.tickets import StoredMessage
from sentori_push.tickets import SWEEP_SHARDS, Ticket

LEASE_SECONDS = 120.0  # < the queue's 360 s visibility timeout: redelivery finds the lease expired
MAX_ATTEMPTS = 6
RETRY_DELAYS = (60.0, 300.0, 1800.0, 7200.0, 43200.0)  # before attempts 2…6
JITTER = 0.2
RETRY_AFTER_CAP = 43200.0
SQS_MAX_DELAY = float(dispatch_queue.MAX_DELAY_SECONDS)
SWEEP_LIMIT_PER_SHARD = 5000
# A first attempt this late after its TTL (an SQS outage, a sweep) is not sent; the grace
# keeps `ttl: 0` messages deliverable on the fast path, where they go with TTL 0.
EXPIRY_GRACE = 60.0
WRITE_THREADS = 16

_credentials = WebPushCredentialCache()
_counts: Counter[str] = Counter()
_counts_lock = threading.Lock()
_engine: DeliveryEngine | None = None


def engine() -> DeliveryEngine:
    """One engine per container: its connection pools outlive invocations."""
    global _engine
    if _engine is None:
        policy = EndpointPolicy.parse(settings().endpoint_allowlist)
        _engine = DeliveryEngine(endpoint_check=policy.check, address_check=policy.address_refusal)
    return _engine


def reset() -> None:
    """Forget per-container state (tests change settings between cases)."""
    global _engine
    if _engine is not None:
        _engine.close()
    _engine = None
    _credentials.clear()


@dataclass
class Attempt:
    """One claimed ticket on its way through an attempt."""

    ticket: Ticket
    lease_until: float
    token: token_store.TokenRecord | None = None
    message: StoredMessage | None = None
    request: PushRequest | None = None
    result: PushResult | None = None
    revokes_token: bool = False
    origin_host: str | None = None


@dataclass
class BatchReport:
    errored_tickets: set[str] = field(default_factory=set)


def retry_delay(attempt_number: int, retry_after: float | None, rng: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after attempt `attempt_number` (1-based) failed."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP)
    base = RETRY_DELAYS[min(attempt_number, len(RETRY_DELAYS)) - 1]
    return base * (1 + JITTER * (2 * rng() - 1))


def _parallel(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(WRITE_THREADS, len(items))) as pool:
        return list(pool.map(fn, items))


# --- SQS path -------------------------------------------------------------------------------


def handle_sqs(event: dict[str, Any]) -> dict[str, Any]:
    records = event.get("Records") or []
    wanted: list[tuple[str, bool]] = []
    record_tickets: dict[str, list[str]] = {}
    for record in records:
        try:
            batch = dispatch_queue.DispatchBatch.parse(record["body"])
        except (ValueError, KeyError, TypeError):
            # A body that never parses would only cycle to the dead-letter queue.
            logger.error("dispatch message unreadable; dropped", extra={"messageId": record.get("messageId")})
            continue
        record_tickets[record["messageId"]] = batch.ticket_ids
        wanted.extend((ticket_id, batch.swept) for ticket_id in batch.ticket_ids)

    report = deliver_tickets(wanted)

    failures = []
    max_receives = settings().dispatch_max_receives
    now = clock.now()
    for record in records:
        ids = record_tickets.get(record.get("messageId", ""), [])
        if not report.errored_tickets.intersection(ids):
            continue
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        if receives >= max_receives and _hand_to_sweep(ids, now):
            continue
        failures.append({"itemIdentifier": record["messageId"]})
    _flush_metrics()
    return {"batchItemFailures": failures}


def _hand_to_sweep(ticket_ids: Sequence[str], now: float) -> bool:
    """Last SQS receive: put still-queued tickets in the due index rather than the DLQ."""
    try:
        ticket_store.mark_due(ticket_ids, now)
    except Exception as exc:
        logger.error("could not hand tickets to the sweep", extra={"cause": type(exc).__name__})
        return False
    return True


def deliver_tickets(wanted: Sequence[tuple[str, bool]]) -> BatchReport:
    """Claim, deliver and record every ticket; infrastructure errors are reported, not raised."""
    report = BatchReport()
    now = clock.now()
    lease_until = now + LEASE_SECONDS
    unique = list(dict.fromkeys(wanted))

    def claim(item: tuple[str, bool]) -> Attempt | None:
        ticket_id, swept = item
        try:
            ticket = ticket_store.claim(ticket_id, now=now, lease_until=lease_until, swept=swept)
        except Exception as exc:
            logger.warning("claim failed", extra={"ticketId": ticket_id, "cause": type(exc).__name__})
            report.errored_tickets.add(ticket_id)
            return None
        return Attempt(ticket, lease_until) if ticket else None

    attempts = [a for a in _parallel(claim, unique) if a is not None]
    if not attempts:
        return report
    try:
        _prepare(attempts)
    except Exception as exc:
        # Lookups failed: leave the leases to expire; SQS redelivery (or the sweep) retries.
        logger.warning("dispatch lookups failed", extra={"cause": type(exc).__name__})
        report.errored_tickets.update(a.ticket.id for a in attempts)
        return report

    sending = [a for a in attempts if a.request is not None]
    results = engine().deliver_sync([a.request for a in sending if a.request is not None])
    for attempt, result in zip(sending, results, strict=True):
        attempt.result = result

    def settle(attempt: Attempt) -> None:
        try:
            _settle(attempt, clock.now())
        except Exception as exc:
            logger.warning(
                "recording outcome failed", extra={"ticketId": attempt.ticket.id, "cause": type(exc).__name__}
            )
            report.errored_tickets.add(attempt.ticket.id)

    _parallel(settle, attempts)
    retries = [a for a in attempts if a.ticket.status == "queued" and a.ticket.id not in report.errored_tickets]
    _reschedule_retries(retries, report)
    return report


def _prepare(attempts: list[Attempt]) -> None:
    """Look up messages, devices and credentials; build each push request or end the ticket."""
    messages: dict[str, StoredMessage | None] = {}
    for message_id in {a.ticket.message_id for a in attempts}:
        messages[message_id] = ticket_store.get_message(message_id)
    by_project: dict[str, list[Attempt]] = {}
    for a in attempts:
        by_project.setdefault(a.ticket.project_id, []).append(a)
    tokens: dict[tuple[str, str], token_store.TokenRecord] = {}
    for project_id, group in by_project.items():
        for ipt, record in token_store.get_many(project_id, [a.ticket.to for a in group]).items():
            tokens[(project_id, ipt)] = record

    now = clock.now()
    for a in attempts:
        a.message = messages.get(a.ticket.message_id)
        a.token = tokens.get((a.ticket.project_id, a.ticket.to))
        if a.token is None or a.token.revoked:
            _end(a, "DeviceNotRegistered", "the device was unregistered or revoked")
        elif a.token.provider != WEBPUSH:
            _end(a, "ProviderNotSupported", f"this service delivers webpush only, not {a.token.provider}")
        elif a.message is None:
            _end(a, "Expired", "the message is no longer stored")
        elif now > a.message.start_at + a.message.notification.ttl + EXPIRY_GRACE:
            _end(a, "Expired", "the message TTL elapsed before this attempt could run")
        else:
            try:
                credential = _credentials.get(a.ticket.project_id)
            except CredentialUnavailable as missing:
                _end(a, missing.outcome, "no usable webpush credential for this project")
                continue
            a.request = _push_request(a, credential, now)
            a.origin_host = urlsplit(a.token.endpoint).hostname


def _push_request(a: Attempt, credential: Any, now: float) -> PushRequest:
    assert a.token is not None and a.message is not None
    note = a.message.notification
    return PushRequest(
        key=a.ticket.id,
        endpoint=a.token.endpoint,
        p256dh=a.token.p256dh or "",
        auth=a.token.auth or "",
        payload=note.plaintext(a.ticket.id),
        # What is left of the message's TTL: a retry must not extend its life at the push service.
        ttl=max(0, math.ceil(a.message.start_at + note.ttl - now)),
        urgency=note.urgency,
        topic=topic_header(note.collapse_key) if note.collapse_key else None,
        vapid=VapidCredential(credential.public_key, credential.private_key, credential.contact),
    )


def _end(a: Attempt, outcome: str, error: str) -> None:
    a.result = PushResult(a.ticket.id, "failed", outcome, None, None, False, error)


def _settle(a: Attempt, now: float) -> None:
    """Decide the attempt's outcome; write it unless it is a retry (see `_reschedule_retries`)."""
    result = a.result
    assert result is not None
    attempt_number = a.ticket.retry_count + 1
    ticket = replace(a.ticket, provider_outcome=result.outcome, error=result.error)
    if result.disposition == "sent":
        ticket = replace(ticket, status="sent", sent_at=now, error=None)
        ticket_store.finish(ticket, lease_until=a.lease_until)
        if a.token is not None and a.token.bad_streak > 0:
            token_store.record_outcome(ticket.project_id, ticket.to, permanent_failure=False)
    elif result.disposition == "retry" and attempt_number < MAX_ATTEMPTS:
        delay = retry_delay(attempt_number, result.retry_after)
        assert a.message is not None
        if now + delay > a.message.start_at + a.message.notification.ttl:
            ticket = replace(
                ticket,
                status="failed",
                provider_outcome="Expired",
                error=f"{result.outcome}; TTL ends before the next attempt",
            )
            ticket_store.finish(ticket, lease_until=a.lease_until)
        else:
            a.ticket = replace(ticket, retry_count=attempt_number, next_attempt_at=now + delay)
            return
    else:
        ticket = replace(ticket, status="failed")
        ticket_store.finish(ticket, lease_until=a.lease_until)
        if result.revokes:
            a.revokes_token = token_store.record_outcome(ticket.project_id, ticket.to, permanent_failure=True)
    a.ticket = ticket
    _observe(a, attempt_number, result)


def _observe(a: Attempt, attempt_number: int, result: PushResult) -> None:
    status = a.ticket.status
    logger.info(
        "push attempt",
        extra={
            "ticketId": a.ticket.id,
            "projectId": a.ticket.project_id,
            "device": a.ticket.to,
            "attempt": attempt_number,
            "status": status,
            "outcome": a.ticket.provider_outcome,
            "httpStatus": result.status,
            "pushHost": a.origin_host,
            "nextAttemptAt": a.ticket.next_attempt_at if status == "queued" else None,
        },
    )
    names = {"sent": ["Sent"], "failed": ["Failed", f"Failed_{a.ticket.provider_outcome}"]}.get(status, ["Retried"])
    if a.revokes_token:
        names.append("Revoked")
    with _counts_lock:
        _counts.update(names)


def _flush_metrics() -> None:
    """One EMF document per invocation, each metric a count (not one value per ticket)."""
    with _counts_lock:
        counts = dict(_counts)
        _counts.clear()
    for name, value in sorted(counts.items()):
        metrics().add_metric(name=name, unit=MetricUnit.Count, value=value)
    if metrics().metric_set:
        metrics().flush_metrics()


def _reschedule_retries(retries: Sequence[Attempt], report: BatchReport) -> None:
    """Put retries due within 15 minutes on SQS, then record every retry under its lease.

    The message goes out before the write: if SQS refuses, the same write puts
    the ticket in the due index instead; if the write fails, the ticket keeps
    its lease and the original record, reported failed, brings it back.
    """
    now = clock.now()
    groups: dict[tuple[str, int], list[Attempt]] = {}
    for a in retries:
        assert a.ticket.next_attempt_at is not None
        delay = a.ticket.next_attempt_at - now
        if delay <= SQS_MAX_DELAY:
            groups.setdefault((a.ticket.project_id, max(0, math.ceil(delay))), []).append(a)
    on_sqs: set[str] = set()
    batches = [
        b
        for (project_id, delay), group in groups.items()
        for b in dispatch_queue.batches(project_id, [a.ticket.id for a in group], delay)
    ]
    if batches:
        try:
            refused = dispatch_queue.enqueue(batches)
        except Exception as exc:
            logger.warning("retry enqueue failed; tickets handed to the sweep", extra={"cause": type(exc).__name__})
            refused = batches
        refused_ids = {i for b in refused for i in b.ticket_ids}
        on_sqs = {i for b in batches for i in b.ticket_ids} - refused_ids

    def write(a: Attempt) -> None:
        try:
            ticket_store.reschedule(a.ticket, lease_until=a.lease_until, via_index=a.ticket.id not in on_sqs)
        except Exception as exc:
            logger.warning("recording retry failed", extra={"ticketId": a.ticket.id, "cause": type(exc).__name__})
            report.errored_tickets.add(a.ticket.id)
            return
        assert a.result is not None
        _observe(a, a.ticket.retry_count, a.result)

    _parallel(write, retries)


# --- sweep ------------------------------------------------------------------------------------


def sweep(now: float | None = None) -> dict[str, int]:
    """Enqueue every due ticket of the index; never raises."""
    now = clock.now() if now is None else now
    enqueued = failed_shards = 0
    for shard in (format(n, "x") for n in range(SWEEP_SHARDS)):
        try:
            ids = ticket_store.due_ticket_ids(shard, now, SWEEP_LIMIT_PER_SHARD)
            if ids:
                refused = dispatch_queue.enqueue(dispatch_queue.batches("", ids, swept=True))
                if refused:
                    raise RuntimeError(f"SQS refused {len(refused)} of {len(ids)} messages")
                enqueued += len(ids)
        except Exception as exc:
            failed_shards += 1
            logger.error("push dispatch sweep failed", extra={"shard": shard, "cause": f"{type(exc).__name__}: {exc}"})
    if enqueued:
        with _counts_lock:
            _counts["Swept"] += enqueued
    _flush_metrics()
    return {"enqueued": enqueued, "failedShards": failed_shards}


def is_sweep_event(event: dict[str, Any]) -> bool:
    return "Records" not in event


def handle(event: dict[str, Any]) -> dict[str, Any]:
    """The dispatch Lambda: an SQS batch, or the EventBridge schedule's tick."""
    if is_sweep_event(event):
        return sweep()
    return handle_sqs(event)
