"""Idempotency records: scope (project, key), 24 h.

The record is claimed with one conditional put before any ticket is written.
It holds the message fingerprint and the ticket ids reserved for the send, so
two concurrent identical requests produce one set of tickets: the loser reads
the winner's ids and returns those tickets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sentori_push.storage.aws import aws_errors, client, error_code, table


@dataclass(frozen=True)
class IdempotencyRecord:
    fingerprint: str
    ticket_ids: list[str]


def _pk(project_id: str, key: str) -> dict[str, str]:
    return {"S": f"{project_id}#{key}"}


def claim(project_id: str, key: str, record: IdempotencyRecord, now: float, window: int) -> IdempotencyRecord | None:
    """Store `record` unless a live one exists; return the existing one if so."""
    item = {
        "pk": _pk(project_id, key),
        "fingerprint": {"S": record.fingerprint},
        "ticketIds": {"L": [{"S": i} for i in record.ticket_ids]},
        "expiresAt": {"N": str(int(now + window))},
    }
    try:
        with aws_errors():
            client("dynamodb").put_item(
                TableName=table("idempotency_table"),
                Item=item,
                # DynamoDB's TTL deletes lazily: an expired record is free to reuse.
                ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now",
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
        response: dict[str, Any] = dict(exc.response)
        old: dict[str, Any] = response.get("Item") or {}
        if not old:
            with aws_errors():
                old = (
                    client("dynamodb")
                    .get_item(
                        TableName=table("idempotency_table"), Key={"pk": _pk(project_id, key)}, ConsistentRead=True
                    )
                    .get("Item", {})
                )
        return IdempotencyRecord(old["fingerprint"]["S"], [v["S"] for v in old.get("ticketIds", {}).get("L", [])])
    return None


def release(project_id: str, key: str, fingerprint: str) -> None:
    """Drop a claim whose send failed before its tickets were written, so a retry starts afresh."""
    try:
        with aws_errors():
            client("dynamodb").delete_item(
                TableName=table("idempotency_table"),
                Key={"pk": _pk(project_id, key)},
                ConditionExpression="fingerprint = :f",
                ExpressionAttributeValues={":f": {"S": fingerprint}},
            )
    except ClientError as exc:
        if error_code(exc) != "ConditionalCheckFailedException":
            raise
