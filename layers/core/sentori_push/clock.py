"""Wall-clock time in one place, so tests can move it."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now() -> float:
    return time.time()


def iso(epoch: float | None = None) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. 2026-12-03T17:47:11.123Z."""
    moment = datetime.fromtimestamp(now() if epoch is None else epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
