"""Web Push delivery: encrypt, sign and POST many messages at once, map each answer to an outcome.

No AWS here: the dispatch Lambda claims tickets, calls `DeliveryEngine.deliver_sync`
and records the `PushResult`s.

Encryption is RFC 8188 `aes128gcm` by `http_ece`, the library pywebpush's
`WebPusher.encode` delegates to; calling it directly with pre-decoded keys skips
pywebpush's per-message deep copies (≈ 20 % of the CPU per message) and keeps the
0.3 s `import pywebpush` (requests and all) out of the Lambda.
The VAPID JWT (RFC 8292, ES256) is built here rather than by py_vapid, whose
`sub` check refuses `https://` contacts that have a path. It is signed once per
(private key, audience, contact), with `exp` = now + 12 h, and reused for 11 h;
every signature gets its own claims dict.

HTTP: one aiohttp session per engine, keep-alive pooling per push-service
origin, redirects never followed, connect and total timeouts on every request.
Concurrency is bounded twice: `max_in_flight` overall and `max_per_origin` per
origin. A request waits for both slots before its timeout clock starts, so a
long queue for one push service does not turn into timeouts.

Outcomes (DESIGN §7):

| answer | disposition | outcome |
|---|---|---|
| 2xx | sent | `WP_<status>` |
| 401, 403 | failed | `WP_<status>_VapidRejected` |
| 404, 410 | failed, `revokes` | `WP_<status>_Gone` |
| 413 | failed | `WP_413_PayloadTooLarge` |
| 406 | retry | `WP_406_RateLimited` |
| 429 | retry | `WP_429_RateLimited` |
| 5xx | retry | `WP_<status>` |
| 3xx, other 4xx, anything else | failed | `WP_<status>` |
| timeout, refused, reset, DNS failure | retry | `NetworkError` |
| `endpoint_check` raises, or the endpoint is no http(s) URL | failed | `EndpointNotAllowed` (nothing sent) |
| p256dh / auth of the wrong shape | failed | `InvalidSubscription` (nothing sent) |
| urgency not one of very-low, low, normal, high | failed | `InvalidRequest` (nothing sent) |
| VAPID private key or contact unusable | failed | `CredentialInvalid` (nothing sent) |
| a bug in this module | retry | `DeliveryError` |

406 is retried: WNS answers 406 + Retry-After when the sender is throttled, and
no other push service uses 406 for a permanent refusal. A service that did would
cost a few bounded retries, whereas treating WNS throttling as permanent would
drop messages that a later attempt delivers.

`retry_after` is read from any answer carrying Retry-After (seconds or HTTP
date), clamped to 0 … 12 h. `error` is a short text: it never holds the
endpoint URL, a key or a token.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import email.utils
import errno
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, cast

import aiohttp
import aiohttp.abc
import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from yarl import URL

from sentori_push.vapid import KeyError_, b64url_encode, is_contact, load_private_key, public_point

logger = logging.getLogger(__name__)

Disposition = Literal["sent", "failed", "retry"]

URGENCIES = frozenset({"very-low", "low", "normal", "high"})
JWT_LIFETIME_S = 12 * 3600  # push services reject exp ≥ 24 h
JWT_REUSE_S = 11 * 3600  # leaves an hour of validity to every reused token
RETRY_AFTER_CAP_S = 12 * 3600.0
KEEPALIVE_S = 15.0
TOPIC_MAX = 32
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,32}")
_SIGNER_CACHE = 256
_JWT_CACHE = 4096
_ERROR_MAX = 160
_JWT_HEADER = b64url_encode(b'{"typ":"JWT","alg":"ES256"}')
_USER_AGENT = "sentori-push"


@dataclass(frozen=True)
class VapidCredential:
    public_key: str  # base64url, 65-byte uncompressed P-256 point
    private_key: str  # base64url raw 32-byte scalar (any form `vapid.load_private_key` accepts)
    contact: str  # "mailto:…" or "https://…"


@dataclass(frozen=True)
class PushRequest:
    key: str  # the caller's id for this message, e.g. a ticket id
    endpoint: str
    p256dh: str
    auth: str
    payload: bytes
    ttl: int
    urgency: str | None
    topic: str | None  # already a valid Topic header value, see `topic_header`
    vapid: VapidCredential


@dataclass(frozen=True)
class PushResult:
    key: str
    disposition: Disposition
    outcome: str
    status: int | None
    retry_after: float | None
    revokes: bool
    error: str | None


def topic_header(collapse_key: str) -> str:
    """The Topic header for a collapse key: ≤ 32 base64url characters pass as they are.

    Anything else (longer, other characters, empty) becomes the first 32
    base64url characters of its SHA-256, so the same key always collapses
    onto the same topic.
    """
    if _TOPIC.fullmatch(collapse_key):
        return collapse_key
    return b64url_encode(hashlib.sha256(collapse_key.encode("utf-8")).digest())[:TOPIC_MAX]


def outcome_for_status(status: int) -> tuple[Disposition, str, bool]:
    """(disposition, outcome, revokes) for a push service's HTTP status."""
    if 200 <= status < 300:
        return "sent", f"WP_{status}", False
    if status in (401, 403):
        return "failed", f"WP_{status}_VapidRejected", False
    if status in (404, 410):
        return "failed", f"WP_{status}_Gone", True
    if status == 413:
        return "failed", "WP_413_PayloadTooLarge", False
    if status in (406, 429):
        return "retry", f"WP_{status}_RateLimited", False
    if 500 <= status < 600:
        return "retry", f"WP_{status}", False
    return "failed", f"WP_{status}", False


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delay-seconds or HTTP date), clamped to 0 … 12 h."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:  # "-0000": the RFC says UTC
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), RETRY_AFTER_CAP_S)


