"""A local push service that misbehaves on request: the URL path picks the answer.

    /push/<status>[/<anything>][?retry_after=S | ?retry_after_date=S]
                                                            that status; Retry-After S seconds, or an HTTP date S s on
    /push/slow?delay=S                                      201 after S seconds (default 5)
    /push/redirect                                          302 to /push/redirect-target (which a client must never hit)
    any path ?delay=S                                       waits S seconds first; `PushSink(delay=…)` sets a default
    GET /stats                                              {"received": n}

`PushSink` runs an aiohttp server on 127.0.0.1 in a background thread and keeps
a record of every request (headers, body, path). `PushSinkProcess` runs the
same server in a child process (no record) so that a benchmark's client does
not share its CPU and GIL with the server: `python push_sink.py --delay 0.02`.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

REDIRECT_TARGET = "/push/redirect-target"
_READY = "PUSH_SINK_PORT="


@dataclass(frozen=True)
class ReceivedPush:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_port: int  # the same port on two requests means one kept-alive connection

    @property
    def body_length(self) -> int:
        return len(self.body)


class _Behaviour:
    def __init__(self, delay: float, record: bool) -> None:
        self.delay = delay
        self.record = record
        self.received: list[ReceivedPush] = []
        self.count = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.lock = threading.Lock()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and request.path == "/stats":
            return web.json_response({"received": self.count})
        body = await request.read()
        self.count += 1
        if self.record:
            peer = request.transport.get_extra_info("peername") if request.transport else None
            item = ReceivedPush(
                request.method,
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                body,
                int(peer[1]) if peer else 0,
            )
            with self.lock:
                self.received.append(item)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._respond(request)
        finally:
            self.in_flight -= 1

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        delay = float(request.query.get("delay", self.delay))
        if request.path == "/push/slow":
            delay = float(request.query.get("delay", 5.0))
        if delay > 0:
            await asyncio.sleep(delay)
        return self._answer(request)

    @staticmethod
    def _answer(request: web.Request) -> web.StreamResponse:
        tail = request.path.removeprefix("/push/").split("/", 1)[0]
        if request.path == "/push/slow" or request.path == REDIRECT_TARGET:
            return web.Response(status=201)
        if request.path == "/push/redirect":
            return web.Response(status=302, headers={"Location": str(request.url.with_path(REDIRECT_TARGET))})
        if not request.path.startswith("/push/") or not tail.isdigit():
            return web.Response(status=404, text="unknown sink path")
        headers = {}
        if "retry_after" in request.query:
            headers["Retry-After"] = request.query["retry_after"]
        if "retry_after_date" in request.query:
            when = time.time() + float(request.query["retry_after_date"])
            headers["Retry-After"] = email.utils.formatdate(when, usegmt=True)
        # Like some real services, the error text names the subscription it refused.
        return web.Response(status=int(tail), headers=headers, text=f"sink answered {tail} for {request.url}")


async def _start(behaviour: _Behaviour, port: int) -> tuple[web.AppRunner, int]:
    app = web.Application(client_max_size=64 * 1024)
    app.router.add_route("*", "/{tail:.*}", behaviour.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=2048, reuse_address=True)
    await site.start()
    return runner, int(runner.addresses[0][1])


class PushSink:
    """The fault push service in a background thread; `with PushSink() as sink: sink.url("/push/201")`."""

    def __init__(self, *, delay: float = 0.0, record: bool = True) -> None:
        self._behaviour = _Behaviour(delay, record)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    @property
    def requests(self) -> list[ReceivedPush]:
        with self._behaviour.lock:
            return list(self._behaviour.received)

    def hits(self, path: str) -> list[ReceivedPush]:
        return [r for r in self.requests if r.path == path]

    @property
    def received(self) -> int:
        return self._behaviour.count

    @property
    def peak_in_flight(self) -> int:
        """The most requests the sink was answering at one time."""
        return self._behaviour.peak_in_flight

    def start(self) -> PushSink:
        loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=loop.run_forever, name="push-sink", daemon=True)
        self._thread.start()
        self._loop = loop
        future = asyncio.run_coroutine_threadsafe(_start(self._behaviour, 0), loop)
        self._runner, self.port = future.result(timeout=10)
        return self

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        self._loop = self._thread = self._runner = None
        if loop is None or thread is None:
            return
        if runner is not None:
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()

    def __enter__(self) -> PushSink:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PushSinkProcess:
    """The same push service in a child process; no record, `GET /stats` counts requests."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self._delay = delay
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def __enter__(self) -> PushSinkProcess:
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--delay", str(self._delay)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith(_READY):
            self._process.kill()
            raise RuntimeError(f"push sink did not start: {line!r}")
        self.port = int(line.removeprefix(_READY))
        return self

    def __exit__(self, *exc: Any) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()  # the child exits when its stdin closes
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def _serve_until_stdin_closes(delay: float) -> None:
    runner, port = await _start(_Behaviour(delay, record=False), 0)
    print(f"{_READY}{port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    asyncio.run(_serve_until_stdin_closes(parser.parse_args().delay))
