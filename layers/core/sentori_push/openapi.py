"""The OpenAPI 3.1 document of the public HTTP API (DESIGN §3–§6), built from the code.

Request bodies come from the pydantic models the handlers validate with
(`sending.SendRequest`, `sending.ReceiptsRequest`); where the domain validates
by hand (tokens, topics, credentials) the documentation models below describe
the same shape. Error codes come from the `SentoriError` classes, so a new
error class reaches the document without an edit here.

A build tool, not a runtime one: no handler imports it. The committed copy,
`docs/openapi.json`, is regenerated with `make openapi`, and a unit test fails
when it drifts from this module or when `ROUTES` and `template.yaml` disagree.

    python -m sentori_push.openapi                  # print the document
    python -m sentori_push.openapi --write PATH     # write it
    python -m sentori_push.openapi --check PATH     # exit 1 when PATH is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from sentori_push import sending, tickets, tokens
from sentori_push.api import Access
from sentori_push.errors import (
    AdminKeyRequired,
    AudienceTooLarge,
    BatchTooLarge,
    BodyTooLarge,
    DbNotConfigured,
    EndpointNotAllowed,
    IdempotencyKeyReused,
    Internal,
    InvalidCredential,
    InvalidProvider,
    InvalidRequest,
    InvalidSubscription,
    InvalidToken,
    MissingToken,
    NotFound,
    PayloadTooBig,
    SentoriError,
)
from sentori_push.providers import PROVIDERS

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
SCHEMAS = "#/components/schemas/"
PARAMETERS = "#/components/parameters/"
_PROVIDER_ENUM: dict[str, Any] = {"enum": list(PROVIDERS)}
_TIMESTAMP = "RFC 3339 UTC with millisecond precision, e.g. 2026-12-03T17:47:11.123Z"


# ---------------------------------------------------------------------------
# Documentation models: bodies the domain validates by hand
# ---------------------------------------------------------------------------
class PushSubscriptionKeys(BaseModel):
    p256dh: str = Field(description="base64url, a 65-byte uncompressed P-256 point that lies on the curve")
    auth: str = Field(description="base64url, 16 bytes")


class PushSubscription(BaseModel):
    """The browser's PushSubscription JSON (`subscription.toJSON()`)."""

    endpoint: str = Field(
        description="https URL of an allow-listed push service: no userinfo, default port, not a private IP literal"
    )
    expirationTime: int | None = Field(None, ge=0, description="milliseconds since the epoch, or null")
    keys: PushSubscriptionKeys


class TokenRegistration(BaseModel):
    """Upsert on (project, provider, endpoint): the same endpoint always gets the same handle."""

    provider: str = Field(
        json_schema_extra=_PROVIDER_ENUM, description="only webpush devices are delivered by this service"
    )
    nativeToken: PushSubscription | str = Field(
        description=(
            "webpush: the PushSubscription as an object or as its JSON string; other providers: their native "
            f"token, 1-{tokens.MAX_NATIVE_TOKEN_CHARS} characters"
        )
    )
    linkHash: str | None = Field(
        None,
        min_length=1,
        max_length=tokens.MAX_LINK_HASH_CHARS,
        description='binds the device to a user of the app; a send to "user:<linkHash>" reaches it',
    )
    metadata: dict[str, Any] | None = Field(
        None, description=f"stored with the device, at most {tokens.MAX_METADATA_BYTES} bytes as compact JSON"
    )


class TokenRegistered(BaseModel):
    id: str = Field(pattern=tokens.HANDLE_PATTERN.pattern, description="the device handle")
    createdAt: AwareDatetime = Field(description=_TIMESTAMP)
    updatedAt: AwareDatetime = Field(description=_TIMESTAMP)


class TopicSubscription(BaseModel):
    topic: str = Field(min_length=1, description=f"1-{tokens.MAX_TOPIC_CHARS} characters after trimming")


class Subscribed(BaseModel):
    subscribed: Literal[True]


