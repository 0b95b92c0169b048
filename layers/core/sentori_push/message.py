"""The notification a send carries, and its exact Web Push plaintext.

The plaintext is the UTF-8 JSON `{title, body, data}` with
`data._sentori.msgId = <ticket id>`. Every ticket id has the same length, so
one size check at the API covers every recipient of a send. aes128gcm (RFC
8188) in one record adds an 86-byte header, a 1-byte padding delimiter and a
16-byte tag: a 4096-byte body holds at most 3993 bytes of plaintext.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_ENCRYPTED_BYTES = 4096
AES128GCM_OVERHEAD = 86 + 1 + 16


@dataclass(frozen=True)
class Notification:
    title: str | None
    body: str | None
    data: dict[str, Any] | None
    ttl: int
    priority: str | None
    collapse_key: str | None

    def plaintext(self, ticket_id: str) -> bytes:
        data = dict(self.data or {})
        marker = data.get("_sentori")
        data["_sentori"] = {**(marker if isinstance(marker, dict) else {}), "msgId": ticket_id}
        payload: dict[str, Any] = {}
        if self.title is not None:
            payload["title"] = self.title
        if self.body is not None:
            payload["body"] = self.body
        payload["data"] = data
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()

    @property
    def urgency(self) -> str | None:
        return self.priority  # the API's priorities are Urgency header values already

    def to_json(self) -> str:
        return json.dumps(
            {
                "title": self.title,
                "body": self.body,
                "data": self.data,
                "ttl": self.ttl,
                "priority": self.priority,
                "collapseKey": self.collapse_key,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> Notification:
        raw = json.loads(text)
        return cls(raw["title"], raw["body"], raw["data"], raw["ttl"], raw["priority"], raw["collapseKey"])


def encrypted_size(plaintext: bytes) -> int:
    return len(plaintext) + AES128GCM_OVERHEAD
