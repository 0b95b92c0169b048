"""docs/openapi.json: generated from the code, true to template.yaml and the handlers,
and never stale."""

from __future__ import annotations

import gc
import inspect
import json
import re
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import BaseModel

from local.template import ROOT, load_template
from sentori_push import openapi, vapid
from sentori_push.errors import SentoriError
from sentori_push.tickets import Ticket

COMMITTED = ROOT / "docs" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
TEMPLATE_FUNCTIONS = [fn for fn in load_template().functions() if fn.routes]
DOCUMENT = openapi.build()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _all_error_classes() -> set[type[SentoriError]]:
    found: set[type[SentoriError]] = set()
    pending = [SentoriError]
    while pending:
        cls = pending.pop()
        found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _sample_error(cls: type[SentoriError]) -> SentoriError:
    """An instance built from the constructor's signature, to see which details it carries."""
    args = []
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if (
            parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
            or parameter.default is not parameter.empty
        ):
            continue
        annotation = str(parameter.annotation)
        args.append(1 if annotation == "int" else "x")
    return cls(*args)


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only local references are used"
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_committed_document_matches_the_code():
    assert COMMITTED.exists(), "docs/openapi.json is missing: run `make openapi`"
    assert COMMITTED.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.json is stale: run `make openapi` and commit the result"
    )


def test_generation_is_deterministic():
    assert openapi.render() == openapi.render()


def test_every_template_route_is_documented_exactly_once():
    template_routes = Counter((r.method, r.path) for fn in TEMPLATE_FUNCTIONS for r in fn.routes)
    documented = Counter((method, path) for method, path, _ in _operations(DOCUMENT))
    assert set(template_routes) - set(documented) == set(), "template routes missing from the document"
    assert set(documented) - set(template_routes) == set(), "documented routes that template.yaml does not serve"
    assert all(n == 1 for n in documented.values())
    assert Counter((op.method, op.path) for op in openapi.ROUTES) == template_routes


@pytest.mark.parametrize("fn", TEMPLATE_FUNCTIONS, ids=lambda fn: fn.logical_id)
def test_each_route_documents_the_key_its_handler_requires(fn):
    source = (fn.code_dir / "app.py").read_text()
    access = re.search(r"@endpoint\(Access\.(\w+)\)", source)
    assert access, f"{fn.logical_id}: no @endpoint(Access.…) in app.py"
    for route in fn.routes:
        operation = DOCUMENT["paths"][route.path][route.method.lower()]
        schemes = {name for requirement in operation["security"] for name in requirement}
        if access.group(1) == "ADMIN":
            assert schemes == {"adminKey"}, route
        else:
            assert schemes == {"publicKey", "adminKey"}, route


def test_every_path_parameter_is_declared_once_and_required():
    for method, path, operation in _operations(DOCUMENT):
        declared = [_resolve(DOCUMENT, p["$ref"]) if "$ref" in p else p for p in operation.get("parameters", [])]
        names = [p["name"] for p in declared if p["in"] == "path"]
        assert sorted(names) == sorted(re.findall(r"\{(\w+)\}", path)), (method, path)
        assert all(p["required"] for p in declared if p["in"] == "path"), (method, path)


