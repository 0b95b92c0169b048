"""Dispatch throughput: the DeliveryEngine against a naive `pywebpush.webpush()` loop.

Both send to the same local push service (tests/support/push_sink.py, run in a
child process so it does not share this process's CPU), which answers 201 after
20 ms, about a real push service's latency. Every message goes to its own
subscription (own keys, own endpoint path) and is encrypted and VAPID-signed
for real. The engine gets a short warm-up first, like a warm Lambda.

    .venv/bin/python bench/dispatch.py [--messages 2000] [--naive 100] [--delay 0.02]

The last line printed is one JSON object: ours_per_s, naive_per_s, speedup,
cpu_us_per_msg (this process's CPU time per message sent by the engine), …
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "layers" / "core"), str(ROOT)]

CONTACT = "mailto:bench@example.com"


def _payload(i: int) -> bytes:
    message = {
        "title": "Your order has shipped",
        "body": f"Order #{100000 + i} is on its way and should arrive on Thursday.",
        "data": {"orderId": 100000 + i, "url": "/orders/100000", "_sentori": {"msgId": f"send_{i:032x}"}},
    }
    return json.dumps(message, separators=(",", ":")).encode()


def _devices(count: int) -> list[tuple[str, str]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    from sentori_push.vapid import b64url_encode, public_point

    return [
        (b64url_encode(public_point(ec.generate_private_key(ec.SECP256R1()))), b64url_encode(os.urandom(16)))
        for _ in range(count)
    ]


def _received(origin: str) -> int:
    with urllib.request.urlopen(origin + "/stats", timeout=5) as response:
        count: int = json.load(response)["received"]
    return count


def run_ours(origin: str, count: int, max_in_flight: int) -> dict[str, Any]:
    from sentori_push.delivery import DeliveryEngine, PushRequest, VapidCredential
    from sentori_push.vapid import generate_keypair

    pair = generate_keypair()
    vapid = VapidCredential(pair.public_key, pair.private_key, CONTACT)
    devices = _devices(count)
    requests = [
        PushRequest(
            f"send_{i}", f"{origin}/push/201/sub-{i:06d}", p256dh, auth, _payload(i), 3600, "normal", None, vapid
        )
        for i, (p256dh, auth) in enumerate(devices)
    ]
    with DeliveryEngine(max_in_flight=max_in_flight) as engine:
        engine.deliver_sync(requests[:100])  # warm-up: imports, connections, the JWT
        before = _received(origin)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        results = engine.deliver_sync(requests)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        arrived = _received(origin) - before
    outcomes = Counter(r.outcome for r in results)
    return {
        "seconds": wall,
        "per_s": count / wall,
        "cpu_us_per_msg": cpu / count * 1e6,
        "outcomes": outcomes,
        "arrived": arrived,
    }


def run_naive(origin: str, count: int) -> dict[str, Any]:
    """The loop pywebpush's README suggests: one webpush() call per message."""
    from pywebpush import webpush

    from sentori_push.vapid import generate_keypair

    pair = generate_keypair()
    devices = _devices(count)
    statuses: Counter[int] = Counter()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i, (p256dh, auth) in enumerate(devices):
        response = webpush(
            {"endpoint": f"{origin}/push/201/naive-{i:06d}", "keys": {"p256dh": p256dh, "auth": auth}},
            data=_payload(i).decode(),
            vapid_private_key=pair.private_key,
            vapid_claims={"sub": CONTACT},  # a new dict each time: webpush() writes aud and exp into it
            ttl=3600,
            timeout=10,
            headers={"Content-Type": "application/octet-stream"},
        )
        statuses[getattr(response, "status_code", 0)] += 1
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"seconds": wall, "per_s": count / wall, "cpu_us_per_msg": cpu / count * 1e6, "statuses": statuses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000, help="messages for the engine (default 2000)")
    parser.add_argument("--naive", type=int, default=100, help="messages for the naive loop (default 100)")
    parser.add_argument("--delay", type=float, default=0.02, help="push service answer delay, seconds (default 0.02)")
    parser.add_argument("--max-in-flight", type=int, default=256)
    args = parser.parse_args()

    from tests.support.push_sink import PushSinkProcess

    with PushSinkProcess(delay=args.delay) as sink:
        ours = run_ours(sink.origin, args.messages, args.max_in_flight)
        naive = run_naive(sink.origin, args.naive)

    print(f"push service: local sink answering 201 after {args.delay * 1000:.0f} ms, on {os.cpu_count()} CPUs")
    print(
        f"DeliveryEngine: {args.messages} messages in {ours['seconds']:.2f} s = {ours['per_s']:,.0f} msg/s, "
        f"{ours['cpu_us_per_msg']:.0f} µs CPU/msg, max_in_flight {args.max_in_flight}, "
        f"outcomes {dict(ours['outcomes'])}, sink received {ours['arrived']}"
    )
    print(
        f"naive webpush() loop: {args.naive} messages in {naive['seconds']:.2f} s = {naive['per_s']:,.1f} msg/s, "
        f"{naive['cpu_us_per_msg']:.0f} µs CPU/msg, statuses {dict(naive['statuses'])}"
    )
    speedup = ours["per_s"] / naive["per_s"]
    print(f"speedup: {speedup:.1f}×")
    summary = {
        "messages": args.messages,
        "naive_messages": args.naive,
        "delay_ms": args.delay * 1000,
        "ours_per_s": round(ours["per_s"], 1),
        "naive_per_s": round(naive["per_s"], 2),
        "speedup": round(speedup, 1),
        "cpu_us_per_msg": round(ours["cpu_us_per_msg"], 1),
        "naive_cpu_us_per_msg": round(naive["cpu_us_per_msg"], 1),
        "ours_all_sent": ours["outcomes"] == Counter({"WP_201": args.messages}) and ours["arrived"] == args.messages,
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
