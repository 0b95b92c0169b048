"""Shared fixtures: AWS resources built from template.yaml on moto, and an
in-process API that routes like API Gateway to the real handlers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws

from local.apigw import HttpRequest, RouteTable, RouteTarget, build_http_event
from local.provision import Provisioned, provision
from local.runtime import load_handler
from local.template import FunctionSpec, load_template
from sentori_push import projects
from sentori_push.storage.aws import reset_clients
from tests.support.webpush_testing import WebPushTestingServer

TEMPLATE = load_template()


def function_environment(provisioned: Provisioned) -> dict[str, str]:
    env: dict[str, str] = {}
    for fn in TEMPLATE.functions():
        env.update(provisioned.environment_for(fn))
    return env


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    """A fresh moto world with every table, queue and key of the template."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        provisioned = provision(TEMPLATE, prefix="test")
        for name, value in function_environment(provisioned).items():
            monkeypatch.setenv(name, value)
        reset_clients()
        yield provisioned
    reset_clients()


@dataclass
class ApiResult:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def error_code(self) -> str:
        return str(self.json["error"]["code"])


class Api:
    """Calls the real handlers with API Gateway v2 events, without a socket."""

    def __init__(self) -> None:
        self.specs: dict[str, FunctionSpec] = {fn.logical_id: fn for fn in TEMPLATE.functions()}
        self.routes = RouteTable(
            RouteTarget(route.method, route.path, fn.logical_id) for fn in self.specs.values() for route in fn.routes
        )

    def __call__(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        json_body: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> ApiResult:
        match = self.routes.match(method, path.split("?")[0])
        assert match is not None, f"no route for {method} {path}"
        sent = dict(headers or {})
        if key is not None:
            sent["authorization"] = f"Bearer {key}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("content-type", "application/json")
        request = HttpRequest(method, path, list(sent.items()), body or b"", "127.0.0.1")
        handler = load_handler(self.specs[match.target.function])
        result = handler(build_http_event(request, match), None)
        return ApiResult(result["statusCode"], result.get("headers", {}), result.get("body", ""))


@pytest.fixture(scope="session")
def wpt() -> Iterator[WebPushTestingServer]:
    """web-push-testing, the independent Web Push peer, on 127.0.0.1 (npm ci installs it)."""
    with WebPushTestingServer() as running:
        yield running


@pytest.fixture
def api(aws: Provisioned) -> Api:
    return Api()


@pytest.fixture
def project(aws: Provisioned) -> projects.CreatedProject:
    return projects.create_project("acme")


@pytest.fixture
def other_project(aws: Provisioned) -> projects.CreatedProject:
    return projects.create_project("globex")
