"""Domain errors: each carries the HTTP status and the contract's error code.

Raised where the rule lives; `sentori_push.api` is the only place that turns
them into responses.
"""

from __future__ import annotations

from typing import Any

from sentori_push.providers import PROVIDERS


class SentoriError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class InvalidRequest(SentoriError):
    status = 400
    code = "invalidRequest"

    def __init__(self, message: str, details: list[dict[str, str]] | None = None) -> None:
        super().__init__(message, details=details or [])


class InvalidProvider(SentoriError):
    status = 400
    code = "invalidProvider"

    def __init__(self, given: object) -> None:
        super().__init__(
            f"provider {given!r} is not supported; use one of: {', '.join(PROVIDERS)}",
            field="provider",
        )


class InvalidSubscription(SentoriError):
    status = 400
    code = "invalidSubscription"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"nativeToken is not a valid PushSubscription: {field} {problem}", field=field)


class EndpointNotAllowed(SentoriError):
    status = 400
    code = "endpointNotAllowed"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the endpoint is not a permitted push service: {reason}", field="nativeToken.endpoint")


class InvalidCredential(SentoriError):
    status = 400
    code = "invalidCredential"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}", field=field)


class BatchTooLarge(SentoriError):
    status = 400
    code = "BatchTooLarge"

    def __init__(self, actual: int, maximum: int) -> None:
        super().__init__(
            f"a send may name at most {maximum} recipients; this one names {actual}",
            actualRecipients=actual,
            maxRecipients=maximum,
        )


class AudienceTooLarge(SentoriError):
    status = 400
    code = "AudienceTooLarge"

    def __init__(self, actual: int, maximum: int) -> None:
        super().__init__(
            f"the audience resolves to more than {maximum} devices",
            actualDevices=actual,
            maxDevices=maximum,
        )


class PayloadTooBig(SentoriError):
    status = 400
    code = "PayloadTooBig"

    def __init__(self, actual: int, maximum: int) -> None:
        super().__init__(
            f"the encrypted Web Push body would be {actual} bytes; the limit is {maximum}",
            actualBytes=actual,
            maxBytes=maximum,
        )


class MissingToken(SentoriError):
    status = 401
    code = "auth.missingToken"

    def __init__(self) -> None:
        super().__init__("send a project key as 'Authorization: Bearer <key>'")


class InvalidToken(SentoriError):
    status = 401
    code = "auth.invalidToken"

    def __init__(self) -> None:
        super().__init__("the project key is unknown or revoked")


class AdminKeyRequired(SentoriError):
    status = 403
    code = "auth.adminKeyRequired"

    def __init__(self) -> None:
        super().__init__("this route needs an admin key (st_admin_…); a public key cannot call it")


class NotFound(SentoriError):
    status = 404
    code = "notFound"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class IdempotencyKeyReused(SentoriError):
    status = 409
    code = "idempotencyKeyReused"

    def __init__(self) -> None:
        super().__init__("this idempotencyKey was already used with a different message")


class BodyTooLarge(SentoriError):
    status = 413
    code = "bodyTooLarge"

    def __init__(self, actual: int, maximum: int) -> None:
        super().__init__(
            f"the request body is {actual} bytes; the limit is {maximum}",
            actualBytes=actual,
            maxBytes=maximum,
        )


class DbNotConfigured(SentoriError):
    status = 503
    code = "dbNotConfigured"

    def __init__(self, reason: str) -> None:
        super().__init__(f"the database is not available: {reason}")


class Internal(SentoriError):
    status = 500
    code = "internal"

    def __init__(self, correlation_id: str) -> None:
        super().__init__(f"internal error; correlation id {correlation_id}", correlationId=correlation_id)
