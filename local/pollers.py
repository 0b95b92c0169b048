"""Feeds the template's SQS and Schedule events to their functions, as Lambda would.

`SqsFeeder` is the SQS event source mapping: it long-polls the queue, hands
the handler a batch event, and with ReportBatchItemFailures semantics deletes
every record the response does not list in `batchItemFailures` (a handler
that raises, or names a record that is not in the batch, fails the whole
batch; failed records come back after the queue's visibility timeout).
`ScheduleTimer` is the EventBridge rule: one scheduled event per period, the
first one period after start.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
MAX_RECEIVE = 10  # SQS ReceiveMessage's own limit per call

Invoke = Callable[[dict[str, Any]], Any]


def _warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sqs_record(message: dict[str, Any], *, queue_arn: str, region: str = REGION) -> dict[str, Any]:
    """One `Records[]` entry of a Lambda SQS event, from a ReceiveMessage message."""
    attributes = {
        name: message.get("Attributes", {}).get(name, "")
        for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
    }
    attributes.update(message.get("Attributes", {}))
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": attributes,
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS's `StringValue`/`BinaryValue` shape in Lambda's camelCase (binary as base64)."""
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(v).decode() for v in value.get("BinaryListValues", [])],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return converted


def failed_message_ids(response: Any, batch_ids: list[str]) -> set[str]:
    """The records to keep on the queue, per ReportBatchItemFailures.

    No response, or an empty/absent `batchItemFailures`, is full success. A
    malformed response or an identifier that is not in the batch fails it all.
    """
    if response is None:
        return set()
    if not isinstance(response, dict):
        return set(batch_ids)
    failures = response.get("batchItemFailures")
    if not failures:
        return set()
    if not isinstance(failures, list):
        return set(batch_ids)
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in batch_ids:
            return set(batch_ids)
        failed.add(identifier)
    return failed


class _Background:
    """A daemon thread running `_run` until asked to stop, like an event source."""

    def __init__(self, name: str) -> None:
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stopping.set()

    def join(self, timeout: float = 10) -> None:
        self._thread.join(timeout)

    def stop(self, timeout: float = 10) -> None:
        self.request_stop()
        self.join(timeout)


class SqsFeeder(_Background):
    """Long-polls one queue and invokes one function with batches, until stopped."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        batch_size: int = 10,
        batching_window_s: float = 0,
        wait_seconds: int = 1,
        name: str = "sqs-feeder",
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.invoke = invoke
        self.batch_size = max(1, batch_size)
        self.batching_window_s = batching_window_s
        self.wait_seconds = wait_seconds
        super().__init__(name)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # a queue error must not end the feeder; back off and retry
                if self._stopping.is_set():
                    return
                _warn(f"[{self._thread.name}] polling {self.queue_url} failed: {exc!r}")
                self._stopping.wait(1)

    def receive_batch(self) -> list[dict[str, Any]]:
        """Up to `batch_size` messages: one long poll, then more within the batching window."""
        messages = self._receive(self.wait_seconds)
        deadline = time.monotonic() + self.batching_window_s
        while messages and len(messages) < self.batch_size and time.monotonic() < deadline:
            more = self._receive(0)
            if not more:
                self._stopping.wait(min(0.2, max(0.0, deadline - time.monotonic())))
            messages.extend(more)
        return messages

    def _receive(self, wait_seconds: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(self.batch_size, MAX_RECEIVE),
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def poll_once(self) -> int:
        """Receives one batch, invokes the function, deletes what succeeded; returns the batch size."""
        messages = self.receive_batch()
        if not messages:
            return 0
        event = {"Records": [sqs_record(m, queue_arn=self.queue_arn) for m in messages]}
        ids = [m["MessageId"] for m in messages]
        try:
            failed = failed_message_ids(self.invoke(event), ids)
        except Exception:
            failed = set(ids)  # the runtime has logged it; the whole batch is retried
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), MAX_RECEIVE):
            chunk = done[start : start + MAX_RECEIVE]
            result = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
            for failure in result.get("Failed", []):
                _warn(f"[{self._thread.name}] could not delete a message: {failure.get('Message', failure)}")
        return len(messages)


def scheduled_event(*, rule_arn: str, region: str = REGION, account_id: str = ACCOUNT_ID) -> dict[str, Any]:
    """The event EventBridge sends for a schedule rule without an `Input`."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account_id,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def schedule_input(value: Any) -> dict[str, Any] | None:
    """A Schedule event's `Input`: SAM takes a JSON string; a mapping is accepted too."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parsed = json.loads(value)
        return parsed if isinstance(parsed, dict) else {"value": parsed}
    return dict(value)


class ScheduleTimer(_Background):
    """Invokes one function every `period_s` seconds with a scheduled event, until stopped."""

    def __init__(
        self,
        *,
        invoke: Invoke,
        period_s: float,
        rule_arn: str,
        input: Any = None,
        name: str = "schedule-timer",
    ) -> None:
        self.invoke = invoke
        self.period_s = period_s
        self.rule_arn = rule_arn
        self.input = schedule_input(input)
        self.fired = 0
        super().__init__(name)

    def _run(self) -> None:
        while not self._stopping.wait(self.period_s):
            self.fire()

    def fire(self) -> None:
        event = dict(self.input) if self.input is not None else scheduled_event(rule_arn=self.rule_arn)
        self.fired += 1
        with contextlib.suppress(Exception):  # logged by the runtime; the next tick is the retry
            self.invoke(event)
