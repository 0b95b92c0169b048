"""`make dev`: the whole service on loopback, from `template.yaml`, without Docker or AWS.

    python -m local.devstack

moto's server stands in for DynamoDB, SQS and KMS (real boto3 talks to it over
HTTP); the template's tables, queues and key are created in it; every HttpApi
route is served on http://127.0.0.1:$SENTORI_DEV_PORT (default 3000) by its
real handler; SQS event sources and Schedule events are fed by pollers and
timers. At start a dev project and a VAPID credential are created and written
to $SENTORI_DEV_STATE_DIR/dev.json (default .sentori/); the file's appearance
means the stack is ready, and it is removed again on a clean stop.

Environment: all functions run in this one process and `sentori_push` reads
its settings once per process, so the stack sets a single environment: the
union of every function's resolved template environment (they share the
Globals). Two functions that resolve one variable to different values cannot
share a process faithfully, so that stops the stack at start with the name.

Variables read here: SENTORI_DEV_PORT, SENTORI_DEV_STATE_DIR,
SENTORI_DEV_PROJECT_ID / _ADMIN_KEY / _PUBLIC_KEY (fix the dev project),
SENTORI_DEV_SWEEP_SECONDS (period of every Schedule event instead of its
rate), SENTORI_DEV_TEMPLATE (another template, for tests), and
SENTORI_ENDPOINT_ALLOWLIST (as in production; default: the template's).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

import boto3
from moto.server import ThreadedMotoServer

from local.apigw import Cors, RouteTable, RouteTarget
from local.http_api import LocalHttpApi, serve
from local.pollers import ScheduleTimer, SqsFeeder
from local.provision import ACCOUNT, REGION, Provisioned, provision
from local.runtime import LocalFunction, ensure_import_paths
from local.template import TEMPLATE, FunctionSpec, Template, load_template

HOST = "127.0.0.1"
PREFIX = "sentori-dev"
DEV_CONTACT = "mailto:dev@localhost.localdomain"
ALLOWLIST_VAR = "SENTORI_ENDPOINT_ALLOWLIST"


class Stoppable(Protocol):
    def request_stop(self) -> None: ...

    def join(self, timeout: float = ...) -> None: ...


@dataclass
class DevProject:
    project_id: str
    admin_key: str
    public_key: str
    vapid_public_key: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_moto() -> ThreadedMotoServer:
    """moto's server on a free loopback port, with boto3 in this process pointed at it."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address=HOST, port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
    )
    return server


def function_environment(provisioned: Provisioned, functions: list[FunctionSpec]) -> dict[str, str]:
    """The one environment every function runs with: the union of their resolved environments."""
    allowlist = os.environ.get(ALLOWLIST_VAR, "").strip()
    if allowlist:
        provisioned.overrides[ALLOWLIST_VAR] = allowlist
    merged: dict[str, str] = {}
    owner: dict[str, str] = {}
    for fn in functions:
        for name, value in provisioned.environment_for(fn).items():
            if name in merged and merged[name] != value:
                raise SystemExit(
                    f"{fn.logical_id} and {owner[name]} set {name} to different values; "
                    "the dev stack runs every function in one process and needs one value"
                )
            merged[name] = value
            owner[name] = fn.logical_id
    return merged


def create_dev_project() -> DevProject:
    # Imported here: the layer reads its settings from the environment set above.
    from sentori_push.credentials import put_credential
    from sentori_push.projects import create_project
    from sentori_push.vapid import generate_keypair

    created = create_project(
        "dev",
        project_id=os.environ.get("SENTORI_DEV_PROJECT_ID") or None,
        admin_key=os.environ.get("SENTORI_DEV_ADMIN_KEY") or None,
        public_key=os.environ.get("SENTORI_DEV_PUBLIC_KEY") or None,
    )
    vapid = generate_keypair()
    put_credential(
        created.project_id,
        {
            "provider": "webpush",
            "config": {"vapidPublic": vapid.public_key, "contact": DEV_CONTACT},
            "secret": {"vapidPrivate": vapid.private_key},
        },
    )
    return DevProject(created.project_id, created.admin_key, created.public_key, vapid.public_key)


