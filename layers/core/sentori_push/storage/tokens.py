"""Tokens table: device tokens, their endpoint lookups and topic memberships.

One table, string keys `pk` + `sk`, three kinds of item:

- token       pk=`token#<projectId>#<ipt>`   sk=`token`
              projectId, ipt, provider, endpoint (for non-webpush providers: the
              native token as given), p256dh, auth, expirationTime, linkHash,
              metadata (JSON text), createdAt, updatedAt, revoked, revokedAt,
              revokedReason, badStreak, and `linkKey` (below).
              The project is part of the key, so a handle read with another
              project's id is simply absent: no check to forget.
- lookup      pk=`endpoint#<projectId>#<provider>#<sha256 hex(endpoint)>`  sk=`lookup`
              ipt. The upsert key of a registration. It is written with
              `SET ipt = if_not_exists(ipt, :new)`, so of two concurrent first
              registrations exactly one handle wins and both read it back.
- membership  pk=`topic#<projectId>#<topic>` sk=`<ipt>`
              Subscribing writes it (twice is harmless), unsubscribing deletes it.
              Memberships outlive a revocation: resolving a topic reads the
              tokens and drops revoked ones, and a revived token is back in its
              topics.

Index `ByLink` (partition key `linkKey` = `<projectId>#<linkHash>`) is sparse:
only active tokens with a linkHash carry `linkKey`; every revocation removes it
and a registration sets it again. It projects the attributes of a
`TokenRecord` and not `metadata`, so it costs no index write when metadata
changes.

A registration is two UpdateItem calls (lookup, then token upsert), whether the
device is new or known: cheaper than a transaction (billed twice) and safe in
any interleaving, because the handle comes from the lookup alone and the token
upsert is idempotent. A crash between the two leaves a lookup whose token item
is missing; no handle was returned yet, and the next registration writes it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from sentori_push import clock
from sentori_push.storage.aws import BATCH_GET_MAX, aws_errors, batch_get, client, error_code, table

REVOKE_AFTER = 3  # consecutive permanent failures
LINK_INDEX = "ByLink"
_N0 = {"N": "0"}
_N1 = {"N": "1"}
_LAST = {"N": str(REVOKE_AFTER - 1)}

# Attributes a TokenRecord is built from (and the ones ByLink projects).
_RECORD_ATTRIBUTES = ("projectId", "ipt", "provider", "endpoint", "p256dh", "auth", "linkHash", "revoked", "badStreak")
_PROJECTION = ", ".join(f"#{name}" for name in _RECORD_ATTRIBUTES)
_PROJECTION_NAMES = {f"#{name}": name for name in _RECORD_ATTRIBUTES}


@dataclass(frozen=True)
class TokenRecord:
    ipt: str
    project_id: str
    provider: str
    endpoint: str
    p256dh: str | None
    auth: str | None
    link_hash: str | None
    revoked: bool
    bad_streak: int


@dataclass(frozen=True)
class Registration:
    """What a registration stores; `endpoint` is the upsert key within (project, provider)."""

    project_id: str
    provider: str
    endpoint: str
    p256dh: str | None
    auth: str | None
    expiration_time: int | None
    link_hash: str | None
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class Registered:
    ipt: str
    created_at: str
    updated_at: str


def token_key(project_id: str, ipt: str) -> dict[str, Any]:
    return {"pk": {"S": f"token#{project_id}#{ipt}"}, "sk": {"S": "token"}}


def lookup_key(project_id: str, provider: str, endpoint: str) -> dict[str, Any]:
    digest = hashlib.sha256(endpoint.encode()).hexdigest()
    return {"pk": {"S": f"endpoint#{project_id}#{provider}#{digest}"}, "sk": {"S": "lookup"}}


def membership_key(project_id: str, topic: str, ipt: str) -> dict[str, Any]:
    return {"pk": {"S": f"topic#{project_id}#{topic}"}, "sk": {"S": ipt}}


def _link_key(project_id: str, link_hash: str) -> str:
    return f"{project_id}#{link_hash}"


def _optional(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if value else None


def _record(item: dict[str, Any]) -> TokenRecord:
    return TokenRecord(
        ipt=item["ipt"]["S"],
        project_id=item["projectId"]["S"],
        provider=item["provider"]["S"],
        endpoint=item["endpoint"]["S"],
        p256dh=_optional(item, "p256dh"),
        auth=_optional(item, "auth"),
        link_hash=_optional(item, "linkHash"),
        revoked=bool(item.get("revoked", {}).get("BOOL", False)),
        bad_streak=int(item.get("badStreak", {}).get("N", "0")),
    )


def _is_condition_failure(exc: ClientError) -> bool:
    return error_code(exc) == "ConditionalCheckFailedException"


_NAME = re.compile(r"#([A-Za-z]+)")


def _names(*expressions: str) -> dict[str, str]:
    """`#attr` placeholders for every attribute an expression names: no reserved-word surprises."""
    return {f"#{name}": name for text in expressions for name in _NAME.findall(text)}


def _conditional_update(project_id: str, ipt: str, update: str, condition: str, values: dict[str, Any]) -> bool:
    """One conditional UpdateItem on a token item; False when the condition does not hold."""
    try:
        with aws_errors():
            client("dynamodb").update_item(
                TableName=table("tokens_table"),
                Key=token_key(project_id, ipt),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update, condition),
                ExpressionAttributeValues=values,
            )
    except ClientError as exc:
        if _is_condition_failure(exc):
            return False
        raise
    return True


# --- registration ----------------------------------------------------------------------------------------------------


def claim_handle(project_id: str, provider: str, endpoint: str, candidate: str) -> str:
    """The handle of (project, provider, endpoint): the existing one, else `candidate`. One UpdateItem."""
    with aws_errors():
        result = client("dynamodb").update_item(
            TableName=table("tokens_table"),
            Key=lookup_key(project_id, provider, endpoint),
            UpdateExpression="SET #ipt = if_not_exists(#ipt, :candidate)",
            ExpressionAttributeNames={"#ipt": "ipt"},
            ExpressionAttributeValues={":candidate": {"S": candidate}},
            ReturnValues="ALL_NEW",
        )
    return str(result["Attributes"]["ipt"]["S"])


def upsert_token(ipt: str, registration: Registration, now: str) -> Registered:
    """Create or replace the token item: keys, metadata and linkHash replaced, revocation and streak cleared."""
    r = registration
    sets = {
        "projectId": {"S": r.project_id},
        "ipt": {"S": ipt},
        "provider": {"S": r.provider},
        "endpoint": {"S": r.endpoint},
        "updatedAt": {"S": now},
        "revoked": {"BOOL": False},
        "badStreak": {"N": "0"},
    }
    optional: dict[str, dict[str, Any] | None] = {
        "p256dh": {"S": r.p256dh} if r.p256dh else None,
        "auth": {"S": r.auth} if r.auth else None,
        "expirationTime": {"N": str(r.expiration_time)} if r.expiration_time is not None else None,
        "linkHash": {"S": r.link_hash} if r.link_hash else None,
        "linkKey": {"S": _link_key(r.project_id, r.link_hash)} if r.link_hash else None,
        "metadata": (
            {"S": json.dumps(r.metadata, separators=(",", ":"), ensure_ascii=False)} if r.metadata is not None else None
        ),
    }
    removes = [name for name, value in optional.items() if value is None] + ["revokedAt", "revokedReason"]
    sets.update({name: value for name, value in optional.items() if value is not None})
    names = {f"#{name}": name for name in [*sets, *removes, "createdAt"]}
    values = {f":{name}": value for name, value in sets.items()}
    values[":now"] = {"S": now}
    expression = "SET " + ", ".join(f"#{name} = :{name}" for name in sets)
    expression += ", #createdAt = if_not_exists(#createdAt, :now) REMOVE " + ", ".join(f"#{n}" for n in removes)
    with aws_errors():
        result = client("dynamodb").update_item(
            TableName=table("tokens_table"),
            Key=token_key(r.project_id, ipt),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    attributes = result["Attributes"]
    return Registered(ipt, attributes["createdAt"]["S"], attributes["updatedAt"]["S"])


# --- revocation ------------------------------------------------------------------------------------------------------


def revoke(project_id: str, ipt: str, *, reason: str, now: str) -> bool:
    """Mark an active token revoked; False when it is unknown (in this project) or already revoked."""
    return _conditional_update(
        project_id,
        ipt,
        "SET #revoked = :t, #revokedAt = :now, #revokedReason = :reason REMOVE #linkKey",
        "attribute_exists(#pk) AND #revoked = :f",
        {":t": {"BOOL": True}, ":f": {"BOOL": False}, ":now": {"S": now}, ":reason": {"S": reason}},
    )


def record_outcome(project_id: str, ipt: str, *, permanent_failure: bool) -> bool:
    """Count a delivery outcome toward revocation; True when this call revoked the token.

    A permanent failure below the threshold is one conditional UpdateItem that
    increments the streak; the failure that reaches it is a second conditional
    UpdateItem that increments and revokes, so exactly one caller sees True
    however many workers report at once. A success resets the streak (one
    conditional UpdateItem that writes only when there is a streak to reset;
    callers holding a record with bad_streak == 0 may skip it).
    """
    if not permanent_failure:
        _conditional_update(
            project_id, ipt, "SET #badStreak = :zero", "attribute_exists(#pk) AND #badStreak > :zero", {":zero": _N0}
        )
        return False
    # A success can land between the two steps and make the second miss; then go round again.
    for _ in range(3):
        if _conditional_update(
            project_id,
            ipt,
            "SET #badStreak = if_not_exists(#badStreak, :zero) + :one",
            "attribute_exists(#pk) AND #revoked = :f AND (attribute_not_exists(#badStreak) OR #badStreak < :last)",
            {":zero": _N0, ":one": _N1, ":f": {"BOOL": False}, ":last": _LAST},
        ):
            return False
        if _conditional_update(
            project_id,
            ipt,
            "SET #badStreak = #badStreak + :one, #revoked = :t, #revokedAt = :now, #revokedReason = :reason "
            "REMOVE #linkKey",
            "attribute_exists(#pk) AND #revoked = :f AND #badStreak >= :last",
            {
                ":one": _N1,
                ":t": {"BOOL": True},
                ":f": {"BOOL": False},
                ":last": _LAST,
                ":now": {"S": clock.iso()},
                ":reason": {"S": "gone"},
            },
        ):
            return True
        if not _is_active(project_id, ipt):
            return False
    return False


def _is_active(project_id: str, ipt: str) -> bool:
    found = get_many(project_id, [ipt]).get(ipt)
    return found is not None and not found.revoked


# --- reads -----------------------------------------------------------------------------------------------------------


def get_many(project_id: str, ipts: Sequence[str]) -> dict[str, TokenRecord]:
    """Tokens by handle, revoked ones included; unknown or another project's handles are absent."""
    keys = [token_key(project_id, ipt) for ipt in dict.fromkeys(ipts)]
    items = batch_get(
        table("tokens_table"), keys, ProjectionExpression=_PROJECTION, ExpressionAttributeNames=_PROJECTION_NAMES
    )
    return {record.ipt: record for record in map(_record, items)}


