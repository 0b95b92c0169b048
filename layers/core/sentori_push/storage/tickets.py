"""Tickets table: tickets (`send_…`) and the messages they carry (`msg_…`).

Key design:
- `id` (S) is the only key. A send writes one message item holding the
  notification once, and one small ticket item per device that refers to it,
  so every ticket write stays a single write unit whatever the payload size.
- Sparse GSI `DueIndex` (`dueShard` S, `dueAt` N epoch ms), keys only: a ticket
  carries these two attributes only while the sweep must find it (enqueue
  failed, a retry beyond SQS's 15-minute delay, a future `sendAt`, a last SQS
  receive). `dueShard` is one of 16 values so a burst spreads over partitions.
- `expiresAt` (N epoch s) is the TTL attribute.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sentori_push.message import Notification
from sentori_push.storage.aws import aws_errors, batch_get, batch_put, client, error_code, table
from sentori_push.tickets import Ticket, expires_at, sweep_shard

DUE_INDEX = "DueIndex"


def _ms(value: float) -> dict[str, str]:
    return {"N": str(int(value * 1000))}


def _seconds(attribute: dict[str, Any] | None) -> float | None:
    return int(attribute["N"]) / 1000 if attribute else None


def ticket_item(ticket: Ticket) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": {"S": ticket.id},
        "projectId": {"S": ticket.project_id},
        "to": {"S": ticket.to},
        "msgId": {"S": ticket.message_id},
        "status": {"S": ticket.status},
        "retryCount": {"N": str(ticket.retry_count)},
        "createdAt": _ms(ticket.created_at),
        "expiresAt": {"N": str(expires_at(ticket.status, ticket.sent_at or ticket.created_at))},
    }
    if ticket.provider_outcome is not None:
        item["providerOutcome"] = {"S": ticket.provider_outcome}
    if ticket.error is not None:
        item["error"] = {"S": ticket.error}
    if ticket.next_attempt_at is not None:
        item["nextAttemptAt"] = _ms(ticket.next_attempt_at)
    if ticket.sent_at is not None:
        item["sentAt"] = _ms(ticket.sent_at)
    if ticket.due_at is not None:
        item["dueShard"] = {"S": sweep_shard(ticket.id)}
        item["dueAt"] = _ms(ticket.due_at)
    return item


def ticket_from_item(item: dict[str, Any]) -> Ticket:
    return Ticket(
        id=item["id"]["S"],
        project_id=item["projectId"]["S"],
        to=item["to"]["S"],
        message_id=item["msgId"]["S"],
        status=item["status"]["S"],
        provider_outcome=item.get("providerOutcome", {}).get("S"),
        error=item.get("error", {}).get("S"),
        retry_count=int(item["retryCount"]["N"]),
        next_attempt_at=_seconds(item.get("nextAttemptAt")),
        created_at=_seconds(item["createdAt"]) or 0.0,
        sent_at=_seconds(item.get("sentAt")),
        due_at=_seconds(item.get("dueAt")),
    )


def message_item(
    message_id: str, project_id: str, notification: Notification, created_at: float, start_at: float
) -> dict[str, Any]:
    return {
        "id": {"S": message_id},
        "projectId": {"S": project_id},
        "notification": {"S": notification.to_json()},
        "createdAt": _ms(created_at),
        # When delivery may begin (a future sendAt): the message TTL counts from here.
        "startAt": _ms(start_at),
        # Outlives every ticket that refers to it.
        "expiresAt": {"N": str(expires_at("failed", start_at) + notification.ttl)},
    }


def put_send(
    project_id: str,
    message_id: str,
    notification: Notification,
    tickets: Sequence[Ticket],
    created_at: float,
    start_at: float,
) -> None:
    """Write the message and its tickets (batched)."""
    items = [message_item(message_id, project_id, notification, created_at, start_at)]
    items.extend(ticket_item(t) for t in tickets)
    batch_put(table("tickets_table"), items)


def get_many(ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Raw items by id (tickets or messages)."""
    keys = [{"id": {"S": i}} for i in dict.fromkeys(ids)]
    return {item["id"]["S"]: item for item in batch_get(table("tickets_table"), keys)}


def get_tickets(project_id: str, ids: Iterable[str]) -> dict[str, Ticket]:
    """Tickets of this project only; another project's look unknown."""
    return {
        i: ticket_from_item(item)
        for i, item in get_many(ids).items()
        if item["projectId"]["S"] == project_id and i.startswith("send_")
    }


@dataclass(frozen=True)
class StoredMessage:
    notification: Notification
    start_at: float


def get_message(message_id: str) -> StoredMessage | None:
    with aws_errors():
        item = (
            client("dynamodb")
            .get_item(
                TableName=table("tickets_table"),
                Key={"id": {"S": message_id}},
                ProjectionExpression="notification, startAt, createdAt",
            )
            .get("Item")
        )
    if not item:
        return None
    start = _seconds(item.get("startAt")) or _seconds(item.get("createdAt")) or 0.0
    return StoredMessage(Notification.from_json(item["notification"]["S"]), start)