class Unsubscribed(BaseModel):
    unsubscribed: Literal[True]


class Ticket(BaseModel):
    """One resolved device of a send; `queued` until the dispatcher records an outcome."""

    id: str = Field(pattern=tickets.TICKET_ID.pattern, description="the send id")
    to: str = Field(description="the device handle")
    status: tickets.Status
    providerOutcome: str | None = Field(
        description="e.g. WP_201, WP_410_Gone, DeviceNotRegistered; while queued, the last attempt's"
    )
    error: str | None = Field(description="a human sentence when the last attempt failed")
    retryCount: int = Field(ge=0)
    nextAttemptAt: AwareDatetime | None = Field(description=_TIMESTAMP)
    createdAt: AwareDatetime = Field(description=_TIMESTAMP)
    sentAt: AwareDatetime | None = Field(description=_TIMESTAMP)


class SendResult(BaseModel):
    tickets: list[Ticket] = Field(description="one per resolved device, in the order of `to`")


class Receipt(BaseModel):
    ticket: Ticket


class Receipts(BaseModel):
    tickets: dict[str, Ticket] = Field(
        description="by send id; ids that are malformed, unknown, expired or another project's are left out"
    )


class VapidConfig(BaseModel):
    """webpush `config`; snake_case names (vapid_public, subject) are accepted too."""

    vapidPublic: str = Field(description="base64url uncompressed P-256 public key")
    contact: str = Field(description="mailto: or https: URI, the VAPID `sub` claim")


class VapidSecret(BaseModel):
    """webpush `secret`; never returned by any route."""

    vapidPrivate: str = Field(description="PEM, base64 PEM/DER or raw base64url scalar; must match vapidPublic")


class CredentialPut(BaseModel):
    provider: str = Field(json_schema_extra=_PROVIDER_ENUM)
    config: VapidConfig | dict[str, Any] = Field(description="webpush: VapidConfig; other providers: kept as given")
    secret: VapidSecret | dict[str, Any] | None = Field(
        None, description="required for webpush; encrypted with KMS before it is stored"
    )


class CredentialView(BaseModel):
    provider: str = Field(json_schema_extra=_PROVIDER_ENUM)
    config: dict[str, Any] = Field(description="webpush: the normalised VapidConfig")
    updatedAt: AwareDatetime = Field(description=_TIMESTAMP)


class CredentialSaved(CredentialView):
    ok: Literal[True]


class CredentialVerification(BaseModel):
    provider: str = Field(json_schema_extra=_PROVIDER_ENUM)
    status: Literal["ok", "rejected", "malformed"] = Field(
        description="rejected: KMS refused to decrypt the secret; malformed: it decrypts but does not validate"
    )
    reason: str


class FieldProblem(BaseModel):
    field: str = Field(description="dotted path of the offending field; empty for the body as a whole")
    problem: str


