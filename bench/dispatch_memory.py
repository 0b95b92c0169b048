"""Dispatch memory: one full SQS batch (10 records × 100 tickets) through `dispatch.handle`.

Runs on in-process moto (tables, queue and key from template.yaml) against the
local push sink (tests/support/push_sink.py in a child process, so its memory
and CPU are not counted here), which answers 201. Every ticket has its own
device (own keys, own endpoint path) and is encrypted and VAPID-signed for real.

A small warm-up batch runs first (imports, the engine's session, the KMS
credential cache, the JWT), like a warm Lambda container. Then two measured
batches of the full size:
1. untraced: wall time and the growth of the process's peak RSS (ru_maxrss);
2. under tracemalloc: the peak of Python allocations during `dispatch.handle`.

In-process moto stores every item in this process, so both memory figures
include moto's own bookkeeping for ~3,000 DynamoDB writes: they are an upper
bound for the Lambda, where DynamoDB is remote.

    .venv/bin/python bench/dispatch_memory.py [--records 10] [--per-record 100]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]

CONTACT = "mailto:bench@example.com"


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _set_up(sink_origin: str) -> str:
    """Provision the template on moto, create a project with a VAPID credential; the project id."""
    from local.provision import provision
    from local.template import load_template

    template = load_template()
    provisioned = provision(template, prefix="bench")
    for fn in template.functions():
        os.environ.update(provisioned.environment_for(fn))
    os.environ["SENTORI_ENDPOINT_ALLOWLIST"] = sink_origin
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # one log line per push would drown the figures

    from sentori_push import credentials, dispatch, projects
    from sentori_push.storage.aws import reset_clients
    from sentori_push.vapid import generate_keypair

    reset_clients()
    dispatch.reset()
    project = projects.create_project("bench")
    pair = generate_keypair()
    credentials.put_credential(
        project.project_id,
        {
            "provider": "webpush",
            "config": {"vapidPublic": pair.public_key, "contact": CONTACT},
            "secret": {"vapidPrivate": pair.private_key},
        },
    )
    return project.project_id


def _devices(project_id: str, sink_origin: str, count: int) -> list[str]:
    from sentori_push import tokens
    from sentori_push.vapid import b64url_encode, generate_keypair

    handles = []
    for _ in range(count):
        body = {
            "provider": "webpush",
            "nativeToken": {
                "endpoint": f"{sink_origin}/push/201/{secrets.token_hex(8)}",
                "keys": {"p256dh": generate_keypair().public_key, "auth": b64url_encode(secrets.token_bytes(16))},
            },
        }
        handles.append(tokens.register(project_id, body)["id"])
    return handles


def _sqs_event(project_id: str, handles: list[str], per_record: int) -> tuple[dict[str, Any], list[str]]:
    """Send to the devices in chunks of `per_record` (one SQS message each); the SQS event and the ticket ids."""
    from local.pollers import sqs_record
    from sentori_push import sending
    from sentori_push.settings import settings
    from sentori_push.storage.aws import client

    ticket_ids: list[str] = []
    for start in range(0, len(handles), per_record):
        chunk = handles[start : start + per_record]
        result = sending.send(
            project_id,
            {
                "to": chunk,
                "title": "Your order has shipped",
                "body": f"Order #{100000 + start} is on its way and should arrive on Thursday.",
                "data": {"orderId": 100000 + start, "url": "/orders/100000"},
            },
        )
        ticket_ids.extend(t["id"] for t in result["tickets"])
    url = settings().dispatch_queue_url
    sqs = client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    records: list[dict[str, Any]] = []
    while got := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages"):
        records.extend(sqs_record(m, queue_arn=arn) for m in got)
    for record in records:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=record["receiptHandle"])
    return {"Records": records}, ticket_ids


def _outcomes(project_id: str, ticket_ids: list[str]) -> Counter[str]:
    from sentori_push.storage import tickets as ticket_store

    found = ticket_store.get_tickets(project_id, ticket_ids)
    return Counter(f"{t.status}/{t.provider_outcome}" for t in found.values())


def _received(origin: str) -> int:
    import urllib.request

    with urllib.request.urlopen(origin + "/stats", timeout=5) as response:
        count: int = json.load(response)["received"]
    return count


def _retained_by_package(snapshot: tracemalloc.Snapshot) -> dict[str, float]:
    """MiB still allocated after the batch, by the file that allocated it.

    Only the innermost frame is traced (deeper tracebacks make the traced run
    take minutes), so `copy.py`/`copyreg.py` and werkzeug count as moto: it
    deep-copies every item it stores or returns and builds a werkzeug request
    per call; nothing on the dispatch path does either otherwise.
    """
    groups: Counter[str] = Counter()
    for stat in snapshot.statistics("filename"):
        path = stat.traceback[0].filename
        if path.endswith(("/copy.py", "/copyreg.py")) or "/werkzeug/" in path:
            name = "moto"
        else:
            name = next((p for p in ("moto", "aiohttp", "botocore", "sentori_push") if f"/{p}/" in path), "other")
        groups[name] += stat.size
    return {name: round(size / 2**20, 1) for name, size in groups.most_common()}


class _DeliveryClock:
    """Times the engine's `deliver_sync` (encrypt, sign, POST) inside `dispatch.handle`."""

    def __init__(self) -> None:
        from sentori_push import dispatch

        self.seconds = 0.0
        engine = dispatch.engine()
        real = engine.deliver_sync

        def timed(requests: Any) -> Any:
            start = time.perf_counter()
            try:
                return real(requests)
            finally:
                self.seconds += time.perf_counter() - start

        engine.deliver_sync = timed  # type: ignore[method-assign]


