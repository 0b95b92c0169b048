"""Dispatch: SQS batches of tickets (fast path) and the 1-minute sweep."""

from typing import Any

from sentori_push import dispatch


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return dispatch.handle(event)