def active_for_link(project_id: str, link_hash: str, limit: int) -> list[TokenRecord]:
    """Active devices bound to a linkHash, at most `limit` (pass max + 1 to detect "too many")."""
    kwargs: dict[str, Any] = {
        "TableName": table("tokens_table"),
        "IndexName": LINK_INDEX,
        "KeyConditionExpression": "#linkKey = :k",
        "ExpressionAttributeNames": {"#linkKey": "linkKey", **_PROJECTION_NAMES},
        "ProjectionExpression": _PROJECTION,
        "ExpressionAttributeValues": {":k": {"S": _link_key(project_id, link_hash)}},
    }
    found: list[TokenRecord] = []
    for item in _query(kwargs, limit):
        record = _record(item)
        if not record.revoked:  # the index is sparse already; this guards a write that raced a revocation
            found.append(record)
            if len(found) >= limit:
                break
    return found


def active_for_topic(project_id: str, topic: str, limit: int) -> list[TokenRecord]:
    """Active devices subscribed to a topic, at most `limit`, in membership (handle) order."""
    kwargs: dict[str, Any] = {
        "TableName": table("tokens_table"),
        "KeyConditionExpression": "#pk = :pk",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
        "ExpressionAttributeValues": {":pk": {"S": f"topic#{project_id}#{topic}"}},
        "ProjectionExpression": "#sk",
    }
    found: list[TokenRecord] = []
    pending: list[str] = []

    def flush() -> bool:
        records = get_many(project_id, pending)
        for ipt in pending:
            record = records.get(ipt)
            if record is not None and not record.revoked:
                found.append(record)
                if len(found) >= limit:
                    return True
        pending.clear()
        return False

    for item in _query(kwargs, limit):
        pending.append(item["sk"]["S"])
        if len(pending) >= BATCH_GET_MAX and flush():
            return found
    if pending:
        flush()
    return found[:limit]


