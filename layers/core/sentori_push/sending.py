"""POST /v1/push/send: validate, resolve the audience, write tickets, enqueue.

Order of work, chosen so that nothing is lost or half-written:
1. validate everything (shape, recipient count, payload size) and resolve the
   audience: a rejected request writes nothing;
2. claim the idempotency record (when a key is given) holding the ids of the
   tickets about to be written: a concurrent twin returns those tickets;
3. write the message and its tickets (batched);
4. put the queued ticket ids on SQS (batched); if SQS refuses, the tickets go
   into the sweep's due index instead, and the request still succeeds.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictStr

from sentori_push import clock
from sentori_push.api import parse_model
from sentori_push.errors import (
    AudienceTooLarge,
    BatchTooLarge,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
    PayloadTooBig,
)
from sentori_push.message import MAX_ENCRYPTED_BYTES, Notification, encrypted_size
from sentori_push.observability import logger
from sentori_push.providers import WEBPUSH
from sentori_push.storage import idempotency
from sentori_push.storage import queue as dispatch_queue
from sentori_push.storage import tickets as ticket_store
from sentori_push.storage import tokens as token_store
from sentori_push.tickets import Ticket, is_ticket_id, new_message_id, new_ticket_id
from sentori_push.tokens import is_handle, normalize_topic

MAX_RECIPIENTS = 100
MAX_AUDIENCE = 1000
MAX_RECEIPT_IDS = 1000
MAX_TTL = 2_419_200
IDEMPOTENCY_WINDOW = 24 * 3600
SQS_MAX_DELAY = dispatch_queue.MAX_DELAY_SECONDS


class SendOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Literal["normal", "high"] | None = None
    ttl: int = Field(3600, ge=0, le=MAX_TTL, strict=True)
    collapseKey: StrictStr | None = Field(None, min_length=1, max_length=256)


class TopicTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    topic: StrictStr = Field(min_length=1)


class LinkTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    linkHash: StrictStr = Field(min_length=1, max_length=128)


class SendRequest(BaseModel):
    """The body of POST /v1/push/send (NativeMessage)."""

    model_config = ConfigDict(extra="forbid")

    to: StrictStr | list[StrictStr] | TopicTarget | LinkTarget
    title: StrictStr | None = None
    body: StrictStr | None = None
    data: dict[str, Any] | None = None
    options: SendOptions = Field(default_factory=SendOptions)
    idempotencyKey: StrictStr | None = Field(None, min_length=1, max_length=256)
    sendAt: AwareDatetime | None = None


class ReceiptsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[StrictStr] = Field(max_length=MAX_RECEIPT_IDS)


def parse_send(raw: Any) -> SendRequest:
    if isinstance(raw, dict) and isinstance(raw.get("to"), list) and len(raw["to"]) > MAX_RECIPIENTS:
        raise BatchTooLarge(len(raw["to"]), MAX_RECIPIENTS)
    request = parse_model(SendRequest, raw)
    if isinstance(request.to, list):
        if not request.to:
            raise InvalidRequest("`to` names no recipient", [{"field": "to", "problem": "empty list"}])
        bad = [
            {"field": f"to.{n}", "problem": "not a device handle ipt_<32 hex>"}
            for n, h in enumerate(request.to)
            if not is_handle(h)
        ]
        if bad:
            raise InvalidRequest("`to` holds a malformed device handle", bad)
    elif isinstance(request.to, str):
        target = _target_of(request.to)
        if target is None:
            raise InvalidRequest(
                "`to` must be a device handle, user:<linkHash> or topic:<name>",
                [{"field": "to", "problem": "unrecognised target"}],
            )
        kind, value = target
        if kind == "link":
            request.to = parse_model(LinkTarget, {"linkHash": value})
        elif kind == "topic":
            request.to = TopicTarget(topic=normalize_topic(value))
    if isinstance(request.to, TopicTarget):
        request.to = TopicTarget(topic=normalize_topic(request.to.topic))
    return request


def _target_of(to: str) -> tuple[str, str] | None:
    if is_handle(to):
        return ("handle", to)
    for prefix, kind in (("user:", "link"), ("topic:", "topic")):
        if to.startswith(prefix) and to[len(prefix) :].strip():
            return (kind, to[len(prefix) :])
    return None


def notification_of(request: SendRequest) -> Notification:
    notification = Notification(
        title=request.title,
        body=request.body,
        data=request.data,
        ttl=request.options.ttl,
        priority=request.options.priority,
        collapse_key=request.options.collapseKey,
    )
    size = encrypted_size(notification.plaintext(new_ticket_id()))
    if size > MAX_ENCRYPTED_BYTES:
        raise PayloadTooBig(size, MAX_ENCRYPTED_BYTES)
    return notification


def fingerprint(request: SendRequest) -> str:
    """What makes two sends 'the same message' for idempotency."""
    content = request.model_dump(mode="json", exclude={"idempotencyKey"})
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _resolve(project_id: str, request: SendRequest) -> list[tuple[str, token_store.TokenRecord | None]]:
    """(handle, record or None) per recipient, in request order, duplicates dropped."""
    to = [request.to] if isinstance(request.to, str) else request.to  # a single handle, after parse_send
    if isinstance(to, list):
        handles = list(dict.fromkeys(to))
        records = token_store.get_many(project_id, handles)
        return [(h, records.get(h)) for h in handles]
    if isinstance(to, TopicTarget):
        devices = token_store.active_for_topic(project_id, to.topic, MAX_AUDIENCE + 1)
    else:
        devices = token_store.active_for_link(project_id, to.linkHash, MAX_AUDIENCE + 1)
    if len(devices) > MAX_AUDIENCE:
        raise AudienceTooLarge(len(devices), MAX_AUDIENCE)
    return [(d.ipt, d) for d in devices]


def _ticket_for(
    project_id: str, message_id: str, handle: str, record: token_store.TokenRecord | None, now: float, due: float
) -> Ticket:
    ticket = Ticket(new_ticket_id(), project_id, handle, message_id, created_at=now)
    if record is None or record.revoked:
        ticket.status, ticket.provider_outcome = "failed", "DeviceNotRegistered"
        ticket.error = "the device handle is unknown or unregistered"
    elif record.provider != WEBPUSH:
        ticket.status, ticket.provider_outcome = "failed", "ProviderNotSupported"
        ticket.error = f"this service delivers webpush only, not {record.provider}"
    else:
        ticket.next_attempt_at = due
    return ticket


def _original_tickets(project_id: str, ids: list[str]) -> list[Ticket]:
    """The tickets of an earlier identical send; a twin still writing them gets a moment."""
    found: dict[str, Ticket] = {}
    for attempt in range(10):
        found.update(ticket_store.get_tickets(project_id, [i for i in ids if i not in found]))
        if len(found) == len(ids):
            break
        time.sleep(0.05 * (attempt + 1))  # 2.75 s in all: a twin writes its tickets in milliseconds
    return [found[i] for i in ids if i in found]


def send(project_id: str, raw: Any, idempotency_header: str | None = None) -> dict[str, Any]:
    """`idempotency_header` is the Idempotency-Key header, an alternative to the body field."""
    if idempotency_header is not None and isinstance(raw, dict):
        in_body = raw.get("idempotencyKey")
        if in_body is not None and in_body != idempotency_header:
            raise InvalidRequest(
                "the Idempotency-Key header and the body's idempotencyKey differ",
                [{"field": "idempotencyKey", "problem": "differs from the Idempotency-Key header"}],
            )
        raw = {**raw, "idempotencyKey": idempotency_header}
    request = parse_send(raw)
    notification = notification_of(request)
    recipients = _resolve(project_id, request)

    now = clock.now()
    due = max(now, request.sendAt.timestamp()) if request.sendAt else now
    message_id = new_message_id()
    tickets = [_ticket_for(project_id, message_id, h, r, now, due) for h, r in recipients]

    if request.idempotencyKey is not None:
        record = idempotency.IdempotencyRecord(fingerprint(request), [t.id for t in tickets])
        existing = idempotency.claim(project_id, request.idempotencyKey, record, now, IDEMPOTENCY_WINDOW)
        if existing is not None:
            if existing.fingerprint != record.fingerprint:
                raise IdempotencyKeyReused()
            return {"tickets": [t.view() for t in _original_tickets(project_id, existing.ticket_ids)]}

    queued = [t for t in tickets if t.status == "queued"]
    delay = due - now
    if delay > SQS_MAX_DELAY:
        for t in queued:
            t.due_at = due  # beyond SQS's reach: the sweep enqueues it when due
    if tickets:
        try:
            ticket_store.put_send(project_id, message_id, notification, tickets, now, due)
        except Exception:
            if request.idempotencyKey is not None:
                idempotency.release(project_id, request.idempotencyKey, fingerprint(request))
            raise
    if queued and delay <= SQS_MAX_DELAY:
        _enqueue(project_id, [t.id for t in queued], math.ceil(delay), due)
    return {"tickets": [t.view() for t in tickets]}


def _enqueue(project_id: str, ticket_ids: list[str], delay_seconds: int, due: float) -> None:
    try:
        refused = dispatch_queue.enqueue(dispatch_queue.batches(project_id, ticket_ids, delay_seconds))
    except Exception as exc:  # SQS unreachable: every ticket goes to the sweep
        logger.warning("dispatch enqueue failed; tickets handed to the sweep", extra={"cause": type(exc).__name__})
        refused = dispatch_queue.batches(project_id, ticket_ids, delay_seconds)
    for batch in refused:
        ticket_store.mark_due(batch.ticket_ids, due)


def receipt(project_id: str, send_id: str) -> dict[str, Any]:
    found = ticket_store.get_tickets(project_id, [send_id]) if is_ticket_id(send_id) else {}
    if send_id not in found:
        raise NotFound("ticket")
    return {"ticket": found[send_id].view()}


def receipts(project_id: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict) and isinstance(raw.get("ids"), list) and len(raw["ids"]) > MAX_RECEIPT_IDS:
        raise InvalidRequest(
            f"ask for at most {MAX_RECEIPT_IDS} ids at once",
            [{"field": "ids", "problem": f"{len(raw['ids'])} ids; the limit is {MAX_RECEIPT_IDS}"}],
        )
    request = parse_model(ReceiptsRequest, raw)
    wanted = [i for i in request.ids if is_ticket_id(i)]
    found = ticket_store.get_tickets(project_id, wanted)
    return {"tickets": {i: t.view() for i, t in found.items()}}
