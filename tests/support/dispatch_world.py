"""The dispatch side of a test world on moto: allow-list push origins, store a
VAPID credential, and feed the SQS dispatch queue to the dispatch handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from local.pollers import sqs_record
from sentori_push import credentials, dispatch
from sentori_push.settings import settings
from sentori_push.storage.aws import client, reset_clients
from sentori_push.vapid import VapidKeyPair, generate_keypair


def allow_origins(monkeypatch: pytest.MonkeyPatch, origins: Sequence[str]) -> None:
    """Admit these exact origins (besides FCM) and forget state built on the old list."""
    monkeypatch.setenv("SENTORI_ENDPOINT_ALLOWLIST", ",".join(["fcm.googleapis.com", *origins]))
    reset_clients()
    dispatch.reset()


def store_vapid(project_id: str) -> VapidKeyPair:
    keys = generate_keypair()
    credentials.put_credential(
        project_id,
        {
            "provider": "webpush",
            "config": {"vapidPublic": keys.public_key, "contact": "mailto:ops@example.com"},
            "secret": {"vapidPrivate": keys.private_key},
        },
    )
    return keys


def receive_all() -> list[dict[str, Any]]:
    """Every visible message of the dispatch queue, as Lambda's SQS event records."""
    url = settings().dispatch_queue_url
    arn = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records: list[dict[str, Any]] = []
    while True:
        got = client("sqs").receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30, AttributeNames=["All"]
        )
        if not got.get("Messages"):
            return records
        records.extend(sqs_record(m, queue_arn=arn) for m in got["Messages"])


def drain() -> dict[str, Any]:
    """Feed every queued SQS message to the dispatch handler, as the event source would."""
    records = receive_all()
    return dispatch.handle({"Records": records}) if records else {"batchItemFailures": []}
