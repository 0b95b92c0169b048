"""API Gateway (HTTP API, payload v2) adapter: the one place errors become HTTP.

Each Lambda serves exactly one route, so there is no router: `endpoint()`
wraps one function that takes a `Request` and returns a JSON-able value
(200) or None (204). Authentication, the body limit, JSON
parsing and the error envelope happen here and nowhere else.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sentori_push import auth
from sentori_push.auth import Caller
from sentori_push.errors import BodyTooLarge, Internal, InvalidRequest, SentoriError
from sentori_push.observability import logger
from sentori_push.settings import settings

Model = TypeVar("Model", bound=BaseModel)
LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]

_JSON_HEADERS = {"content-type": "application/json"}


class Access(Enum):
    PUBLIC = "public"  # public or admin keys
    ADMIN = "admin"  # admin keys only


@dataclass
class Request:
    caller: Caller
    path: dict[str, str]
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes

    def json(self) -> Any:
        if not self.raw_body.strip():
            raise InvalidRequest("the request needs a JSON body", [{"field": "", "problem": "empty body"}])
        try:
            return json.loads(self.raw_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRequest(
                "the body is not valid JSON", [{"field": "", "problem": str(exc).split(":")[0]}]
            ) from None
        except RecursionError:
            raise InvalidRequest(
                "the body is nested too deeply", [{"field": "", "problem": "nested too deeply"}]
            ) from None

    def model(self, model: type[Model]) -> Model:
        return parse_model(model, self.json())


def parse_model(model: type[Model], data: Any) -> Model:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = [
            {"field": ".".join(str(p) for p in err["loc"]), "problem": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidRequest("the request body has fields of the wrong shape", details) from None


def _raw_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return body.encode() if isinstance(body, str) else bytes(body)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"statusCode": status, "headers": {**_JSON_HEADERS, **(headers or {})}}
    if status != 204:
        response["body"] = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return response


def error_response(error: SentoriError) -> dict[str, Any]:
    return _json_response(error.status, error.body())


def _shape(result: Any) -> dict[str, Any]:
    if result is None:
        return {"statusCode": 204, "headers": {}}
    return _json_response(200, result)


def _request_id(event: dict[str, Any]) -> str:
    return str(event.get("requestContext", {}).get("requestId") or uuid.uuid4())


def handle(event: dict[str, Any], access: Access, fn: Callable[[Request], Any]) -> dict[str, Any]:
    request_id = _request_id(event)
    try:
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        caller = auth.authenticate(headers.get("authorization"))
        if access is Access.ADMIN:
            caller.require_admin()
        path = dict(event.get("pathParameters") or {})
        # Admin routes under /admin/api/projects/{projectId}/… belong to one project.
        if "projectId" in path:
            caller.require_project(path["projectId"])
        raw = _raw_body(event)
        limit = settings().max_body_bytes
        if len(raw) > limit:
            raise BodyTooLarge(len(raw), limit)
        request = Request(caller, path, dict(event.get("queryStringParameters") or {}), headers, raw)
        return _shape(fn(request))
    except SentoriError as error:
        if error.status >= 500:
            logger.warning("request refused", extra={"code": error.code, "requestId": request_id})
        return error_response(error)
    except Exception:
        logger.exception("unhandled error", extra={"correlationId": request_id})
        return error_response(Internal(request_id))


def endpoint(access: Access) -> Callable[[Callable[[Request], Any]], LambdaHandler]:
    """Turn `fn(request)` into a Lambda handler for one HTTP API route."""

    def wrap(fn: Callable[[Request], Any]) -> LambdaHandler:
        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return handle(event, access, fn)

        lambda_handler.__name__ = fn.__name__
        lambda_handler.__doc__ = fn.__doc__
        return lambda_handler

    return wrap
