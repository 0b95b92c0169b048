"""What API Gateway (HTTP API) does around a Lambda integration, locally.

Route matching, the payload format 2.0 event, the mapping of the handler's
response back to HTTP, and the API's CorsConfiguration. Behaviour follows the
real service where a client could notice: an unknown route is 404
`{"message":"Not Found"}`, a handler that raises is 500
`{"message":"Internal Server Error"}`, the request path and path parameters
arrive percent-decoded, preflights are answered without invoking a function,
and CORS headers returned by a function are replaced by the API's own.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

ACCOUNT_ID = "123456789012"
API_ID = "sentoridev"

NOT_FOUND_BODY = json.dumps({"message": "Not Found"}, separators=(",", ":"))
INTERNAL_ERROR_BODY = json.dumps({"message": "Internal Server Error"}, separators=(",", ":"))


@dataclass(frozen=True)
class RouteTarget:
    method: str
    path: str
    function: str  # logical id of the function that serves the route

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/") if self.path.strip("/") else []


@dataclass(frozen=True)
class RouteMatch:
    target: RouteTarget
    path_parameters: dict[str, str]


class RouteTable:
    """Matches METHOD + path against the template's route keys.

    Like API Gateway, the most specific route wins: a literal segment beats a
    `{param}` segment at the same position, so `/tokens/new` would be chosen
    over `/tokens/{ipt}`.
    """

    def __init__(self, targets: Iterable[RouteTarget]) -> None:
        def specificity(target: RouteTarget) -> tuple[int, ...]:
            return tuple(1 if _is_param(segment) else 0 for segment in target.segments)

        self.targets = sorted(targets, key=specificity)

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        # Split on the encoded path so an encoded "/" stays inside one parameter.
        parts = raw_path.strip("/").split("/") if raw_path.strip("/") else []
        for target in self.targets:
            if target.method not in (method, "ANY"):
                continue
            params = _match_segments(target.segments, parts)
            if params is not None:
                return RouteMatch(target, params)
        return None


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _match_segments(template: list[str], parts: list[str]) -> dict[str, str] | None:
    if len(template) != len(parts):
        return None
    params: dict[str, str] = {}
    for expected, actual in zip(template, parts, strict=True):
        if _is_param(expected):
            if not actual:
                return None
            params[expected[1:-1]] = unquote(actual)
        elif expected != unquote(actual):
            return None
    return params


@dataclass
class HttpRequest:
    """One request as the local HTTP server received it."""

    method: str
    target: str  # path and query string as sent, still percent-encoded
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    received_at: float = field(default_factory=time.time)

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0] or "/"

    @property
    def raw_query_string(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None


def build_http_event(request: HttpRequest, match: RouteMatch) -> dict[str, Any]:
    """The API Gateway HTTP API payload format 2.0 event for one request."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in request.headers:
        name = key.lower()
        if name == "cookie":
            # Payload 2.0 moves cookies out of the headers into their own list.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    host = headers.get("host", "")
    if ":" in host:
        headers.setdefault("x-forwarded-port", host.rsplit(":", 1)[1])
    request_id = base64.b32encode(uuid.uuid4().bytes).decode().rstrip("=")[:16]
    headers["x-amzn-trace-id"] = f"Root=1-{int(request.received_at):08x}-{uuid.uuid4().hex[:24]}"

    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query_string, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    path = unquote(request.raw_path)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.target.route_key,
        "rawPath": path,
        "rawQueryString": request.raw_query_string,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": host or "127.0.0.1",
            "domainPrefix": (host or "127.0.0.1").split(".", 1)[0],
            "http": {
                "method": request.method,
                "path": path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": match.target.route_key,
            "stage": "$default",
            "time": datetime.fromtimestamp(request.received_at, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(request.received_at * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    if request.body:
        try:
            event["body"] = request.body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def response_from_result(result: Any) -> HttpResponse:
    """Maps a handler's return value as payload format 2.0 does.

    A dict with `statusCode` is taken as-is; anything else is "inferred": 200
    with the value JSON-encoded (a string is passed through as the body).
    """
    if not isinstance(result, dict) or "statusCode" not in result:
        text = result if isinstance(result, str) else json.dumps(result)
        return HttpResponse(200, [("content-type", "application/json")], text.encode())

    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode()
    return HttpResponse(int(result["statusCode"]), headers, body)


def not_found() -> HttpResponse:
    return HttpResponse(404, [("content-type", "application/json")], NOT_FOUND_BODY.encode())


def internal_error() -> HttpResponse:
    return HttpResponse(500, [("content-type", "application/json")], INTERNAL_ERROR_BODY.encode())


class Cors:
    """An HttpApi CorsConfiguration (AllowOrigins, AllowHeaders, AllowMethods, ...)."""

    def __init__(self, config: Mapping[str, Any] | None) -> None:
        config = config or {}
        self.enabled = bool(config)
        self.allow_origins = _as_list(config.get("AllowOrigins"))
        self.allow_headers = _as_list(config.get("AllowHeaders"))
        self.allow_methods = _as_list(config.get("AllowMethods"))
        self.expose_headers = _as_list(config.get("ExposeHeaders"))
        self.max_age = config.get("MaxAge")
        self.allow_credentials = bool(config.get("AllowCredentials"))

    def origin_allowed(self, origin: str) -> bool:
        return any(
            allowed == "*" or allowed.lower() == origin.lower() or fnmatch.fnmatchcase(origin.lower(), allowed.lower())
            for allowed in self.allow_origins
        )

    def is_preflight(self, request: HttpRequest) -> bool:
        return (
            self.enabled
            and request.method == "OPTIONS"
            and request.header("origin") is not None
            and request.header("access-control-request-method") is not None
        )

    def preflight(self, request: HttpRequest) -> HttpResponse:
        origin = request.header("origin") or ""
        if not self.origin_allowed(origin):
            return HttpResponse(204, [], b"")
        headers = self._origin_headers(origin)
        if self.allow_methods:
            headers.append(("access-control-allow-methods", ",".join(self.allow_methods)))
        if self.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(self.allow_headers)))
        if self.max_age is not None:
            headers.append(("access-control-max-age", str(self.max_age)))
        return HttpResponse(204, headers, b"")

    def decorate(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        """API Gateway ignores a function's own CORS headers and adds the API's."""
        if not self.enabled:
            return response
        headers = [(k, v) for k, v in response.headers if not k.lower().startswith("access-control-")]
        origin = request.header("origin")
        if origin is not None and self.origin_allowed(origin):
            headers.extend(self._origin_headers(origin))
            if self.expose_headers:
                headers.append(("access-control-expose-headers", ",".join(self.expose_headers)))
        return HttpResponse(response.status, headers, response.body)

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        if "*" in self.allow_origins and not self.allow_credentials:
            headers = [("access-control-allow-origin", "*")]
        else:
            headers = [("access-control-allow-origin", origin), ("vary", "Origin")]
        if self.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(part) for part in value]
