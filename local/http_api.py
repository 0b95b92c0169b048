"""The template's HttpApi served on loopback: one HTTP server, every route's handler."""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local.apigw import Cors, HttpRequest, HttpResponse, RouteTable, build_http_event, internal_error, not_found
from local.apigw import response_from_result as response_from_handler
from local.runtime import LocalFunction


class LocalHttpApi:
    """Routes a request to its function the way API Gateway would, and maps the answer back."""

    def __init__(self, routes: RouteTable, functions: dict[str, LocalFunction], cors: Cors) -> None:
        self.routes = routes
        self.functions = functions
        self.cors = cors

    def handle(self, request: HttpRequest) -> HttpResponse:
        if self.cors.is_preflight(request):
            return self.cors.preflight(request)
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return self.cors.decorate(request, not_found())
        event = build_http_event(request, match)
        try:
            result = self.functions[match.target.function].invoke(event)
            response = response_from_handler(result)
        except Exception:
            response = internal_error()
        return self.cors.decorate(request, response)


def serve(api: LocalHttpApi, host: str, port: int) -> ThreadingHTTPServer:
    """Starts serving on a background thread; `shutdown()` + `server_close()` stop it."""

    class RequestHandler(_RequestHandler):
        local_api = api

    server = ThreadingHTTPServer((host, port), RequestHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http-api", daemon=True).start()
    return server


class _RequestHandler(BaseHTTPRequestHandler):
    local_api: LocalHttpApi
    protocol_version = "HTTP/1.1"  # keep-alive, as clients of the real API expect
    server_version = "SentoriDev"

    def _dispatch(self) -> None:
        started = time.monotonic()
        request = HttpRequest(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=self._read_body(),
            source_ip=self.client_address[0],
            protocol=self.request_version,
        )
        response = self.local_api.handle(request)
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        elapsed_ms = (time.monotonic() - started) * 1000
        # The path only: a query string is the caller's business, and keys travel in headers.
        print(f"{self.command} {request.raw_path} {response.status} {elapsed_ms:.0f}ms", file=sys.stderr, flush=True)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers up to the blank line
                    pass
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: `_dispatch` prints one line per request without the query string."""
