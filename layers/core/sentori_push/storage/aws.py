"""boto3 clients, created once per process, and AWS failure translation."""

from __future__ import annotations

from collections.abc import Iterator
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
def dynamodb_errors() -> Iterator[None]:
    """Turn 'cannot reach or find the tables' into 503 dbNotConfigured."""
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