def run(records: int, per_record: int) -> dict[str, Any]:
    from moto import mock_aws

    from tests.support.push_sink import PushSinkProcess

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        os.environ.pop(name, None)
    total = records * per_record
    with PushSinkProcess() as sink, mock_aws():
        project_id = _set_up(sink.origin)
        from sentori_push import dispatch

        # Warm-up: one small record, as a warm container has seen before.
        event, ids = _sqs_event(project_id, _devices(project_id, sink.origin, 10), 10)
        assert dispatch.handle(event) == {"batchItemFailures": []}
        assert _outcomes(project_id, ids) == Counter({"sent/WP_201": 10}), _outcomes(project_id, ids)

        # 1. untraced: wall time and peak RSS growth.
        event, ids = _sqs_event(project_id, _devices(project_id, sink.origin, total), per_record)
        delivery = _DeliveryClock()
        assert len(event["Records"]) == records, len(event["Records"])
        received0, rss0 = _received(sink.origin), _maxrss_mib()
        wall0 = time.perf_counter()
        answer = dispatch.handle(event)
        wall = time.perf_counter() - wall0
        rss_delta = _maxrss_mib() - rss0
        untraced = {
            "delivery_s": delivery.seconds,
            "answer": answer,
            "outcomes": _outcomes(project_id, ids),
            "arrived": _received(sink.origin) - received0,
        }

        # 2. under tracemalloc: the peak of Python allocations.
        event, ids = _sqs_event(project_id, _devices(project_id, sink.origin, total), per_record)
        received0 = _received(sink.origin)
        tracemalloc.start()
        base, _ = tracemalloc.get_traced_memory()
        traced0 = time.perf_counter()
        traced_answer = dispatch.handle(event)
        traced_wall = time.perf_counter() - traced0
        current, peak = tracemalloc.get_traced_memory()
        retained = _retained_by_package(tracemalloc.take_snapshot())
        tracemalloc.stop()
        traced = {
            "answer": traced_answer,
            "outcomes": _outcomes(project_id, ids),
            "arrived": _received(sink.origin) - received0,
        }
        dispatch.reset()
    return {
        "wall": wall,
        "rss_delta": rss_delta,
        "rss_peak": _maxrss_mib(),
        "traced_wall": traced_wall,
        "tracemalloc_peak": (peak - base) / 2**20,
        "tracemalloc_retained": (current - base) / 2**20,
        "retained_by_package": retained,
        "untraced": untraced,
        "traced": traced,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10, help="SQS records in the batch (default 10)")
    parser.add_argument("--per-record", type=int, default=100, help="tickets per record (default 100)")
    args = parser.parse_args()
    total = args.records * args.per_record

    result = run(args.records, args.per_record)
    expected = Counter({"sent/WP_201": total})
    all_sent = all(
        r["answer"] == {"batchItemFailures": []} and r["outcomes"] == expected and r["arrived"] == total
        for r in (result["untraced"], result["traced"])
    )
    print(f"dispatch.handle: {args.records} records × {args.per_record} tickets = {total} pushes, in-process moto")
    print(
        f"untraced: {result['wall']:.2f} s wall ({total / result['wall']:,.0f} tickets/s; "
        f"delivery {result['untraced']['delivery_s']:.2f} s, the rest DynamoDB/SQS on moto), "
        f"ru_maxrss +{result['rss_delta']:.1f} MiB (process peak {result['rss_peak']:.1f} MiB), "
        f"outcomes {dict(result['untraced']['outcomes'])}, sink received {result['untraced']['arrived']}"
    )
    print(
        f"tracemalloc: peak {result['tracemalloc_peak']:.1f} MiB, retained {result['tracemalloc_retained']:.1f} MiB "
        f"(moto's item store included), {result['traced_wall']:.2f} s wall under tracing, "
        f"outcomes {dict(result['traced']['outcomes'])}"
    )
    print(f"retained after the batch, MiB by allocating package: {result['retained_by_package']}")
    print(
        json.dumps(
            {
                "records": args.records,
                "tickets": total,
                "wall_s": round(result["wall"], 3),
                "tickets_per_s": round(total / result["wall"], 1),
                "delivery_s": round(result["untraced"]["delivery_s"], 3),
                "ru_maxrss_delta_mib": round(result["rss_delta"], 1),
                "ru_maxrss_peak_mib": round(result["rss_peak"], 1),
                "tracemalloc_peak_mib": round(result["tracemalloc_peak"], 1),
                "tracemalloc_retained_mib": round(result["tracemalloc_retained"], 1),
                "retained_moto_mib": result["retained_by_package"].get("moto", 0.0),
                "traced_wall_s": round(result["traced_wall"], 3),
                "all_sent": all_sent,
            }
        )
    )
    if not all_sent:
        sys.exit(1)


if __name__ == "__main__":
    main()
