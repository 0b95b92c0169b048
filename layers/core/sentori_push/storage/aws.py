"""boto3 clients, created once per process, and AWS failure translation."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
)

from sentori_push.errors import DbNotConfigured
from sentori_push.settings import settings

# Fail fast: an API call that cannot reach DynamoDB answers 503 well inside
# API Gateway's 30 s limit instead of hanging on botocore's defaults.
_CONFIG = Config(connect_timeout=2, read_timeout=5, retries={"max_attempts": 3, "mode": "standard"})

_UNREACHABLE = {"ResourceNotFoundException", "UnrecognizedClientException", "AccessDeniedException"}


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests start a fresh moto world per test)."""
    client.cache_clear()
    settings.cache_clear()


def table(name_setting: str) -> str:
    name: str = getattr(settings(), name_setting)
    if not name:
        raise DbNotConfigured(f"SENTORI_{name_setting.upper()} is not set")
    return name


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn "cannot reach AWS or find the tables" (DynamoDB, SQS, KMS) into 503 dbNotConfigured."""
    try:
        yield
    except ClientError as exc:
        if error_code(exc) in _UNREACHABLE:
            raise DbNotConfigured(error_code(exc)) from exc
        raise
    except (EndpointConnectionError, NoCredentialsError, NoRegionError) as exc:
        raise DbNotConfigured(type(exc).__name__) from exc
    except BotoCoreError as exc:
        if "Connect" in type(exc).__name__:
            raise DbNotConfigured(type(exc).__name__) from exc
        raise


BATCH_GET_MAX = 100
BATCH_WRITE_MAX = 25
_BATCH_ATTEMPTS = 8


def _backoff(attempt: int) -> None:
    time.sleep(min(0.05 * 2**attempt, 1.0))


def batch_get(table_name: str, keys: Sequence[dict[str, Any]], **options: Any) -> Iterator[dict[str, Any]]:
    """Every item found for `keys`: BatchGetItem in chunks of 100, retrying unprocessed keys."""
    dynamodb = client("dynamodb")
    for start in range(0, len(keys), BATCH_GET_MAX):
        request: dict[str, Any] = {table_name: {"Keys": list(keys[start : start + BATCH_GET_MAX]), **options}}
        for attempt in range(_BATCH_ATTEMPTS):
            with aws_errors():
                page = dynamodb.batch_get_item(RequestItems=request)
            yield from page.get("Responses", {}).get(table_name, [])
            request = page.get("UnprocessedKeys") or {}
            if not request:
                break
            _backoff(attempt)
        else:
            raise RuntimeError("DynamoDB left BatchGetItem keys unprocessed after retries")


def batch_put(table_name: str, items: Sequence[dict[str, Any]]) -> None:
    """BatchWriteItem puts in chunks of 25, retrying unprocessed items."""
    dynamodb = client("dynamodb")
    for start in range(0, len(items), BATCH_WRITE_MAX):
        pending: dict[str, Any] = {
            table_name: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH_WRITE_MAX]]
        }
        for attempt in range(_BATCH_ATTEMPTS):
            with aws_errors():
                answer = dynamodb.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                break
            _backoff(attempt)
        else:
            raise RuntimeError("DynamoDB left BatchWriteItem items unprocessed after retries")