class AddressRefused(OSError):
    """DNS gave an address the endpoint policy does not allow (DNS rebinding)."""


class _GuardedResolver(aiohttp.abc.AbstractResolver):
    """Resolves like aiohttp, then refuses the whole answer if any address is refused.

    IP-literal hosts never reach a resolver; `endpoint_check` has judged them.
    """

    def __init__(self, inner: aiohttp.abc.AbstractResolver, address_check: Callable[[str, int, str], str | None]):
        self._inner = inner
        self._address_check = address_check

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        for answer in answers:
            refusal = self._address_check(host, port, answer["host"])
            if refusal is not None:
                raise AddressRefused(errno.EACCES, refusal)
        return answers

    async def close(self) -> None:
        await self._inner.close()


class _Rejected(Exception):
    """A message that cannot be sent; carries its outcome."""

    def __init__(self, outcome: str, error: str) -> None:
        super().__init__(error)
        self.outcome = outcome
        self.error = error


@dataclass(frozen=True)
class _Signer:
    key: ec.EllipticCurvePrivateKey
    public_b64: str


@dataclass(frozen=True)
class _SignedJwt:
    authorization: str
    reuse_until: float


class _Slots:
    """A semaphore per push-service origin, dropped when idle."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._by_origin: dict[str, tuple[asyncio.Semaphore, list[int]]] = {}

    async def acquire(self, origin: str) -> None:
        entry = self._by_origin.get(origin)
        if entry is None:
            entry = self._by_origin[origin] = (asyncio.Semaphore(self._size), [0])
        entry[1][0] += 1
        try:
            await entry[0].acquire()
        except BaseException:
            self._drop_one(origin)
            raise

    def release(self, origin: str) -> None:
        self._by_origin[origin][0].release()
        self._drop_one(origin)

    def _drop_one(self, origin: str) -> None:
        entry = self._by_origin[origin]
        entry[1][0] -= 1
        if entry[1][0] == 0:
            del self._by_origin[origin]


def _short(text: str, endpoint: str) -> str:
    """One line, at most _ERROR_MAX characters, with no trace of the endpoint's path."""
    path = URL(endpoint).path if "://" in endpoint else ""
    text = text.replace(endpoint, "<endpoint>")
    if len(path) > 1:
        text = text.replace(path, "/…")
    text = " ".join(text.split())
    return text if len(text) <= _ERROR_MAX else text[: _ERROR_MAX - 1] + "…"


