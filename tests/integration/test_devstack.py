"""The dev stack's own contract: readiness file, pinned dev project, API Gateway behaviour, clean stop.

The last tests run the stack on a small generated template (the real data
resources plus an echo function with an HttpApi route, an SQS event and a
Schedule event) to check the events its handlers receive.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
import yaml

from local.template import load_template

if TYPE_CHECKING:
    from tests.integration.conftest import DevStack

BROWSER_ORIGIN = "http://localhost:5173"


def test_dev_json_has_the_five_keys_and_its_api_url_answers(dev_stack: DevStack) -> None:
    state = json.loads((dev_stack.state_dir / "dev.json").read_text())
    assert {"projectId", "adminKey", "publicKey", "vapidPublicKey", "apiUrl"} <= set(state)
    assert state["apiUrl"].startswith("http://127.0.0.1:")
    assert state["adminKey"].startswith("st_admin_") and state["publicKey"].startswith("st_pk_")

    listed = dev_stack.request("GET", f"/admin/api/projects/{dev_stack.project_id}/push/credentials")

    assert listed.status_code == 200, listed.text
    assert [c["provider"] for c in listed.json()] == ["webpush"]
    assert listed.json()[0]["config"]["vapidPublic"] == dev_stack.vapid_public_key


def test_dev_project_id_and_keys_are_fixed_by_the_environment(start_dev_stack: Callable[..., DevStack]) -> None:
    pinned = {
        "SENTORI_DEV_PROJECT_ID": "prj_pinned_for_tests",
        "SENTORI_DEV_ADMIN_KEY": "st_admin_" + "a" * 26,
        "SENTORI_DEV_PUBLIC_KEY": "st_pk_" + "b" * 26,
    }
    stack = start_dev_stack(env=pinned)

    assert (stack.project_id, stack.admin_key, stack.public_key) == tuple(pinned.values())
    listed = stack.request(
        "GET", "/admin/api/projects/prj_pinned_for_tests/push/credentials", key=pinned["SENTORI_DEV_ADMIN_KEY"]
    )
    assert listed.status_code == 200, listed.text


def test_an_unknown_route_answers_404_like_api_gateway(dev_stack: DevStack) -> None:
    unknown = dev_stack.request("GET", "/v1/nothing/here")
    wrong_method = dev_stack.request("PATCH", f"/admin/api/projects/{dev_stack.project_id}/push/credentials")

    for response in (unknown, wrong_method):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found"}


def test_a_cors_preflight_from_a_browser_origin_is_answered(dev_stack: DevStack) -> None:
    preflight = dev_stack.request(
        "OPTIONS",
        f"/admin/api/projects/{dev_stack.project_id}/push/credentials",
        key=None,
        headers={
            "Origin": BROWSER_ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )

    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] in ("*", BROWSER_ORIGIN)
    allowed_headers = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed_headers
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]


def test_a_response_to_a_browser_origin_carries_allow_origin(dev_stack: DevStack) -> None:
    listed = dev_stack.request(
        "GET", f"/admin/api/projects/{dev_stack.project_id}/push/credentials", headers={"Origin": BROWSER_ORIGIN}
    )

    assert listed.status_code == 200
    assert listed.headers["Access-Control-Allow-Origin"] in ("*", BROWSER_ORIGIN)


def test_sigterm_stops_the_stack_with_exit_code_0(start_dev_stack: Callable[..., DevStack]) -> None:
    stack = start_dev_stack()

    assert stack.stop() == 0
    assert not (stack.state_dir / "dev.json").exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(stack.url, timeout=2)


# ---------------------------------------------------------------------------
# Events handed to handlers, on a generated template
# ---------------------------------------------------------------------------

ECHO_APP = """
import json
import os

import boto3

EVENTS = {events!r}


def lambda_handler(event, context):
    with open(EVENTS, "a", encoding="utf-8") as log:
        log.write(json.dumps(event) + "\\n")
    if "Records" in event:
        failed = [r["messageId"] for r in event["Records"] if r["body"] == "fail"]
        return {{"batchItemFailures": [{{"itemIdentifier": i}} for i in failed]}}
    if event.get("routeKey") == "POST /echo/enqueue":
        for body in json.loads(event["body"]):
            boto3.client("sqs").send_message(QueueUrl=os.environ["ECHO_QUEUE_URL"], MessageBody=body)
        return {{"statusCode": 202}}
    if "routeKey" in event:
        return {{
            "statusCode": 200,
            "headers": {{"content-type": "application/json", "access-control-allow-origin": "https://evil.example"}},
            "cookies": ["seen=1"],
            "body": json.dumps(event),
        }}
    return None
