"""web-push-testing (npm), an independent Web Push service that decrypts what it receives.

`WebPushTestingServer` starts it on 127.0.0.1 and a free port through
`webpush_testing_launcher.js` and stops it on exit:

    with WebPushTestingServer() as server:
        subscription = server.subscribe(vapid_public_key)
        ...  # push to subscription["endpoint"]
        server.notifications(subscription["clientHash"])  # the decrypted payloads, as text

The package comes from the repository's package-lock.json (`npm ci`).
"""

from __future__ import annotations

import json
import selectors
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = REPO_ROOT / "node_modules" / "web-push-testing"
LAUNCHER = Path(__file__).with_name("webpush_testing_launcher.js")
_READY = "Server running on port "


class NodeMissing(RuntimeError):
    """No `node` on PATH."""


class WebPushTestingError(RuntimeError):
    """The server answered an error, or did not start."""


def node_path() -> str | None:
    return shutil.which("node")


class WebPushTestingServer:
    def __init__(self, *, package_dir: Path = PACKAGE_DIR, startup_timeout: float = 15.0) -> None:
        self._package_dir = package_dir
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> WebPushTestingServer:
        node = node_path()
        if node is None:
            raise NodeMissing("node is not on PATH; web-push-testing needs Node ≥ 20")
        if not (self._package_dir / "src" / "server.js").is_file():
            raise WebPushTestingError(
                f"web-push-testing is not installed ({self._package_dir} is missing): run `npm ci` in {REPO_ROOT}"
            )
        self._stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the process; stop() closes it
        self._process = subprocess.Popen(
            [node, str(LAUNCHER), str(self._package_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        try:
            self.port = self._wait_for_port()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        deadline = time.monotonic() + self._startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not selector.select(timeout=left):
                    break
                line = self._process.stdout.readline()
                if not line:
                    raise WebPushTestingError(f"web-push-testing exited at start: {self._stderr_tail()}")
                if line.startswith(_READY):
                    return int(line.removeprefix(_READY))
        raise WebPushTestingError(f"web-push-testing not ready after {self._startup_timeout} s: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].strip() or "(no output)"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()  # the launcher exits when its stdin closes
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> WebPushTestingServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- its API (all POST) ---------------------------------------------------

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.origin + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise WebPushTestingError(f"{path} answered {exc.code}: {exc.read().decode(errors='replace')}") from exc
        return json.loads(raw) if raw.strip().startswith(b"{") else raw.decode()

    def subscribe(self, application_server_key: str) -> dict[str, Any]:
        """A new subscription for a VAPID public key: {endpoint, keys: {p256dh, auth}, clientHash}."""
        data: dict[str, Any] = self._post("/subscribe", {"applicationServerKey": application_server_key})["data"]
        return data

    def notifications(self, client_hash: str) -> list[str]:
        """The payloads this subscription received, decrypted, as UTF-8 text, in arrival order."""
        messages: list[str] = self._post("/get-notifications", {"clientHash": client_hash})["data"]["messages"]
        return messages

    def expire(self, client_hash: str) -> None:
        """Later pushes to this subscription answer 410."""
        self._post(f"/expire-subscription/{client_hash}")
