"""Tickets: one per resolved device of a send, read back as receipts.

A ticket is `queued` until the dispatcher records a final outcome: `sent`, or
`failed` with a providerOutcome. Tickets expire (DynamoDB TTL) 30 days after
sent and 90 days after failed; a queued ticket carries a 90-day safety TTL.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from sentori_push import clock

Status = Literal["queued", "sent", "failed"]
TICKET_ID = re.compile(r"^send_[0-9a-f]{32}$")
SWEEP_SHARDS = 16
DAY = 86400
EXPIRY_AFTER = {"sent": 30 * DAY, "failed": 90 * DAY, "queued": 90 * DAY}


def new_ticket_id() -> str:
    return "send_" + secrets.token_hex(16)


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def is_ticket_id(value: object) -> bool:
    return isinstance(value, str) and bool(TICKET_ID.match(value))


def sweep_shard(ticket_id: str) -> str:
    """Spread the queued-ticket index over 16 partitions (the id is random hex)."""
    return format(int(ticket_id[-1], 16) % SWEEP_SHARDS, "x")


def expires_at(status: Status, at: float) -> int:
    return int(at + EXPIRY_AFTER[status])


@dataclass
class Ticket:
    id: str
    project_id: str
    to: str
    message_id: str
    status: Status = "queued"
    provider_outcome: str | None = None
    error: str | None = None
    retry_count: int = 0
    next_attempt_at: float | None = None
    created_at: float = field(default_factory=clock.now)
    sent_at: float | None = None
    # Set only while the ticket needs the sweep (the sparse due index).
    due_at: float | None = None

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "status": self.status,
            "providerOutcome": self.provider_outcome,
            "error": self.error,
            "retryCount": self.retry_count,
            "nextAttemptAt": clock.iso(self.next_attempt_at) if self.next_attempt_at is not None else None,
            "createdAt": clock.iso(self.created_at),
            "sentAt": clock.iso(self.sent_at) if self.sent_at is not None else None,
        }