"""


def write_echo_template(tmp: Path) -> Path:
    """The real template's parameters, globals and data resources, plus one echo function."""
    real = load_template().document
    data_types = ("AWS::DynamoDB::Table", "AWS::KMS::Key", "AWS::SQS::Queue")
    resources: dict[str, Any] = {k: v for k, v in real["Resources"].items() if v["Type"] in data_types}
    resources["EchoQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 1}}
    code_dir = tmp / "echo"
    code_dir.mkdir()
    (code_dir / "app.py").write_text(textwrap.dedent(ECHO_APP.format(events=str(tmp / "events.jsonl"))))
    resources["EchoFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": str(code_dir),
            "Handler": "app.lambda_handler",
            "Environment": {"Variables": {"ECHO_QUEUE_URL": {"Ref": "EchoQueue"}}},
            "Events": {
                "Echo": {"Type": "HttpApi", "Properties": {"Method": "POST", "Path": "/echo/{thing}"}},
                "Enqueue": {"Type": "HttpApi", "Properties": {"Method": "POST", "Path": "/echo/enqueue"}},
                "Queue": {
                    "Type": "SQS",
                    "Properties": {"Queue": {"Fn::GetAtt": ["EchoQueue", "Arn"]}, "BatchSize": 10},
                },
                "Tick": {
                    "Type": "Schedule",
                    "Properties": {"Schedule": "rate(1 minute)", "Input": '{"mode": "sweep"}'},
                },
            },
        },
    }
    resources["HttpApi"] = real["Resources"]["HttpApi"]
    document = {**real, "Resources": resources, "Outputs": {}}
    path = tmp / "template.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@dataclass
class EchoStack:
    stack: DevStack
    events_path: Path

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.stack.request(method, path, **kwargs)

    def events(self) -> list[dict[str, Any]]:
        """Every event the echo function received, in order."""
        if not self.events_path.exists():
            return []
        return [json.loads(line) for line in self.events_path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def echo_stack(start_dev_stack: Callable[..., DevStack], tmp_path_factory: pytest.TempPathFactory) -> EchoStack:
    tmp = tmp_path_factory.mktemp("echo")
    template = write_echo_template(tmp)
    stack = start_dev_stack(env={"SENTORI_DEV_TEMPLATE": str(template), "SENTORI_DEV_SWEEP_SECONDS": "0.5"})
    return EchoStack(stack, tmp / "events.jsonl")


def wait_for(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_request_reaches_its_handler_as_a_payload_2_0_event(echo_stack: EchoStack) -> None:
    response = echo_stack.request(
        "POST",
        "/echo/a%20b?x=1&x=2&y=",
        key="st_pk_whatever",
        data=b"\xff\x00binary",
        headers={"Origin": BROWSER_ORIGIN, "Cookie": "c1=v1; c2=v2", "X-Twice": "one"},
    )

    assert response.status_code == 200, response.text
    event = response.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /echo/{thing}"
    assert event["rawPath"] == "/echo/a b"
    assert event["rawQueryString"] == "x=1&x=2&y="
    assert event["queryStringParameters"] == {"x": "1,2", "y": ""}
    assert event["pathParameters"] == {"thing": "a b"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["authorization"] == "Bearer st_pk_whatever"
    assert event["headers"]["x-twice"] == "one"
    assert event["isBase64Encoded"] is True
    assert event["body"] == "/wBiaW5hcnk="
    context = event["requestContext"]
    assert context["stage"] == "$default"
    assert context["routeKey"] == "POST /echo/{thing}"
    assert context["http"]["method"] == "POST"
    assert context["http"]["sourceIp"] == "127.0.0.1"
    assert isinstance(context["timeEpoch"], int) and context["requestId"]
    # The API's CORS headers replace the function's own; cookies become Set-Cookie.
    assert response.headers["Access-Control-Allow-Origin"] in ("*", BROWSER_ORIGIN)
    assert response.headers["Set-Cookie"] == "seen=1"


def test_a_literal_route_wins_over_a_parameter_route(echo_stack: EchoStack) -> None:
    response = echo_stack.request("POST", "/echo/enqueue", json=[])

    assert response.status_code == 202


def test_sqs_records_are_fed_and_only_the_failed_one_comes_back(echo_stack: EchoStack) -> None:
    echo_stack.request("POST", "/echo/enqueue", json=["ok", "fail"]).raise_for_status()

    def records() -> list[dict[str, Any]]:
        return [r for e in echo_stack.events() for r in e.get("Records", [])]

    wait_for(lambda: any(r["body"] == "fail" and r["attributes"]["ApproximateReceiveCount"] == "2" for r in records()))
    record = records()[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":sentori-dev-EchoQueue")
    assert record["awsRegion"] == "us-east-1"
    assert record["messageId"] and record["receiptHandle"]
    assert [r["body"] for r in records()].count("ok") == 1


def test_the_schedule_invokes_its_function_with_the_event_input(echo_stack: EchoStack) -> None:
    wait_for(lambda: {"mode": "sweep"} in echo_stack.events())