def write_state(path: Path, state: dict[str, Any]) -> None:
    """Atomically, so a reader never sees half a file: its appearance is the readiness signal."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".dev.", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)
            handle.write("\n")
        os.chmod(tmp, 0o600)  # it holds an admin key
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def start_pollers(template: Template, provisioned: Provisioned, functions: dict[str, LocalFunction]) -> list[Stoppable]:
    """One SQS feeder per SQS event and one timer per Schedule event in the template."""
    sweep_override = os.environ.get("SENTORI_DEV_SWEEP_SECONDS", "").strip()
    started: list[Stoppable] = []
    for spec in template.functions():
        fn = functions[spec.logical_id]
        for event in spec.sqs_events:
            feeder = SqsFeeder(
                sqs=boto3.client("sqs", region_name=REGION),
                queue_url=provisioned.physical[event.queue_logical_id],
                queue_arn=provisioned.physical[f"{event.queue_logical_id}.Arn"],
                invoke=fn.invoke,
                batch_size=event.batch_size,
                batching_window_s=event.batching_window_s,
                name=f"sqs:{event.queue_logical_id}->{spec.logical_id}",
            )
            feeder.start()
            started.append(feeder)
        for index, schedule in enumerate(spec.schedules):
            timer = ScheduleTimer(
                invoke=fn.invoke,
                period_s=float(sweep_override) if sweep_override else schedule.rate_seconds,
                rule_arn=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{PREFIX}-{spec.logical_id}-{index}",
                input=schedule.input,
                name=f"schedule:{spec.logical_id}",
            )
            timer.start()
            started.append(timer)
    return started


def install_stop_signals() -> threading.Event:
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stopping


def main() -> int:
    stopping = install_stop_signals()
    port = int(os.environ.get("SENTORI_DEV_PORT") or 3000)
    state_file = Path(os.environ.get("SENTORI_DEV_STATE_DIR") or ".sentori") / "dev.json"
    state_file.unlink(missing_ok=True)  # a stale file must not read as "ready"
    template_path = Path(os.environ.get("SENTORI_DEV_TEMPLATE") or TEMPLATE)

    ensure_import_paths()
    moto = start_moto()
    http_server = None
    pollers: list[Stoppable] = []
    try:
        template = load_template(template_path)
        provisioned = provision(template, prefix=PREFIX)
        specs = template.functions()
        os.environ.update(function_environment(provisioned, specs))
        from sentori_push.settings import settings

        settings.cache_clear()

        functions = {spec.logical_id: LocalFunction(spec, provisioned.physical[spec.logical_id]) for spec in specs}
        routes = RouteTable(
            RouteTarget(route.method, route.path, spec.logical_id) for spec in specs for route in spec.routes
        )
        project = create_dev_project()

        api = LocalHttpApi(routes, functions, Cors(template.cors(provisioned.refs())))
        http_server = serve(api, HOST, port)
        api_url = f"http://{HOST}:{http_server.server_address[1]}"
        pollers = start_pollers(template, provisioned, functions)

        write_state(
            state_file,
            {
                "projectId": project.project_id,
                "adminKey": project.admin_key,
                "publicKey": project.public_key,
                "vapidPublicKey": project.vapid_public_key,
                "apiUrl": api_url,
            },
        )
        print(
            "\n".join(
                [
                    f"  Project id:        {project.project_id}",
                    f"  Admin key:         {project.admin_key}",
                    f"  Public key:        {project.public_key}",
                    f"  VAPID public key:  {project.vapid_public_key}",
                    f"  API URL:           {api_url}",
                    f"  Routes:            {len(routes.targets)}; SQS feeders and timers: {len(pollers)}",
                    f"  State file:        {state_file}",
                    f"Sentori Push dev stack ready on {api_url}",
                ]
            ),
            flush=True,
        )
        while not stopping.wait(0.5):
            pass
        print("Stopping the dev stack", flush=True)
        return 0
    finally:
        for poller in pollers:
            poller.request_stop()
        for poller in pollers:
            poller.join()
        if http_server is not None:
            http_server.shutdown()
            http_server.server_close()
        moto.stop()
        state_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
