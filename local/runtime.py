"""Loads the template's functions into this process and invokes them like Lambda.

Every `functions/<dir>/app.py` is called `app`, so each is imported under its
own module name (`sentori_fn_<dir>`) from its file; the function directories
never go on sys.path, and a handler can import only `sentori_push` (the layer)
and the standard library, as in Lambda.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from local.template import ROOT, FunctionSpec

LAYER_DIR = ROOT / "layers" / "core"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"

Handler = Callable[[dict[str, Any], Any], Any]

_STDERR_LOCK = threading.Lock()


def ensure_import_paths() -> None:
    """The layer (`/opt/python` in Lambda) and the repo root importable, as in the tests."""
    for path in (str(LAYER_DIR), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    timeout_s: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started_at: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"local/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started_at
        return max(0, int((self.timeout_s - elapsed) * 1000))


def load_handler(spec: FunctionSpec) -> Handler:
    """Imports `<code_dir>/<module>.py` under a unique name and returns its handler."""
    ensure_import_paths()
    module_path, _, attribute = spec.handler.rpartition(".")
    file = Path(spec.code_dir, *module_path.split(".")).with_suffix(".py")
    module_name = f"sentori_fn_{spec.code_dir.name}"
    if module_path != "app":
        module_name += "_" + module_path.replace(".", "_")
    existing = sys.modules.get(module_name)
    if isinstance(existing, ModuleType) and getattr(existing, "__file__", None) == str(file):
        module = existing
    else:
        import_spec = importlib.util.spec_from_file_location(module_name, file)
        if import_spec is None or import_spec.loader is None:
            raise ImportError(f"{spec.logical_id}: cannot load {file}")
        module = importlib.util.module_from_spec(import_spec)
        sys.modules[module_name] = module
        import_spec.loader.exec_module(module)
    handler = getattr(module, attribute, None)
    if not callable(handler):
        raise ImportError(f"{spec.logical_id}: {file} has no callable {attribute!r}")
    return handler  # type: ignore[no-any-return]


class LocalFunction:
    """One template function, loaded once (a warm Lambda), invoked from many threads."""

    def __init__(self, spec: FunctionSpec, physical_name: str) -> None:
        self.spec = spec
        self.physical_name = physical_name
        self.handler = load_handler(spec)

    def invoke(self, event: dict[str, Any]) -> Any:
        """Calls the handler; an exception is printed (as Lambda logs it) and re-raised."""
        context = LambdaContext(function_name=self.physical_name, timeout_s=self.spec.timeout)
        try:
            return self.handler(event, context)
        except Exception:
            with _STDERR_LOCK:
                print(f"[{self.spec.logical_id}] invocation {context.aws_request_id} failed:", file=sys.stderr)
                traceback.print_exc()
            raise
