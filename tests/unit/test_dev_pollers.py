"""The dev stack's SQS feeder and schedule timer (local/pollers.py), against moto in-process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local.pollers import ScheduleTimer, SqsFeeder, failed_message_ids

QUEUE_VISIBILITY_S = 1


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queue(sqs: Any) -> tuple[str, str]:
    url = sqs.create_queue(QueueName="dispatch", Attributes={"VisibilityTimeout": str(QUEUE_VISIBILITY_S)})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


class FakeHandler:
    """Records every event; fails the records whose body is "fail"."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.called = threading.Event()

    def __call__(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        self.called.set()
        if "Records" in event:
            failed = [r["messageId"] for r in event["Records"] if r["body"] == "fail"]
            return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
        return None


def queue_counts(sqs: Any, url: str) -> tuple[int, int]:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def test_a_batch_with_one_failed_item_leaves_exactly_that_message_on_the_queue(
    sqs: Any, queue: tuple[str, str]
) -> None:
    url, arn = queue
    for body in ("first", "fail", "third"):
        sqs.send_message(
            QueueUrl=url, MessageBody=body, MessageAttributes={"kind": {"DataType": "String", "StringValue": "t"}}
        )
    handler = FakeHandler()
    feeder = SqsFeeder(sqs=sqs, queue_url=url, queue_arn=arn, invoke=handler, batch_size=10, wait_seconds=0)

    assert feeder.poll_once() == 3

    assert queue_counts(sqs, url) == (0, 1)
    time.sleep(QUEUE_VISIBILITY_S + 0.1)
    left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    assert [m["Body"] for m in left] == ["fail"]


def test_a_fed_batch_is_a_lambda_sqs_event(sqs: Any, queue: tuple[str, str]) -> None:
    url, arn = queue
    sqs.send_message(
        QueueUrl=url, MessageBody="hello", MessageAttributes={"kind": {"DataType": "String", "StringValue": "t"}}
    )
    handler = FakeHandler()

    SqsFeeder(sqs=sqs, queue_url=url, queue_arn=arn, invoke=handler, wait_seconds=0).poll_once()

    (record,) = handler.events[0]["Records"]
    assert record["body"] == "hello"
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == arn
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["kind"]["stringValue"] == "t"
    assert record["messageAttributes"]["kind"]["dataType"] == "String"


def test_a_handler_that_raises_leaves_the_whole_batch(sqs: Any, queue: tuple[str, str]) -> None:
    url, arn = queue
    sqs.send_message(QueueUrl=url, MessageBody="a")
    sqs.send_message(QueueUrl=url, MessageBody="b")

    def crash(event: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    SqsFeeder(sqs=sqs, queue_url=url, queue_arn=arn, invoke=crash, wait_seconds=0).poll_once()

    assert queue_counts(sqs, url) == (0, 2)


def test_batch_item_failures_follow_report_batch_item_failures_semantics() -> None:
    ids = ["m1", "m2"]

    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "m2"}]}, ids) == {"m2"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "elsewhere"}]}, ids) == {"m1", "m2"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == {"m1", "m2"}


def test_the_feeder_thread_drains_the_queue_and_stops(sqs: Any, queue: tuple[str, str]) -> None:
    url, arn = queue
    handler = FakeHandler()
    feeder = SqsFeeder(sqs=sqs, queue_url=url, queue_arn=arn, invoke=handler, batch_size=5)
    feeder.start()
    sqs.send_message(QueueUrl=url, MessageBody="queued while running")

    assert handler.called.wait(10)
    feeder.stop(timeout=5)

    assert not feeder._thread.is_alive()
    assert queue_counts(sqs, url) == (0, 0)


def test_the_schedule_timer_fires_with_a_scheduled_event() -> None:
    handler = FakeHandler()
    timer = ScheduleTimer(invoke=handler, period_s=0.05, rule_arn="arn:aws:events:us-east-1:123456789012:rule/sweep")
    timer.start()

    assert handler.called.wait(5)
    timer.stop(timeout=5)

    event = handler.events[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/sweep"]
    assert event["detail"] == {}
    assert event["version"] == "0" and event["id"] and event["time"].endswith("Z")


def test_the_schedule_timer_sends_the_template_input_when_given() -> None:
    handler = FakeHandler()
    timer = ScheduleTimer(invoke=handler, period_s=0.05, rule_arn="arn:rule", input='{"mode": "sweep"}')
    timer.start()

    assert handler.called.wait(5)
    timer.stop(timeout=5)

    assert handler.events[0] == {"mode": "sweep"}
