"""Reads `template.yaml`, the one source of truth for resources and routes.

The dev stack and the test fixtures both build their AWS resources and their
routing table from here, so the template and the local stack cannot drift.
Only the intrinsic functions the template uses are resolved (Ref, Sub, GetAtt).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that keeps CloudFormation short-form tags as long-form dicts."""


def _construct_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


@dataclass(frozen=True)
class Route:
    method: str
    path: str


@dataclass(frozen=True)
class SqsEvent:
    queue_logical_id: str
    batch_size: int
    batching_window_s: int


@dataclass(frozen=True)
class Schedule:
    rate_seconds: int
    input: dict[str, Any] | None


@dataclass
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    routes: list[Route] = field(default_factory=list)
    sqs_events: list[SqsEvent] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    timeout: int = 3

    @property
    def name(self) -> str:
        return self.code_dir.name


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int:
    match = _RATE.match(expression)
    if not match:
        raise ValueError(f"unsupported schedule expression {expression!r}")
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if (count == 1) != (match.group(2) == unit):
        raise ValueError(f"{expression!r}: use the singular unit for 1 and the plural otherwise")
    return count * _UNIT_SECONDS[unit]


class Template:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.resources: dict[str, dict[str, Any]] = document.get("Resources", {})
        self.globals: dict[str, Any] = document.get("Globals", {}).get("Function", {})

    def parameter_defaults(self) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        for name, spec in self.document.get("Parameters", {}).items():
            value = spec.get("Default")
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [part.strip() for part in value.split(",")]
            defaults[name] = value
        return defaults

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == kind}

    def functions(self) -> list[FunctionSpec]:
        specs = []
        for logical_id, res in self.of_type("AWS::Serverless::Function").items():
            props = res.get("Properties", {})
            env = {
                **self.globals.get("Environment", {}).get("Variables", {}),
                **props.get("Environment", {}).get("Variables", {}),
            }
            spec = FunctionSpec(
                logical_id=logical_id,
                code_dir=ROOT / props["CodeUri"].rstrip("/"),
                handler=props.get("Handler", self.globals.get("Handler", "")),
                environment=env,
                timeout=int(props.get("Timeout", self.globals.get("Timeout", 3))),
            )
            for event in props.get("Events", {}).values():
                eprops = event.get("Properties", {})
                if event["Type"] == "HttpApi":
                    spec.routes.append(Route(eprops["Method"].upper(), eprops["Path"]))
                elif event["Type"] == "SQS":
                    queue = eprops["Queue"]
                    spec.sqs_events.append(
                        SqsEvent(
                            queue_logical_id=queue["Fn::GetAtt"][0],
                            batch_size=int(eprops.get("BatchSize", 10)),
                            batching_window_s=int(eprops.get("MaximumBatchingWindowInSeconds", 0)),
                        )
                    )
                elif event["Type"] == "Schedule":
                    spec.schedules.append(Schedule(rate_seconds(eprops["Schedule"]), eprops.get("Input")))
            specs.append(spec)
        return specs

    def cors(self, refs: dict[str, Any]) -> dict[str, Any]:
        for res in self.of_type("AWS::Serverless::HttpApi").values():
            config = res.get("Properties", {}).get("CorsConfiguration")
            if config:
                resolved = resolve(config, refs)
                return resolved if isinstance(resolved, dict) else {}
        return {}


def resolve(value: Any, refs: dict[str, Any]) -> Any:
    """Resolve Ref, Fn::Sub and Fn::GetAtt against `refs` (logical id or parameter → value)."""
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return refs[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        logical_id, attribute = value["Fn::GetAtt"]
        return refs[f"{logical_id}.{attribute}"]
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(refs[m.group(1)]), text)
    return {k: resolve(v, refs) for k, v in value.items()}


def load_template(path: Path = TEMPLATE) -> Template:
    with open(path, encoding="utf-8") as handle:
        return Template(yaml.load(handle, Loader=_CfnLoader))
