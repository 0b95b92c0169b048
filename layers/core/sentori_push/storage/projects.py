"""Projects table: `project#<id>` items and `key#<sha256 hex>` items.

Keys are stored only as digests; looking a key up by its digest is the
comparison, so no raw key ever reaches the table or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from sentori_push.storage.aws import aws_errors, client, error_code, table


class AlreadyExists(Exception):
    pass


@dataclass(frozen=True)
class KeyRecord:
    project_id: str
    kind: str
    revoked: bool


def get_key(digest: str) -> KeyRecord | None:
    with aws_errors():
        item = (
            client("dynamodb")
            .get_item(
                TableName=table("projects_table"),
                Key={"pk": {"S": f"key#{digest}"}},
                ProjectionExpression="projectId, kind, revoked",
            )
            .get("Item")
        )
    if not item:
        return None
    return KeyRecord(item["projectId"]["S"], item["kind"]["S"], item.get("revoked", {}).get("BOOL", False))


def create_project(project_id: str, name: str, key_digests: dict[str, str], created_at: str) -> None:
    """Write the project and its keys in one transaction; fail if any exists."""
    items = [
        {"pk": {"S": f"project#{project_id}"}, "projectId": {"S": project_id}, "name": {"S": name}},
        *(
            {"pk": {"S": f"key#{digest}"}, "projectId": {"S": project_id}, "kind": {"S": kind}}
            for kind, digest in key_digests.items()
        ),
    ]
    writes = [
        {
            "Put": {
                "TableName": table("projects_table"),
                "Item": {**item, "createdAt": {"S": created_at}},
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        for item in items
    ]
    try:
        with aws_errors():
            client("dynamodb").transact_write_items(TransactItems=writes)
    except ClientError as exc:
        if error_code(exc) == "TransactionCanceledException":
            raise AlreadyExists(project_id) from exc
        raise


def revoke_key(digest: str) -> bool:
    try:
        with aws_errors():
            client("dynamodb").update_item(
                TableName=table("projects_table"),
                Key={"pk": {"S": f"key#{digest}"}},
                UpdateExpression="SET revoked = :t",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":t": {"BOOL": True}},
            )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            return False
        raise
    return True
