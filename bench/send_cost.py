"""AWS calls and DynamoDB write units per ticket, send and dispatch, on moto.

    .venv/bin/python bench/send_cost.py

Sends to 1, 10 and 100 registered devices through the real send handler, then
delivers them through the dispatch handler to a local sink answering 201.
Counts every AWS call with a botocore hook and prices the write units the way
on-demand DynamoDB bills them (1 KB per unit, rounded up per item; an
UpdateItem on the larger of the item before and after). Last line: JSON.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]
os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"})
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402

from local.apigw import HttpRequest, RouteMatch, RouteTarget, build_http_event  # noqa: E402
from local.provision import provision  # noqa: E402
from local.runtime import load_handler  # noqa: E402
from local.template import load_template  # noqa: E402
from tests.support.push_sink import PushSink  # noqa: E402

WRITE_PRICE = 0.625  # USD per million write request units, on-demand
READ_PRICE = 0.125  # USD per million read request units (eventually consistent: 2 reads of 4 KB per unit)
SQS_PRICE = 0.40  # USD per million requests (standard queue)
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (close enough for whole units)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        (kind, raw), *_ = value.items()
        if kind in ("S", "N"):
            size += len(str(raw).encode())
        elif kind == "B":
            size += len(raw)
        elif kind == "BOOL":
            size += 1
        elif kind == "L":
            size += 3 + sum(item_size({"": v}) for v in raw)
        elif kind == "M":
            size += 3 + item_size(raw)
    return size


class Meter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.write_units = 0.0

    def before(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        service, operation = event_name.split(".")[1:3]
        self.calls[f"{service}.{operation}"] += 1
        if service != "dynamodb" or operation not in WRITE_OPS:
            return
        if operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for request in requests:
                    self.write_units += math.ceil(item_size(request["PutRequest"]["Item"]) / 1024) * self._gsi_factor(
                        request["PutRequest"]["Item"]
                    )
        elif operation == "PutItem":
            self.write_units += math.ceil(item_size(params["Item"]) / 1024)
        elif operation == "UpdateItem":
            # Ticket items stay under 1 KB before and after every update (no GSI write on the fast path).
            self.write_units += 1

    @staticmethod
    def _gsi_factor(item: dict[str, Any]) -> int:
        return 2 if "dueShard" in item else 1


def main() -> None:
    template = load_template()
    specs = {fn.logical_id: fn for fn in template.functions()}
    results: dict[str, Any] = {}
    with mock_aws(), PushSink(record=False) as sink:
        provisioned = provision(template, prefix="bench")
        env: dict[str, str] = {}
        for fn in specs.values():
            env.update(provisioned.environment_for(fn))
        env["SENTORI_ENDPOINT_ALLOWLIST"] = sink.origin
        env["POWERTOOLS_LOG_LEVEL"] = "WARNING"
        os.environ.update(env)

        from sentori_push import credentials, dispatch, projects
        from sentori_push.storage.aws import client, reset_clients
        from sentori_push.vapid import b64url_encode, generate_keypair

        reset_clients()
        project = projects.create_project("bench")
        keys = generate_keypair()
        credentials.put_credential(
            project.project_id,
            {
                "provider": "webpush",
                "config": {"vapidPublic": keys.public_key, "contact": "mailto:bench@example.com"},
                "secret": {"vapidPrivate": keys.private_key},
            },
        )

        def call(logical_id: str, method: str, path: str, body: Any, key: str) -> Any:
            spec = specs[logical_id]
            route = spec.routes[0]
            request = HttpRequest(
                method, path, [("authorization", f"Bearer {key}")], json.dumps(body).encode(), "127.0.0.1"
            )
            event = build_http_event(request, RouteMatch(RouteTarget(route.method, route.path, logical_id), {}))
            answer = load_handler(spec)(event, None)
            return json.loads(answer["body"])

        dispatch_handler = load_handler(specs["DispatchFunction"])
        for size in (1, 10, 100):
            devices = [
                call(
                    "TokensRegisterFunction",
                    "POST",
                    "/v1/push/tokens",
                    {
                        "provider": "webpush",
                        "nativeToken": {
                            "endpoint": sink.url(f"/push/201/{secrets.token_hex(4)}"),
                            "keys": {
                                "p256dh": generate_keypair().public_key,
                                "auth": b64url_encode(secrets.token_bytes(16)),
                            },
                        },
                    },
                    project.public_key,
                )["id"]
                for _ in range(size)
            ]
            meter = Meter()
            for service in ("dynamodb", "sqs", "kms"):
                client(service).meta.events.register("before-parameter-build", meter.before)
            tickets = call(
                "SendFunction",
                "POST",
                "/v1/push/send",
                {"to": devices, "title": "Hi", "body": "x" * 200},
                project.admin_key,
            )["tickets"]
            send_calls, send_units = sum(meter.calls.values()), meter.write_units
            send_breakdown = dict(meter.calls)
            meter.calls.clear()
            meter.write_units = 0
            url = os.environ["SENTORI_DISPATCH_QUEUE_URL"]
            records = []
            for message in client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
                records.append(
                    {
                        "messageId": message["MessageId"],
                        "body": message["Body"],
                        "attributes": {"ApproximateReceiveCount": "1"},
                    }
                )
            meter.calls.clear()  # the receive is the event source's, not ours
            dispatch.reset()
            dispatch_handler({"Records": records}, None)
            dispatch_calls = sum(meter.calls.values()) - meter.calls["kms.Decrypt"]
            dispatch_units = meter.write_units
            for service in ("dynamodb", "sqs", "kms"):
                client(service).meta.events.unregister("before-parameter-build", meter.before)
            units_per_ticket = (send_units + dispatch_units) / size
            sqs_per_ticket = (send_breakdown.get("sqs.SendMessageBatch", 0)) / size
            results[str(size)] = {
                "tickets": len(tickets),
                "send_aws_calls": send_calls,
                "send_calls": send_breakdown,
                "send_write_units": send_units,
                "dispatch_aws_calls": dispatch_calls,
                "dispatch_calls": dict(meter.calls),
                "dispatch_write_units": dispatch_units,
                "write_units_per_ticket": round(units_per_ticket, 3),
                "usd_per_million_tickets_dynamodb_writes": round(units_per_ticket * WRITE_PRICE, 3),
                "usd_per_million_tickets_sqs_send": round(sqs_per_ticket * SQS_PRICE, 3),
            }
            print(
                f"{size:>3} recipients: send {send_calls} AWS calls, {send_units:.0f} write units;"
                f" dispatch {dispatch_calls} AWS calls, {dispatch_units:.0f} write units;"
                f" {units_per_ticket:.2f} write units/ticket"
                f" = ${units_per_ticket * WRITE_PRICE:.3f} per million tickets"
            )
        dispatch.reset()
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
