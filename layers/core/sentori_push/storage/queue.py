"""The SQS dispatch queue: messages carry many ticket ids each.

One message per chunk of a send (≤ 100 ids, well inside 256 KB) and up to
ten messages per SendMessageBatch call, so a 100-recipient send costs one
SQS call and a 1000-device topic send costs one as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sentori_push.errors import DbNotConfigured
from sentori_push.settings import settings
from sentori_push.storage.aws import aws_errors, client

IDS_PER_MESSAGE = 100
MESSAGES_PER_CALL = 10
MAX_DELAY_SECONDS = 900


@dataclass(frozen=True)
class DispatchBatch:
    project_id: str  # informational: each ticket names its own project
    ticket_ids: list[str]
    delay_seconds: int = 0
    swept: bool = False  # enqueued by the sweep: the tickets sit in the due index

    def body(self) -> str:
        raw: dict[str, object] = {"v": 1, "projectId": self.project_id, "tickets": self.ticket_ids}
        if self.swept:
            raw["sweep"] = True
        return json.dumps(raw, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> DispatchBatch:
        raw = json.loads(body)
        return cls(str(raw.get("projectId", "")), [str(i) for i in raw["tickets"]], swept=bool(raw.get("sweep")))


def batches(
    project_id: str, ticket_ids: Sequence[str], delay_seconds: int = 0, *, swept: bool = False
) -> list[DispatchBatch]:
    return [
        DispatchBatch(project_id, list(ticket_ids[i : i + IDS_PER_MESSAGE]), delay_seconds, swept)
        for i in range(0, len(ticket_ids), IDS_PER_MESSAGE)
    ]


def enqueue(items: Sequence[DispatchBatch]) -> list[DispatchBatch]:
    """Send the batches; return those SQS did not accept (the caller marks them due)."""
    url = settings().dispatch_queue_url
    if not url:
        raise DbNotConfigured("SENTORI_DISPATCH_QUEUE_URL is not set")
    failed: list[DispatchBatch] = []
    sqs = client("sqs")
    for start in range(0, len(items), MESSAGES_PER_CALL):
        chunk = list(items[start : start + MESSAGES_PER_CALL])
        entries = [
            {"Id": str(n), "MessageBody": b.body(), "DelaySeconds": min(max(b.delay_seconds, 0), MAX_DELAY_SECONDS)}
            for n, b in enumerate(chunk)
        ]
        with aws_errors():
            answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        failed.extend(chunk[int(entry["Id"])] for entry in answer.get("Failed", []))
    return failed