def _query(kwargs: dict[str, Any], limit: int) -> Iterator[dict[str, Any]]:
    """Items of a paged Query; the caller decides when to stop. Pages hold at least one BatchGetItem's worth,
    since revoked devices may have to be skipped."""
    kwargs = {**kwargs, "Limit": min(max(limit, BATCH_GET_MAX), 1000)}
    while True:
        with aws_errors():
            page = client("dynamodb").query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# --- topic memberships -----------------------------------------------------------------------------------------------


class TokenNotActive(Exception):
    """The token is unknown in this project, or revoked."""


def _active_token_check(project_id: str, ipt: str) -> dict[str, Any]:
    return {
        "ConditionCheck": {
            "TableName": table("tokens_table"),
            "Key": token_key(project_id, ipt),
            "ConditionExpression": "attribute_exists(#pk) AND #revoked = :f",
            "ExpressionAttributeNames": {"#pk": "pk", "#revoked": "revoked"},
            "ExpressionAttributeValues": {":f": {"BOOL": False}},
        }
    }


def _transact(items: list[dict[str, Any]]) -> None:
    try:
        with aws_errors():
            client("dynamodb").transact_write_items(TransactItems=items)
    except ClientError as exc:
        if error_code(exc) != "TransactionCanceledException":
            raise
        reasons = exc.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            raise TokenNotActive() from exc
        raise


def subscribe(project_id: str, ipt: str, topic: str, now: str) -> None:
    """Add a membership, only while the token is active. One TransactWriteItems."""
    item = {**membership_key(project_id, topic, ipt), "subscribedAt": {"S": now}}
    _transact([_active_token_check(project_id, ipt), {"Put": {"TableName": table("tokens_table"), "Item": item}}])


def unsubscribe(project_id: str, ipt: str, topic: str) -> None:
    """Remove a membership (absent is fine), only while the token is active. One TransactWriteItems."""
    delete = {"Delete": {"TableName": table("tokens_table"), "Key": membership_key(project_id, topic, ipt)}}
    _transact([_active_token_check(project_id, ipt), delete])