def _b64url_bytes(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class DeliveryEngine:
    """Delivers Web Push messages; one per Lambda container, reused across invocations."""

    def __init__(
        self,
        *,
        endpoint_check: Callable[[str], None] | None = None,
        address_check: Callable[[str, int, str], str | None] | None = None,
        connect_timeout: float = 3.0,
        total_timeout: float = 10.0,
        max_in_flight: int = 256,
        max_per_origin: int = 128,
    ) -> None:
        if max_in_flight < 1 or max_per_origin < 1:
            raise ValueError("max_in_flight and max_per_origin must be at least 1")
        self._endpoint_check = endpoint_check
        self._address_check = address_check
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout, connect=connect_timeout, sock_connect=connect_timeout
        )
        self._max_in_flight = max_in_flight
        self._max_per_origin = min(max_per_origin, max_in_flight)
        self._signers: OrderedDict[str, _Signer] = OrderedDict()
        self._jwts: OrderedDict[tuple[str, str, str], _SignedJwt] = OrderedDict()
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._in_flight: asyncio.Semaphore | None = None
        self._origin_slots: _Slots | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._own_thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- public API ---------------------------------------------------------

    async def deliver(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        """Deliver every request concurrently; results come back in request order."""
        if not requests:
            return []
        self._bind_loop()
        return list(await asyncio.gather(*(self._deliver_one(r) for r in requests)))

    def deliver_sync(self, requests: Sequence[PushRequest]) -> list[PushResult]:
        """`deliver` from synchronous code, on the engine's own long-lived event loop.

        The loop (and so the connection pool) outlives the call: a warm Lambda
        container reuses its keep-alive connections in the next invocation.
        """
        future: Future[list[PushResult]] = asyncio.run_coroutine_threadsafe(self.deliver(requests), self._loop())
        return future.result()

    async def aclose(self) -> None:
        session, self._session = self._session, None
        self._session_loop = self._in_flight = self._origin_slots = None
        if session is not None:
            await session.close()

    def close(self) -> None:
        """Close the connections and stop the engine's own loop, if it started one."""
        with self._lock:
            loop, thread = self._own_loop, self._own_thread
            self._own_loop = self._own_thread = None
        if loop is not None and thread is not None:
            if self._session_loop is loop:
                asyncio.run_coroutine_threadsafe(self.aclose(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
        elif self._session is not None and self._session_loop is not None:
            if self._session_loop.is_running():
                raise RuntimeError("the engine's session belongs to a running event loop: await aclose() there")
            self._session_loop.run_until_complete(self.aclose())

    def __enter__(self) -> DeliveryEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> DeliveryEngine:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- event loop and session ---------------------------------------------

    def _loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._own_loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="sentori-delivery", daemon=True)
                thread.start()
                self._own_loop, self._own_thread = loop, thread
            return self._own_loop

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._session_loop is not loop:
            raise RuntimeError("this DeliveryEngine is bound to another event loop; use one engine per loop")
        if self._session is None:
            resolver = aiohttp.ThreadedResolver()
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(resolver, self._address_check) if self._address_check else resolver,
                limit=self._max_in_flight,
                limit_per_host=self._max_per_origin,
                keepalive_timeout=KEEPALIVE_S,
                ttl_dns_cache=300,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                headers={"User-Agent": _USER_AGENT},
                auto_decompress=False,
            )
            self._session_loop = loop
            self._in_flight = asyncio.Semaphore(self._max_in_flight)
            self._origin_slots = _Slots(self._max_per_origin)

    # -- one message ----------------------------------------------------------

    async def _deliver_one(self, request: PushRequest) -> PushResult:
        try:
            origin = self._origin(request.endpoint)
        except _Rejected as rejected:
            return self._rejected(request, rejected)
        assert self._origin_slots is not None and self._in_flight is not None and self._session is not None
        await self._origin_slots.acquire(origin)
        try:
            async with self._in_flight:
                try:
                    self._check(request.endpoint)
                    body = self._encrypt(request)
                    headers = self._headers(request, origin, body)
                except _Rejected as rejected:
                    return self._rejected(request, rejected)
                return await self._post(self._session, request, body, headers)
        except Exception as exc:  # a bug here must not sink the whole batch
            logger.exception("delivery failed unexpectedly (%s)", type(exc).__name__)
            return PushResult(request.key, "retry", "DeliveryError", None, None, False, type(exc).__name__)
        finally:
            self._origin_slots.release(origin)

    @staticmethod
    def _rejected(request: PushRequest, rejected: _Rejected) -> PushResult:
        return PushResult(request.key, "failed", rejected.outcome, None, None, False, rejected.error)

    @staticmethod
    def _origin(endpoint: str) -> str:
        try:
            url = URL(endpoint)
        except (TypeError, ValueError) as exc:
            raise _Rejected("EndpointNotAllowed", "the endpoint is not a URL") from exc
        if url.scheme not in ("http", "https") or not url.host:
            raise _Rejected("EndpointNotAllowed", "the endpoint is not an http(s) URL")
        return str(url.origin())

    def _check(self, endpoint: str) -> None:
        if self._endpoint_check is None:
            return
        try:
            self._endpoint_check(endpoint)
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            raise _Rejected("EndpointNotAllowed", _short(message, endpoint)) from exc

    @staticmethod
    def _encrypt(request: PushRequest) -> bytes:
        if not request.payload:
            return b""
        try:
            receiver = _b64url_bytes(request.p256dh)
            auth = _b64url_bytes(request.auth)
        except ValueError as exc:
            raise _Rejected("InvalidSubscription", "p256dh or auth is not base64url") from exc
        if len(receiver) != 65 or receiver[0] != 4 or len(auth) != 16:
            raise _Rejected("InvalidSubscription", "p256dh must be a 65-byte point and auth 16 bytes")
        try:
            body = http_ece.encrypt(
                request.payload,
                salt=os.urandom(16),
                private_key=ec.generate_private_key(ec.SECP256R1()),
                dh=receiver,
                auth_secret=auth,
                version="aes128gcm",
            )
        except (ValueError, http_ece.ECEException) as exc:
            raise _Rejected("InvalidSubscription", "p256dh is not a point on the P-256 curve") from exc
        return cast(bytes, body)

    def _headers(self, request: PushRequest, origin: str, body: bytes) -> dict[str, str]:
        headers = {"TTL": str(max(int(request.ttl), 0)), "Authorization": self._authorization(request.vapid, origin)}
        if body:
            headers["Content-Encoding"] = "aes128gcm"
            headers["Content-Type"] = "application/octet-stream"
        if request.urgency is not None:
            if request.urgency not in URGENCIES:
                raise _Rejected("InvalidRequest", "urgency must be very-low, low, normal or high")
            headers["Urgency"] = request.urgency
        if request.topic is not None:
            headers["Topic"] = request.topic
        return headers

    async def _post(
        self, session: aiohttp.ClientSession, request: PushRequest, body: bytes, headers: dict[str, str]
    ) -> PushResult:
        try:
            async with session.post(request.endpoint, data=body, headers=headers, allow_redirects=False) as resp:
                text = await resp.text(errors="replace") if resp.status >= 300 else ""
                if resp.status < 300:
                    await resp.read()
                status, retry_after = resp.status, resp.headers.get("Retry-After")
        except TimeoutError:
            return PushResult(request.key, "retry", "NetworkError", None, None, False, "timed out")
        except aiohttp.InvalidURL:
            return PushResult(request.key, "failed", "EndpointNotAllowed", None, None, False, "the endpoint is invalid")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                refused = _short(exc.os_error.strerror or "address refused", request.endpoint)
                return PushResult(request.key, "failed", "EndpointNotAllowed", None, None, False, refused)
            reason = exc.os_error.strerror or type(exc).__name__
            return PushResult(request.key, "retry", "NetworkError", None, None, False, f"cannot connect: {reason}")
        except (aiohttp.ClientError, OSError) as exc:
            return PushResult(request.key, "retry", "NetworkError", None, None, False, type(exc).__name__)
        disposition, outcome, revokes = outcome_for_status(status)
        error = None if disposition == "sent" else _short(f"{status} {text}".strip(), request.endpoint)
        return PushResult(request.key, disposition, outcome, status, parse_retry_after(retry_after), revokes, error)

    # -- VAPID ----------------------------------------------------------------

    def _authorization(self, credential: VapidCredential, audience: str) -> str:
        cache_key = (credential.private_key, audience, credential.contact)
        now = time.time()
        cached = self._jwts.get(cache_key)
        if cached is not None and now < cached.reuse_until:
            return cached.authorization
        if not is_contact(credential.contact):
            raise _Rejected("CredentialInvalid", "the VAPID contact must be a mailto: or https: URL")
        signer = self._signer(credential.private_key)
        claims = {"aud": audience, "exp": int(now) + JWT_LIFETIME_S, "sub": credential.contact}
        signing_input = _JWT_HEADER + "." + b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        r, s = decode_dss_signature(signer.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        token = signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        authorization = f"vapid t={token}, k={signer.public_b64}"
        self._jwts[cache_key] = _SignedJwt(authorization, now + JWT_REUSE_S)
        if len(self._jwts) > _JWT_CACHE:
            self._jwts.popitem(last=False)
        return authorization

    def _signer(self, private_key: str) -> _Signer:
        signer = self._signers.get(private_key)
        if signer is None:
            try:
                key = load_private_key(private_key)
            except KeyError_ as exc:
                raise _Rejected("CredentialInvalid", f"the VAPID private key {exc}") from exc
            signer = self._signers[private_key] = _Signer(key, b64url_encode(public_point(key)))
            if len(self._signers) > _SIGNER_CACHE:
                self._signers.popitem(last=False)
        return signer