def mark_due(ticket_ids: Sequence[str], due_at: float) -> None:
    """Put queued, unleased tickets into the sweep's index (when SQS cannot carry them)."""
    dynamodb = client("dynamodb")
    for ticket_id in ticket_ids:
        try:
            with aws_errors():
                dynamodb.update_item(
                    TableName=table("tickets_table"),
                    Key={"id": {"S": ticket_id}},
                    UpdateExpression="SET dueShard = :s, dueAt = :d",
                    ConditionExpression="#st = :q",
                    ExpressionAttributeNames={"#st": "status"},
                    ExpressionAttributeValues={
                        ":s": {"S": sweep_shard(ticket_id)},
                        ":d": _ms(due_at),
                        ":q": {"S": "queued"},
                    },
                )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise


# --- dispatch: claim, outcome, reschedule, sweep ---------------------------------


def _conditional(ticket_id: str, **kwargs: Any) -> dict[str, Any] | None:
    """One conditional UpdateItem; None when the condition does not hold."""
    try:
        with aws_errors():
            answer = client("dynamodb").update_item(
                TableName=table("tickets_table"), Key={"id": {"S": ticket_id}}, **kwargs
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return None
        raise
    return dict(answer.get("Attributes") or {"id": {"S": ticket_id}})


def claim(ticket_id: str, *, now: float, lease_until: float, swept: bool) -> Ticket | None:
    """Lease a queued, due ticket to this worker; None if it is not ours to deliver.

    A ticket found by the sweep also moves its due time to the lease's end, so
    the next sweep skips it while the lease holds and finds it again if this
    worker dies. Fast-path tickets stay out of the index: SQS redelivery
    (visibility timeout > lease) recovers them.
    """
    update = "SET leaseUntil = :lease" + (", dueAt = :lease" if swept else "")
    condition = (
        "#st = :queued AND (attribute_not_exists(leaseUntil) OR leaseUntil < :now)"
        " AND (attribute_not_exists(nextAttemptAt) OR nextAttemptAt <= :soon)"
    )
    if swept:
        condition += " AND attribute_exists(dueAt)"
    item = _conditional(
        ticket_id,
        UpdateExpression=update,
        ConditionExpression=condition,
        ExpressionAttributeNames={"#st": "status"},
        ExpressionAttributeValues={
            ":lease": _ms(lease_until),
            ":queued": {"S": "queued"},
            ":now": _ms(now),
            # SQS delays and clocks are not exact: a message a little early still counts.
            ":soon": _ms(now + 2),
        },
        ReturnValues="ALL_NEW",
    )
    return ticket_from_item(item) if item else None


def finish(ticket: Ticket, *, lease_until: float) -> bool:
    """Record a final outcome (sent or failed), if this worker still holds the lease."""
    values: dict[str, Any] = {
        ":st": {"S": ticket.status},
        ":outcome": {"S": ticket.provider_outcome or ""},
        ":rc": {"N": str(ticket.retry_count)},
        ":exp": {"N": str(expires_at(ticket.status, ticket.sent_at or ticket.created_at))},
        ":lease": _ms(lease_until),
    }
    sets = ["#st = :st", "providerOutcome = :outcome", "retryCount = :rc", "expiresAt = :exp"]
    removes = ["leaseUntil", "dueShard", "dueAt", "nextAttemptAt"]
    if ticket.sent_at is not None:
        sets.append("sentAt = :sent")
        values[":sent"] = _ms(ticket.sent_at)
    if ticket.error:
        sets.append("#err = :err")
        values[":err"] = {"S": ticket.error}
    else:
        removes.append("#err")
    return (
        _conditional(
            ticket.id,
            UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            ConditionExpression="leaseUntil = :lease",
            ExpressionAttributeNames={"#st": "status", "#err": "error"},
            ExpressionAttributeValues=values,
        )
        is not None
    )


def reschedule(ticket: Ticket, *, lease_until: float, via_index: bool) -> bool:
    """Keep the ticket queued for its next attempt; it shows the last attempt's outcome."""
    assert ticket.next_attempt_at is not None
    values: dict[str, Any] = {
        ":outcome": {"S": ticket.provider_outcome or ""},
        ":err": {"S": ticket.error or ""},
        ":rc": {"N": str(ticket.retry_count)},
        ":next": _ms(ticket.next_attempt_at),
        ":lease": _ms(lease_until),
    }
    sets = ["providerOutcome = :outcome", "#err = :err", "retryCount = :rc", "nextAttemptAt = :next"]
    removes = ["leaseUntil"]
    if via_index:
        sets += ["dueShard = :shard", "dueAt = :next"]
        values[":shard"] = {"S": sweep_shard(ticket.id)}
    else:
        removes += ["dueShard", "dueAt"]
    return (
        _conditional(
            ticket.id,
            UpdateExpression=f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            ConditionExpression="leaseUntil = :lease",
            ExpressionAttributeNames={"#err": "error"},
            ExpressionAttributeValues=values,
        )
        is not None
    )


def due_ticket_ids(shard: str, now: float, limit: int) -> list[str]:
    """Ids of tickets in one shard of the due index whose time has come."""
    ids: list[str] = []
    kwargs: dict[str, Any] = {
        "TableName": table("tickets_table"),
        "IndexName": DUE_INDEX,
        "KeyConditionExpression": "dueShard = :s AND dueAt <= :now",
        "ExpressionAttributeValues": {":s": {"S": shard}, ":now": _ms(now)},
    }
    while len(ids) < limit:
        with aws_errors():
            page = client("dynamodb").query(**kwargs)
        ids.extend(item["id"]["S"] for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return ids[:limit]
