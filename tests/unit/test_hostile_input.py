"""Bad input gets a clear 4xx with the contract's envelope, never a 500, on every route."""

from __future__ import annotations

import json

import pytest

IPT = "ipt_" + "0" * 32
BODIES: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"42",
    b"{}",
    b"{",
    b"\xff\xfe\x00",
    b'{"to": null}',
    b'{"to": {"topic": 5}}',
    b'{"to": {"linkHash": null}}',
    b'{"to": "user:\\ud800"}',
    b'{"provider": "webpush", "nativeToken": 1}',
    b'{"provider": "webpush", "nativeToken": "{\\"endpoint\\": 3}"}',
    b'{"provider": "webpush", "nativeToken": {"endpoint": "https://fcm.googleapis.com/x", "keys": []}}',
    b'{"provider": "webpush", "config": [], "secret": []}',
    b'{"provider": "webpush", "config": {"vapidPublic": 1, "contact": 2}, "secret": {"vapidPrivate": 3}}',
    b'{"topic": ["a"]}',
    b'{"ids": "send_x"}',
    b'{"ids": [1, 2]}',
    b'{"to": "topic:a", "options": {"ttl": 1e999}}',
    b'{"to": "topic:a", "sendAt": "9999-99-99T99:99:99Z"}',
    ("[" * 5000 + "]" * 5000).encode(),
]
ROUTES = [
    ("POST", "/v1/push/tokens"),
    ("POST", f"/v1/push/tokens/{IPT}/topics"),
    ("POST", "/v1/push/send"),
    ("POST", "/v1/push/receipts"),
    ("PUT", "/admin/api/projects/{project}/push/credentials"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_no_body_makes_a_route_answer_500(api, project, method, path):
    for body in BODIES:
        result = api(method, path.format(project=project.project_id), key=project.admin_key, body=body)
        assert 400 <= result.status < 500, (body[:80], result.status, result.text[:300])
        error = json.loads(result.text)["error"]
        assert error["code"] and error["message"]


@pytest.mark.parametrize("junk", ["%00", "..%2F..%2Fetc", "x" * 5000, "%F0%9F%91%8B", "ipt_" + "0" * 31 + "%0A"])
def test_no_path_parameter_makes_a_route_answer_500(api, project, junk):
    calls = [
        ("DELETE", f"/v1/push/tokens/{junk}"),
        ("POST", f"/v1/push/tokens/{junk}/topics"),
        ("DELETE", f"/v1/push/tokens/{IPT}/topics/{junk}"),
        ("GET", f"/v1/push/receipts/{junk}"),
        ("DELETE", f"/admin/api/projects/{project.project_id}/push/credentials/{junk}"),
        ("POST", f"/admin/api/projects/{project.project_id}/push/credentials/{junk}/verify"),
        ("GET", f"/admin/api/projects/{junk}/push/credentials"),
    ]
    for method, path in calls:
        result = api(method, path, key=project.admin_key, json_body={"topic": "news"})
        assert result.status < 500, (method, path[:80], result.status, result.text[:200])
        assert result.status == 204 or json.loads(result.text)["error"]["code"]