class ErrorBody(BaseModel):
    """`code` and `message` always; the other members depend on the code."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(description="one of ErrorCode")
    message: str = Field(description="a human sentence")
    details: list[FieldProblem] | None = Field(None, description="invalidRequest")
    field: str | None = Field(
        None, description="invalidProvider, invalidSubscription, endpointNotAllowed, invalidCredential"
    )
    actualRecipients: int | None = Field(None, description="BatchTooLarge")
    maxRecipients: int | None = Field(None, description="BatchTooLarge")
    actualDevices: int | None = Field(None, description="AudienceTooLarge")
    maxDevices: int | None = Field(None, description="AudienceTooLarge")
    actualBytes: int | None = Field(None, description="PayloadTooBig, bodyTooLarge")
    maxBytes: int | None = Field(None, description="PayloadTooBig, bodyTooLarge")
    correlationId: str | None = Field(None, description="internal: quote it when reporting the failure")


class ErrorEnvelope(BaseModel):
    error: ErrorBody


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    TokenRegistration,
    TopicSubscription,
    sending.SendRequest,
    sending.ReceiptsRequest,
    CredentialPut,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    TokenRegistered,
    Subscribed,
    Unsubscribed,
    SendResult,
    Receipt,
    Receipts,
    CredentialSaved,
    CredentialView,
    CredentialVerification,
    ErrorEnvelope,
)

# Notes on fields of the handlers' own models, which carry no descriptions;
# a renamed field makes generation fail rather than drop its note.
FIELD_NOTES: dict[tuple[str, str], str] = {
    ("SendRequest", "to"): (
        'a device handle "ipt_<32 hex>", a list of 1-100 handles, "user:<linkHash>", "topic:<name>", {topic} '
        f"or {{linkHash}}; a topic or user resolves to at most {sending.MAX_AUDIENCE} active devices"
    ),
    ("SendRequest", "data"): "delivered in the Web Push plaintext; `_sentori.msgId` is set to the ticket id",
    ("SendRequest", "idempotencyKey"): "a repeat within 24 h returns the original tickets; another message is 409",
    ("SendRequest", "sendAt"): "RFC 3339; a future time delays delivery until then",
    ("SendOptions", "priority"): "the Urgency header",
    ("SendOptions", "ttl"): "seconds the push service keeps the message (the TTL header)",
    ("SendOptions", "collapseKey"): "the Topic header; keys longer than 32 base64url characters are hashed",
    ("ReceiptsRequest", "ids"): f"send ids, at most {sending.MAX_RECEIPT_IDS}",
}


# ---------------------------------------------------------------------------
# Routes (DESIGN §4); tests/unit/test_openapi.py checks them against template.yaml
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    access: Access
    success: int
    request: type[BaseModel] | None = None
    response: dict[str, Any] | None = None
    errors: tuple[type[SentoriError], ...] = ()

    @property
    def path_parameters(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": SCHEMAS + name}


TOKENS = "/v1/push/tokens"
CREDENTIALS = "/admin/api/projects/{projectId}/push/credentials"

ROUTES: tuple[Operation, ...] = (
    Operation(
        "POST",
        TOKENS,
        "registerToken",
        "tokens",
        "Register (upsert) a device and get its handle",
        Access.PUBLIC,
        200,
        TokenRegistration,
        _ref("TokenRegistered"),
        (InvalidRequest, InvalidProvider, InvalidSubscription, EndpointNotAllowed),
    ),
    Operation(
        "DELETE",
        TOKENS + "/{ipt}",
        "unregisterToken",
        "tokens",
        "Unregister a device (204 also when it is already gone; a malformed handle is 404)",
        Access.PUBLIC,
        204,
        errors=(NotFound,),
    ),
    Operation(
        "POST",
        TOKENS + "/{ipt}/topics",
        "subscribeTopic",
        "topics",
        "Subscribe a device to a topic",
        Access.PUBLIC,
        200,
        TopicSubscription,
        _ref("Subscribed"),
        (InvalidRequest, NotFound),
    ),
    Operation(
        "DELETE",
        TOKENS + "/{ipt}/topics/{topic}",
        "unsubscribeTopic",
        "topics",
        "Unsubscribe a device from a topic",
        Access.PUBLIC,
        200,
        response=_ref("Unsubscribed"),
        errors=(InvalidRequest, NotFound),
    ),
    Operation(
        "POST",
        "/v1/push/send",
        "send",
        "sending",
        "Send a notification: one ticket per resolved device",
        Access.ADMIN,
        200,
        sending.SendRequest,
        _ref("SendResult"),
        (InvalidRequest, BatchTooLarge, AudienceTooLarge, PayloadTooBig, IdempotencyKeyReused),
    ),
    Operation(
        "GET",
        "/v1/push/receipts/{sendId}",
        "getReceipt",
        "receipts",
        "Read one ticket",
        Access.ADMIN,
        200,
        response=_ref("Receipt"),
        errors=(NotFound,),
    ),
    Operation(
        "POST",
        "/v1/push/receipts",
        "getReceipts",
        "receipts",
        f"Read up to {sending.MAX_RECEIPT_IDS} tickets at once",
        Access.ADMIN,
        200,
        sending.ReceiptsRequest,
        _ref("Receipts"),
        (InvalidRequest,),
    ),
    Operation(
        "PUT",
        CREDENTIALS,
        "putCredential",
        "credentials",
        "Store a provider credential (the secret is encrypted with KMS)",
        Access.ADMIN,
        200,
        CredentialPut,
        _ref("CredentialSaved"),
        (InvalidRequest, InvalidProvider, InvalidCredential, NotFound),
    ),
    Operation(
        "GET",
        CREDENTIALS,
        "listCredentials",
        "credentials",
        "List the project's credentials (never a secret)",
        Access.ADMIN,
        200,
        response={"type": "array", "items": _ref("CredentialView")},
        errors=(NotFound,),
    ),
    Operation(
        "DELETE",
        CREDENTIALS + "/{provider}",
        "deleteCredential",
        "credentials",
        "Delete the project's credential for one provider",
        Access.ADMIN,
        204,
        errors=(InvalidProvider, NotFound),
    ),
    Operation(
        "POST",
        CREDENTIALS + "/{provider}/verify",
        "verifyCredential",
        "credentials",
        "Check that a stored credential decrypts and is well formed",
        Access.ADMIN,
        200,
        response=_ref("CredentialVerification"),
        errors=(InvalidProvider, NotFound),
    ),
)

# Raised by the adapter (`sentori_push.api`) on every route.
COMMON_ERRORS: tuple[type[SentoriError], ...] = (MissingToken, InvalidToken, DbNotConfigured, Internal)

PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "ipt": {
        "description": "device handle; a malformed one answers like an unknown one",
        "schema": {"type": "string", "pattern": tokens.HANDLE_PATTERN.pattern},
    },
    "topic": {
        "description": f"topic name, URL-encoded; 1-{tokens.MAX_TOPIC_CHARS} characters after trimming",
        "schema": {"type": "string", "minLength": 1},
    },
    "sendId": {
        "description": "ticket id; a malformed one answers 404",
        "schema": {"type": "string", "pattern": tickets.TICKET_ID.pattern},
    },
    "projectId": {
        "description": "the caller's own project; another project's id answers 404",
        "schema": {"type": "string"},
    },
    "provider": {"description": "push provider", "schema": {"type": "string", **_PROVIDER_ENUM}},
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "publicKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "st_pk_<26 lowercase base32>",
        "description": "Public project key, safe in a browser bundle: token and topic routes only.",
    },
    "adminKey": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "st_admin_<26 lowercase base32>",
        "description": "Admin project key, server side only: every route of its own project.",
    },
}


# ---------------------------------------------------------------------------
# Assembly
# ---------------------------------------------------------------------------
def error_classes() -> list[type[SentoriError]]:
    """SentoriError and every subclass, however deep, in a stable order."""

    def walk(cls: type[SentoriError]) -> Iterator[type[SentoriError]]:
        yield cls
        for sub in cls.__subclasses__():
            yield from walk(sub)

    return sorted(set(walk(SentoriError)), key=lambda cls: (cls.status, cls.code, cls.__name__))


def error_codes() -> list[str]:
    return sorted({cls.code for cls in error_classes()})


def _component_schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "validation") for model in (*REQUEST_MODELS, *RESPONSE_MODELS)],
        ref_template=SCHEMAS + "{model}",
    )
    schemas: dict[str, Any] = top["$defs"]
    for schema in schemas.values():
        # pydantic titles every property after its name ("Linkhash"): noise in a reference.
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
    for (model, field), note in FIELD_NOTES.items():
        schemas[model]["properties"][field].setdefault("description", note)
    error_members = schemas["ErrorBody"]["properties"]
    error_members["code"] = _ref("ErrorCode")
    for name, member in error_members.items():
        # A detail member is absent when it does not apply, never null.
        branches = [b for b in member.pop("anyOf", []) if b != {"type": "null"}]
        if branches:
            member.update(branches[0])
        if name != "code":
            member.pop("default", None)
    schemas["ErrorCode"] = {
        "type": "string",
        "enum": error_codes(),
        "description": "; ".join(
            f"{cls.status} {cls.code} ({cls.__name__})" for cls in error_classes() if cls is not SentoriError
        ),
    }
    return schemas


def _error_responses(operation: Operation) -> dict[str, Any]:
    raised: list[type[SentoriError]] = [*operation.errors, *COMMON_ERRORS]
    if operation.access is Access.ADMIN:
        raised.append(AdminKeyRequired)
    if "projectId" in operation.path_parameters:
        raised.append(NotFound)
    if operation.request is not None:
        raised.append(BodyTooLarge)
    by_status: dict[int, set[str]] = {}
    for cls in raised:
        by_status.setdefault(cls.status, set()).add(cls.code)
    return {
        str(status): {
            "description": ", ".join(f"`{code}`" for code in sorted(codes)),
            "content": {"application/json": {"schema": _ref("ErrorEnvelope")}},
        }
        for status, codes in sorted(by_status.items())
    }


def _operation(operation: Operation) -> dict[str, Any]:
    security: list[dict[str, list[str]]] = (
        [{"adminKey": []}] if operation.access is Access.ADMIN else [{"publicKey": []}, {"adminKey": []}]
    )
    keys = "an admin key" if operation.access is Access.ADMIN else "a public or an admin key"
    success: dict[str, Any] = {"description": "No content" if operation.success == 204 else "OK"}
    if operation.response is not None:
        success["content"] = {"application/json": {"schema": operation.response}}
    doc: dict[str, Any] = {
        "operationId": operation.operation_id,
        "tags": [operation.tag],
        "summary": operation.summary,
        "description": f"Needs {keys}.",
        "security": security,
        "x-sentori-access": operation.access.value,
        "responses": {str(operation.success): success, **_error_responses(operation)},
    }
    parameters: list[dict[str, Any]] = [{"$ref": PARAMETERS + name} for name in operation.path_parameters]
    if operation.request is sending.SendRequest:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Same as the body's idempotencyKey; when both are given they must be equal.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 256},
            }
        )
    if parameters:
        doc["parameters"] = parameters
    if operation.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(operation.request.__name__)}},
        }
    return doc


def build() -> dict[str, Any]:
    """The whole document, as plain JSON data."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in ROUTES:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Sentori Push API",
            "version": API_VERSION,
            "summary": "Web Push as a service: register browsers, send, read receipts.",
            "description": (
                "JSON is camelCase. Every error body is "
                '`{"error": {"code": "<code>", "message": "<human sentence>", …details}}`.'
            ),
        },
        "servers": [
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "variables": {"apiId": {"default": "example"}, "region": {"default": "us-east-1"}},
            },
            {"url": "http://127.0.0.1:3000", "description": "the local dev stack (`make dev`)"},
        ],
        "tags": [{"name": name} for name in dict.fromkeys(operation.tag for operation in ROUTES)],
        "paths": paths,
        "components": {
            "schemas": _component_schemas(),
            "parameters": {
                name: {"name": name, "in": "path", "required": True, **spec} for name, spec in PATH_PARAMETERS.items()
            },
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def render() -> str:
    """The document as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sentori_push.openapi", description="Build the OpenAPI document.")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="PATH", type=Path, help="write the document to PATH")
    target.add_argument("--check", metavar="PATH", type=Path, help="exit 1 when PATH differs from the code")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text(text, encoding="utf-8")
    elif args.check:
        current = args.check.read_text(encoding="utf-8") if args.check.exists() else ""
        if current != text:
            print(f"{args.check} is stale: run `make openapi`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
