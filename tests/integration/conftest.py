"""The local dev stack (`python -m local.devstack`) as a fixture, driven over HTTP.

`dev_stack` is one stack for the session. `start_dev_stack(env=...)` starts
another with extra environment (e.g. SENTORI_ENDPOINT_ALLOWLIST); every stack
started is stopped with SIGTERM at the end of the session, and must exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 60
STOP_TIMEOUT_S = 10

_ADMIN = object()  # `request(key=...)` default: the dev project's admin key


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.integration)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class DevStack:
    process: subprocess.Popen[bytes]
    log_path: Path
    state_dir: Path
    url: str
    project_id: str
    admin_key: str
    public_key: str
    vapid_public_key: str
    session: requests.Session = field(default_factory=requests.Session)

    def request(
        self,
        method: str,
        path: str,
        *,
        key: Any = _ADMIN,
        json: Any = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """`key` defaults to the admin key; pass a key, or None to send no Authorization."""
        sent = dict(headers or {})
        key = self.admin_key if key is _ADMIN else key
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        return self.session.request(method, self.url + path, json=json, headers=sent, timeout=30, **kwargs)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed after STOP_TIMEOUT_S, which fails the caller)."""
        self.session.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


def launch_dev_stack(state_dir: Path, env: dict[str, str] | None = None) -> DevStack:
    """Starts `python -m local.devstack` and waits until it writes dev.json."""
    state_dir.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTORI_", "AWS_"))}
    child_env.update({"SENTORI_DEV_PORT": str(free_port()), "SENTORI_DEV_STATE_DIR": str(state_dir)})
    child_env.update(env or {})
    log_path = state_dir / "devstack.log"
    # Output goes to a file, not a pipe nobody reads, so a chatty stack cannot block.
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.devstack"], cwd=ROOT, env=child_env, stdout=log, stderr=subprocess.STDOUT
        )
    state_file = state_dir / "dev.json"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not state_file.exists():
        if process.poll() is not None:
            pytest.fail(f"the dev stack exited with {process.returncode} before it was ready:\n{log_path.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"the dev stack was not ready within {READY_TIMEOUT_S} s:\n{log_path.read_text()}")
        time.sleep(0.1)
    state = json.loads(state_file.read_text())
    return DevStack(
        process=process,
        log_path=log_path,
        state_dir=state_dir,
        url=state["apiUrl"],
        project_id=state["projectId"],
        admin_key=state["adminKey"],
        public_key=state["publicKey"],
        vapid_public_key=state["vapidPublicKey"],
    )


@pytest.fixture(scope="session")
def start_dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., DevStack]]:
    """A factory: `start_dev_stack(env={...})` → a running DevStack, stopped at session end."""
    started: list[DevStack] = []

    def start(env: dict[str, str] | None = None) -> DevStack:
        stack = launch_dev_stack(tmp_path_factory.mktemp("devstack"), env)
        started.append(stack)
        return stack

    yield start
    failures = []
    for stack in started:
        if stack.process.poll() is not None and stack.process.returncode == 0:
            continue  # a test stopped it already
        try:
            code = stack.stop()
        except subprocess.TimeoutExpired:
            failures.append(f"did not stop within {STOP_TIMEOUT_S} s after SIGTERM:\n{stack.log()}")
            continue
        if code != 0:
            failures.append(f"exited with {code} after SIGTERM:\n{stack.log()}")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="session")
def dev_stack(start_dev_stack: Callable[..., DevStack]) -> DevStack:
    return start_dev_stack()
