"""Credentials table: one item per (projectId, provider).

`config` is stored as JSON text in clear; `secret` holds only KMS ciphertext.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sentori_push.storage.aws import aws_errors, client, table


@dataclass(frozen=True)
class StoredCredential:
    project_id: str
    provider: str
    config: dict[str, Any]
    secret_ciphertext: bytes
    updated_at: str


def _from_item(item: dict[str, Any]) -> StoredCredential:
    return StoredCredential(
        project_id=item["projectId"]["S"],
        provider=item["provider"]["S"],
        config=json.loads(item["config"]["S"]),
        secret_ciphertext=bytes(item["secret"]["B"]),
        updated_at=item["updatedAt"]["S"],
    )


def put(credential: StoredCredential) -> None:
    with aws_errors():
        client("dynamodb").put_item(
            TableName=table("credentials_table"),
            Item={
                "projectId": {"S": credential.project_id},
                "provider": {"S": credential.provider},
                "config": {"S": json.dumps(credential.config, separators=(",", ":"), sort_keys=True)},
                "secret": {"B": credential.secret_ciphertext},
                "updatedAt": {"S": credential.updated_at},
            },
        )


def get(project_id: str, provider: str) -> StoredCredential | None:
    with aws_errors():
        item = (
            client("dynamodb")
            .get_item(
                TableName=table("credentials_table"),
                Key={"projectId": {"S": project_id}, "provider": {"S": provider}},
            )
            .get("Item")
        )
    return _from_item(item) if item else None


def list_for_project(project_id: str) -> list[StoredCredential]:
    found: list[StoredCredential] = []
    kwargs: dict[str, Any] = {
        "TableName": table("credentials_table"),
        "KeyConditionExpression": "projectId = :p",
        "ExpressionAttributeValues": {":p": {"S": project_id}},
    }
    with aws_errors():
        while True:
            page = client("dynamodb").query(**kwargs)
            found.extend(_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def delete(project_id: str, provider: str) -> None:
    with aws_errors():
        client("dynamodb").delete_item(
            TableName=table("credentials_table"),
            Key={"projectId": {"S": project_id}, "provider": {"S": provider}},
        )
