"""The one place that reads the environment.

Every Lambda gets its configuration from the template's environment
variables; the local dev stack sets the same ones. Read once per process.
"""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel

DEFAULT_ENDPOINT_ALLOWLIST = (
    "fcm.googleapis.com,*.push.services.mozilla.com,web.push.apple.com,*.push.apple.com,*.notify.windows.com"
)


class Settings(BaseModel):
    projects_table: str = ""
    credentials_table: str = ""
    tokens_table: str = ""
    tickets_table: str = ""
    idempotency_table: str = ""
    dispatch_queue_url: str = ""
    # The dispatch queue's redrive maxReceiveCount: on that receive a failing
    # batch is handed to the sweep instead of the dead-letter queue.
    dispatch_max_receives: int = 5
    kms_key_id: str = ""
    endpoint_allowlist: str = DEFAULT_ENDPOINT_ALLOWLIST
    max_body_bytes: int = 1024 * 1024

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        values = {name: env[f"SENTORI_{name.upper()}"] for name in cls.model_fields if f"SENTORI_{name.upper()}" in env}
        if not values.get("endpoint_allowlist", "").strip():
            values.pop("endpoint_allowlist", None)
        return cls.model_validate(values)


@cache
def settings() -> Settings:
    return Settings.from_env()