def test_every_error_code_of_errors_py_is_in_the_error_schema():
    enum = DOCUMENT["components"]["schemas"]["ErrorCode"]["enum"]
    codes = {cls.code for cls in _all_error_classes()}
    assert codes <= set(enum)
    assert set(enum) <= codes, "the document names error codes that errors.py does not raise"
    body = DOCUMENT["components"]["schemas"]["ErrorBody"]
    assert body["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert set(body["required"]) == {"code", "message"}


def test_a_new_error_class_reaches_the_error_schema_without_an_edit():
    class Teapot(SentoriError):
        status = 418
        code = "teapot"

    try:
        assert "teapot" in openapi.build()["components"]["schemas"]["ErrorCode"]["enum"]
    finally:
        del Teapot
        gc.collect()  # class objects sit in reference cycles: free it before other tests render
    assert "teapot" not in openapi.error_codes()


def test_every_error_class_is_documented_on_some_route_with_its_status():
    documented: set[tuple[str, str]] = set()
    for _, _, operation in _operations(DOCUMENT):
        for status, response in operation["responses"].items():
            documented |= {(status, code) for code in re.findall(r"`([^`]+)`", response["description"])}
    for cls in _all_error_classes() - {SentoriError}:
        assert (str(cls.status), cls.code) in documented, f"{cls.__name__}: add it to a route in openapi.ROUTES"


def test_every_error_detail_member_is_documented():
    members = set(DOCUMENT["components"]["schemas"]["ErrorBody"]["properties"])
    for cls in _all_error_classes() - {SentoriError}:
        body = _sample_error(cls).body()["error"]
        assert set(body) <= members, f"{cls.__name__} carries undocumented members {set(body) - members}"


def test_the_ticket_schema_is_the_ticket_view():
    ticket = Ticket("send_" + "0" * 32, "project", "ipt_" + "1" * 32, "msg_" + "2" * 32, created_at=1_800_000_000.0)
    view = ticket.view()
    assert set(DOCUMENT["components"]["schemas"]["Ticket"]["properties"]) == set(view)
    openapi.Ticket.model_validate(view)


def test_all_references_resolve():
    for ref in _refs(DOCUMENT):
        _resolve(DOCUMENT, ref)


def test_the_document_is_a_valid_openapi_3_1_document():
    assert re.fullmatch(r"3\.1\.\d+", DOCUMENT["openapi"])
    assert DOCUMENT["info"]["title"] and DOCUMENT["info"]["version"]
    assert DOCUMENT["paths"] and all(path.startswith("/") for path in DOCUMENT["paths"])
    assert {"schemas", "parameters", "securitySchemes"} <= set(DOCUMENT["components"])
    operation_ids = [operation["operationId"] for _, _, operation in _operations(DOCUMENT)]
    assert len(operation_ids) == len(set(operation_ids))
    for _, _, operation in _operations(DOCUMENT):
        assert operation["responses"]
        for requirement in operation["security"]:
            assert set(requirement) <= set(DOCUMENT["components"]["securitySchemes"])
    from openapi_spec_validator import validate

    validate(json.loads(openapi.render()))


def test_generating_the_document_imports_no_delivery_library():
    probe = (
        "import sys, sentori_push.openapi as o; o.render(); "
        "print(','.join(sorted({'pywebpush', 'aiohttp', 'http_ece'} & set(sys.modules))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "layers" / "core"), "PATH": ""},
    )
    assert result.stdout.strip() == ""


def test_the_command_line_writes_and_checks_the_document(tmp_path, capsys):
    target = tmp_path / "openapi.json"
    assert openapi.main(["--check", str(target)]) == 1
    assert "run `make openapi`" in capsys.readouterr().err
    assert openapi.main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == openapi.render()
    assert openapi.main(["--check", str(target)]) == 0


def _documented_model(schema: dict[str, Any]) -> tuple[type[BaseModel], bool]:
    """The documentation model behind a response schema, and whether the body is a list of it."""
    if schema.get("type") == "array":
        return _documented_model(schema["items"])[0], True
    model = getattr(openapi, schema["$ref"].rsplit("/", 1)[1])
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model, False


def _assert_documented(result: Any, method: str, path: str) -> None:
    operation = DOCUMENT["paths"][path][method.lower()]
    response = operation["responses"].get(str(result.status))
    assert response is not None, f"{method} {path} answered {result.status}, which the document does not list"
    if "content" not in response:
        assert result.status == 204 and not result.text
        return
    model, is_list = _documented_model(response["content"]["application/json"]["schema"])
    for item in result.json if is_list else [result.json]:
        parsed = model.model_validate(item)
        undocumented = set(item) - set(type(parsed).model_fields)
        if model is openapi.ErrorEnvelope:
            undocumented = set(item["error"]) - set(openapi.ErrorBody.model_fields)
        assert not undocumented, f"{method} {path}: undocumented members {undocumented}"


def test_every_route_answers_as_documented(api, project):
    admin, public, pid = project.admin_key, project.public_key, project.project_id
    vapid_key = ec.generate_private_key(ec.SECP256R1())
    device_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    subscription = {
        "endpoint": "https://fcm.googleapis.com/fcm/send/openapi",
        "expirationTime": None,
        "keys": {
            "p256dh": vapid.b64url_encode(
                device_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
            ),
            "auth": vapid.b64url_encode(bytes(16)),
        },
    }
    credentials = f"/admin/api/projects/{pid}/push/credentials"
    tokens = "/v1/push/tokens"

    def call(method: str, template: str, path: str, key: str, body: Any = None) -> Any:
        result = api(method, path, key=key, json_body=body)
        _assert_documented(result, method, template)
        return result

    put_body = {
        "provider": "webpush",
        "config": {"vapidPublic": vapid.b64url_encode(vapid.public_point(vapid_key)), "contact": "mailto:a@b.c"},
        "secret": {"vapidPrivate": vapid.raw_scalar(vapid_key)},
    }
    cred_path = "/admin/api/projects/{projectId}/push/credentials"
    assert call("PUT", cred_path, credentials, admin, put_body).status == 200
    assert call("GET", cred_path, credentials, admin).status == 200
    verify = cred_path + "/{provider}/verify"
    assert call("POST", verify, f"{credentials}/webpush/verify", admin).status == 200

    registered = call("POST", tokens, tokens, public, {"provider": "webpush", "nativeToken": subscription})
    ipt = registered.json["id"]
    topics = tokens + "/{ipt}/topics"
    assert call("POST", topics, f"{tokens}/{ipt}/topics", public, {"topic": "news"}).status == 200

    sent = call("POST", "/v1/push/send", "/v1/push/send", admin, {"to": "topic:news", "title": "hi"})
    send_id = sent.json["tickets"][0]["id"]
    assert call("GET", "/v1/push/receipts/{sendId}", f"/v1/push/receipts/{send_id}", admin).status == 200
    assert call("POST", "/v1/push/receipts", "/v1/push/receipts", admin, {"ids": [send_id]}).status == 200

    unsubscribe = tokens + "/{ipt}/topics/{topic}"
    assert call("DELETE", unsubscribe, f"{tokens}/{ipt}/topics/news", public).status == 200
    assert call("DELETE", tokens + "/{ipt}", f"{tokens}/{ipt}", public).status == 204
    assert call("DELETE", cred_path + "/{provider}", f"{credentials}/webpush", admin).status == 204

    # Errors: the envelope, each status as documented for its route.
    assert call("POST", "/v1/push/send", "/v1/push/send", public, {"to": ipt}).status == 403
    assert call("POST", "/v1/push/send", "/v1/push/send", admin, {"to": "nobody"}).status == 400
    assert call("GET", "/v1/push/receipts/{sendId}", "/v1/push/receipts/send_x", admin).status == 404
    assert call("POST", tokens, tokens, public, {"provider": "pager", "nativeToken": "x"}).status == 400
    assert call("GET", cred_path, credentials, "st_admin_" + "a" * 26).status == 401
